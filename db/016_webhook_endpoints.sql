-- 016: webhook endpoints, the receivers the dispatcher POSTs events to.
-- Each has a URL, the event types it wants, optionally an agency (then
-- only that agency's events: client_audit.agency_id, 015), whether it is
-- enabled, and its signing secret: "whsec_" and 64 hex digits (32 bytes
-- from getrandom), stored as clients.secret_key is, because signing
-- needs the secret itself, not a hash of it.  After a rotation the
-- previous secret stays valid until previous_secret_until: deliveries
-- carry a signature with each, so a receiver can switch over.
-- after_seq: the newest history row when the endpoint was made; it is
-- sent the events after it, none from before it existed.
-- kind: expand
-- method: a new table (instant)
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  url             VARCHAR(2048) NOT NULL,
  event_types     SET('client.created', 'client.updated', 'client.deleted',
                    'client.keys_rotated', 'client.erased')
                    CHARACTER SET ascii NOT NULL,
  agency_id       VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
  enabled         TINYINT(1)   NOT NULL DEFAULT 1,
  description     VARCHAR(500) NULL,
  secret          CHAR(70)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  previous_secret CHAR(70)     CHARACTER SET ascii COLLATE ascii_bin NULL,
  previous_secret_until DATETIME(3) NULL,
  after_seq       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  version         BIGINT UNSIGNED NOT NULL DEFAULT 1,
  created_at      DATETIME(3)  NOT NULL,
  updated_at      DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  KEY ix_webhook_agency (agency_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
