-- 017: what the webhook dispatcher (clientsd-webhooks) keeps.
-- webhook_lease: one row per lease; the dispatcher holding it is the only
-- one delivering.  It renews the row well within expires_at; another
-- dispatcher takes it over only once expires_at has passed (its holder
-- died or lost the database).  A row, not GET_LOCK(): Galera replicates
-- rows and certifies two nodes' writes of one row against each other,
-- while a GET_LOCK() exists only on the node that took it.
-- webhook_progress: per endpoint, the history up to which every event was
-- looked at (queued when the endpoint wants it).  The dispatcher moves it
-- only past events older than [webhooks] settle_s, because a history
-- row's seq is drawn before its transaction commits: a smaller seq can
-- become visible after a larger one.  The rows after it are read again
-- each round; a queued event is never queued twice (the primary key).
-- webhook_deliveries: one row per event and endpoint, from queued to
-- delivered (or given up after [webhooks] retry_period_s: failed, which
-- `clientsctl webhook replay` queues again).  client_id keeps one
-- client's events in order: the oldest undelivered one goes first.
-- kind: expand
-- method: new tables (instant)
CREATE TABLE IF NOT EXISTS webhook_lease (
  name        VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  holder      VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  expires_at  DATETIME(3)  NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_progress (
  endpoint_id BIGINT UNSIGNED NOT NULL,
  scanned_seq BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (endpoint_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  endpoint_id     BIGINT UNSIGNED NOT NULL,
  event_seq       BIGINT UNSIGNED NOT NULL,
  client_id       VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  state           ENUM('pending', 'delivered', 'failed') CHARACTER SET ascii
                    NOT NULL DEFAULT 'pending',
  attempts        INT UNSIGNED NOT NULL DEFAULT 0,
  queued_at       DATETIME(3)  NOT NULL,
  next_attempt_at DATETIME(3)  NOT NULL,
  last_status     SMALLINT     NULL,
  last_error      VARCHAR(160) NULL,
  done_at         DATETIME(3)  NULL,
  PRIMARY KEY (endpoint_id, event_seq),
  KEY ix_delivery_pending (endpoint_id, state, event_seq),
  KEY ix_delivery_client (endpoint_id, client_id, state, event_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
