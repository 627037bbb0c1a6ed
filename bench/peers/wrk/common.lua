-- bench/peers/wrk/common.lua - what get.lua and patch.lua share: the
-- settings from the environment, one random generator per thread (seeded
-- from the main one, so that threads do not draw the same ids), and the
-- one-line report.  Loaded by each with dofile, beside it.
-- Environment: ADMIN_KEY, CLIENTS (ids c1..cN, 10000), PREFIX
-- (/api/v1/clients/).  Prints one line: non2xx, p50, p99, requests/s.

key = os.getenv("ADMIN_KEY") or "peer-admin-key"
clients = tonumber(os.getenv("CLIENTS") or "10000")
prefix = os.getenv("PREFIX") or "/api/v1/clients/"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d p50_ms=%.2f p99_ms=%.2f rps=%.1f\n",
    summary.errors.status, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6)))
end
