-- 009: exact list counts without scanning, and the secret that
-- signs list cursors.
-- kind: expand
-- method: online - a new table, the triggers, then the rows already there
-- counted in one consistent snapshot (a read that takes no lock); the
-- triggers' metadata lock waits only for transactions in flight

-- The number of clients per status, split over shards so that concurrent
-- writers do not queue on one hot row: each connection adds to the shard
-- CONNECTION_ID() % 32 (a pool's workers have consecutive ids), and the
-- count is the sum over a status's shards.  A shard may go negative (a
-- client created on one connection and deleted on another); the sum is
-- exact.  Kept by triggers in the writing transaction, so every writer
-- (the service, clientsctl, SQL by hand, seeding) keeps it right.
CREATE TABLE IF NOT EXISTS client_counts (
  status TINYINT(1)        NOT NULL,
  shard  TINYINT UNSIGNED  NOT NULL,
  n      BIGINT            NOT NULL,
  PRIMARY KEY (status, shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The triggers first: from the moment they exist, every write to clients
-- counts itself (CREATE TRIGGER waits for the transactions that touched
-- clients before it, so none of those commits after it uncounted).
CREATE TRIGGER IF NOT EXISTS clients_count_insert AFTER INSERT ON clients FOR EACH ROW
  INSERT INTO client_counts (status, shard, n)
  VALUES (NEW.status, CONNECTION_ID() % 32, 1)
  ON DUPLICATE KEY UPDATE n = n + 1;

CREATE TRIGGER IF NOT EXISTS clients_count_delete AFTER DELETE ON clients FOR EACH ROW
  INSERT INTO client_counts (status, shard, n)
  VALUES (OLD.status, CONNECTION_ID() % 32, -1)
  ON DUPLICATE KEY UPDATE n = n - 1;

CREATE TRIGGER IF NOT EXISTS clients_count_update AFTER UPDATE ON clients FOR EACH ROW
  IF OLD.status <> NEW.status THEN
    INSERT INTO client_counts (status, shard, n)
    VALUES (OLD.status, CONNECTION_ID() % 32, -1)
    ON DUPLICATE KEY UPDATE n = n - 1;
    INSERT INTO client_counts (status, shard, n)
    VALUES (NEW.status, CONNECTION_ID() % 32, 1)
    ON DUPLICATE KEY UPDATE n = n + 1;
  END IF;

-- Then the rows that were there before.  In one consistent snapshot S:
-- the rows, and what the triggers had counted by S.  Their difference goes
-- into shard 32, which no connection writes (shards are 0..31).  The sum
-- is then rows(S) + the triggers' counts after S: exact, with the service
-- writing all along, and nothing locked (a consistent read).  Run again
-- over itself (a migration stopped halfway runs again whole), S holds
-- shard 32's row already and the difference added is 0.
START TRANSACTION WITH CONSISTENT SNAPSHOT;
SELECT COUNT(*) INTO @cm_rows_0 FROM clients WHERE status = 0;
SELECT COUNT(*) INTO @cm_rows_1 FROM clients WHERE status = 1;
SELECT COALESCE(SUM(n), 0) INTO @cm_seen_0 FROM client_counts WHERE status = 0;
SELECT COALESCE(SUM(n), 0) INTO @cm_seen_1 FROM client_counts WHERE status = 1;
COMMIT;
INSERT INTO client_counts (status, shard, n)
  VALUES (0, 32, @cm_rows_0 - @cm_seen_0), (1, 32, @cm_rows_1 - @cm_seen_1)
  ON DUPLICATE KEY UPDATE n = n + VALUES(n);

-- Per-installation secrets, made here from the server's CSPRNG and never
-- leaving the database: `cursor` is the HMAC key of list cursors.  Changing
-- it invalidates every cursor handed out (they then get 400).
CREATE TABLE IF NOT EXISTS installation_secrets (
  name   VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  secret VARBINARY(64) NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Run again, the secret made the first time stays (and the cursors signed with it).
INSERT INTO installation_secrets (name, secret) VALUES ('cursor', RANDOM_BYTES(32))
  ON DUPLICATE KEY UPDATE secret = secret;
