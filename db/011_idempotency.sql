-- 011: Idempotency-Key.  One row per (admin key, key): the
-- request's fingerprint (SHA-256, hex, of method, path and the SHA-256 of
-- the body) and, once it has one, the answer to replay.  status NULL is
-- the in-progress marker, committed when the first request starts; owner
-- is that request's random id, so only it stores the answer (a marker
-- older than the request timeout may be taken over by a repeat).  A 2xx
-- answer is stored in the write's own transaction, any other non-5xx in a
-- small one of its own; a 5xx deletes the marker.
-- The stored body of a create or a key rotation holds the client's
-- secret_key, and any body its personal values: rows expire after
-- [api] idempotency_ttl_s (replaced when their key comes again; deleted by
-- `clientsctl purge-idempotency`), and erasing a client deletes its rows
-- (client_id).
-- kind: expand
-- method: a new table (instant)
CREATE TABLE IF NOT EXISTS idempotency_keys (
  admin_key_id BIGINT UNSIGNED NOT NULL,
  idem_key     VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  fingerprint  CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner        BINARY(16)   NOT NULL,
  client_id    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at   DATETIME(3)  NOT NULL,
  status       SMALLINT UNSIGNED NULL,
  etag         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  location     VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin NULL,
  body         LONGTEXT     NULL,
  PRIMARY KEY (admin_key_id, idem_key),
  KEY ix_idempotency_client (client_id),
  KEY ix_idempotency_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
