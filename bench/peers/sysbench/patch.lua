-- bench/peers/sysbench/patch.lua - the database's own ceiling for a PATCH:
-- the transaction clientsd runs for one, sent straight to MariaDB by
-- sysbench, with no web server, no FastCGI and no application in between.
-- No HTTP service on the same machine can beat it; bench/run composes it
-- with the HTTP ceiling (bench/trivial.c) into the ceiling a PATCH service
-- has there.
--
-- One event is one transaction of five statements over the thread's own
-- connection, prepared once:
--   BEGIN; SELECT ... FOR UPDATE (the row); UPDATE (email, phone,
--   api_metadata, version + 1, updated_at); INSERT (one audit row); COMMIT
-- on the PHP-FPM peer's tables (php-fpm/schema.sql), clients c1..cN picked
-- at random, with MariaDB's durability as the bench configured it.
--
--   sysbench patch.lua --mysql-socket=S --mysql-user=peer --mysql-password=peer \
--       --mysql-db=peer --clients=N --threads=32 --time=10 run

sysbench.cmdline.options = {
  clients = {"clients c1..cN in peer_clients", 10000},
}

local conn, lock, change, audit
local p = {}          -- bound parameters
local n = 0           -- this thread's transactions

local function bind(stmt, ...)
  local params = {}
  for i, spec in ipairs({...}) do
    params[i] = stmt:bind_create(spec[1], spec[2])
  end
  stmt:bind_param((table.unpack or unpack)(params))
  return params
end

function thread_init()
  local t = sysbench.sql.type
  conn = sysbench.sql.driver():connect()
  conn:query("SET time_zone = '+00:00'")
  lock = conn:prepare("SELECT *, NOW(3) FROM peer_clients WHERE id = ? FOR UPDATE")
  p.lock = bind(lock, {t.VARCHAR, 255})
  change = conn:prepare("UPDATE peer_clients SET email = ?, phone = ?, api_metadata = ?, " ..
                        "version = version + 1, updated_at = NOW(3) WHERE id = ?")
  p.change = bind(change, {t.VARCHAR, 254}, {t.VARCHAR, 64}, {t.VARCHAR, 1024}, {t.VARCHAR, 255})
  audit = conn:prepare("INSERT INTO peer_audit (client_id, action, request_id, changes, at) " ..
                       "VALUES (?, 'update', ?, ?, NOW(3))")
  p.audit = bind(audit, {t.VARCHAR, 255}, {t.VARCHAR, 128}, {t.VARCHAR, 1024})
end

function event()
  n = n + 1
  local id = "c" .. sysbench.rand.uniform(1, sysbench.opt.clients)
  conn:query("BEGIN")
  p.lock[1]:set(id)
  lock:execute():free()
  p.change[1]:set(string.format("ops%d@example.com", n))
  p.change[2]:set(string.format("+1-555-%04d", n % 10000))
  p.change[3]:set(string.format('{"seq":%d}', n))
  p.change[4]:set(id)
  change:execute()
  p.audit[1]:set(id)
  p.audit[2]:set(string.format("bench-%d-%d", sysbench.tid, n))
  p.audit[3]:set('{"email":{"old":null,"new":"x"}}')
  audit:execute()
  conn:query("COMMIT")
end

function thread_done()
  lock:close()
  change:close()
  audit:close()
  conn:disconnect()
end
