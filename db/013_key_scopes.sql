-- 013: scoped admin keys.  Each key holds a set of scopes (what it may
-- do: lib/domain/scope.h), may be bound to one agency (it then sees and
-- writes only that agency's clients), may expire, carries a description,
-- and records when it was last used (at most about once a minute, by the
-- runtime user, whose only write to this table is that column).
-- kind: expand
-- method: the columns INSTANT (metadata only, whatever the table's size);
-- the index on client_audit an online build (INPLACE, LOCK=NONE): writers
-- go on; under Galera, see 002
--
-- Expand-only: every column is new and NULL or defaulted, so a binary
-- built before this migration reads and writes admin_keys as before.
-- The scopes default to every scope: each key made before (and any key a
-- previous release's clientsctl makes during a rolling upgrade) keeps
-- every right it had.  The SET's members are in the order of
-- lib/domain/scope.c; a later release adds members at the end only.
-- ix_audit_key answers "what did this key do" (clientsctl audit --key)
-- with an index range instead of a scan of the history.

ALTER TABLE admin_keys
  ADD COLUMN IF NOT EXISTS scopes SET('clients:read', 'clients:write', 'clients:delete',
    'clients:erase', 'keys:rotate', 'audit:read', 'pool:status',
    'events:read', 'webhooks:manage') CHARACTER SET ascii NOT NULL
    DEFAULT 'clients:read,clients:write,clients:delete,clients:erase,keys:rotate,audit:read,pool:status,events:read,webhooks:manage',
  ADD COLUMN IF NOT EXISTS agency_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN IF NOT EXISTS expires_at DATETIME(3) NULL,
  ADD COLUMN IF NOT EXISTS description VARCHAR(500) NULL,
  ADD COLUMN IF NOT EXISTS last_used_at DATETIME(3) NULL,
  ALGORITHM = INSTANT;

ALTER TABLE client_audit ADD KEY IF NOT EXISTS ix_audit_key (admin_key_id, seq),
  ALGORITHM = INPLACE, LOCK = NONE;
