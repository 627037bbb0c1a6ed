"""servers_test.py - what the web server in front of clientsd must get right.

Run by ./dev test through every set-up (nginx, Apache + mod_fcgid, Apache +
mod_proxy_fcgi, lighttpd, Caddy), in both runs.  These are
the checks that depend on the web server's snippet rather than on clientsd:
its body cap and the JSON 413 above it, %2F reaching clientsd, TRACE never
echoing the request, no CGI "Status:" header leaking, the JSON envelope on
the answers the server makes itself, no query string in its access log
(cfg.access_log), the arrival time it passes clientsd (seen in clientsd's
log, cfg.clientsd_log), and a timeout toward clientsd longer than clientsd's
own deadline.
"""

import json
import os
import re
import socket
import time

import pytest

from apikit import (CLIENTS, JSON_CT, Answer, Failure, check, cpath, eq, expect_client,
                    expect_error, short)

pytestmark = [pytest.mark.setups("all", sanitize="all"), pytest.mark.budget(120)]

SERVER_CAP = 1048576        # every snippet's body cap: 1 MiB
SERVERS = ("nginx", "apache-fcgid", "apache-proxy", "lighttpd", "caddy")

# Which server-made answers each snippet puts in the JSON envelope.  The
# malformed-request checks of every set-up are edge_test.py's too (there
# Caddy's plain-text 400, from Go's HTTP server for a request it cannot
# parse, is a checked known difference).  A test listed here runs only
# through these set-ups and is skipped elsewhere (only()).
ONLY = {
    # nginx: its snippet's `return 404` answers text/html (edge_test.py's).
    "outside_the_api_is_json_404": {"apache-proxy", "lighttpd", "caddy"},
    "bad_request_is_json_400": {"apache-proxy", "lighttpd"},
    # nginx: its 502 envelope is edge_test.py's; apache-fcgid has no pool.
    "pool_down_is_json": {"apache-proxy", "lighttpd", "caddy"},
}
# What each server answers while the pool's socket is gone: status, error.
# Every one sends Retry-After with it.
POOL_DOWN = {"apache-proxy": (503, "Service unavailable"),
             "lighttpd": (503, "Service unavailable"),
             "caddy": (502, "Bad gateway")}
JSON_TRACE = set(SERVERS)


def server(api):
    """The set-up under test: the label, less any variant suffix."""
    name = api.cfg.label.split(":")[0]
    check(name in SERVERS, "the label must name one of %s, not %r" % (SERVERS, name))
    return name


def only(api):
    """Skips a test of ONLY through the set-ups it does not list."""
    if api.test in ONLY and server(api) not in ONLY[api.test]:
        pytest.skip("not made in JSON by this server (see ONLY)")


def raw(api, data, body=b"", timeout=15):
    """Sends the bytes of a request (head, then body unless the server has
    answered already) on a fresh connection; returns the first final answer."""
    s = socket.create_connection((api.cfg.host, api.cfg.port), timeout=timeout)
    got = b""
    try:
        s.sendall(data)
        if body:
            # "Expect: 100-continue" in the head: wait for 100 or an answer.
            s.settimeout(3)
            try:
                got = s.recv(65536)
            except socket.timeout:
                got = b""
            s.settimeout(timeout)
            if got == b"" or got.startswith(b"HTTP/1.1 100"):
                got = b""
                try:
                    s.sendall(body)
                except OSError:
                    pass        # it answered and closed while we sent
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            got += b
            if b"\r\n\r\n" in got and not got.startswith(b"HTTP/1.1 100"):
                r = Answer.parse(got)
                n = r.headers.get("content-length")
                if n is not None and len(r.raw) >= int(n):
                    break
    finally:
        s.close()
    check(got, "no answer to %s" % short(data, 80))
    check(got.startswith(b"HTTP/1."), "not an HTTP answer: %s" % short(got))
    return Answer.parse(got)


def request_head(api, method, path, headers=()):
    h = ["%s %s HTTP/1.1" % (method, api.cfg.prefix + path),
         "Host: %s:%d" % (api.cfg.host, api.cfg.port), "Connection: close"]
    h += list(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode("iso-8859-1")


def expect_server_error(r, status, error):
    """An answer the web server made itself, in the API's error envelope,
    with Cache-Control: no-store."""
    check(r.status == status, "expected %d: %s" % (status, r.where()))
    eq(r.headers.get("content-type"), JSON_CT, "Content-Type of " + r.where())
    check("no-store" in r.headers.get("cache-control", ""),
          "no Cache-Control: no-store in " + r.where())
    try:
        body = json.loads(r.raw.decode("utf-8"))
    except ValueError:
        raise Failure("body is not JSON: " + r.where())
    eq(body, {"success": False, "data": None, "error": error, "count": 0},
       "envelope of " + r.where())


def padded(fields, size):
    """A JSON object of exactly size bytes: fields plus a long unknown member
    (clientsd would reject it, but only after the size check)."""
    raw_ = json.dumps(fields)
    pad = size - len(raw_) - len(',"pad":""')
    check(pad >= 0, "padded: too small")
    return (raw_[:-1] + ',"pad":"' + "x" * pad + '"}').encode()


# ---- the body cap -------------------------------------------------------------

@pytest.mark.timeout(40)
def test_body_over_server_cap_is_json_413(api):
    cid = api.create()["id"]
    before = api.fetch(cid)
    body = padded({"name": "Too big"}, SERVER_CAP + 4096)
    auth = "Authorization: Bearer " + api.cfg.admin_key
    r = raw(api, request_head(api, "PATCH", cpath(cid), (
        auth, "Content-Type: application/json", "Content-Length: %d" % len(body),
        "Expect: 100-continue")), body)
    expect_server_error(r, 413, "Payload too large")
    eq(api.fetch(cid), before, "client after a body over the server's cap")
    nid = api.uid()
    body = padded({"id": nid, "name": "n"}, SERVER_CAP + 1)
    r = raw(api, request_head(api, "POST", CLIENTS, (
        auth, "Content-Type: application/json", "Content-Length: %d" % len(body),
        "Expect: 100-continue")), body)
    expect_server_error(r, 413, "Payload too large")
    expect_error(api.get(cpath(nid)), 404, "Client not found")

@pytest.mark.timeout(40)
def test_body_at_server_cap_reaches_clientsd(api):
    # Exactly 1 MiB passes the server; clientsd's own 64 KiB limit answers
    # (its answer carries the X-Request-Id the server's would not).
    cid = api.create()["id"]
    r = api.patch(cpath(cid), padded({"name": "At the cap"}, SERVER_CAP))
    expect_error(r, 413, "Payload too large")
    eq(api.fetch(cid)[0]["name"], "Client " + cid[:40], "name after the 413")


# ---- what reaches clientsd unchanged --------------------------------------------

def test_encoded_slash_reaches_clientsd(api):
    for path in (CLIENTS + "/a%2Fb", CLIENTS + "/a%2fb/rotate-keys"):
        r = api.get(path) if "rotate" not in path else api.post(path)
        expect_error(r, 400, "Invalid client id", [("id", "invalid_format")])

def test_no_cgi_status_header(api):
    # clientsd sends "Status:" only for answers other than 200 (CGI's
    # default); no server may pass it on as an HTTP header.
    cid = api.uid()
    answers = [api.get("/api/v1/health", auth=None),
               api.post(CLIENTS, {"id": cid, "name": "n"}),
               api.get(cpath(cid)),
               api.get(cpath(api.uid())),
               api.patch(cpath(cid), {"nope": 1})]
    eq([r.status for r in answers], [200, 201, 200, 404, 400], "statuses")
    for r in answers:
        check(r.header("Status") is None, "a Status header: " + r.where())

def test_bodiless_post_needs_no_content_type(api):
    # Caddy's FastCGI transport sends CONTENT_TYPE
    # application/x-www-form-urlencoded when the request has none.
    c = api.create()
    r = api.post(cpath(c["id"]) + "/rotate-keys")
    d = expect_client(r)
    check(d["secret_key"] != c["secret_key"] and d["publishable_key"] != c["publishable_key"],
          "rotate-keys without a body renews both keys: " + r.where())

def test_authorization_reaches_clientsd(api):
    # Apache withholds it from FastCGI unless told (CGIPassAuth,
    # FcgidPassHeader): every request would be 401.
    cid = api.create()["id"]
    expect_client(api.get(cpath(cid)))
    expect_error(api.get(cpath(cid), auth="Bearer wrong"), 401, "Unauthorized")


# ---- answers the server makes itself ------------------------------------------------

def test_trace_is_never_echoed(api):
    name = server(api)
    marker = "trace-marker-" + api.uid()
    r = raw(api, request_head(api, "TRACE", CLIENTS, (
        "Authorization: Bearer " + api.cfg.admin_key, "X-Marker: " + marker)))
    check(r.status in (405, 501), "TRACE answered %s" % r.where())
    check(marker.encode() not in r.raw and api.cfg.admin_key.encode() not in r.raw,
          "TRACE echoed the request: " + r.where())
    check("message/http" not in r.headers.get("content-type", ""), "TRACE echo: " + r.where())
    if name in JSON_TRACE:
        expect_server_error(r, 405, "Method not allowed")

def test_outside_the_api_is_json_404(api):
    only(api)
    for path in ("/", "/api/v1", "/api/v10/clients", "/index.html"):
        r = raw(api, request_head(api, "GET", path))
        expect_server_error(r, 404, "Not found")

def test_bad_request_is_json_400(api):
    only(api)
    host = "Host: %s:%d\r\n" % (api.cfg.host, api.cfg.port)
    for req in ("BLAH\r\n\r\n",
                "GET /api/v1/health HTTP/1.1\r\n" + host + "Bad header line\r\n\r\n"):
        r = raw(api, req.encode())
        expect_server_error(r, 400, "Bad request")


@pytest.mark.timeout(40)
def test_pool_down_is_json(api):
    # The socket renamed away: the server cannot connect (ENOENT), as
    # while the pool restarts; then it comes back.
    only(api)
    sock = api.cfg.socket
    check(sock and os.path.exists(sock), "cfg.socket names no socket: %r" % sock)
    status, error = POOL_DOWN[server(api)]
    os.rename(sock, sock + ".down")
    try:
        r = raw(api, request_head(api, "GET", "/api/v1/ping"))
    finally:
        os.rename(sock + ".down", sock)
    expect_server_error(r, status, error)
    check(r.headers.get("retry-after", "").isdigit(), "no Retry-After: " + r.where())
    # lighttpd stops trying a backend it could not reach for a second or
    # two ("disable-time"): its 503s meanwhile are in the envelope too.
    deadline = time.monotonic() + 15
    while True:
        r = raw(api, request_head(api, "GET", "/api/v1/ping"))
        if r.status == 200:
            break
        expect_server_error(r, status, error)
        check(r.headers.get("retry-after", "").isdigit(), "no Retry-After: " + r.where())
        check(time.monotonic() < deadline, "ping not 200 within 15 s of the socket's return")
        time.sleep(0.2)


# ---- the request's deadline ------------------------------------------------------------

# The shipped snippets, by set-up: the file, and the directive that bounds
# the server's wait for clientsd's answer (its value in seconds).
SNIPPETS = {
    "nginx": ("nginx-clientsd.conf", r"^\s*fastcgi_read_timeout\s+(\d+)s;"),
    "apache-fcgid": ("apache-clientsd.conf", r"^\s*FcgidIOTimeout\s+(\d+)\s*$"),
    "apache-proxy": ("apache-proxy-fcgi-clientsd.conf", r"^\s*ProxyTimeout\s+(\d+)\s*$"),
    "lighttpd": ("lighttpd-clientsd.conf", r'^\s*"read-timeout"\s*=>\s*(\d+),'),
    "caddy": ("caddy-clientsd.conf", r"^\s*read_timeout\s+(\d+)s\s*$"),
}
CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf")
# What clientsd may take past request_timeout: half of it again to settle
# a COMMIT whose answer was lost (lib/core/deadline.h), and then MARGIN_S to
# write the answer.
MARGIN_S = 5


def default_request_timeout():
    with open(os.path.join(CONF, "clientsd.conf")) as f:
        m = re.search(r"^#request_timeout = (\d+)$", f.read(), re.M)
    check(m, "conf/clientsd.conf lists no #request_timeout default")
    return int(m.group(1))


def test_snippet_waits_longer_than_clientsd(api):
    """The shipped snippet gives clientsd more than its default deadline:
    a web server that gives up first answers 504 for a write clientsd may
    still make."""
    name, rx = SNIPPETS[server(api)]
    with open(os.path.join(CONF, name)) as f:
        found = re.findall(rx, f.read(), re.M)
    eq(len(found), 1, "%s: the timeout toward clientsd (%s)" % (name, rx))
    timeout = default_request_timeout()
    want = timeout + timeout // 2 + MARGIN_S
    check(int(found[0]) >= want, "%s waits %s s for clientsd, less than request_timeout "
          "and half of it again + %d s = %d s" % (name, found[0], MARGIN_S, want))


def clientsd_line(api, rid):
    """clientsd's access line for request id rid (its log is
    cfg.clientsd_log: the pool's, or Apache's error log under mod_fcgid)."""
    log = api.cfg.clientsd_log
    deadline = time.monotonic() + 5
    while True:
        with open(log, "rb") as f:
            lines = [x for x in f.read().decode("utf-8", "replace").splitlines()
                     if " request id=%s " % rid in x]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(len(lines) == 1, "clientsd's lines for request %s in %s: %s" % (rid, log, lines))
    return lines[0]


def test_server_stamps_arrival_time(api):
    """The snippet tells clientsd when the server received the request
    (X-Request-Start), replacing any value the client sent: a client's
    t=1 (1970) would be 503 unanswered, a missing stamp wait_us=-1."""
    rid = "arrival-" + api.uid()
    r = api.get("/api/v1/health", auth=None, rid=rid, headers={"X-Request-Start": "t=1"})
    eq(r.status, 200, "GET /health with a client's X-Request-Start of 1970: " + r.where())
    line = clientsd_line(api, rid)
    m = re.search(r" wait_us=(-?\d+)", line)
    check(m, "no wait_us in clientsd's line: %s" % line)
    waited = int(m.group(1))
    check(0 <= waited < 2000000, "wait_us=%d: the server did not stamp the arrival "
          "(-1) or passed the client's: %s" % (waited, line))


# ---- the access log ---------------------------------------------------------------------

def test_access_log_has_no_query_string(api):
    log = api.cfg.access_log
    marker = "querymarker" + api.uid()
    cid = api.uid()
    # The header key authenticates; the query one is never looked at.
    r = api.get(cpath(cid) + "?admin_key=%s&limit=%s" % (marker, marker))
    expect_error(r, 404, "Client not found")
    deadline = time.monotonic() + 5
    while True:
        with open(log, "rb") as f:
            text = f.read()
        if cid.encode() in text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(cid.encode() in text, "the request for %s is not in %s" % (cid, log))
    check(marker.encode() not in text, "the query string is in %s" % log)
