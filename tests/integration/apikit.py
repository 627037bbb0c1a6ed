"""apikit - the HTTP client of the tests and the assertions they share.

One Api object per test (the `api` fixture of conftest.py): it sends
requests (one fresh connection each), checks what every response must
carry (JSON envelope, Content-Type, Cache-Control, X-Request-Id) and
validates each against doc/openapi.yaml (openapi_check), and notes the
secrets it saw for secrets_test.py.
"""

import http.client
import itertools
import json
import os
import re
import select
import shlex
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

from kit import Answer, Failure, check, eq, short, wait_for  # noqa: F401 - tests import them here
from openapi_check import Contract

CLIENTS = "/api/v1/clients"
JSON_CT = "application/json; charset=utf-8"

# The client object's members, in order: every client object has exactly these.
FIELDS = ("id", "name", "status", "publishable_key", "secret_key", "domain", "email", "phone",
          "website", "timezone", "global_name", "company_id", "agency_id", "api_metadata",
          "ghl_location_id", "proxy_api_key", "created_at", "updated_at")
NULLABLE = ("domain", "email", "phone", "website", "timezone", "global_name",
            "company_id", "agency_id", "ghl_location_id", "proxy_api_key")

TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PK_RE = re.compile(r"^pk_[0-9a-f]{32}$")
SK_RE = re.compile(r"^sk_[0-9a-f]{32}$")
STRONG_ETAG_RE = re.compile(r'^"[^"]*"$')

_DEFAULT = object()      # "use the default" marker for keyword arguments
# doc/openapi.yaml: every exchange of every test is checked against it.
CONTRACT = Contract()
_counter = itertools.count(1)
_counter_lock = threading.Lock()


def _next():
    with _counter_lock:
        return next(_counter)


class Config:
    """What a test file gets from its set-up (conftest.py's cfg fixture):
    host, port and prefix of base_url, the admin key, the label (the
    set-up's name), the run id (the prefix of every id a test file
    creates), and more (ctl, sql, db_control, ...) as keywords.  Shared
    read-only by the file's tests."""

    def __init__(self, base_url, admin_key, label, run_id, **more):
        u = urllib.parse.urlsplit(base_url)
        check(u.scheme == "http" and u.hostname, "base_url must be http://host:port")
        self.host, self.port, self.prefix = u.hostname, u.port or 80, u.path.rstrip("/")
        self.base_url = base_url
        self.admin_key, self.label, self.run_id = admin_key, label, run_id
        self.__dict__.update(more)


class Resp(Answer):
    """One response to an Api call: an Answer that knows its request
    (method, path), with the body parsed as JSON only when it says it is
    JSON (_check_common), its members in order (pairs) and the ETag."""

    def __init__(self, method, path, status, headers, raw):
        super().__init__(status, headers, raw)
        self.method, self.path = method, path
        self.body = self.pairs = None

    @property
    def etag(self):
        return self.header("ETag")

    def where(self):
        """Context for failure messages."""
        return "%s %s -> %s %s [rid %s]" % (self.method, short(self.path, 80), self.status,
                                           short(self.raw.decode("utf-8", "replace"), 200),
                                           self.header("X-Request-Id"))


class Api:
    """Requests for one test, with a recognisable X-Request-Id on each."""

    def __init__(self, cfg, test_name):
        self.cfg, self.test = cfg, test_name

    def uid(self, prefix="c"):
        """An id (also usable as a label or global_name part) unique per run."""
        return "%s_%s_%d" % (prefix, self.cfg.run_id, _next())

    def rid(self):
        return ("%s.%s.%d" % (self.cfg.run_id, self.test, _next()))[:128]

    def call(self, method, path, body=None, *, ctype=_DEFAULT, auth=_DEFAULT,
             headers=None, rid=_DEFAULT, timeout=15, barrier=None):
        """Sends one request and checks what every response must carry.
        body: dict/list (sent as JSON), str, bytes or None.  ctype (default
        application/json when there is a body), auth (default the admin key)
        and rid (default a fresh one the response must echo): None omits them.
        barrier: waited on after connecting, for simultaneous requests."""
        hdrs = {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        if ctype is _DEFAULT:
            ctype = "application/json" if body is not None else None
        if ctype is not None:
            hdrs["Content-Type"] = ctype
        if auth is _DEFAULT:
            auth = "Bearer " + self.cfg.admin_key
        if auth is not None:
            hdrs["Authorization"] = auth
        auto_rid = rid is _DEFAULT
        if auto_rid:
            rid = self.rid()
        if rid is not None:
            hdrs["X-Request-Id"] = rid
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.cfg.host, self.cfg.port, timeout=timeout)
        try:
            if barrier is not None:
                conn.connect()
                barrier.wait()
            conn.request(method, self.cfg.prefix + path, body=body, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            hl = {}
            for k, v in r.getheaders():
                k = k.lower()
                hl[k] = hl[k] + ", " + v if k in hl else v
            resp = Resp(method, path, r.status, hl, raw)
        finally:
            conn.close()
        record_secrets(hdrs.get("Authorization"), path, body, raw)
        _check_common(resp, rid if auto_rid else None)
        CONTRACT.check(method, path, hdrs, body, resp.status, resp.headers, resp.raw)
        return resp

    def ctl(self, *args):
        """Runs the admin CLI (--ctl) with args; returns its stdout."""
        return _run(self.cfg.ctl, args)

    def sql(self, text):
        """Runs SQL in the service's database as admin (--sql); returns stdout."""
        return _run(self.cfg.sql, (), text)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def head(self, path, **kw):
        return self.call("HEAD", path, **kw)

    def create(self, **fields):
        """Creates a client (id and name filled in unless given); returns data."""
        fields.setdefault("id", self.uid())
        fields.setdefault("name", "Client " + fields["id"][:40])
        r = self.post(CLIENTS, fields)
        return expect_client(r, 201)

    def fetch(self, cid):
        """GET a client: returns (data, etag)."""
        r = self.get(cpath(cid))
        return expect_client(r, 200), r.etag

    def update(self, cid, body, **kw):
        """PATCH expected to succeed; returns the response."""
        r = self.patch(cpath(cid), body, **kw)
        expect_client(r, 200)
        return r

# ---- secrets the run used (for secrets_test.py) ---------------------------
# With CM_SECRETS_FILE set, every admin key sent (header or query), every
# publishable/secret key and webhook signing secret seen in a request or
# response body and every
# proxy_api_key the service answered with is appended to that file, one a
# line; secrets_test.py then looks for each in every log of the run.

_SECRET_RE = re.compile(r"\b(?:pk_[0-9a-f]{32}|sk_[0-9a-f]{32}|ak_[0-9a-f]{64}|"
                        r"whsec_[0-9a-f]{64})\b")
_secrets_seen = set()
_secrets_lock = threading.Lock()

def _walk_proxy_keys(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "proxy_api_key" and isinstance(x, str) and x != "<redacted>":
                out.add(x)
            else:
                _walk_proxy_keys(x, out)
    elif isinstance(v, list):
        for x in v:
            _walk_proxy_keys(x, out)

def record_secrets(auth=None, path="", body=None, raw=b""):
    """Notes the secrets of one exchange (no-op without CM_SECRETS_FILE)."""
    target = os.environ.get("CM_SECRETS_FILE")
    if not target:
        return
    found = set()
    if auth:
        parts = auth.split(None, 1)
        for t in (parts[-1].strip(), auth.strip()):
            if len(t) >= 16:
                found.add(t)
    q = urllib.parse.urlsplit(path).query
    for k, v in urllib.parse.parse_qsl(q, keep_blank_values=True):
        if k == "admin_key" and len(v) >= 16:
            found.add(v)
    for blob in (body, raw):
        if isinstance(blob, (bytes, bytearray)):
            text = bytes(blob).decode("utf-8", "replace")
            found.update(_SECRET_RE.findall(text))
            # A proxy_api_key is a secret once the service has stored it
            # (it comes back in a response); a rejected one may well be a
            # test's bad value that is also used as an id or request id.
            if blob is raw:
                try:
                    _walk_proxy_keys(json.loads(text), found)
                except ValueError:
                    pass
    with _secrets_lock:
        new = found - _secrets_seen
        if not new:
            return
        _secrets_seen.update(new)
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, "".join(x.replace("\n", " ") + "\n" for x in sorted(new)).encode())
        finally:
            os.close(fd)

def _run(command, args, stdin=None, timeout=60):
    p = subprocess.run(shlex.split(command) + list(args), input=stdin, capture_output=True,
                       text=True, timeout=timeout)
    check(p.returncode == 0, "%s %s exited %d: %s" % (command, " ".join(args), p.returncode,
                                                       short(p.stderr.strip(), 400)))
    return p.stdout

def cpath(cid):
    return "%s/%s" % (CLIENTS, cid)

def _check_common(r, expected_rid):
    """What the API promises on every response (a HEAD response:
    the same headers and no body)."""
    ct = r.header("Content-Type")
    if r.status != 304 and (ct or "").split(";")[0].strip() == "application/json":
        eq(ct, JSON_CT, "Content-Type of " + r.where())
    cc = r.header("Cache-Control") or ""
    check("no-store" in cc, "Cache-Control lacks no-store: " + r.where())
    got_rid = r.header("X-Request-Id")
    check(got_rid, "no X-Request-Id: " + r.where())
    if expected_rid is not None:
        eq(got_rid, expected_rid, "X-Request-Id echo of " + r.where())
    if r.method == "HEAD" or r.status == 304:
        eq(r.raw, b"", "body of " + r.where())
        return
    if (r.header("Content-Type") or "").split(";")[0].strip() != "application/json":
        return      # another media type (openmetrics): the contract checks it
    try:
        text = r.raw.decode("utf-8")
        r.body = json.loads(text)
        r.pairs = json.loads(text, object_pairs_hook=lambda p: p)
    except ValueError as e:
        raise Failure("body is not UTF-8 JSON (%s): %s" % (e, r.where()))
    if r.path.split("?")[0] == "/api/v1/openapi.json":
        return      # the document itself, not an envelope
    check(isinstance(r.body, dict) and isinstance(r.body.get("success"), bool),
          "body is not an envelope: " + r.where())

def expect_status(r, status):
    if r.status != status:
        raise Failure("expected %d: %s" % (status, r.where()))

def expect_client(r, status=200):
    """A success envelope holding one whole client; returns the client."""
    expect_status(r, status)
    eq(sorted(r.body), ["data", "success"], "envelope members of " + r.where())
    eq(r.body["success"], True, "success of " + r.where())
    check_client_shape(r)
    etag = r.etag
    check(etag and STRONG_ETAG_RE.match(etag), "ETag not strong: %r in %s" % (etag, r.where()))
    return r.data

def check_client_shape(r):
    """18 members in section 2 order, with the formats the service promises."""
    check_client_pairs(dict(r.pairs)["data"], r.data, r.where())

def check_client_pairs(data_pairs, d, where):
    """One client: data_pairs its members as (name, value) pairs, d as a dict."""
    check(isinstance(data_pairs, list), "data is not an object: " + where)
    eq(tuple(k for k, _ in data_pairs), FIELDS, "client member order in " + where)
    check(PK_RE.match(d["publishable_key"] or ""), "bad publishable_key %r" % d["publishable_key"])
    check(SK_RE.match(d["secret_key"] or ""), "bad secret_key %r" % d["secret_key"])
    for k in ("created_at", "updated_at"):
        check(TIMESTAMP_RE.match(d[k] or ""), "bad %s %r" % (k, d[k]))
    check(isinstance(d["status"], bool), "status not boolean")
    check(isinstance(d["api_metadata"], dict), "api_metadata not an object")

def expect_error(r, status, error, details=None):
    """The exact error envelope.  details: None means no details member;
    else a list of (field, code) in order ("api_metadata*" matches a prefix)."""
    expect_status(r, status)
    b = r.body
    want = {"success", "data", "error", "count"} | ({"details"} if details is not None else set())
    eq(set(b), want, "error envelope members of " + r.where())
    check(b["success"] is False and b["data"] is None and b["count"] == 0,
          "error envelope values: " + r.where())
    eq(b["error"], error, "error of " + r.where())
    if details is None:
        return
    got = b["details"]
    check(isinstance(got, list) and all(isinstance(x, dict) for x in got),
          "details not a list of objects: " + r.where())
    for x in got:
        check(isinstance(x.get("message"), str) and x["message"],
              "detail without message: " + r.where())
    pairs = [(x.get("field"), x.get("code")) for x in got]
    ok = len(pairs) == len(details) and all(
        c == wc and (f == wf or (wf.endswith("*") and str(f).startswith(wf[:-1])))
        for (f, c), (wf, wc) in zip(pairs, details))
    check(ok, "details: expected %s, got %s (%s %s)" % (details, pairs, r.method, short(r.path, 60)))

def expect_list(r, counted=True):
    """200 {"success": true, "data": [clients], "count": N, "next": cursor|null};
    returns (data, count).  counted=False: count must be null (?count=false)."""
    expect_status(r, 200)
    eq(sorted(r.body), ["count", "data", "next", "success"],
       "list envelope members of " + r.where())
    eq(r.body["success"], True, "success of " + r.where())
    items, count = r.body["data"], r.body["count"]
    check(isinstance(items, list), "data is not an array: " + r.where())
    if counted:
        check(isinstance(count, int) and not isinstance(count, bool) and count >= 0,
              "count is not a non-negative integer: " + r.where())
    else:
        check(count is None, "count is not null: " + r.where())
    nxt = r.body["next"]
    check(nxt is None or (isinstance(nxt, str) and re.match(r"^[A-Za-z0-9_.-]+$", nxt)),
          "next is neither null nor an opaque URL-safe cursor: " + r.where())
    return items, count

def expect_clients(r, counted=True):
    """expect_list, each item a whole client; returns (clients, count)."""
    items, count = expect_list(r, counted)
    for pairs, d in zip(dict(r.pairs)["data"], items):
        check_client_pairs(pairs, d, r.where())
    return items, count

def expect_invalid(r, *details):
    """400 "Validation failed" with exactly these (field, code) details."""
    expect_error(r, 400, "Validation failed", list(details))

def expect_unchanged(api, cid, before, before_etag):
    """The stored client and its ETag are what they were."""
    now, etag = api.fetch(cid)
    eq(now, before, "client %s after a rejected request" % cid)
    eq(etag, before_etag, "ETag of %s after a rejected request" % cid)


# ---- the database taken away and back (cfg.db_control) ---------------------------

def db_control(api, action):
    """Stops or starts the set-up's database."""
    p = subprocess.run(shlex.split(api.cfg.db_control) + [action], capture_output=True,
                       text=True, timeout=40)
    check(p.returncode == 0, "db-control %s exited %d: %s" % (action, p.returncode,
                                                              short(p.stderr)))


def wait_healthy(api, seconds=15):
    """Until /health answers 200 again (the database is back)."""
    wait_for(lambda: api.get("/api/v1/health", auth=None).status == 200, seconds,
             "health not 200 after the restart", 0.2)


# ---- a row locked by a session of the test's -------------------------------------

def sql_session(api):
    """A MariaDB session of its own (cfg.sql) in the background: SQL goes to
    its stdin, its errors to .err."""
    err = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(shlex.split(api.cfg.sql), stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=err, text=True)
    p.err = err
    return p

def lock_row(api, cid):
    """A session holding cid's row locked until unlock_row()."""
    eq(api.sql("SELECT COUNT(*) FROM clients WHERE id = '%s'" % cid).split()[-1], "1",
       "rows of %s before locking it" % cid)
    locker = sql_session(api)
    locker.stdin.write("START TRANSACTION;\nSELECT id FROM clients WHERE id = '%s' FOR UPDATE;\n"
                       "SELECT SLEEP(40);\nROLLBACK;\n" % cid)
    locker.stdin.flush()
    # The locking read has returned once the session sleeps.  (Waiting for
    # information_schema.innodb_trx to show a locked row instead was seen to
    # time out twice under ASan behind mod_fcgid while the session slept.)
    try:
        wait_for(lambda: api.sql(
            "SELECT COUNT(*) FROM information_schema.processlist "
            "WHERE info LIKE 'SELECT SLEEP(%'").split()[-1] != "0", 30,
            "never happened: the test's lock on " + cid)
    except AssertionError as e:
        locker.err.seek(0)
        raise AssertionError("%s; locker: %s; sessions: %s" % (e, short(locker.err.read()),
                             short(api.sql("SELECT id, command, time, state, LEFT(info, 60) "
                                           "FROM information_schema.processlist"), 800)))
    return locker

def unlock_row(api, locker):
    ids = api.sql("SELECT id FROM information_schema.processlist "
                  "WHERE info LIKE 'SELECT SLEEP(%'").split()[1:]
    for i in ids:
        api.sql("KILL %d" % int(i))
    locker.stdin.close()
    locker.wait(20)


def validate_raw(method, target, req_headers, req_body, status, headers, raw):
    """For tests that talk to the server without Api.call (malformed requests on
    a raw socket): checks the answer against doc/openapi.yaml like every other.
    headers: the response's, names in any case."""
    CONTRACT.check(method, target, req_headers, req_body, status,
                   {k.lower(): v for k, v in headers.items()}, raw)


# ---- raw HTTP: requests http.client cannot make (a header twice, a bad line) ------

def raw_exchange(cfg, head, body=b"", pause=0.0, timeout=30):
    """Sends head (and body, after pause seconds, stopping early when the
    server has answered), then reads until the server closes."""
    s = socket.create_connection((cfg.host, cfg.port), timeout=timeout)
    raw = b""
    try:
        s.sendall(head)
        if pause:
            time.sleep(pause)
        sent = 0
        try:
            while sent < len(body):
                if select.select([s], [], [], 0)[0]:
                    break       # an answer already: stop sending
                sent += s.send(body[sent:sent + 65536])
        except OSError:
            pass                # the server stopped reading: read its answer
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            raw += chunk
    finally:
        s.close()
    return Answer.parse(raw)


def raw_request(cfg, method, path, headers=(), body=b"", version="HTTP/1.1", auth=True, **kw):
    """One request written by hand: headers is a list of "Name: value"
    lines (a name may come twice); the admin key unless auth is false."""
    lines = ["%s %s %s" % (method, path, version), "Host: %s:%d" % (cfg.host, cfg.port)]
    if auth:
        lines.append("Authorization: Bearer " + cfg.admin_key)
    lines += list(headers) + ["Connection: close"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    a = raw_exchange(cfg, head, body, **kw)
    record_secrets("Bearer " + cfg.admin_key if auth else None, path, body[:65536], a.wire)
    return a
