-- 002: retention deletes the oldest audit rows in small batches
-- kind: expand
-- method: online index build (INPLACE, LOCK=NONE): writers go on; under
-- Galera's total order isolation every node builds it while the cluster
-- waits, so on a large history apply it node by node (RSU, see the admin
-- guide)
-- (DELETE ... WHERE at < ? ORDER BY at LIMIT n, see lib/db/store_erase.c).
-- This index makes each batch an ordered range read that locks only the
-- rows it deletes, instead of a scan of the whole history.
CREATE INDEX IF NOT EXISTS ix_audit_at ON client_audit (at) ALGORITHM = INPLACE LOCK = NONE;
