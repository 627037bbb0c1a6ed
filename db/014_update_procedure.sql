-- 014: a change of a client in one round trip.  A PATCH (and a soft
-- delete, a key rotation) reads the row locked, then calls this: the
-- version-checked UPDATE, the audit row and the COMMIT run on the server,
-- one call from the worker instead of three statements.  Every member
-- is written (an unchanged one with its value: InnoDB leaves an index
-- whose columns did not change alone).  A version that moved (a write
-- committed through another Galera node since the read) is error 1020,
-- which the worker runs again; a duplicate is 1062, as from the UPDATE
-- itself.  SQL SECURITY INVOKER: the caller's own rights apply, so the
-- runtime user needs EXECUTE on it and nothing more (clientsctl migrate
-- grants it).  The COMMIT ends the caller's transaction; a session with
-- completion_type CHAIN is in the next one afterwards.
-- kind: expand
-- method: a new stored procedure (instant; nothing an older release uses)
CREATE OR REPLACE PROCEDURE cm_update_client(
  IN p_id              VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin,
  IN p_version         BIGINT UNSIGNED,
  IN p_updated_at      DATETIME(3),
  IN p_name            VARCHAR(255),
  IN p_status          TINYINT(1),
  IN p_publishable_key CHAR(35)      CHARACTER SET ascii COLLATE ascii_bin,
  IN p_secret_key      CHAR(35)      CHARACTER SET ascii COLLATE ascii_bin,
  IN p_domain          VARCHAR(253)  CHARACTER SET ascii COLLATE ascii_bin,
  IN p_email           VARCHAR(254),
  IN p_phone           VARCHAR(64),
  IN p_website         VARCHAR(2048),
  IN p_timezone        VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin,
  IN p_global_name     VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin,
  IN p_company_id      VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin,
  IN p_agency_id       VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin,
  IN p_api_metadata    LONGTEXT,
  IN p_ghl_location_id VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin,
  IN p_proxy_api_key   VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin,
  IN p_action          VARCHAR(16)   CHARACTER SET ascii,
  IN p_admin_key_id    BIGINT UNSIGNED,
  IN p_request_id      VARCHAR(128)  CHARACTER SET ascii,
  IN p_changes         LONGTEXT,
  IN p_tx_token        BINARY(16))
  MODIFIES SQL DATA
  SQL SECURITY INVOKER
BEGIN
  UPDATE clients SET name = p_name, status = p_status,
    publishable_key = p_publishable_key, secret_key = p_secret_key,
    domain = p_domain, email = p_email, phone = p_phone, website = p_website,
    timezone = p_timezone, global_name = p_global_name,
    company_id = p_company_id, agency_id = p_agency_id,
    api_metadata = p_api_metadata, ghl_location_id = p_ghl_location_id,
    proxy_api_key = p_proxy_api_key, version = version + 1,
    updated_at = p_updated_at
    WHERE id = p_id AND version = p_version;
  IF ROW_COUNT() <> 1 THEN
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1020,
      MESSAGE_TEXT = 'the client changed since it was read';
  END IF;
  INSERT INTO client_audit (client_id, action, admin_key_id, request_id, at,
    changes, tx_token)
    VALUES (p_id, p_action, p_admin_key_id, p_request_id, NOW(3), p_changes,
    p_tx_token);
  COMMIT;
END;
