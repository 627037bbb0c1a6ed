"""scopes_test.py - scoped admin keys (doc/api-guide.md, "Authentication"):
what a key may do (its scopes, 403 missing_scope), which clients it sees
(an agency binding: another agency's client is 404, lists and counts hold
its agency only, cursors and the history follow), when it stops working
(expiry: 401 key_expired), how its use is recorded (last_used_at, at most
once a minute per worker), and clientsctl's admin-key set, list and audit
--key.

Every operation is sent with a key holding exactly the scope it needs
(2xx) and with a key holding every scope but that one (403, nothing
written: the client, its history and the key's Idempotency-Key rows are
what they were).  Through every set-up (the sanitizer run: nginx and
Apache + mod_fcgid).
"""

import datetime
import hashlib
import json
import shlex
import subprocess
import threading
import time
import urllib.parse

import pytest

from apikit import (CLIENTS, check, cpath, eq, expect_client, expect_clients, expect_error,
                    expect_list, expect_status, short)

pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(150)]

SCOPES = ("clients:read", "clients:write", "clients:delete", "clients:erase", "keys:rotate",
          "audit:read", "pool:status", "events:read", "webhooks:manage")
AUTH_CACHE_S = 5        # [api] auth_cache_s: the default, which the suite's config keeps
STATUS = "/api/v1/status"


# ---- keys --------------------------------------------------------------------------

class Key:
    """An admin key made by clientsctl: the secret, its id, its name."""

    def __init__(self, secret, kid, name):
        self.secret, self.id, self.name = secret, kid, name

    @property
    def auth(self):
        return "Bearer " + self.secret


def key_rows(api):
    """clientsctl admin-key list as dicts, by the header's column names."""
    lines = [ln for ln in api.ctl("admin-key", "list").splitlines() if ln.strip()]
    head = lines[0].split("\t")
    eq(head[:4], ["ID", "NAME", "CREATED_AT", "REVOKED_AT"], "the list's first columns")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]


def key_row(api, name):
    rows = [r for r in key_rows(api) if r["NAME"] == name]
    eq(len(rows), 1, "admin-key list rows named " + name)
    return rows[0]


def make_key(api, scopes=None, agency=None, expires=None, description=None):
    """A new key; scopes an iterable of names (None: clientsctl's default)."""
    name = api.uid("key")
    args = ["admin-key", "create", "--name", name]
    if scopes is not None:
        args += ["--scope", ",".join(scopes)]
    if agency is not None:
        args += ["--agency", agency]
    if expires is not None:
        args += ["--expires", expires]
    if description is not None:
        args += ["--description", description]
    secret = api.ctl(*args).strip()
    return Key(secret, key_row(api, name)["ID"], name)


_KEYS = {}


def scoped(api, scopes):
    """A key holding exactly scopes, one per set-up and set of scopes."""
    k = (api.cfg.label, frozenset(scopes))
    if k not in _KEYS:
        _KEYS[k] = make_key(api, sorted(scopes, key=SCOPES.index))
    return _KEYS[k]


def only(api, scope):
    return scoped(api, {scope})


def all_but(api, *scopes):
    return scoped(api, set(SCOPES) - set(scopes))


def expect_forbidden(r, scope):
    """403 missing_scope naming scope (a HEAD: the status alone)."""
    if r.method == "HEAD":
        expect_status(r, 403)
        return
    expect_error(r, 403, "Forbidden", [(None, "missing_scope")])
    eq(r.body["details"][0]["message"], "must use a key with the scope " + scope,
       "message of " + r.where())


def utc_in(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def sql_rows(api, text):
    return [ln.split("\t") for ln in api.sql(text).strip().splitlines()[1:]]


# ---- what a request left behind ----------------------------------------------------

def state(api, cid):
    """The client (data, ETag) and its history's length, read with the full
    key: equal before and after a refused request means nothing was written."""
    r = api.get(cpath(cid))
    client = (r.data, r.etag) if r.status == 200 else r.status
    a = api.get(cpath(cid) + "/audit?limit=1")
    return client, (a.body["count"] if a.status == 200 else a.status)


def idem_rows(api, key):
    return int(sql_rows(api, "SELECT COUNT(*) FROM idempotency_keys WHERE admin_key_id = %d"
                        % int(key.id))[0][0])


# ---- every operation and its scope -------------------------------------------------

def _create_body(api, cid):
    return {"id": api.uid(), "name": "made by a scoped key"}


# name, scope, method, path of a client id, body (a dict, or a function of api and
# the client id), the status it answers when allowed
OPERATIONS = [
    ("list", "clients:read", "GET", lambda c: CLIENTS + "?limit=1", None, 200),
    ("list, headers", "clients:read", "HEAD", lambda c: CLIENTS, None, 200),
    ("read", "clients:read", "GET", cpath, None, 200),
    ("read, headers", "clients:read", "HEAD", cpath, None, 200),
    ("create", "clients:write", "POST", lambda c: CLIENTS, _create_body, 201),
    ("update", "clients:write", "PATCH", cpath, {"name": "changed by a scoped key"}, 200),
    ("soft delete", "clients:delete", "DELETE", cpath, None, 200),
    ("hard delete", "clients:delete", "DELETE", lambda c: cpath(c) + "?hard=true", None, 200),
    ("rotate keys", "keys:rotate", "POST", lambda c: cpath(c) + "/rotate-keys", None, 200),
    ("history", "audit:read", "GET", lambda c: cpath(c) + "/audit", None, 200),
    ("history, headers", "audit:read", "HEAD", lambda c: cpath(c) + "/audit", None, 200),
    ("events", "events:read", "GET", lambda c: "/api/v1/events?limit=1", None, 200),
    ("events, headers", "events:read", "HEAD", lambda c: "/api/v1/events", None, 200),
    ("status", "pool:status", "GET", lambda c: STATUS, None, 200),
    ("status, headers", "pool:status", "HEAD", lambda c: STATUS, None, 200),
]
WRITES = ("POST", "PATCH", "DELETE")


def send(api, op, cid, key, **kw):
    _, _, method, path, body, _ = op
    if callable(body):
        body = body(api, cid)
    headers = {"Idempotency-Key": api.uid("ik")} if method in WRITES else None
    return api.call(method, path(cid), body, auth=key.auth, headers=headers, **kw)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("op", OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_operation_needs_its_scope(api, op):
    """With exactly the scope: the 2xx; with every scope but it: 403 naming
    it, and the client, its history and the key's stored answers as they
    were."""
    name, scope, method, _, _, ok = op
    cid = api.create(agency_id=api.uid("ag"))["id"]
    lacking = all_but(api, scope)
    before = state(api, cid)
    rows = idem_rows(api, lacking)
    expect_forbidden(send(api, op, cid, lacking), scope)
    eq(state(api, cid), before, name + ": the client after a 403")
    eq(idem_rows(api, lacking), rows, name + ": stored Idempotency-Key answers after a 403")
    # The key lacking a scope is only ever sent what needs it: no write of its own.
    eq(int(sql_rows(api, "SELECT COUNT(*) FROM client_audit WHERE admin_key_id = %d"
                    % int(lacking.id))[0][0]), 0, name + ": history written by the refused key")
    r = send(api, op, cid, only(api, scope))
    expect_status(r, ok)
    if method in WRITES and ok < 300:
        check(state(api, cid) != before or method == "POST", name + ": nothing changed")


def test_erase_needs_both_scopes(api):
    """DELETE ?hard=true&erase=true: clients:delete (the route's) and
    clients:erase (the query's); either alone is 403 naming the other."""
    path = lambda c: cpath(c) + "?hard=true&erase=true"  # noqa: E731
    for have, missing in ((("clients:delete",), "clients:erase"),
                          (("clients:erase",), "clients:delete")):
        cid = api.create(email="erin@example.com")["id"]
        before = state(api, cid)
        expect_forbidden(api.delete(path(cid), auth=scoped(api, have).auth), missing)
        eq(state(api, cid), before, "client after an erase without " + missing)
    key = scoped(api, {"clients:delete", "clients:erase"})
    r = api.delete(path(cid), auth=key.auth)
    expect_status(r, 200)
    eq(r.body, {"success": True, "deleted": True, "hard": True, "erased": True}, "erase answer")
    # A bad query is 400 before the erase scope is looked at.
    r = api.delete(cpath(cid) + "?erase=true", auth=scoped(api, {"clients:delete"}).auth)
    expect_error(r, 400, "Invalid query parameters", [("erase", "invalid_value")])


def test_order_of_checks(api):
    """401, then the route (404), the method (405) and the id (400), then the
    scope, which says the same whether the client exists or not."""
    none = scoped(api, {"events:read"})
    cid = api.create()["id"]
    r = api.get(cpath(cid), auth="Bearer ak_" + "0" * 64)
    expect_error(r, 401, "Unauthorized")
    expect_error(api.get("/api/v1/nothing", auth=none.auth), 404, "Not found")
    expect_error(api.call("PUT", cpath(cid), {"name": "x"}, auth=none.auth), 405,
                 "Method not allowed")
    expect_error(api.get(CLIENTS + "/bad.id", auth=none.auth), 400, "Invalid client id",
                 [("id", "invalid_format")])
    a = api.get(cpath(cid), auth=none.auth)
    b = api.get(cpath(api.uid("never")), auth=none.auth)
    expect_forbidden(a, "clients:read")
    eq((a.status, a.body), (b.status, b.body), "403 of an existing and a missing client")
    # The open routes need no scope.
    expect_status(api.get("/api/v1/ping", auth=none.auth), 200)
    expect_status(api.get("/api/v1/health", auth=none.auth), 200)
    # No body is read before the scope: a bad Content-Type still gets the 403.
    expect_forbidden(api.call("PATCH", cpath(cid), "x", ctype="text/plain", auth=none.auth),
                     "clients:write")


def test_default_key_holds_every_scope(api):
    key = make_key(api)
    eq(key_row(api, key.name)["SCOPES"], ",".join(SCOPES), "SCOPES of a key made without --scope")
    for op in OPERATIONS:
        cid = api.create()["id"]
        expect_status(send(api, op, cid, key), op[5])


# ---- a key bound to an agency ------------------------------------------------------

def agencies(api):
    """Two agencies with a client each, a client of none, and a key bound to
    the first holding every scope."""
    a, b = api.uid("agA"), api.uid("agB")
    ca = api.create(agency_id=a, domain=api.uid("d").replace("_", "-") + ".example")
    cb = api.create(agency_id=b, domain=api.uid("d").replace("_", "-") + ".example",
                    global_name="G" + api.uid("g"), name="Bee Corp")
    cn = api.create()
    return a, b, ca, cb, cn, make_key(api, agency=a)


def expect_not_found(r, what):
    """The 404 a missing client gets, nothing more."""
    if r.method == "HEAD":
        expect_status(r, 404)
        return
    expect_error(r, 404, "Client not found")
    check("details" not in r.body, what + ": details in the 404")


@pytest.mark.timeout(60)
def test_bound_key_sees_its_agency_only(api):
    """Every operation on a client of another agency (or of none) is 404,
    nothing written; on its own agency's client the 2xx."""
    a, b, ca, cb, cn, key = agencies(api)
    client_ops = [op for op in OPERATIONS if op[0] not in ("list", "list, headers", "create",
                                                           "status", "status, headers",
                                                           "events", "events, headers")]
    for op in client_ops:
        for other in (cb, cn):
            before = state(api, other["id"])
            expect_not_found(send(api, op, other["id"], key), op[0])
            eq(state(api, other["id"]), before, "%s: another agency's client" % op[0])
        mine = api.create(agency_id=a)
        expect_status(send(api, op, mine["id"], key), op[5])
    # A conditional write on another agency's client: 404, not the 412 that
    # would tell it exists.
    _, etag = api.fetch(cb["id"])
    expect_not_found(api.patch(cpath(cb["id"]), {"name": "x"}, auth=key.auth,
                               headers={"If-Match": '"1.0"'}), "PATCH with If-Match")
    expect_not_found(api.delete(cpath(cb["id"]) + "?hard=true&erase=true", auth=key.auth),
                     "erase")
    eq(api.fetch(cb["id"])[1], etag, "the other agency's client after it all")
    # Its 404 is the one of a client that never existed.
    x = api.get(cpath(cb["id"]), auth=key.auth)
    y = api.get(cpath(api.uid("never")), auth=key.auth)
    eq((x.status, x.body), (y.status, y.body), "404 of another agency's and of no client")


def test_bound_key_lists_and_counts(api):
    a, b, ca, cb, cn, key = agencies(api)
    mine = [ca] + [api.create(agency_id=a, status=(i % 2 == 0)) for i in range(3)]
    ids = sorted(c["id"] for c in mine)

    def listed(**q):
        r = api.get(CLIENTS + "?" + urllib.parse.urlencode(dict(q, limit=200)), auth=key.auth)
        items, count = expect_clients(r)
        return sorted(c["id"] for c in items), count

    # Only its agency, wherever the other clients are in the table.
    got, count = listed()
    eq((got, count), (ids, len(ids)), "the bound key's whole list")
    eq(listed(agency_id=a), (ids, len(ids)), "its list filtered by its own agency")
    eq(listed(agency_id=b), ([], 0), "its list filtered by another agency")
    eq(listed(domain=cb["domain"]), ([], 0), "another agency's client by its domain")
    eq(listed(domain=ca["domain"]), ([ca["id"]], 1), "its own client by domain")
    active = sorted(c["id"] for c in mine if c["status"])
    eq(listed(status="true"), (active, len(active)), "its active clients")
    r = api.get(CLIENTS + "?count=false&agency_id=" + b, auth=key.auth)
    eq(expect_list(r, counted=False)[0], [], "another agency without the count")
    expect_status(api.head(CLIENTS + "?agency_id=" + b, auth=key.auth), 200)


def test_bound_key_cursors(api):
    """A cursor opens only under the binding it was made under: the bound
    key's own, not an unbound key's with the same effective filter, nor
    one bound elsewhere; the same for the history's cursors."""
    a, b, ca, cb, cn, key = agencies(api)
    for _ in range(3):
        api.create(agency_id=a)
    other = make_key(api, agency=b)
    r = api.get(CLIENTS + "?limit=1", auth=key.auth)
    nxt = expect_clients(r)[0] and r.body["next"]
    check(nxt, "a next cursor: " + r.where())
    seen = [r.body["data"][0]["id"]]
    while nxt:
        r = api.get(CLIENTS + "?limit=1&after=" + nxt, auth=key.auth)
        seen += [c["id"] for c in expect_clients(r)[0]]
        nxt = r.body["next"]
    eq(len(seen), 4, "the bound key's walk")
    first = api.get(CLIENTS + "?limit=1", auth=key.auth).body["next"]
    bad = [("unbound", api.cfg.admin_key, "?limit=1&agency_id=" + a),
           ("unbound, no filter", api.cfg.admin_key, "?limit=1"),
           ("bound elsewhere", other.secret, "?limit=1")]
    for what, secret, q in bad:
        r = api.get(CLIENTS + q + "&after=" + first, auth="Bearer " + secret)
        expect_error(r, 400, "Invalid query parameters", [("after", "invalid_value")])
    # The unbound key's cursor of the same agency does not open for the bound key.
    unbound = api.get(CLIENTS + "?limit=1&agency_id=" + a).body["next"]
    r = api.get(CLIENTS + "?limit=1&agency_id=%s&after=%s" % (a, unbound), auth=key.auth)
    expect_error(r, 400, "Invalid query parameters", [("after", "invalid_value")])
    # The history.
    for i in range(3):
        api.update(ca["id"], {"name": "rename %d" % i})
    r = api.get(cpath(ca["id"]) + "/audit?limit=1", auth=key.auth)
    hist = expect_list(r)[0] and r.body["next"]
    expect_status(api.get(cpath(ca["id"]) + "/audit?limit=1&after=" + hist, auth=key.auth), 200)
    r = api.get(cpath(ca["id"]) + "/audit?limit=1&after=" + hist)
    expect_error(r, 400, "Invalid query parameters", [("after", "invalid_value")])


def test_bound_key_creates_and_patches_in_its_agency(api):
    a, b, ca, cb, cn, key = agencies(api)
    made = expect_client(api.post(CLIENTS, {"id": api.uid(), "name": "n"}, auth=key.auth), 201)
    eq(made["agency_id"], a, "agency of a create without agency_id")
    made = expect_client(api.post(CLIENTS, {"id": api.uid(), "name": "n", "agency_id": a},
                                  auth=key.auth), 201)
    eq(made["agency_id"], a, "agency of a create naming its own agency")
    for value in (b, None):
        cid = api.uid()
        r = api.post(CLIENTS, {"id": cid, "name": "n", "agency_id": value}, auth=key.auth)
        expect_error(r, 403, "Forbidden", [("agency_id", "agency_not_allowed")])
        check(r.body["details"][0]["message"].startswith("must be %s or left out" % a),
              "message of " + r.where())
        expect_status(api.get(cpath(cid)), 404)
        before = state(api, ca["id"])
        r = api.patch(cpath(ca["id"]), {"agency_id": value, "name": "moved"}, auth=key.auth)
        expect_error(r, 403, "Forbidden", [("agency_id", "agency_not_allowed")])
        eq(state(api, ca["id"]), before, "a client a bound key tried to move")
    # Members are checked first: a bad one is 400 even with another agency.
    r = api.post(CLIENTS, {"id": "bad id", "name": "n", "agency_id": b}, auth=key.auth)
    expect_error(r, 400, "Validation failed", [("id", "invalid_format")])
    r = api.patch(cpath(ca["id"]), {"agency_id": a, "name": "kept in"}, auth=key.auth)
    eq(expect_client(r)["agency_id"], a, "a PATCH naming its own agency")


def test_bound_key_colliding_create(api):
    """A create that collides with another agency's client: the same 409 as
    any collision, naming the member and nothing of that client, which
    stays 404 to the key."""
    a, b, ca, cb, cn, key = agencies(api)
    for body, member in (({"id": cb["id"], "name": "n"}, "id"),
                         ({"id": api.uid(), "name": "n", "domain": cb["domain"]}, "domain"),
                         ({"id": api.uid(), "name": "n", "global_name": cb["global_name"]},
                          "global_name")):
        bound = api.post(CLIENTS, body, auth=key.auth)
        expect_error(bound, 409, "Conflict", [(member, "duplicate")])
        text = bound.raw.decode()
        for leak in (b, cb["name"], cb["publishable_key"], cb["created_at"]):
            check(leak not in text, "the 409 tells %r of the other client: %s" % (leak, text))
        # What an unbound key gets for the same collision: the same answer.
        unbound = api.post(CLIENTS, body)
        eq(bound.body, unbound.body, "409 of a bound and of an unbound key (%s)" % member)
    expect_not_found(api.get(cpath(cb["id"]), auth=key.auth), "the collided client")
    eq(api.fetch(cb["id"])[0], cb, "the other agency's client after the collisions")


def test_bound_key_status_without_requests(api):
    """/status?full=true to a bound key: the workers, not what they serve
    (a path names a client, maybe another agency's)."""
    key = make_key(api, scopes=["pool:status"], agency=api.uid("ag"))
    r = api.get(STATUS + "?full=true", auth=key.auth)
    expect_status(r, 200)
    workers = r.body["data"]["workers"]
    check(workers, "no workers: " + r.where())
    eq({(w["request_id"], w["method"], w["path"]) for w in workers}, {(None, None, None)},
       "the requests a bound key sees")
    r = api.get(STATUS + "?full=true")
    check(any(w["path"] == STATUS for w in r.body["data"]["workers"]),
          "an unbound key does not see the status request itself: " + r.where())


def test_bound_key_history_and_idempotency(api):
    """The history of its agency's existing clients only; Idempotency-Key
    answers per key."""
    a, b, ca, cb, cn, key = agencies(api)
    r = api.patch(cpath(ca["id"]), {"name": "by the bound key"}, auth=key.auth)
    expect_client(r)
    entries = expect_list(api.get(cpath(ca["id"]) + "/audit", auth=key.auth))[0]
    eq(entries[0]["admin_key_id"], int(key.id), "the entry names the bound key")
    expect_status(api.delete(cpath(ca["id"]) + "?hard=true", auth=key.auth), 200)
    expect_not_found(api.get(cpath(ca["id"]) + "/audit", auth=key.auth),
                     "the history of a client hard-deleted, to a bound key")
    expect_status(api.get(cpath(ca["id"]) + "/audit"), 200)
    # A repeat with the same Idempotency-Key replays this key's answer...
    ik, body = api.uid("ik"), {"id": api.uid(), "name": "once"}
    first = api.post(CLIENTS, body, auth=key.auth, headers={"Idempotency-Key": ik})
    made = expect_client(first, 201)
    again = api.post(CLIENTS, body, auth=key.auth, headers={"Idempotency-Key": ik})
    eq((again.status, again.raw, again.header("Idempotent-Replayed")),
       (201, first.raw, "true"), "the bound key's repeat")
    eq(made["agency_id"], a, "agency of the idempotent create")
    # ...and never another key's: to a key bound elsewhere it is a new request.
    other = make_key(api, agency=b)
    r = api.post(CLIENTS, body, auth=other.auth, headers={"Idempotency-Key": ik})
    expect_error(r, 409, "Conflict", [("id", "duplicate")])
    check(r.header("Idempotent-Replayed") is None, "another key got the stored answer")


# ---- expiry, changes, revocation -----------------------------------------------------

@pytest.mark.timeout(40)
def test_expired_key_401(api):
    """Accepted before its expiry, 401 key_expired from then on (to the
    second at most, remembered or not); a later expiry set works again."""
    key = make_key(api, expires=utc_in(3))
    expires = datetime.datetime.strptime(key_row(api, key.name)["EXPIRES_AT"][:19],
                                         "%Y-%m-%d %H:%M:%S").replace(
                                             tzinfo=datetime.timezone.utc).timestamp()
    path = cpath(api.uid("none"))
    expect_error(api.get(path, auth=key.auth), 404, "Client not found")
    while time.time() < expires + 0.3:
        r = api.get(path, auth=key.auth)
        if time.time() < expires - 0.5:
            expect_error(r, 404, "Client not found")
        time.sleep(0.1)
    for _ in range(6):      # every worker, remembering it or not
        r = api.get(path, auth=key.auth)
        expect_error(r, 401, "Unauthorized", [(None, "key_expired")])
        eq(r.header("WWW-Authenticate"), 'Bearer realm="admin"', "WWW-Authenticate")
    expect_status(api.head(path, auth=key.auth), 401)
    # An unknown key is told nothing.
    r = api.get(path, auth="Bearer ak_" + "1" * 64)
    expect_error(r, 401, "Unauthorized")
    api.ctl("admin-key", "set", key.id, "--expires", utc_in(3600))
    t0 = time.monotonic()
    while api.get(path, auth=key.auth).status != 404:
        check(time.monotonic() - t0 < AUTH_CACHE_S + 1.5,
              "a key given a later expiry still refused after %.1f s" % (time.monotonic() - t0))
        time.sleep(0.2)
    api.ctl("admin-key", "set", key.id, "--no-expires")
    eq(key_row(api, key.name)["EXPIRES_AT"], "-", "EXPIRES_AT after --no-expires")


@pytest.mark.timeout(40)
def test_changes_take_effect_within_the_cache_bound(api):
    """admin-key set: new scopes and a new binding reach every worker
    within auth_cache_s; the secret stays the same."""
    key = make_key(api, scopes=["clients:read"])
    cid = api.create(agency_id=api.uid("ag"))["id"]
    for _ in range(8):      # in the caches of the workers
        expect_status(api.get(cpath(cid), auth=key.auth), 200)
    out = api.ctl("admin-key", "set", key.id, "--scope", "audit:read,pool:status",
                  "--description", "read the history only")
    check("changed admin key" in out, "set's output: " + short(out))
    t0 = time.monotonic()
    while api.get(cpath(cid), auth=key.auth).status != 403:
        check(time.monotonic() - t0 < AUTH_CACHE_S + 1.5,
              "scopes still the old ones %.1f s after the change" % (time.monotonic() - t0))
        time.sleep(0.2)
    time.sleep(max(0.0, AUTH_CACHE_S + 0.2 - (time.monotonic() - t0)))
    for _ in range(8):
        expect_forbidden(api.get(cpath(cid), auth=key.auth), "clients:read")
        expect_status(api.get(cpath(cid) + "/audit", auth=key.auth), 200)
    row = key_row(api, key.name)
    eq((row["SCOPES"], row["DESCRIPTION"]), ("audit:read,pool:status", "read the history only"),
       "the list after set")
    api.ctl("admin-key", "set", key.id, "--agency", api.uid("elsewhere"))
    t0 = time.monotonic()
    while api.get(cpath(cid) + "/audit", auth=key.auth).status != 404:
        check(time.monotonic() - t0 < AUTH_CACHE_S + 1.5,
              "binding not in effect %.1f s after the change" % (time.monotonic() - t0))
        time.sleep(0.2)
    api.ctl("admin-key", "set", key.id, "--no-agency")
    eq(key_row(api, key.name)["AGENCY_ID"], "-", "AGENCY_ID after --no-agency")


# ---- last use ------------------------------------------------------------------------

def last_used(api, key):
    return sql_rows(api, "SELECT COALESCE(last_used_at, '-') FROM admin_keys WHERE id = %d"
                    % int(key.id))[0][0]


def hammer(api, key, seconds, threads=4):
    """GETs with key from several connections at once for seconds; how many."""
    stop = time.monotonic() + seconds
    done = []

    def run():
        n = 0
        while time.monotonic() < stop:
            expect_error(api.get(cpath("nobody"), auth=key.auth), 404, "Client not found")
            n += 1
        done.append(n)

    ths = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(seconds + 30)
    return sum(done)


def updates_since(api, since):
    """The UPDATEs of last_used_at in the general log since since (the
    server's clock), as (connection, count) pairs.  Any key's: the log
    shows a statement prepared before it was switched on without its
    parameters, and the test's key is the only one used meanwhile."""
    return sql_rows(api, "SELECT thread_id, COUNT(*) FROM mysql.general_log "
                    "WHERE event_time >= '%s' AND command_type = 'Execute' "
                    "AND argument LIKE 'UPDATE admin_keys SET last_used_at%%' "
                    "GROUP BY thread_id" % since)


@pytest.mark.timeout(60)
def test_last_use_written_at_most_once_a_minute_per_worker(api):
    """Under load for longer than auth_cache_s (every worker looks the key
    up again meanwhile): at most one UPDATE per worker connection, a handful
    in all for hundreds of requests; a recorded use a minute old is
    written again at the next lookup."""
    key = make_key(api)
    eq(last_used(api, key), "-", "last use of a new key")
    old = sql_rows(api, "SELECT @@global.log_output, @@global.general_log, NOW(6)")[0]
    api.sql("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1;")
    try:
        requests = hammer(api, key, AUTH_CACHE_S + 1.5)
        per_conn = updates_since(api, old[2])
        first = last_used(api, key)
        check(first != "-", "last use not recorded after %d requests" % requests)
        check(per_conn, "no UPDATE of last_used_at in the general log")
        check(all(int(n) == 1 for _, n in per_conn),
              "a worker connection wrote last_used_at more than once: %s" % per_conn)
        check(requests > 10 * len(per_conn), "%d UPDATEs for %d requests" % (
            len(per_conn), requests))
        # A minute old (aged by hand): written again at the next lookup.
        api.sql("UPDATE admin_keys SET last_used_at = NOW(3) - INTERVAL 61 SECOND "
                "WHERE id = %d" % int(key.id))
        aged = last_used(api, key)
        t0 = time.monotonic()
        while last_used(api, key) == aged:
            check(time.monotonic() - t0 < AUTH_CACHE_S + 2,
                  "last use a minute old not written again within auth_cache_s")
            expect_error(api.get(cpath("nobody"), auth=key.auth), 404, "Client not found")
            time.sleep(0.1)
        check(last_used(api, key) > first, "last use went back")
    finally:
        api.sql("SET GLOBAL general_log = %s; SET GLOBAL log_output = '%s'; "
                "TRUNCATE TABLE mysql.general_log;" % (old[1], old[0]))
    eq(key_row(api, key.name)["LAST_USED_AT"], last_used(api, key), "LAST_USED_AT in the list")


# ---- clientsctl ----------------------------------------------------------------------

def test_clientsctl_list_set_and_audit_by_key(api):
    """list shows every setting; set keeps the secret; audit --key lists
    what the key did, each row naming its client."""
    ag = api.uid("ag")
    key = make_key(api, scopes=["clients:read", "clients:write"], agency=ag,
                   expires=utc_in(86400), description="nightly sync")
    row = key_row(api, key.name)
    eq((row["SCOPES"], row["AGENCY_ID"], row["DESCRIPTION"], row["REVOKED_AT"],
        row["LAST_USED_AT"]), ("clients:read,clients:write", ag, "nightly sync", "-", "-"),
       "the new key's row")
    check(len(row["SHA256_PREFIX"]) == 12, "SHA256_PREFIX %r" % row["SHA256_PREFIX"])
    eq(hashlib.sha256(key.secret.encode()).hexdigest()[:12], row["SHA256_PREFIX"],
       "the prefix is the key's SHA-256's")
    a = expect_client(api.post(CLIENTS, {"id": api.uid(), "name": "a"}, auth=key.auth), 201)
    expect_client(api.patch(cpath(a["id"]), {"name": "a2"}, auth=key.auth))
    b = expect_client(api.post(CLIENTS, {"id": api.uid(), "name": "b"}, auth=key.auth), 201)
    api.update(b["id"], {"name": "by the full key"})
    api.ctl("admin-key", "set", key.id, "--scope", "clients:read")
    lines = [ln for ln in api.ctl("audit", "--key", key.id).splitlines() if ln]
    rows = [json.loads(ln) for ln in lines]
    eq([(r["client_id"], r["action"]) for r in rows],
       [(b["id"], "create"), (a["id"], "update"), (a["id"], "create")],
       "audit --key, newest first")
    check(all(r["admin_key_id"] == int(key.id) for r in rows), "rows of another key")
    eq(list(rows[0]), ["seq", "client_id", "action", "admin_key_id", "request_id", "at",
                       "changes"], "members of an audit --key row")
    # The secret did not change with set.
    expect_status(api.get(cpath(a["id"]), auth=key.auth), 200)


def test_clientsctl_refuses_bad_settings(api):
    ctl = shlex.split(api.cfg.ctl)

    def run(*args):
        return subprocess.run(ctl + list(args), capture_output=True, text=True, timeout=30)

    for args, says in ((["--scope", "clients:read,clients:wirte"], "clients:wirte"),
                       (["--scope", ""], "--scope"),
                       (["--agency", "no such agency"], "--agency"),
                       (["--expires", "2001-01-01"], "future"),
                       (["--expires", "tomorrow"], "--expires"),
                       (["--description", "tab\there"], "--description")):
        p = run("admin-key", "create", "--name", api.uid("bad"), *args)
        eq(p.returncode, 2, "exit status of create %s" % args)
        check(says in p.stderr, "create %s: stderr %r" % (args, p.stderr))
        check(not p.stdout.strip(), "a key printed for create %s" % args)
    key = make_key(api)
    eq(run("admin-key", "set", key.id).returncode, 2, "set without a change")
    api.ctl("admin-key", "revoke", key.id)
    p = run("admin-key", "set", key.id, "--scope", "all")
    eq(p.returncode, 1, "set on a revoked key")
