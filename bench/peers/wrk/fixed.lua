-- bench/peers/wrk/fixed.lua - wrk at a fixed rate: the script named by
-- SCRIPT (get.lua or patch.lua, beside this one) paced so that all
-- connections together send RATE requests a second (each connection
-- waits CONNECTIONS / RATE seconds before its next request).  A wait
-- starts when the answer came, so a slow answer lowers the rate: the
-- report says the rate reached.  Environment: SCRIPT, RATE, CONNECTIONS,
-- and what common.lua reads.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. os.getenv("SCRIPT"))
local wait_ms = 1000 * tonumber(os.getenv("CONNECTIONS")) / tonumber(os.getenv("RATE"))

function delay()
  return wait_ms
end
