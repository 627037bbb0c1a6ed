-- The PHP-FPM peer's tables, in the `peer` database of the bench's MariaDB.
-- The client object's columns with the unique keys the API asks for (the
-- same sizes as clientsd's db/001_schema.sql), so that a row costs about the
-- same to lock, change and write back; and an audit table written in the
-- same transaction as each change, as clientsd's is.

CREATE TABLE IF NOT EXISTS peer_clients (
  id              VARCHAR(255)    NOT NULL PRIMARY KEY,
  name            VARCHAR(255)    NOT NULL,
  status          TINYINT(1)      NOT NULL DEFAULT 1,
  publishable_key CHAR(35)        NOT NULL UNIQUE,
  secret_key      CHAR(35)        NOT NULL UNIQUE,
  domain          VARCHAR(253)    NULL UNIQUE,
  email           VARCHAR(254)    NULL,
  phone           VARCHAR(64)     NULL,
  website         VARCHAR(2048)   NULL,
  timezone        VARCHAR(64)     NULL,
  global_name     VARCHAR(255)    NULL UNIQUE,
  company_id      VARCHAR(255)    NULL,
  agency_id       VARCHAR(255)    NULL,
  api_metadata    JSON            NOT NULL,
  ghl_location_id VARCHAR(255)    NULL,
  proxy_api_key   VARCHAR(255)    NULL,
  version         BIGINT UNSIGNED NOT NULL DEFAULT 1,
  created_at      DATETIME(3)     NOT NULL,
  updated_at      DATETIME(3)     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS peer_audit (
  seq        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  client_id  VARCHAR(255)    NOT NULL,
  action     VARCHAR(16)     NOT NULL,
  request_id VARCHAR(128)    NOT NULL,
  changes    JSON            NOT NULL,
  at         DATETIME(3)     NOT NULL,
  KEY (client_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
