-- 001: clients, their audit history, and admin keys.
-- kind: expand
-- method: new tables (instant)
-- InnoDB, utf8mb4, a primary key on every table, DATETIME(3) holding UTC
-- (every connection runs with time_zone = '+00:00').

CREATE TABLE IF NOT EXISTS clients (
  -- Identifiers are ASCII and compared byte for byte: "Acme" and "acme" are two clients.
  id              VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name            VARCHAR(255)  NOT NULL,
  status          TINYINT(1)    NOT NULL DEFAULT 1,
  publishable_key CHAR(35)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  secret_key      CHAR(35)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  domain          VARCHAR(253)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  email           VARCHAR(254)  NULL,
  phone           VARCHAR(64)   NULL,
  website         VARCHAR(2048) NULL,
  timezone        VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NULL,
  global_name     VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  company_id      VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  agency_id       VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  api_metadata    LONGTEXT      NOT NULL CHECK (JSON_VALID(api_metadata)),
  ghl_location_id VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  proxy_api_key   VARCHAR(255)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  -- Bumped by every change; the ETag is derived from it.
  version         BIGINT UNSIGNED NOT NULL DEFAULT 1,
  created_at      DATETIME(3)   NOT NULL,
  updated_at      DATETIME(3)   NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_clients_publishable_key (publishable_key),
  UNIQUE KEY uq_clients_secret_key (secret_key),
  UNIQUE KEY uq_clients_domain (domain),
  UNIQUE KEY uq_clients_global_name (global_name),
  -- The list endpoint orders by (created_at, id), optionally filtered.
  KEY ix_clients_created (created_at, id),
  KEY ix_clients_status (status, created_at, id),
  KEY ix_clients_agency (agency_id, created_at, id),
  KEY ix_clients_company (company_id, created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per successful write, in the write's transaction.  No foreign key
-- to clients: the history outlives a hard delete.
CREATE TABLE IF NOT EXISTS client_audit (
  seq          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  client_id    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  action       VARCHAR(16)  CHARACTER SET ascii NOT NULL,
  admin_key_id BIGINT UNSIGNED NULL,
  request_id   VARCHAR(128) CHARACTER SET ascii NOT NULL,
  at           DATETIME(3)  NOT NULL,
  changes      LONGTEXT     NOT NULL CHECK (JSON_VALID(changes)),
  PRIMARY KEY (seq),
  KEY ix_audit_client (client_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Admin keys are stored only as the SHA-256 (hex) of the key.
CREATE TABLE IF NOT EXISTS admin_keys (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name        VARCHAR(255) NOT NULL,
  key_sha256  CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at  DATETIME(3)  NOT NULL,
  revoked_at  DATETIME(3)  NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_admin_keys_sha256 (key_sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
