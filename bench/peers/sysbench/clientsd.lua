-- bench/peers/sysbench/clientsd.lua - clientsd's own PATCH transaction,
-- sent straight to MariaDB: the database's ceiling for a PATCH on
-- clientsd's schema (its indexes, its triggers, its procedure), where
-- patch.lua is the ceiling on the PHP-FPM peer's plainer tables.  The
-- difference between the two is what the schema costs the database per
-- PATCH; bench/run prints both.
--
-- One event is the two round trips of a clientsd PATCH, over a session
-- set up as a clientsd write session (READ COMMITTED, autocommit off,
-- completion_type CHAIN, so the procedure's COMMIT starts the next
-- transaction), both statements prepared once:
--   SELECT <every column>, NOW(3) FROM clients WHERE id = ? FOR UPDATE;
--   CALL cm_update_client(<id, version, time, every member, the audit row>)
-- on the seeded clients c1..cN.  Each thread changes only its own clients
-- (those whose number is its thread number modulo the threads), whose
-- keys and versions it reads once at the start: sysbench does not fetch
-- a prepared statement's rows, and the procedure writes every member
-- (the keys are unique).  The audit row gets a token of its own, as
-- every clientsd write does.
--
--   sysbench clientsd.lua --mysql-socket=S --mysql-user=U --mysql-password=P \
--       --mysql-db=clients --clients=N --threads=32 --time=10 run

sysbench.cmdline.options = {
  clients = {"clients c1..cN in clients", 10000},
}

local COLUMNS = "id, name, status, publishable_key, secret_key, domain, " ..
  "email, phone, website, timezone, global_name, company_id, agency_id, " ..
  "api_metadata, ghl_location_id, proxy_api_key, created_at, updated_at, version"

local conn, lock, call
local lock_id, p
local mine = {}       -- this thread's clients: number -> {pk, sk, version}
local n = 0           -- this thread's transactions
local per             -- clients per thread
local run = os.time() % 65536   -- in each token: runs on one history differ

function thread_init()
  local t = sysbench.sql.type
  per = math.floor(sysbench.opt.clients / sysbench.opt.threads)
  conn = sysbench.sql.driver():connect()
  conn:query("SET time_zone = '+00:00', autocommit = 0, " ..
             "completion_type = 'CHAIN'")
  conn:query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
  local rs = conn:query(string.format("SELECT CAST(SUBSTRING(id, 2) AS " ..
    "UNSIGNED), publishable_key, secret_key, version FROM clients " ..
    "WHERE CAST(SUBSTRING(id, 2) AS UNSIGNED) %% %d = %d",
    sysbench.opt.threads, sysbench.tid))
  for _ = 1, rs.nrows do
    local k, pk, sk, v = (table.unpack or unpack)(rs:fetch_row(), 1, 4)
    mine[tonumber(k)] = {pk, sk, tonumber(v)}
  end
  rs:free()
  lock = conn:prepare("SELECT " .. COLUMNS .. ", NOW(3) FROM clients " ..
                      "WHERE id = ? FOR UPDATE")
  lock_id = lock:bind_create(t.VARCHAR, 255)
  lock:bind_param(lock_id)
  call = conn:prepare("CALL cm_update_client(?, ?, ?, ?, ?, ?, ?, ?, ?, " ..
                      "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
  local specs = {
    {t.VARCHAR, 255}, {t.BIGINT}, {t.VARCHAR, 32},             -- id, version, time
    {t.VARCHAR, 255}, {t.TINYINT}, {t.VARCHAR, 35}, {t.VARCHAR, 35}, -- name .. secret
    {t.VARCHAR, 253}, {t.VARCHAR, 254}, {t.VARCHAR, 64},       -- domain, email, phone
    {t.VARCHAR, 255}, {t.VARCHAR, 64}, {t.VARCHAR, 255},       -- website, tz, global
    {t.VARCHAR, 255}, {t.VARCHAR, 255}, {t.VARCHAR, 1024},     -- company, agency, meta
    {t.VARCHAR, 255}, {t.VARCHAR, 255},                        -- ghl, proxy
    {t.VARCHAR, 16}, {t.BIGINT}, {t.VARCHAR, 128},             -- action, key, request
    {t.VARCHAR, 1024}, {t.VARCHAR, 16},                        -- changes, token
  }
  p = {}
  for i, s in ipairs(specs) do
    p[i] = call:bind_create(s[1], s[2])
  end
  call:bind_param((table.unpack or unpack)(p))
end

-- The members as bench/run's seed_clients wrote them, with the email
-- and api_metadata a PATCH changes.
local function set_members(k)
  p[4]:set("Client " .. k)
  p[5]:set(1)
  p[6]:set(mine[k][1])
  p[7]:set(mine[k][2])
  p[8]:set("c" .. k .. ".example.com")
  p[9]:set(string.format("ops%d@example.com", n))
  p[10]:set(nil)
  p[11]:set(nil)
  p[12]:set(nil)
  p[13]:set(nil)
  p[14]:set("co" .. (k % 50000))
  p[15]:set("ag" .. (k % 1000))
  p[16]:set(string.format('{"seq":%d}', n))
  p[17]:set(nil)
  p[18]:set(nil)
end

function event()
  n = n + 1
  local k = sysbench.tid + sysbench.opt.threads * sysbench.rand.uniform(1, per - 1)
  local id = "c" .. k
  lock_id:set(id)
  lock:execute():free()
  p[1]:set(id)
  p[2]:set(mine[k][3])
  p[3]:set(os.date("!%Y-%m-%d %H:%M:%S.000"))
  set_members(k)
  p[19]:set("update")
  p[20]:set(1)
  p[21]:set(string.format("bench-%d-%d", sysbench.tid, n))
  p[22]:set('{"email":{"old":null,"new":"x"}}')
  p[23]:set(string.format("%04x%04x%08x", run, sysbench.tid, n))
  call:execute()
  mine[k][3] = mine[k][3] + 1
end

function thread_done()
  lock:close()
  call:close()
  conn:disconnect()
end
