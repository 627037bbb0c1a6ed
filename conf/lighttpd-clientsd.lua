-- lighttpd-clientsd.lua - run by lighttpd-clientsd.conf through mod_magnet
-- twice per request: as its request line has been read
-- (`magnet.attract-raw-url-to`; no status is set yet), and as its response
-- starts (`magnet.attract-response-start-to`).
--
-- First: X-Request-Start is set to the time lighttpd received the request
-- ("t=" and microseconds since the epoch), replacing any the client sent.
-- clientsd's deadline counts from it, so a request that waited for a free
-- worker past it is answered 503 unwritten instead of written late.
--
-- Why not mod_setenv: its response headers apply only to a request that
-- lighttpd has parsed and routed.  The 400, 413 and 431 lighttpd answers
-- while it is still reading a request, and the 503 it answers while it
-- holds the pool for down ("disable-time"), would go out without
-- Cache-Control.  The response-start hook of mod_magnet runs for those
-- too: it runs once per response, just before the headers are written.
--
-- clientsd's own answers already carry Cache-Control: no-store (and its
-- 503 a Retry-After from [api] retry_after): they are left alone.

local r = lighty.r
if r.req_item.http_status == 0 then
    local s, ns = lighty.c.hrtime()
    r.req_header["X-Request-Start"] = string.format("t=%d%06d", s, ns // 1000)
    return 0
end
local h = r.resp_header
if not h["Cache-Control"] then
    h["Cache-Control"] = "no-store"
end
local status = r.req_item.http_status
if (status == 502 or status == 503 or status == 504) and not h["Retry-After"] then
    h["Retry-After"] = "5"
end
return 0
