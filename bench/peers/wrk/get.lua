-- bench/peers/wrk/get.lua - wrk: GET /api/v1/clients/c<random> as an admin,
-- for clientsd, the PHP-FPM peer and bench/trivial.c alike.
-- Settings and report: common.lua.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function request()
  return wrk.format("GET", prefix .. "c" .. math.random(1, clients), {
    ["Authorization"] = "Bearer " .. key,
  })
end
