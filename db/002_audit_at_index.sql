-- 002: retention deletes the oldest audit rows in small batches
-- (DELETE ... WHERE at < ? ORDER BY at LIMIT n, see lib/db/store_erase.c).
-- This index makes each batch an ordered range read that locks only the
-- rows it deletes, instead of a scan of the whole history.
CREATE INDEX ix_audit_at ON client_audit (at);
