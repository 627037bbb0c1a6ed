"""edge_test - what the web server in front of clientsd answers by itself.

Malformed and hostile requests, sent over raw sockets (http.client would
refuse to send most of them): a bad %-escape, %00, a 10 KB header, two
Authorization headers, TRACE with credentials, a URI over the server's
limit, a body over its cap, a body without Content-Length, chunked and
unknown transfer codings, a bad HTTP version, clients too slow to send
their headers or body, the pool down and the pool stalled.  Every answer
must be the API's JSON envelope with Content-Type application/json,
Cache-Control: no-store, no admin key echoed and no server version.

Server-agnostic: what legitimately differs between servers (nginx answers
431 for a big header where Apache says 400, ...) is the EXPECT table,
keyed by the set-up (cfg.server); an unknown server gets the union of
every row.  Through every set-up (the sanitizer run: nginx and Apache +
mod_fcgid).
"""

import json
import shlex
import subprocess
import time

import pytest

import apikit
import kit
from kit import Answer, Failure, check, eq

pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(200)]

JSON_CT = apikit.JSON_CT
# The connection closes without an answer (nginx's timeouts do that).
CLOSE = "close"
# The check cannot run against this server (no pool to stop, ...).
NA = "n/a"

# The error string of each status, for answers made by the web server
# (the snippets' error documents) and by clientsd (doc/api-guide.md, "Error
# strings").
ERRORS = {
    200: None, 201: None,
    400: {"Bad request", "Invalid client id", "Invalid JSON"},
    401: {"Unauthorized"},
    404: {"Not found", "Client not found"},
    405: {"Method not allowed"},
    408: {"Request timeout"},
    409: {"Conflict"},
    411: {"Length required"},
    413: {"Payload too large"},
    414: {"URI too long"},
    431: {"Request header fields too large"},
    500: {"Internal server error"},
    501: {"Not implemented"},
    502: {"Bad gateway"},
    503: {"Service unavailable"},
    504: {"Gateway timeout"},
    505: {"HTTP version not supported"},
}

# What each server answers to each case: a tuple of statuses, CLOSE, NA.
EXPECT = {
    "nginx": {
        "bad_escape": (400,), "nul_in_path": (400,), "header_10k": (431,),
        "two_authorization": (400,), "trace": (405,), "uri_too_long": (414,),
        "body_over_cap": (413,), "chunked_over_cap": (413,),
        "body_without_length": (400,),
        "chunked_body": (201,), "unknown_transfer_coding": (501,),
        "bad_http_version": (505,), "slow_headers": (CLOSE,),
        "slow_body": (CLOSE,), "pool_down": (502,), "pool_stalled": (504,),
        "unknown_path": (404,),
        # Its own answers carry X-Request-Id too (the snippet's map).
        "request_id": True,
    },
    # Apache 2.4 + mod_fcgid: no 431 (400), %00 is 404, duplicate headers
    # are merged (clientsd then refuses the credential), a body over
    # the snippet's 1 MiB cap is its JSON 413 (a Content-Length over it is
    # redirected to 413 before mod_fcgid reads it; a chunked one is cut at
    # LimitRequestBody, and clientsd answers 413 on its own, smaller
    # limit), one read too slowly is mod_fcgid's 500, a program that
    # exits at once ("End of script output before headers") and a
    # stalled one (FcgidIOTimeout) are its 500 too.
    "apache-fcgid": {
        "bad_escape": (400,), "nul_in_path": (404,), "header_10k": (400,),
        "two_authorization": (401,), "trace": (405,), "uri_too_long": (414,),
        "body_over_cap": (413,), "chunked_over_cap": (413,),
        "body_without_length": (400,),
        "chunked_body": (201,), "unknown_transfer_coding": (400,),
        "bad_http_version": (200, 505), "slow_headers": (408,),
        "slow_body": (500, 408), "pool_down": (500,), "pool_stalled": (500, 504),
        "unknown_path": (404,),
        "request_id": False,
    },
    # Apache 2.4 + mod_proxy_fcgi: Apache's own answers as under mod_fcgid;
    # the pool's socket gone is 503, the pool stalled 504 after Timeout; a
    # chunked body is read whole first (proxy-sendcl) and reaches clientsd
    # with its length.  A body without a length is no body (clientsd: 400).
    "apache-proxy": {
        "bad_escape": (400,), "nul_in_path": (404,), "header_10k": (400,),
        "two_authorization": (401,), "trace": (405,), "uri_too_long": (414,),
        "body_over_cap": (413,), "chunked_over_cap": (413,),
        "body_without_length": (400,),
        "chunked_body": (201,), "unknown_transfer_coding": (400,),
        "bad_http_version": (200, 505), "slow_headers": (408,),
        "slow_body": (408,), "pool_down": (503,), "pool_stalled": (504,),
        "unknown_path": (404,),
        "request_id": False,
    },
    # lighttpd 1.4: a bad %-escape and %00 reach clientsd (400 from it), a
    # URI too long is 431 like a header too large, a body without a length
    # is 411, clients too slow are dropped without an answer
    # (server.max-read-idle), the pool's socket gone is 503 (and lighttpd
    # holds it for down for disable-time), the pool stalled 504 after
    # read-timeout.
    "lighttpd": {
        "bad_escape": (400,), "nul_in_path": (400,), "header_10k": (431,),
        "two_authorization": (401,), "trace": (405,), "uri_too_long": (431,),
        "body_over_cap": (413,), "chunked_over_cap": (413,),
        "body_without_length": (411,),
        "chunked_body": (201,), "unknown_transfer_coding": (501,),
        "bad_http_version": (505,), "slow_headers": (CLOSE,),
        "slow_body": (CLOSE,), "pool_down": (503,), "pool_stalled": (504,),
        "unknown_path": (404,),
        "request_id": False,
    },
    # Caddy 2.6: Go's HTTP server answers what it cannot parse (a bad
    # %-escape, an unknown transfer coding, a bad version) itself, in
    # plain text (PLAIN below); a 10 KB header and a long URI reach
    # clientsd (its 404 and 400); a body without a length is no body
    # (clientsd: 400); a chunked one reaches clientsd with CONTENT_LENGTH
    # -1 (Caddy's FastCGI transport), which clientsd reads to the end of
    # the FastCGI stream (201); clients too slow with their headers are dropped, with their
    # body answered 408; the pool's socket gone is 502, the pool stalled
    # 504 after the transport's read_timeout.
    "caddy": {
        "bad_escape": (400,), "nul_in_path": (400,), "header_10k": (404,),
        "two_authorization": (401,), "trace": (405,), "uri_too_long": (400,),
        "body_over_cap": (413,), "chunked_over_cap": (413,),
        "body_without_length": (400,),
        "chunked_body": (201,), "unknown_transfer_coding": (501,),
        "bad_http_version": (505,), "slow_headers": (CLOSE,),
        "slow_body": (408,), "pool_down": (502,), "pool_stalled": (504,),
        "unknown_path": (404,),
        "request_id": False,
    },
}

# Known differences: answers a server makes in plain text, not in the
# envelope, because nothing in its configuration can change them.  Go's
# net/http (under Caddy) writes its own "400 Bad Request", "501
# Unsupported transfer encoding" and "505 HTTP Version Not Supported"
# straight to the connection while parsing, before any Caddy handler (and
# so handle_errors) runs.  verify() checks them for exactly that, so the
# day they become JSON the test fails and says to drop the entry.
PLAIN = {
    "caddy": {"bad_escape", "unknown_transfer_coding", "bad_http_version"},
}


def expected(cfg, case):
    row = EXPECT.get(cfg.server)
    if row is not None:
        return row[case]
    union = set()
    for r in EXPECT.values():
        union.update(r[case])
    union.update({411} if case in ("body_without_length", "chunked_body") else set())
    return tuple(sorted(union, key=str))


# ---- raw HTTP (apikit.raw_exchange, apikit.raw_request) ---------------------------

exchange = apikit.raw_exchange
request = apikit.raw_request


def verify(cfg, case, a):
    """a is one of the statuses EXPECT names for case, in the envelope
    (or, for a PLAIN case, in the server's plain text)."""
    want = expected(cfg, case)
    if a.status is None:
        check(CLOSE in want, "%s: no answer, expected %s (got %r)" % (case, want, a.where()))
        return
    check(a.status in want, "%s: status %s, expected %s: %s" % (case, a.status, want, a.where()))
    check(cfg.admin_key.encode() not in a.wire, "%s: the admin key is echoed: %s"
          % (case, a.where()))
    if case in PLAIN.get(cfg.server, ()):
        ct = a.headers.get("content-type", "")
        check(ct.startswith("text/plain"),
              "%s: %s now answers %r, not plain text: drop it from PLAIN: %s"
              % (case, cfg.server, ct, a.where()))
        check(cfg.admin_key.encode() not in a.raw and len(a.raw) < 200,
              "%s: plain-text body: %s" % (case, a.where()))
        kit.info(cfg.label, "%s: known difference: %d in %s's plain text, not the envelope"
                 % (case, a.status, cfg.server))
        return
    eq(a.headers.get("content-type"), JSON_CT, "%s: Content-Type" % case)
    check("no-store" in a.headers.get("cache-control", ""),
          "%s: no Cache-Control: no-store: %s" % (case, a.where()))
    if EXPECT.get(cfg.server, {}).get("request_id"):
        check(a.headers.get("x-request-id"), "%s: no X-Request-Id: %s" % (case, a.where()))
    server = a.headers.get("server", "")
    check(not any(c.isdigit() for c in server),
          "%s: Server header gives a version: %r" % (case, server))
    try:
        b = json.loads(a.raw.decode("utf-8"))
    except ValueError:
        raise Failure("%s: body is not JSON: %s" % (case, a.where()))
    check(isinstance(b, dict), "%s: body is not an object" % case)
    if a.status < 300:
        eq(b.get("success"), True, "%s: success" % case)
        return
    eq({k: b.get(k) for k in ("success", "data", "count")},
       {"success": False, "data": None, "count": 0}, "%s: envelope" % case)
    check(b.get("error") in ERRORS[a.status], "%s: error %r for %d" % (case, b.get("error"),
                                                                     a.status))
    check(set(b) <= {"success", "data", "error", "count", "details"},
          "%s: members %s" % (case, sorted(b)))


def control(cfg, action):
    """Runs --upstream-control ACTION: True if done, False if it does not
    apply to this server (exit status 3)."""
    p = subprocess.run(shlex.split(cfg.upstream_control) + [action], capture_output=True,
                       text=True, timeout=60)
    if p.returncode == 3:
        return False
    check(p.returncode == 0, "upstream %s exited %d: %s" % (action, p.returncode,
                                                           p.stderr.strip()))
    return True


def wait_healthy(cfg, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        a = request(cfg, "GET", cfg.prefix + "/api/v1/health", auth=False, timeout=5)
        if a.status == 200:
            return
        check(time.monotonic() < deadline, "health not 200 %d s after the pool came back: %s"
              % (seconds, a.where()))
        time.sleep(0.3)


def cpath(cfg, rest):
    return cfg.prefix + apikit.CLIENTS + "/" + rest


# ---- the cases -----------------------------------------------------------------

def test_bad_escape(api):
    verify(api.cfg, "bad_escape", request(api.cfg, "GET", cpath(api.cfg, "bi%ZZ")))

def test_nul_in_path(api):
    verify(api.cfg, "nul_in_path", request(api.cfg, "GET", cpath(api.cfg, "bi%00x")))

def test_header_10k(api):
    verify(api.cfg, "header_10k", request(api.cfg, "GET", cpath(api.cfg, "x"),
                                          ["X-Big: " + "a" * 10240]))

def test_two_authorization(api):
    a = request(api.cfg, "GET", cpath(api.cfg, "x"),
                ["Authorization: Bearer " + api.cfg.admin_key])
    verify(api.cfg, "two_authorization", a)

def test_trace(api):
    a = request(api.cfg, "TRACE", cpath(api.cfg, "x"), ["X-Probe: trace-echo-probe"])
    verify(api.cfg, "trace", a)
    check(b"trace-echo-probe" not in a.wire, "TRACE echoed the request: " + a.where())

def test_uri_too_long(api):
    verify(api.cfg, "uri_too_long", request(api.cfg, "GET", cpath(api.cfg, "a" * 9000)))

@pytest.mark.timeout(40)
def test_body_over_cap(api):
    """2 MiB, over both snippets' 1 MiB cap (and clientsd's 64 KiB)."""
    size = 2 * 1024 * 1024
    a = request(api.cfg, "PATCH", cpath(api.cfg, "x"),
                ["Content-Type: application/json", "Content-Length: %d" % size],
                b"{" * size)
    verify(api.cfg, "body_over_cap", a)

@pytest.mark.timeout(40)
def test_chunked_over_cap(api):
    """2 MiB in chunks (no Content-Length to refuse it by): the cap still
    holds, with a 413."""
    size = 2 * 1024 * 1024
    chunk = b"{" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                    for _ in range(size // len(chunk))) + b"0\r\n\r\n"
    a = request(api.cfg, "POST", api.cfg.prefix + apikit.CLIENTS,
                ["Content-Type: application/json", "Transfer-Encoding: chunked"], body)
    verify(api.cfg, "chunked_over_cap", a)

def test_body_without_length(api):
    """A body with neither Content-Length nor Transfer-Encoding: the server
    sees no body (400 from clientsd) or demands a length (411)."""
    body = json.dumps({"id": api.uid("nolen"), "name": "x"}).encode()
    a = request(api.cfg, "POST", api.cfg.prefix + apikit.CLIENTS,
                ["Content-Type: application/json"], body)
    verify(api.cfg, "body_without_length", a)

def test_chunked_body(api):
    cid = api.uid("chunked")
    body = json.dumps({"id": cid, "name": "x"}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    a = request(api.cfg, "POST", api.cfg.prefix + apikit.CLIENTS,
                ["Content-Type: application/json", "Transfer-Encoding: chunked"], chunked)
    verify(api.cfg, "chunked_body", a)
    if a.status == 201:
        eq(json.loads(a.raw)["data"]["id"], cid, "id created from a chunked body")

def test_unknown_transfer_coding(api):
    a = request(api.cfg, "POST", api.cfg.prefix + apikit.CLIENTS,
                ["Content-Type: application/json", "Transfer-Encoding: gzip"], b"")
    verify(api.cfg, "unknown_transfer_coding", a)

def test_bad_http_version(api):
    verify(api.cfg, "bad_http_version",
           request(api.cfg, "GET", api.cfg.prefix + "/api/v1/health", version="HTTP/2.0",
                   auth=False))

def test_unknown_path(api):
    verify(api.cfg, "unknown_path", request(api.cfg, "GET", api.cfg.prefix + "/nothing/here"))

@pytest.mark.timeout(40)
def test_slow_headers(api):
    """Half a request, then silence: the server's header timeout."""
    head = ("GET %s/api/v1/health HTTP/1.1\r\nHost: x\r\n" % api.cfg.prefix).encode()
    verify(api.cfg, "slow_headers", exchange(api.cfg, head, timeout=30))

@pytest.mark.timeout(40)
def test_slow_body(api):
    """A promised body that never comes: the server's body timeout."""
    a = request(api.cfg, "PATCH", cpath(api.cfg, "x"),
                ["Content-Type: application/json", "Content-Length: 100"], b'{"na',
                timeout=30)
    verify(api.cfg, "slow_body", a)

@pytest.mark.timeout(40)
def test_pool_down(api):
    cfg = api.cfg
    if NA in expected(cfg, "pool_down"):
        return
    check(control(cfg, "down"), "upstream down does not apply, yet EXPECT wants %s"
          % (expected(cfg, "pool_down"),))
    try:
        a = request(cfg, "GET", cpath(cfg, "x"), timeout=20)
    finally:
        control(cfg, "up")
    verify(cfg, "pool_down", a)
    wait_healthy(cfg)

@pytest.mark.timeout(60)
def test_pool_stalled(api):
    """Every clientsd process stopped (SIGSTOP): the server's upstream read
    timeout (H_WEB_TIMEOUT in tools/daemons.sh) answers."""
    cfg = api.cfg
    check(control(cfg, "stall"), "upstream stall does not apply")
    try:
        t0 = time.monotonic()
        a = request(cfg, "GET", cpath(cfg, "x"), timeout=30)
        took = time.monotonic() - t0
    finally:
        control(cfg, "resume")
    verify(cfg, "pool_stalled", a)
    check(took < 25, "the stalled request took %.1f s" % took)
    wait_healthy(cfg)
