-- bench/peers/wrk/patch.lua - wrk: PATCH /api/v1/clients/c<random> as an
-- admin, changing email, phone and one api_metadata member, for clientsd
-- and the PHP-FPM peer alike.  Every body differs from the last, so each
-- request writes; the same run twice sends the same bodies (the generator
-- is seeded the same way), which is why bench/run reseeds the rows first.
-- Settings and report: common.lua.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local sent = 0

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
