-- 012: the list counters' shards belong to one database node each.
-- kind: expand
-- method: INPLACE, LOCK=NONE on a table of at most a few hundred rows, and
-- CREATE OR REPLACE TRIGGER (atomic): milliseconds, also under Galera
--
-- With shards keyed by CONNECTION_ID() % 32 alone, connections on two
-- Galera nodes share shards (connection ids are per node), so creates and
-- deletes through different nodes write the same client_counts rows and
-- certify against each other: one of the two transactions is aborted and
-- run again.  Keyed by the node as well, a shard is written through one
-- node only, and the counters no longer make writers on different nodes
-- conflict.  The node is CRC32 of the server's host name and port, which
-- no two running servers share; on a single server it is one constant.
--
-- Online and expand-only: the table has at most a few hundred rows (the
-- ALTER takes milliseconds, also under Galera's total order isolation),
-- the old triggers keep counting into node 0 until each is replaced
-- (CREATE OR REPLACE is atomic), and the count is still the sum of a
-- status's rows, which a binary built before this migration reads alike.

ALTER TABLE client_counts
  ADD COLUMN IF NOT EXISTS node INT UNSIGNED NOT NULL DEFAULT 0 AFTER status,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (status, node, shard),
  ALGORITHM = INPLACE, LOCK = NONE;

CREATE OR REPLACE TRIGGER clients_count_insert AFTER INSERT ON clients FOR EACH ROW
  INSERT INTO client_counts (status, node, shard, n)
  VALUES (NEW.status, CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID() % 32, 1)
  ON DUPLICATE KEY UPDATE n = n + 1;

CREATE OR REPLACE TRIGGER clients_count_delete AFTER DELETE ON clients FOR EACH ROW
  INSERT INTO client_counts (status, node, shard, n)
  VALUES (OLD.status, CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID() % 32, -1)
  ON DUPLICATE KEY UPDATE n = n - 1;

CREATE OR REPLACE TRIGGER clients_count_update AFTER UPDATE ON clients FOR EACH ROW
  IF OLD.status <> NEW.status THEN
    INSERT INTO client_counts (status, node, shard, n)
    VALUES (OLD.status, CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID() % 32, -1)
    ON DUPLICATE KEY UPDATE n = n - 1;
    INSERT INTO client_counts (status, node, shard, n)
    VALUES (NEW.status, CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID() % 32, 1)
    ON DUPLICATE KEY UPDATE n = n + 1;
  END IF;
