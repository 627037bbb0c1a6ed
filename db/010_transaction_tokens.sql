-- 010: exactly-once COMMIT.  Every write transaction writes a
-- token of its own (128 random bits from getrandom, drawn by clientsd once
-- per request, the same on a rerun) into its audit row.  When the
-- connection dies during COMMIT, the worker reconnects and looks the token
-- up: found, the transaction committed; not found, it did not.  Unique, so
-- that a rerun can never commit beside the attempt it repeats (on Galera
-- the second one fails certification or with a duplicate key).  NULL for
-- the rows written before this migration and by SQL by hand.
-- kind: expand
-- method: the column INSTANT (metadata only); the index an online build
-- (INPLACE, LOCK=NONE): writers go on; under Galera, see 002
ALTER TABLE client_audit ADD COLUMN IF NOT EXISTS tx_token BINARY(16) NULL, ALGORITHM = INSTANT;
ALTER TABLE client_audit ADD UNIQUE KEY IF NOT EXISTS uq_audit_tx_token (tx_token),
  ALGORITHM = INPLACE, LOCK = NONE;
