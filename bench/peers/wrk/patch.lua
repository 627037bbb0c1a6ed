-- bench/peers/wrk/patch.lua - wrk: PATCH /api/v1/clients/c<random> as an
-- admin, changing email, phone and one api_metadata member, for clientsd
-- and the PHP-FPM peer alike.  Every body differs from the last, so each
-- request writes; the same run twice sends the same bodies (the generator
-- is seeded the same way), which is why bench/run reseeds the rows first.
-- Environment: ADMIN_KEY, CLIENTS (ids c1..cN, 10000), PREFIX
-- (/api/v1/clients/).  Prints one line: non2xx, p50, p99, requests/s.

local key = os.getenv("ADMIN_KEY") or "peer-admin-key"
local clients = tonumber(os.getenv("CLIENTS") or "10000")
local prefix = os.getenv("PREFIX") or "/api/v1/clients/"
local sent = 0

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"email":"ops%d@example.com","phone":"+1-555-%04d","api_metadata":{"seq":%d}}',
    sent, sent % 10000, sent)
  return wrk.format("PATCH", prefix .. "c" .. math.random(1, clients), {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }, body)
end

-- wrk hands every answer to response() once a script defines it, which
-- costs the load generator CPU; the PATCH runs have always paid that, so
-- the statuses are counted here to keep them comparable.
local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d p50_ms=%.2f p99_ms=%.2f rps=%.1f\n",
    summary.errors.status, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6)))
end
