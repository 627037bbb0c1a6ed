-- 015: the events feed reads the history, and a key bound to an agency
-- sees only its agency's events, including those of a client since
-- deleted.  So each history row records the agency its client belonged to
-- when the row was written, and the feed pages by it along an index.
-- kind: expand
-- method: the column INSTANT (metadata only, whatever the table's size);
-- the two indexes online builds (INPLACE, LOCK=NONE): writers go on; under
-- Galera, see 002; the trigger waits for the transactions already writing
-- the history (milliseconds) and holds later ones that long
--
-- Expand-only.  The trigger fills the column on the server, from the
-- client's row in the writing transaction (after an UPDATE: the agency it
-- has now), or, when the row is gone (a hard delete, an erasure), from the
-- old value the history row itself records; so the write path sends no
-- statement more, and a binary built before this migration writing during
-- a rolling upgrade gets the column filled too.  Rows written before this
-- migration keep NULL: they belong to no agency (unbound keys see them).
-- ix_audit_action (action, seq) makes the feed's type filter an index
-- range; ix_audit_agency (agency_id, seq) a bound key's feed.
ALTER TABLE client_audit
  ADD COLUMN IF NOT EXISTS agency_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ALGORITHM = INSTANT;

ALTER TABLE client_audit ADD KEY IF NOT EXISTS ix_audit_agency (agency_id, seq),
  ADD KEY IF NOT EXISTS ix_audit_action (action, seq),
  ALGORITHM = INPLACE, LOCK = NONE;

CREATE OR REPLACE TRIGGER client_audit_agency BEFORE INSERT ON client_audit
  FOR EACH ROW SET NEW.agency_id = COALESCE(
    (SELECT c.agency_id FROM clients c WHERE c.id = NEW.client_id),
    JSON_VALUE(NEW.changes, '$.agency_id.old'));
