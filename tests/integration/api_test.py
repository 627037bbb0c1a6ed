"""api_test.py - black-box HTTP tests of the Clients Management API (doc/api-guide.md).

Run through every web server set-up (the sanitizer run: nginx and Apache +
mod_fcgid) against the real service and database.  One small function per
test; the request helpers and assertions are in apikit.py.
"""

import base64
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest

from apikit import (CLIENTS, FIELDS, NULLABLE, TIMESTAMP_RE, Failure, check, cpath, eq,
                    expect_client, expect_clients, expect_error, expect_invalid, expect_list,
                    expect_status, expect_unchanged, short, db_control, wait_healthy)
from poolkit import children, read_pid

# The contract runs through every server; under the sanitizers, where what
# is checked is clientsd's memory rather than the server in front, through
# nginx (the pool) and Apache + mod_fcgid (clientsd spawned as one worker).
pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(110)]

ITEM_ALLOW = ("GET", "HEAD", "PATCH", "DELETE")
BODY_LIMIT = 65536
META_LIMIT = 16384
ACCEPT_PATCH = ("application/json", "application/merge-patch+json")


# ---- helpers shared by several tests ------------------------------------------

JSON_DETAILS = [(None, "invalid_json")]
ID_DETAILS = [("id", "invalid_format")]
MEDIA_DETAILS = [(None, "unsupported_media_type")]

def expect_precondition_failed(r, current):
    """412, a detail saying what to do, and the client's current ETag."""
    expect_error(r, 412, "Precondition failed", [(None, "precondition_failed")])
    eq(r.etag, current, "ETag of the 412 (the current one)")

def rpath(cid):
    return cpath(cid) + "/rotate-keys"

def apath(cid):
    return cpath(cid) + "/audit"

def allow_has(r, methods):
    allow = {m.strip().upper() for m in (r.header("Allow") or "").split(",")}
    missing = [m for m in methods if m not in allow]
    check(not missing, "Allow %r lacks %s" % (r.header("Allow"), missing))

def accept_patch_ok(r):
    ap = (r.header("Accept-Patch") or "").lower()
    for t in ACCEPT_PATCH:
        check(t in ap, "Accept-Patch %r lacks %s" % (r.header("Accept-Patch"), t))

def padded_body(obj, size):
    """obj as JSON followed by spaces, exactly size bytes long."""
    raw = json.dumps(obj).encode()
    check(len(raw) <= size, "padded_body: object too large")
    return raw + b" " * (size - len(raw))

def nest(depth):
    """An object of the given depth ({} is 1)."""
    return {} if depth <= 1 else {"k": nest(depth - 1)}

def field_rejected(api, cid, field, value, code):
    """PATCH {field: value} -> 400 naming field with code, nothing written."""
    before, etag = api.fetch(cid)
    r = api.patch(cpath(cid), {field: value})
    try:
        expect_invalid(r, (field, code))
    except AssertionError as e:
        raise AssertionError("%s=%r: %s" % (field, value, e))
    expect_unchanged(api, cid, before, etag)

def field_accepted(api, cid, field, value, stored=None):
    """PATCH {field: value} -> 200 and the stored value (default: as sent)."""
    r = api.patch(cpath(cid), {field: value})
    if r.status != 200:
        raise AssertionError("%s=%r rejected: %s" % (field, value, r.where()))
    expect_client(r)
    eq(r.data[field], value if stored is None else stored, "stored " + field)

def other_key(key):
    """A well-formed admin key that is not key."""
    return key[:-1] + ("1" if key[-1:] != "1" else "2")

def expect_401(r):
    expect_error(r, 401, "Unauthorized")
    eq(r.header("WWW-Authenticate"), 'Bearer realm="admin"', "WWW-Authenticate")

def unauth(api, method, path, body=None, **kw):
    """A request without credentials must be 401 with the Bearer challenge."""
    expect_401(api.call(method, path, body, auth=None, **kw))


# ---- authentication -----------------------------------------------------------

def test_health_needs_no_auth(api):
    r = api.get("/api/v1/health", auth=None)
    expect_status(r, 200)
    eq(r.body, {"success": True, "data": {"database": "ok"}}, "health body")

def test_auth_missing_401(api):
    unauth(api, "GET", cpath(api.create()["id"]))
    unauth(api, "POST", CLIENTS, {"id": api.uid(), "name": "x"})

def test_auth_wrong_key_401(api):
    cid, key = api.create()["id"], api.cfg.admin_key
    for value in ("Bearer " + other_key(key), "Bearer " + key + "x",
                  "Bearer " + key[:-1], "Bearer", "Bearer %s extra" % key):
        expect_401(api.get(cpath(cid), auth=value))

def test_auth_basic_scheme_401(api):
    cred = base64.b64encode(("admin:" + api.cfg.admin_key).encode()).decode()
    expect_401(api.get(cpath(api.create()["id"]), auth="Basic " + cred))
    expect_401(api.get(cpath(api.uid()), auth="Basic " + api.cfg.admin_key))

def test_auth_scheme_case_insensitive(api):
    cid = api.create()["id"]
    for scheme in ("bearer", "BEARER", "Bearer  "):
        r = api.get(cpath(cid), auth="%s %s" % (scheme, api.cfg.admin_key))
        eq(expect_client(r)["id"], cid, "id read with scheme %r" % scheme)

def test_auth_query_key_accepted(api):
    cid = api.create()["id"]
    r = api.get("%s?admin_key=%s" % (cpath(cid), api.cfg.admin_key), auth=None)
    eq(expect_client(r)["id"], cid, "id read with ?admin_key")
    r = api.patch("%s?admin_key=%s" % (cpath(cid), api.cfg.admin_key), {"name": "Q"}, auth=None)
    eq(expect_client(r)["name"], "Q", "name patched with ?admin_key")

def test_auth_query_wrong_key_401(api):
    cid = api.create()["id"]
    unauth(api, "GET", "%s?admin_key=%s" % (cpath(cid), other_key(api.cfg.admin_key)))
    unauth(api, "GET", "%s?admin_key=" % cpath(cid))

def test_auth_checked_before_everything(api):
    """401 beats 404, 405, bad ids, content type, size and JSON checks."""
    cid = api.create()["id"]
    unauth(api, "GET", "/api/v1/nope")
    unauth(api, "GET", cpath(cid) + "/nothing")
    unauth(api, "PUT", cpath(cid), {"name": "x"})
    unauth(api, "GET", CLIENTS + "/%20x")
    unauth(api, "PATCH", cpath(cid), "not json", ctype="text/plain")
    unauth(api, "PATCH", cpath(cid), b"{" * (BODY_LIMIT + 1))
    unauth(api, "PATCH", cpath(cid), "{\"name\": ")
    unauth(api, "POST", CLIENTS, {"id": "bad id!", "name": ""})

def test_auth_revoked_key_401(api):
    ctl = shlex.split(api.cfg.ctl)
    name = api.uid("itest")

    def run(*args):
        p = subprocess.run(ctl + list(args), capture_output=True, text=True, timeout=15)
        check(p.returncode == 0, "%s failed (%d): %s" % (args, p.returncode, p.stderr.strip()))
        return p.stdout

    def row():
        lines = run("admin-key", "list").splitlines()[1:]
        rows = [ln.split("\t") for ln in lines if ln.strip()]
        mine = [r for r in rows if len(r) >= 4 and r[1] == name]
        eq(len(mine), 1, "admin-key list rows named " + name)
        return mine[0]

    key = run("admin-key", "create", "--name", name).strip()
    check(re.match(r"^ak_[0-9a-f]{64}$", key), "new admin key looks wrong: %r" % key)
    r = api.get(cpath(api.uid()), auth="Bearer " + key)
    expect_error(r, 404, "Client not found")
    kid = row()[0]
    eq(row()[3], "-", "REVOKED_AT of a fresh key")
    run("admin-key", "revoke", kid)
    check(row()[3] != "-", "REVOKED_AT still '-' after revoke")
    # a worker may remember the key for [api] auth_cache_s (default 5 s);
    # paging_test.py's auth_cache_revocation_within_bound times the bound
    time.sleep(5.2)
    expect_401(api.get(cpath(api.uid()), auth="Bearer " + key))
    expect_401(api.get("%s?admin_key=%s" % (cpath(api.uid()), key), auth=None))


# ---- headers every response carries ------------------------------------------
# (Content-Type, Cache-Control and the X-Request-Id echo are checked by
# apikit on every single response; these tests cover the edge cases.)

def test_request_id_echoed(api):
    for rid in ("a", "A.b_c-9", "x" * 128):
        r = api.get(cpath(api.uid()), rid=rid)
        expect_error(r, 404, "Client not found")
        eq(r.header("X-Request-Id"), rid, "echoed X-Request-Id")

def test_request_id_generated_when_invalid(api):
    for rid in (None, "", "x" * 129, "bad/id", "has space", "semi;colon"):
        r = api.get(cpath(api.uid()), rid=rid)
        expect_error(r, 404, "Client not found")
        got = r.header("X-Request-Id")
        check(got and got != rid, "X-Request-Id %r for sent %r" % (got, rid))


# ---- routing and status codes -------------------------------------------------

def test_status_200_get(api):
    c = api.create(email="get@example.com")
    r = api.get(cpath(c["id"]))
    eq(expect_client(r), c, "GET after POST")

def test_status_404_unknown_route(api):
    cid = api.create()["id"]
    for path in ("/api/v1/nope", "/api/v1/clientsx", cpath(cid) + "/nothing",
                 "/api/v1/clients/%s/a/b" % cid):
        expect_error(api.get(path), 404, "Not found")

def test_status_404_client_not_found(api):
    cid = api.uid()
    expect_error(api.get(cpath(cid)), 404, "Client not found")
    expect_error(api.patch(cpath(cid), {"name": "x"}), 404, "Client not found")
    expect_error(api.get(cpath(cid)), 404, "Client not found")

def test_status_405_item(api):
    cid = api.create()["id"]
    for method in ("PUT", "POST"):
        r = api.call(method, cpath(cid), {"name": "x"})
        expect_error(r, 405, "Method not allowed")
        allow_has(r, ITEM_ALLOW)

def test_status_405_collection(api):
    for method in ("PUT", "PATCH"):
        r = api.call(method, CLIENTS, {"name": "x"})
        expect_error(r, 405, "Method not allowed")
        allow_has(r, ("POST",))

# Allow of every route (methods as a set; HEAD wherever GET is).
ROUTE_ALLOW = (
    ("collection", lambda cid: CLIENTS, {"GET", "HEAD", "POST"}),
    ("item", cpath, {"GET", "HEAD", "PATCH", "DELETE"}),
    ("rotate-keys", lambda cid: rpath(cid), {"POST"}),
    ("audit", lambda cid: apath(cid), {"GET", "HEAD"}),
    ("health", lambda cid: "/api/v1/health", {"GET", "HEAD"}),
)
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

def allow_is(r, methods):
    allow = {m.strip().upper() for m in (r.header("Allow") or "").split(",") if m.strip()}
    eq(allow, set(methods), "Allow of " + r.where())

def test_status_405_allow_per_route(api):
    cid = api.create()["id"]
    for route, path_of, allowed in ROUTE_ALLOW:
        for method in ALL_METHODS:
            if method in allowed:
                continue
            body = {"name": "x"} if method in ("POST", "PUT", "PATCH") else None
            r = api.call(method, path_of(cid), body)
            try:
                if method == "HEAD":
                    expect_status(r, 405)
                else:
                    expect_error(r, 405, "Method not allowed")
                allow_is(r, allowed)
            except AssertionError as e:
                raise AssertionError("%s %s: %s" % (method, route, e))
    eq(api.fetch(cid)[0]["status"], True, "client after the 405s")

def head_like_get(api, path, status, **kw):
    """HEAD answers what GET answers: status and headers, without a body."""
    g, h = api.get(path, **kw), api.head(path, **kw)
    expect_status(g, status)
    expect_status(h, status)
    for name in ("ETag", "Allow", "WWW-Authenticate", "Location"):
        eq(h.header(name), g.header(name), "%s of HEAD %s" % (name, path))
    if h.header("Content-Length") is not None:
        eq(h.header("Content-Length"), str(len(g.raw)), "Content-Length of HEAD " + path)

def test_head_answers_like_get(api):
    ag = api.uid("ag")
    cid = api.create(agency_id=ag)["id"]
    head_like_get(api, "/api/v1/health", 200, auth=None)
    head_like_get(api, CLIENTS + "?agency_id=" + ag, 200)
    head_like_get(api, CLIENTS + "?limit=1", 200)
    head_like_get(api, cpath(cid), 200)
    head_like_get(api, apath(cid), 200)
    head_like_get(api, apath(cid) + "?limit=1&offset=1", 200)
    head_like_get(api, cpath(api.uid()), 404)
    head_like_get(api, apath(api.uid()), 404)
    head_like_get(api, CLIENTS + "?limit=0", 400)
    head_like_get(api, CLIENTS + "/a%20b", 400)
    head_like_get(api, "/api/v1/nope", 404)
    head_like_get(api, cpath(cid), 401, auth=None)
    head_like_get(api, CLIENTS, 401, auth=None)

def test_order_method_before_id(api):
    r = api.call("PUT", CLIENTS + "/%20x", {"name": "x"})
    expect_error(r, 405, "Method not allowed")
    allow_has(r, ITEM_ALLOW)

def test_order_id_type_size_json_fields(api):
    bad, cid = CLIENTS + "/a%2Fb", api.create()["id"]
    expect_error(api.patch(bad, "x", ctype="text/plain"), 400, "Invalid client id", ID_DETAILS)
    r = api.patch(cpath(cid), b"x" * (BODY_LIMIT + 1), ctype="text/plain")
    expect_error(r, 415, "Unsupported media type", MEDIA_DETAILS)
    expect_error(api.patch(cpath(cid), b"x" * (BODY_LIMIT + 1)), 413, "Payload too large")
    expect_error(api.patch(cpath(cid), "x"), 400, "Invalid JSON", JSON_DETAILS)
    expect_invalid(api.post(CLIENTS, {"id": api.uid(), "name": 1}), ("name", "invalid_type"))


# ---- create -------------------------------------------------------------------

def test_status_201_create_shape(api):
    cid = api.uid()
    r = api.post(CLIENTS, {"id": cid, "name": "Acme"})
    d = expect_client(r, 201)
    eq(r.header("Location"), cpath(cid), "Location")
    eq(d["id"], cid, "id")
    eq(d["name"], "Acme", "name")
    eq(d["status"], True, "default status")
    eq(d["api_metadata"], {}, "default api_metadata")
    for f in NULLABLE:
        eq(d[f], None, "default " + f)
    check(d["publishable_key"][3:] != d["secret_key"][3:], "keys share their random part")
    eq(api.fetch(cid)[0], d, "GET after create")

def test_create_all_fields(api):
    cid, dom, g = api.uid(), api.uid("d").lower().replace("_", "-") + ".example.com", api.uid("g")
    body = {"id": cid, "name": "Full", "status": False, "domain": dom,
            "email": "a.b+c@example.com", "phone": "+1-555-0123",
            "website": "https://example.com/x?y=1", "timezone": "America/Los_Angeles",
            "global_name": g, "company_id": "co_1", "agency_id": "ag-2",
            "api_metadata": {"plan": "pro", "n": [1, 2]}, "ghl_location_id": "loc9",
            "proxy_api_key": "pk!#$%&'()*+,-./:;<=>?@[]^_`{|}~"}
    d = expect_client(api.post(CLIENTS, body), 201)
    for k, v in body.items():
        eq(d[k], v, "created " + k)

def test_create_normalises(api):
    dom = api.uid("d").replace("_", "-")
    d = api.create(name="  Trim Me  ", domain="WWW.%s.Example.COM" % dom.upper(),
                   phone="  +44 20 7946 0958  ")
    eq(d["name"], "Trim Me", "trimmed name")
    eq(d["domain"], "www.%s.example.com" % dom.lower(), "lowercased domain")
    eq(d["phone"], "+44 20 7946 0958", "trimmed phone")

def test_create_required_members(api):
    expect_invalid(api.post(CLIENTS, {"status": True}), ("id", "required"), ("name", "required"))
    expect_invalid(api.post(CLIENTS, {"id": api.uid()}), ("name", "required"))
    expect_invalid(api.post(CLIENTS, {"name": "n"}), ("id", "required"))

def test_create_invalid_id(api):
    for bad in ("", "a b", "a.b", "x" * 256, "é"):
        expect_invalid(api.post(CLIENTS, {"id": bad, "name": "n"}), ("id", "invalid_format"))
    expect_invalid(api.post(CLIENTS, {"id": 5, "name": "n"}), ("id", "invalid_type"))

def test_create_read_only_and_unknown(api):
    cid = api.uid()
    r = api.post(CLIENTS, {"id": cid, "name": "n", "publishable_key": "pk_" + "0" * 32,
                           "created_at": "2020-01-01T00:00:00.000Z", "zz": 1, "aa": 2})
    expect_invalid(r, ("publishable_key", "read_only_field"), ("created_at", "read_only_field"),
                   ("zz", "unknown_field"), ("aa", "unknown_field"))
    expect_error(api.get(cpath(cid)), 404, "Client not found")

def test_more_problems_than_listed_are_counted(api):
    """A body with 70 unknown members: 64 problems listed, then one saying
    how many more were found; nothing is written."""
    cid = api.uid()
    body = {"id": cid, "name": "n"}
    body.update({"u%02d" % i: i for i in range(70)})
    r = api.post(CLIENTS, body)
    expect_error(r, 400, "Validation failed", [("u%02d" % i, "unknown_field")
                                                for i in range(64)] + [(None, "too_many_problems")])
    check("6 more were found" in r.body["details"][64]["message"], "the summary: %r"
          % r.body["details"][64])
    expect_error(api.get(cpath(cid)), 404, "Client not found")

def test_status_409_create_duplicate_id(api):
    c = api.create()
    r = api.post(CLIENTS, {"id": c["id"], "name": "other"})
    expect_error(r, 409, "Conflict", [("id", "duplicate")])
    eq(api.fetch(c["id"])[0], c, "client after duplicate create")

def duplicate_on_create(api, field, value, sent):
    api.create(**{field: value})
    cid = api.uid()
    r = api.post(CLIENTS, {"id": cid, "name": "n", field: sent})
    expect_error(r, 409, "Conflict", [(field, "duplicate")])
    expect_error(api.get(cpath(cid)), 404, "Client not found")

def test_status_409_create_duplicate_domain(api):
    dom = api.uid("d").replace("_", "-") + ".example.com"
    duplicate_on_create(api, "domain", dom, dom.upper())

def test_status_409_create_duplicate_global_name(api):
    g = api.uid("g")
    duplicate_on_create(api, "global_name", g, g)


# ---- PATCH semantics -----------------------------------------------------------

def test_status_200_patch_partial(api):
    c = api.create(email="old@example.com", company_id="co1")
    r = api.update(c["id"], {"email": "new@example.com"})
    d = r.data
    eq(d["email"], "new@example.com", "patched email")
    for f in FIELDS:
        if f not in ("email", "updated_at"):
            eq(d[f], c[f], "untouched " + f)
    eq(api.fetch(c["id"]), (d, r.etag), "GET after PATCH (data, ETag)")

def test_patch_null_clears(api):
    c = api.create(domain=api.uid("d").replace("_", "-") + ".example.org",
                   email="x@example.com", phone="+1-555-0123", website="http://example.com",
                   timezone="UTC", global_name=api.uid("g"), company_id="c", agency_id="a",
                   ghl_location_id="l", proxy_api_key="secret", api_metadata={"a": 1})
    d = api.update(c["id"], {f: None for f in NULLABLE + ("api_metadata",)}).data
    for f in NULLABLE:
        eq(d[f], None, "cleared " + f)
    eq(d["api_metadata"], {}, "api_metadata after null")
    eq((d["name"], d["status"]), (c["name"], c["status"]), "name and status kept")

def test_patch_null_name_status_rejected(api):
    c = api.create()
    field_rejected(api, c["id"], "name", None, "null_not_allowed")
    field_rejected(api, c["id"], "status", None, "null_not_allowed")
    r = api.patch(cpath(c["id"]), {"name": None, "status": None, "email": "ok@example.com"})
    expect_invalid(r, ("name", "null_not_allowed"), ("status", "null_not_allowed"))
    eq(api.fetch(c["id"])[0], c, "client after rejected nulls")

def test_patch_no_valid_fields(api):
    cid = api.create()["id"]
    expect_error(api.patch(cpath(cid), {}), 400, "No valid fields provided")
    expect_error(api.patch(cpath(cid), "  { }  "), 400, "No valid fields provided")

def test_patch_unknown_and_read_only(api):
    c = api.create()
    cid = c["id"]
    body = {"zz": 1, "updated_at": "2020-01-01T00:00:00.000Z", "secret_key": "sk_" + "1" * 32,
            "id": "other", "name": "fine", "aa": None}
    expect_invalid(api.patch(cpath(cid), body),
                   ("id", "read_only_field"), ("secret_key", "read_only_field"),
                   ("updated_at", "read_only_field"), ("zz", "unknown_field"),
                   ("aa", "unknown_field"))
    for f in ("publishable_key", "created_at"):
        expect_invalid(api.patch(cpath(cid), {f: c[f]}), (f, "read_only_field"))
    eq(api.fetch(cid)[0], c, "client after rejected members")

def test_patch_all_or_nothing(api):
    c = api.create(email="keep@example.com")
    before, etag = api.fetch(c["id"])
    body = {"proxy_api_key": "has space", "name": "Good Name", "zzz": 1, "email": "nope",
            "phone": "+1-555-0199", "status": "true", "website": "ftp://x.org",
            "domain": "bad_domain", "timezone": "utc", "global_name": "class",
            "company_id": "a b", "api_metadata": [], "agency_id": "ok"}
    expect_invalid(api.patch(cpath(c["id"]), body),
                   ("status", "invalid_type"), ("domain", "invalid_domain"),
                   ("email", "invalid_email"), ("website", "invalid_url"),
                   ("timezone", "invalid_timezone"), ("global_name", "reserved_word"),
                   ("company_id", "invalid_format"), ("api_metadata", "invalid_type"),
                   ("proxy_api_key", "invalid_format"), ("zzz", "unknown_field"))
    expect_unchanged(api, c["id"], before, etag)

def test_patch_invalid_types(api):
    c = api.create()
    r = api.patch(cpath(c["id"]), {"api_metadata": "x", "company_id": 12, "email": 5,
                                    "domain": True, "name": ["a"], "timezone": {}})
    expect_invalid(r, ("name", "invalid_type"), ("domain", "invalid_type"),
                   ("email", "invalid_type"), ("timezone", "invalid_type"),
                   ("company_id", "invalid_type"), ("api_metadata", "invalid_type"))
    eq(api.fetch(c["id"])[0], c, "client after invalid types")

def duplicate_on_patch(api, field, value, sent, other):
    """PATCH {other..., field: sent} onto a second client -> 409, nothing written."""
    api.create(**{field: value})
    cid = api.create(name="B")["id"]
    before, etag = api.fetch(cid)
    r = api.patch(cpath(cid), dict(other, **{field: sent}))
    expect_error(r, 409, "Conflict", [(field, "duplicate")])
    expect_unchanged(api, cid, before, etag)

def test_status_409_patch_duplicate_domain(api):
    dom = api.uid("d").replace("_", "-") + ".example.net"
    duplicate_on_patch(api, "domain", dom, dom.upper(), {"name": "Changed"})

def test_status_409_patch_duplicate_global_name(api):
    g = api.uid("g")
    duplicate_on_patch(api, "global_name", g, g, {"email": "changed@example.com"})

def test_patch_own_unique_values_no_conflict(api):
    dom, g = api.uid("d").replace("_", "-") + ".example.com", api.uid("g")
    c = api.create(domain=dom, global_name=g)
    r = api.update(c["id"], {"domain": dom.upper(), "global_name": g, "name": "Renamed"})
    eq((r.data["domain"], r.data["global_name"]), (dom, g), "unique members kept")


# ---- ETag, If-Match, updated_at ------------------------------------------------

def test_etag_strong_and_stable(api):
    r = api.post(CLIENTS, {"id": api.uid(), "name": "E"})
    d = expect_client(r, 201)
    check(not r.etag.startswith("W/"), "weak ETag on POST")
    r2 = api.get(cpath(d["id"]))
    eq(r2.etag, r.etag, "ETag of GET right after POST")
    eq(api.get(cpath(d["id"])).etag, r.etag, "ETag of a second GET")

def test_noop_patch_keeps_updated_at_and_etag(api):
    dom = api.uid("d").replace("_", "-") + ".example.com"
    c = api.create(name="Same", domain=dom, phone="+1-555-0123", api_metadata={"a": {"b": 1}})
    _, etag = api.fetch(c["id"])
    time.sleep(0.02)
    for body in ({"name": "Same"}, {"name": "  Same "}, {"domain": dom.upper()},
                 {"phone": " +1-555-0123 "}, {"status": True}, {"api_metadata": {}},
                 {"api_metadata": {"a": {"b": 1}}}, {"api_metadata": {"gone": None}},
                 {"email": None}, {"name": "Same", "email": None, "api_metadata": {"a": {}}}):
        r = api.update(c["id"], body)
        eq(r.data, c, "client after no-op PATCH %s" % json.dumps(body))
        eq(r.etag, etag, "ETag after no-op PATCH %s" % json.dumps(body))

def test_real_change_bumps_updated_at_and_etag(api):
    c = api.create(name="Before")
    _, etag = api.fetch(c["id"])
    time.sleep(0.02)
    r = api.update(c["id"], {"name": "After"})
    check(r.data["updated_at"] > c["updated_at"],
          "updated_at %s not after %s" % (r.data["updated_at"], c["updated_at"]))
    eq(r.data["created_at"], c["created_at"], "created_at")
    check(r.etag != etag, "ETag unchanged after a real change")
    time.sleep(0.02)
    r2 = api.update(c["id"], {"api_metadata": {"x": 1}})
    check(r2.data["updated_at"] > r.data["updated_at"] and r2.etag != r.etag,
          "api_metadata change did not bump updated_at/ETag")

def test_status_412_stale_if_match(api):
    c = api.create(name="V1")
    _, old = api.fetch(c["id"])
    api.update(c["id"], {"name": "V2"}, headers={"If-Match": old})
    before, cur = api.fetch(c["id"])
    for stale in (old, '"nope"', "W/" + cur, '"a", ' + old):
        r = api.patch(cpath(c["id"]), {"name": "V3"}, headers={"If-Match": stale})
        expect_precondition_failed(r, cur)
    expect_unchanged(api, c["id"], before, cur)

def test_if_match_star_and_list(api):
    c = api.create(name="V1")
    api.update(c["id"], {"name": "V2"}, headers={"If-Match": "*"})
    _, cur = api.fetch(c["id"])
    r = api.update(c["id"], {"name": "V3"}, headers={"If-Match": '"x", %s' % cur})
    eq(r.data["name"], "V3", "name after If-Match list")


# ---- api_metadata merge (RFC 7396) ---------------------------------------------

def test_metadata_merge_patch(api):
    c = api.create(api_metadata={"a": {"b": 1, "c": {"d": 2, "e": 3}}, "arr": [1, 2],
                                 "s": "x", "keep": True})
    r = api.update(c["id"], {"api_metadata": {"a": {"c": {"d": None, "f": 4}, "g": [5]},
                                              "arr": [3], "s": None, "new": {"n": None}}})
    eq(r.data["api_metadata"], {"a": {"b": 1, "c": {"e": 3, "f": 4}, "g": [5]},
                                "arr": [3], "keep": True, "new": {}}, "merged api_metadata")
    r = api.update(c["id"], {"api_metadata": {"a": "scalar", "arr": {"o": 1}}})
    eq(r.data["api_metadata"], {"a": "scalar", "arr": {"o": 1}, "keep": True, "new": {}},
       "api_metadata after replacing values")

def test_metadata_null_means_empty(api):
    c = api.create(api_metadata={"a": 1})
    eq(api.update(c["id"], {"api_metadata": None}).data["api_metadata"], {}, "after null")
    eq(api.create(api_metadata=None)["api_metadata"], {}, "created with null")

def test_metadata_size_limit(api):
    c = api.create()
    big = {"p": "x" * (META_LIMIT - 8)}          # {"p":"xxx..."} is exactly 16384 bytes
    eq(len(json.dumps(big, separators=(",", ":"))), META_LIMIT, "test's own arithmetic")
    eq(api.update(c["id"], {"api_metadata": big}).data["api_metadata"], big, "16384-byte metadata")
    field_rejected(api, c["id"], "api_metadata", {"q": 1}, "too_large")
    field_rejected(api, c["id"], "api_metadata", {"p": "x" * (META_LIMIT - 7)}, "too_large")
    api.update(c["id"], {"api_metadata": {"p": None, "q": 1}})

def test_metadata_depth_limit(api):
    c = api.create()
    eq(api.update(c["id"], {"api_metadata": nest(8)}).data["api_metadata"], nest(8), "depth 8")
    field_rejected(api, c["id"], "api_metadata", {"k": nest(8)}, "too_deep")   # merged: 9
    other = api.create()["id"]
    field_rejected(api, other, "api_metadata", nest(9), "too_deep")

def test_metadata_keys(api):
    c = api.create()
    r = api.patch(cpath(c["id"]), {"api_metadata": {"": 1}})
    expect_invalid(r, ("api_metadata*", "invalid_key"))
    r = api.patch(cpath(c["id"]), {"api_metadata": {"a": {"k" * 256: 1}}})
    expect_invalid(r, ("api_metadata*", "invalid_key"))
    eq(api.fetch(c["id"])[0], c, "client after bad keys")
    api.update(c["id"], {"api_metadata": {"é" * 255: 1}})


# ---- bodies: size, content type, JSON -----------------------------------------

def test_status_413_body_limit(api):
    cid = api.create()["id"]
    r = api.patch(cpath(cid), padded_body({"name": "Exactly 64K"}, BODY_LIMIT))
    eq(expect_client(r)["name"], "Exactly 64K", "name after a 65536-byte body")
    r = api.patch(cpath(cid), padded_body({"name": "Too big"}, BODY_LIMIT + 1))
    expect_error(r, 413, "Payload too large")
    nid = api.uid()
    r = api.post(CLIENTS, padded_body({"id": nid, "name": "n"}, BODY_LIMIT + 1))
    expect_error(r, 413, "Payload too large")
    expect_error(api.get(cpath(nid)), 404, "Client not found")
    eq(api.fetch(cid)[0]["name"], "Exactly 64K", "name after the 413")

def test_content_type_json_charset_ok(api):
    cid = api.uid()
    ct = "application/json; charset=utf-8"
    eq(expect_client(api.post(CLIENTS, {"id": cid, "name": "n"}, ctype=ct), 201)["id"], cid, "id")
    eq(expect_client(api.patch(cpath(cid), {"name": "m"}, ctype=ct))["name"], "m", "name")

def test_content_type_merge_patch_on_patch_ok(api):
    cid = api.create()["id"]
    r = api.patch(cpath(cid), {"name": "merged"}, ctype="application/merge-patch+json")
    eq(expect_client(r)["name"], "merged", "name")

def test_status_415_patch(api):
    c = api.create()
    for ct in ("text/plain", None, "application/x-www-form-urlencoded", "application/jsonx"):
        r = api.patch(cpath(c["id"]), {"name": "x"}, ctype=ct)
        expect_error(r, 415, "Unsupported media type", MEDIA_DETAILS)
        accept_patch_ok(r)
    eq(api.fetch(c["id"])[0], c, "client after 415s")

def test_status_415_post(api):
    for ct in ("text/plain", None, "application/merge-patch+json"):
        cid = api.uid()
        r = api.post(CLIENTS, {"id": cid, "name": "x"}, ctype=ct)
        expect_error(r, 415, "Unsupported media type", MEDIA_DETAILS)
        expect_error(api.get(cpath(cid)), 404, "Client not found")

def _invalid_json(api, bodies):
    c = api.create()
    for body in bodies:
        r = api.patch(cpath(c["id"]), body)
        try:
            expect_error(r, 400, "Invalid JSON", JSON_DETAILS)
        except AssertionError as e:
            raise AssertionError("body %r: %s" % (body[:40], e))
    eq(api.fetch(c["id"])[0], c, "client after invalid JSON")

def test_invalid_json_empty_body(api):
    _invalid_json(api, [b"", b"   "])
    expect_error(api.post(CLIENTS, b""), 400, "Invalid JSON", JSON_DETAILS)

def test_invalid_json_not_object(api):
    _invalid_json(api, [b"[]", b'[{"name":"x"}]', b'"name"', b"null", b"1", b"true"])

def test_invalid_json_duplicate_keys(api):
    _invalid_json(api, [b'{"name":"a","name":"b"}', b'{"api_metadata":{"k":1,"k":2}}'])
    cid = api.uid()
    r = api.post(CLIENTS, '{"id":"%s","name":"a","id":"%s"}' % (cid, cid))
    expect_error(r, 400, "Invalid JSON", JSON_DETAILS)

def test_invalid_json_trailing_garbage(api):
    _invalid_json(api, [b'{"name":"a"} x', b'{"name":"a"}{}', b'{"name":"a"},',
                        b'{"name":"a"}\x00'])

def test_invalid_json_bad_utf8(api):
    _invalid_json(api, [b'{"name":"\xff"}', b'{"name":"\xc3"}', b'{"name":"\xed\xa0\x80"}',
                        b'{"\xfe":1}', b'{"name":"\\ud800"}', b'{"name":"\\u0000x"}'])

def test_invalid_json_syntax(api):
    _invalid_json(api, [b'{"name":', b"{name: 1}", b"{'name': 'x'}", b'{"name":"a",}', b"{"])


# ---- path ids ------------------------------------------------------------------

def test_bad_id_400(api):
    for raw in ("abc%2Fdef", "%20x", "a.b", "a%20b", "x%2E", "%C3%A9", "a+b", "a~b"):
        for method in ("GET", "PATCH"):
            body = {"name": "x"} if method == "PATCH" else None
            r = api.call(method, "%s/%s" % (CLIENTS, raw), body)
            try:
                expect_error(r, 400, "Invalid client id", ID_DETAILS)
            except AssertionError as e:
                raise AssertionError("id %r: %s" % (raw, e))

def test_id_percent_decoded(api):
    cid = api.create(id=api.uid("abc"))["id"]
    enc = "ab%63" + cid[3:]
    eq(expect_client(api.get("%s/%s" % (CLIENTS, enc)))["id"], cid, "id via %63")
    every = "".join("%%%02X" % ord(ch) for ch in cid)
    eq(expect_client(api.get("%s/%s" % (CLIENTS, every)))["id"], cid, "fully encoded id")
    r = api.patch("%s/%s" % (CLIENTS, enc), {"name": "pct"})
    eq(expect_client(r)["name"], "pct", "PATCH via encoded id")

def test_id_length_limit(api):
    cid = api.create(id=(api.uid("L") + "_" * 255)[:255])["id"]
    eq(api.fetch(cid)[0]["id"], cid, "255-char id read back")
    expect_error(api.get(cpath("a" * 255)), 404, "Client not found")
    expect_error(api.get(cpath("a" * 256)), 400, "Invalid client id", ID_DETAILS)
    expect_error(api.patch(cpath("a" * 256), {"name": "x"}), 400, "Invalid client id", ID_DETAILS)


# ---- validation rules through HTTP ---------------------------------------------

def test_validate_name(api):
    cid = api.create()["id"]
    field_accepted(api, cid, "name", "é" * 255)
    field_accepted(api, cid, "name", " " + "😀" * 255 + "  ", "😀" * 255)
    field_accepted(api, cid, "name", "x")
    for bad in ("é" * 256, "", "   "):
        field_rejected(api, cid, "name", bad, "invalid_length")
    for bad in ("a\u0007b", "tab\there", "new\nline", "del\u007f", "\tx"):
        field_rejected(api, cid, "name", bad, "invalid_characters")

def test_validate_domain(api):
    cid = api.create()["id"]
    r = api.uid("d").lower().replace("_", "-")
    field_accepted(api, cid, "domain", "Sub.%s.Example.COM" % r, "sub.%s.example.com" % r)
    field_accepted(api, cid, "domain", "xn--bcher-kva.%s.example" % r)
    field_accepted(api, cid, "domain", "%s.b1" % r)
    field_accepted(api, cid, "domain", (r + "a" * 63)[:63] + ".example.com")
    longest = ".".join([(r + "a" * 63)[:63], "b" * 63, "c" * 63, "d" * 61])
    field_accepted(api, cid, "domain", longest)
    for bad in ("localhost", "-a.com", "a-.com", "a..com", "a.123", "http://a.com",
                "a.com:80", "a.com/x", "a.com.", "a_b.com", "", "a b.com", "é.com",
                ".a.com", "x" * 64 + ".com", longest + "d"):
        field_rejected(api, cid, "domain", bad, "invalid_domain")

def test_validate_phone(api):
    cid = api.create()["id"]
    for good in ("+1-555-0123", "+44 20 7946 0958", "+1.555.012.3456", "+1234567",
                 "+123456789012345"):
        field_accepted(api, cid, "phone", good)
    field_accepted(api, cid, "phone", "  +1 555 0123 ", "+1 555 0123")
    for bad in ("555-0123", "+0 555 0123", "+123456", "+1234567890123456", "+1--555-0123",
                "+1  555 0123", "+1-555-0123x", "", "+", "+1/555/0123",
                "+1 (555) (012) 3456", "+1 (555 0123", "++15550123"):
        field_rejected(api, cid, "phone", bad, "invalid_phone")

def test_validate_email(api):
    cid = api.create()["id"]
    dom254 = "a" * 63 + "." + "b" * 63 + "." + "c" * 57 + ".com"        # 189 chars
    dom255 = "a" * 63 + "." + "b" * 63 + "." + "c" * 58 + ".com"
    for good in ("a.b+c@example.com", "o'hara@example.co.uk", "x" * 64 + "@example.com",
                 "l" * 64 + "@" + dom254):
        field_accepted(api, cid, "email", good)
    for bad in ("plain", "a@b", "a@@b.com", "a b@c.com", "@b.com", "a@b..com", "a@-b.com",
                "x" * 65 + "@example.com", "l" * 64 + "@" + dom255, "", "a<b>@c.com"):
        field_rejected(api, cid, "email", bad, "invalid_email")

def test_validate_website(api):
    cid = api.create()["id"]
    longest = "https://example.com/" + "a" * (2048 - 20)
    for good in ("https://example.com", "http://example.com:8080/p?q=1#f", longest):
        field_accepted(api, cid, "website", good)
    for bad in ("ftp://example.com", "example.com", "https://",
                "https://exa mple.com", "https://example.com/a b", "javascript:alert(1)", "",
                longest + "a", "https://example.com/\u0001"):
        field_rejected(api, cid, "website", bad, "invalid_url")

def test_validate_timezone(api):
    cid = api.create()["id"]
    for good in ("US/Pacific", "America/Los_Angeles", "UTC", "Europe/Paris"):
        field_accepted(api, cid, "timezone", good)
    for bad in ("utc", "us/pacific", "../../../etc/passwd", "/usr/share/zoneinfo/UTC",
                "Mars/Olympus", "", "America/Los Angeles", "America/"):
        field_rejected(api, cid, "timezone", bad, "invalid_timezone")

def test_validate_global_name(api):
    cid = api.create()["id"]
    field_accepted(api, cid, "global_name", api.uid("g"))
    field_accepted(api, cid, "global_name", "$" + api.uid("g"))
    field_accepted(api, cid, "global_name", (api.uid("G") + "9" * 255)[:255])
    for bad in ("class", "function", "null", "true", "return"):
        field_rejected(api, cid, "global_name", bad, "reserved_word")
    for bad in ("1abc", "a-b", "", "é", "a b", (api.uid("G") + "9" * 256)[:256]):
        field_rejected(api, cid, "global_name", bad, "invalid_format")

def test_validate_status_type(api):
    cid = api.create()["id"]
    field_accepted(api, cid, "status", False)
    field_accepted(api, cid, "status", True)
    for bad in (1, 0, "true", "false"):
        field_rejected(api, cid, "status", bad, "invalid_type")

def test_validate_id_like_fields(api):
    cid = api.create()["id"]
    for f in ("company_id", "agency_id", "ghl_location_id"):
        field_accepted(api, cid, f, "Z" * 255)
        for bad in ("a b", "", "x" * 256, "a.b", "é"):
            field_rejected(api, cid, f, bad, "invalid_format")

def test_validate_proxy_api_key(api):
    cid = api.create()["id"]
    field_accepted(api, cid, "proxy_api_key", "~" * 255)
    for bad in ("has space", "", "x" * 256, "tab\tx", "é", "\u007f"):
        field_rejected(api, cid, "proxy_api_key", bad, "invalid_format")


# ---- list ------------------------------------------------------------------------

BAD_QUERY = "Invalid query parameters"

def listing(api, **params):
    """GET /clients with these query parameters (in the order given)."""
    q = urllib.parse.urlencode(params)
    return api.get(CLIENTS + ("?" + q if q else ""))

def ids_of(clients):
    return [c["id"] for c in clients]

def in_list_order(clients):
    """clients ordered as the list promises: created_at, then id."""
    return sorted(clients, key=lambda c: (c["created_at"], c["id"]))

def listed(api, **params):
    """(ids, count) of a list expected to succeed."""
    items, count = expect_clients(listing(api, **params))
    return ids_of(items), count

def domain_name(api):
    return api.uid("d").replace("_", "-") + ".example.com"

def bad_query(r, *details):
    expect_error(r, 400, BAD_QUERY, list(details))

def bad_query_code_in(r, field, codes):
    """400 naming field alone, with one of codes (when two are defensible)."""
    expect_status(r, 400)
    eq(r.body.get("error"), BAD_QUERY, "error of " + r.where())
    got = [(x.get("field"), x.get("code")) for x in r.body.get("details") or []]
    check(len(got) == 1 and got[0][0] == field and got[0][1] in codes,
          "details: expected %s with a code in %s, got %s" % (field, codes, got))

def test_list_pagination(api):
    ag = api.uid("ag")
    group = [api.create(agency_id=ag) for _ in range(5)]
    items, count = expect_clients(listing(api, agency_id=ag))
    eq(items, in_list_order(group), "the 5 clients as listed")
    eq(count, 5, "count")
    ids = ids_of(items)
    for limit, offset, want in ((1, 0, ids[:1]), (1, 4, ids[4:]), (2, 3, ids[3:]),
                                (3, 2, ids[2:]), (200, 0, ids), (200, 4, ids[4:]),
                                (50, 5, []), (1, 5, []), (200, 1000000, [])):
        eq(listed(api, agency_id=ag, limit=limit, offset=offset), (want, 5),
           "(ids, count) with limit=%d offset=%d" % (limit, offset))
    pages = []
    for offset in range(0, 6, 2):
        pages += listed(api, agency_id=ag, limit=2, offset=offset)[0]
    eq(pages, ids, "pages of 2 put together")

def test_list_limit_edges_unfiltered(api):
    items, count = expect_clients(listing(api))
    for _ in range(max(0, 51 - count)):
        api.create()
    items, count = expect_clients(listing(api))
    check(count > 50, "count %d after creating 51 clients" % count)
    eq(len(items), 50, "default page size")
    eq(listed(api, limit=1)[0], ids_of(items)[:1], "limit=1")
    items200, count200 = expect_clients(listing(api, limit=200))
    eq(len(items200), min(200, count200), "page size with limit=200")
    eq(ids_of(items200)[:50], ids_of(items), "first 50 of limit=200 and of the default")
    eq(listed(api, offset=count200), ([], count200), "offset = count")

def test_list_bad_page_400(api):
    for params, field in (
            ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": -1}, "limit"),
            ({"limit": "abc"}, "limit"), ({"limit": ""}, "limit"), ({"limit": "1.5"}, "limit"),
            ({"limit": "+1"}, "limit"), ({"limit": "1x"}, "limit"), ({"limit": "0x10"}, "limit"),
            ({"limit": "99999999999999999999999"}, "limit"), ({"offset": -1}, "offset"),
            ({"offset": "x"}, "offset"), ({"offset": ""}, "offset"), ({"offset": "1e3"}, "offset"),
            ({"offset": "-0"}, "offset"), ({"offset": "99999999999999999999999"}, "offset")):
        try:
            bad_query(listing(api, **params), (field, "invalid_value"))
        except AssertionError as e:
            raise AssertionError("%s: %s" % (params, e))
    bad_query(listing(api, limit=201, offset=-1), ("limit", "invalid_value"),
              ("offset", "invalid_value"))

def test_list_filters_alone(api):
    ag, co, dom = api.uid("ag"), api.uid("co"), domain_name(api)
    a1 = api.create(agency_id=ag)
    a2 = api.create(agency_id=ag, company_id=co, status=False)
    a3 = api.create(agency_id=ag, company_id=co, domain=dom)
    c1 = api.create(company_id=co)
    eq(listed(api, agency_id=ag), (ids_of(in_list_order([a1, a2, a3])), 3), "agency_id")
    eq(listed(api, company_id=co), (ids_of(in_list_order([a2, a3, c1])), 3), "company_id")
    eq(listed(api, domain=dom), ([a3["id"]], 1), "domain")
    eq(listed(api, domain=dom.upper()), ([a3["id"]], 1), "domain sent in capitals")
    eq(listed(api, agency_id=ag.upper()), ([], 0), "agency_id compared byte for byte")
    eq(listed(api, agency_id=api.uid("ag")), ([], 0), "unused agency_id")
    eq(listed(api, company_id=api.uid("co")), ([], 0), "unused company_id")
    eq(listed(api, domain=domain_name(api)), ([], 0), "unused domain")
    totals = {}
    for s in ("true", "false"):
        items, totals[s] = expect_clients(listing(api, status=s, limit=200))
        check(all(c["status"] is (s == "true") for c in items),
              "status=%s listed a client with another status" % s)
    eq(totals["true"] + totals["false"], expect_clients(listing(api))[1],
       "count(status=true) + count(status=false) vs count()")

def test_list_filters_combined(api):
    ag, co, dom = api.uid("ag"), api.uid("co"), domain_name(api)
    a1 = api.create(agency_id=ag)
    a2 = api.create(agency_id=ag, company_id=co, status=False)
    a3 = api.create(agency_id=ag, company_id=co, domain=dom)
    a4 = api.create(agency_id=ag, status=False)
    api.create(company_id=co, status=False)
    for params, want in (
            ({"status": "true", "agency_id": ag}, [a1, a3]),
            ({"status": "false", "agency_id": ag}, [a2, a4]),
            ({"agency_id": ag, "company_id": co}, [a2, a3]),
            ({"status": "false", "agency_id": ag, "company_id": co}, [a2]),
            ({"agency_id": ag, "domain": dom}, [a3]),
            ({"status": "true", "agency_id": ag, "company_id": co, "domain": dom}, [a3]),
            ({"status": "false", "agency_id": ag, "company_id": co, "domain": dom}, []),
            ({"company_id": co, "domain": dom, "limit": 1, "offset": 1}, None)):
        ids, count = listed(api, **params)
        if want is None:        # a page past the single match
            eq((ids, count), ([], 1), "(ids, count) for %s" % params)
        else:
            eq((ids, count), (ids_of(in_list_order(want)), len(want)), "ids for %s" % params)
    eq(listed(api, status="false", agency_id=ag, limit=1, offset=1),
       (ids_of(in_list_order([a2, a4]))[1:], 2), "second page of status=false&agency_id")

def test_list_unknown_parameters_ignored(api):
    ag = api.uid("ag")
    group = in_list_order([api.create(agency_id=ag) for _ in range(2)])
    r = api.get(CLIENTS + "?sort=-id&agency_id=%s&foo=bar&q=&page=9" % ag)
    eq(ids_of(expect_clients(r)[0]), ids_of(group), "ids with unknown parameters")
    r = api.get(CLIENTS + "?admin_key=%s&agency_id=%s" % (api.cfg.admin_key, ag), auth=None)
    eq(expect_clients(r), (group, 2), "list authenticated by ?admin_key")

def test_list_bad_filters_400(api):
    for params, field, code in (
            ({"status": "TRUE"}, "status", "invalid_value"),
            ({"status": "1"}, "status", "invalid_value"),
            ({"status": ""}, "status", "invalid_value"),
            ({"status": "yes"}, "status", "invalid_value"),
            ({"agency_id": "a b"}, "agency_id", "invalid_format"),
            ({"agency_id": ""}, "agency_id", "invalid_format"),
            ({"agency_id": "x" * 256}, "agency_id", "invalid_format"),
            ({"agency_id": "é"}, "agency_id", "invalid_format"),
            ({"company_id": "a.b"}, "company_id", "invalid_format"),
            ({"company_id": "a/b"}, "company_id", "invalid_format"),
            ({"domain": "bad_domain.com"}, "domain", "invalid_domain"),
            ({"domain": "localhost"}, "domain", "invalid_domain"),
            ({"domain": "a.com:80"}, "domain", "invalid_domain"),
            ({"domain": "http://a.com"}, "domain", "invalid_domain"),
            ({"domain": ""}, "domain", "invalid_domain")):
        try:
            bad_query(listing(api, **params), (field, code))
        except AssertionError as e:
            raise AssertionError("%s: %s" % (params, e))
    # Far too long: the validator's code, or invalid_value from the parser.
    bad_query_code_in(listing(api, agency_id="x" * 2000), "agency_id",
                      ("invalid_format", "invalid_value"))
    bad_query_code_in(listing(api, domain="a" * 2000 + ".com"), "domain",
                      ("invalid_domain", "invalid_value"))
    r = listing(api, domain="bad_domain", company_id="!", agency_id="a b", status="no",
                offset="x", limit=0)
    bad_query(r, ("limit", "invalid_value"), ("offset", "invalid_value"),
              ("status", "invalid_value"), ("agency_id", "invalid_format"),
              ("company_id", "invalid_format"), ("domain", "invalid_domain"))

def test_list_order_created_then_id(api):
    ag = api.uid("ag")
    made = []
    for prefix in ("z", "y", "x", "w", "v", "u"):   # ids in descending order
        made.append(api.create(agency_id=ag, id=api.uid(prefix)))
        time.sleep(0.003)
    items, count = expect_clients(listing(api, agency_id=ag))
    eq(count, 6, "count")
    eq(ids_of(items), ids_of(in_list_order(made)), "list order (created_at, id)")
    check(items[0]["created_at"] < items[-1]["created_at"],
          "all 6 clients created in the same millisecond?")


# ---- delete ----------------------------------------------------------------------

def expect_deleted(r, hard):
    expect_status(r, 200)
    eq(r.body, {"success": True, "deleted": True, "hard": hard}, "DELETE body")
    eq([k for k, _ in r.pairs], ["success", "deleted", "hard"], "DELETE body members")

def audit_count(api, cid):
    return expect_list(api.get(apath(cid) + "?limit=1"))[1]

def only_changed(before, after, changed, what):
    """Every member but those in changed and updated_at is the same."""
    for f in FIELDS:
        if f not in changed and f != "updated_at":
            eq(after[f], before[f], "%s: untouched %s" % (what, f))

def test_delete_soft_by_default(api):
    for query in ("", "?hard=false", "?foo=1"):
        c = api.create(name="Soft", agency_id="ag1")
        _, etag = api.fetch(c["id"])
        time.sleep(0.02)
        expect_deleted(api.delete(cpath(c["id"]) + query), False)
        d, etag2 = api.fetch(c["id"])
        eq(d["status"], False, "status after DELETE%s" % query)
        only_changed(c, d, ("status",), "DELETE" + query)
        check(d["updated_at"] > c["updated_at"], "updated_at not bumped by a soft delete")
        check(etag2 != etag, "ETag unchanged by a soft delete")
        eq(audit_count(api, c["id"]), 2, "audit entries after create + soft delete")

def test_delete_soft_of_soft_deleted_writes_nothing(api):
    cid = api.create()["id"]
    expect_deleted(api.delete(cpath(cid)), False)
    before, etag = api.fetch(cid)
    time.sleep(0.02)
    expect_deleted(api.delete(cpath(cid)), False)
    expect_unchanged(api, cid, before, etag)
    eq(audit_count(api, cid), 2, "audit entries after a second soft delete")
    c = api.create(status=False)
    _, etag = api.fetch(c["id"])
    expect_deleted(api.delete(cpath(c["id"]) + "?hard=false"), False)
    expect_unchanged(api, c["id"], c, etag)
    eq(audit_count(api, c["id"]), 1, "audit entries after soft-deleting an inactive client")

def test_delete_soft_then_hard_then_404(api):
    c = api.create(domain=domain_name(api), global_name=api.uid("g"))
    cid = c["id"]
    _, etag1 = api.fetch(cid)
    expect_deleted(api.delete(cpath(cid)), False)
    _, etag2 = api.fetch(cid)
    expect_deleted(api.delete(cpath(cid) + "?hard=true"), True)
    expect_error(api.get(cpath(cid)), 404, "Client not found")
    expect_error(api.delete(cpath(cid)), 404, "Client not found")
    expect_error(api.delete(cpath(cid) + "?hard=true"), 404, "Client not found")
    expect_error(api.patch(cpath(cid), {"name": "x"}), 404, "Client not found")
    expect_error(api.post(rpath(cid)), 404, "Client not found")
    eq(listed(api, domain=c["domain"]), ([], 0), "list by the deleted client's domain")
    entries, count = expect_list(api.get(apath(cid)))
    eq(([e["action"] for e in entries], count), (["hard_delete", "delete", "create"], 3),
       "audit (actions, count) after the hard delete")
    # The id, domain and global_name are free again; the ETag is new.
    r = api.post(CLIENTS, {"id": cid, "name": "Again", "domain": c["domain"],
                           "global_name": c["global_name"]})
    expect_client(r, 201)
    check(r.etag not in (etag1, etag2), "re-created client reuses ETag %s" % r.etag)
    eq(audit_count(api, cid), 4, "audit entries after re-creating the id")

def test_delete_hard_of_active_client(api):
    cid = api.create()["id"]
    expect_deleted(api.delete(cpath(cid) + "?hard=true"), True)
    expect_error(api.get(cpath(cid)), 404, "Client not found")
    entries, count = expect_list(api.get(apath(cid)))
    eq(([e["action"] for e in entries], count), (["hard_delete", "create"], 2), "audit")

def test_delete_bad_hard_400(api):
    cid = api.create()["id"]
    before, etag = api.fetch(cid)
    for value in ("1", "0", "yes", "TRUE", "True", "", "true ", "truex", "x" * 300):
        r = api.delete(cpath(cid) + "?hard=" + urllib.parse.quote(value))
        try:
            bad_query(r, ("hard", "invalid_value"))
        except AssertionError as e:
            raise AssertionError("hard=%r: %s" % (value, e))
    expect_unchanged(api, cid, before, etag)
    eq(audit_count(api, cid), 1, "audit entries after rejected DELETEs")

def test_delete_404_and_bad_id(api):
    expect_error(api.delete(cpath(api.uid())), 404, "Client not found")
    expect_error(api.delete(cpath(api.uid()) + "?hard=true"), 404, "Client not found")
    for raw in ("a%2Fb", "a.b", "%20x", "x" * 256):
        expect_error(api.delete(CLIENTS + "/" + raw), 400, "Invalid client id", ID_DETAILS)


# ---- rotate-keys -----------------------------------------------------------------

KEY_MEMBERS = {"publishable": "publishable_key", "secret": "secret_key"}

def rotate(api, cid, body=None, **kw):
    return api.post(rpath(cid), body, **kw)

def test_rotate_keys_changes_exactly_the_requested_keys(api):
    both = ("publishable_key", "secret_key")
    for body, changed in ((None, both), ({"keys": ["secret"]}, ("secret_key",)),
                          ({"keys": ["publishable"]}, ("publishable_key",)),
                          ({"keys": ["secret", "publishable"]}, both),
                          ({"keys": ["publishable", "secret"]}, both)):
        what = "rotate-keys %s" % json.dumps(body)
        c = api.create(proxy_api_key="px-" + api.uid(), domain=domain_name(api),
                       api_metadata={"k": 1})
        _, etag = api.fetch(c["id"])
        time.sleep(0.02)
        r = rotate(api, c["id"], body)
        d = expect_client(r)
        for f in changed:
            check(d[f] != c[f], "%s: %s unchanged" % (what, f))
        only_changed(c, d, changed, what)
        check(d["publishable_key"][3:] != d["secret_key"][3:], what + ": keys share randomness")
        check(d["updated_at"] > c["updated_at"], what + ": updated_at not bumped")
        check(r.etag != etag, what + ": ETag unchanged")
        eq(api.fetch(c["id"]), (d, r.etag), what + ": GET afterwards (data, ETag)")
        eq(audit_count(api, c["id"]), 2, what + ": audit entries")

def test_rotate_keys_bad_bodies(api):
    c = api.create()
    cid = c["id"]
    _, etag = api.fetch(cid)
    for keys in ([], "secret", ["other"], [1], None, {"secret": True}, ["secret", "Secret"],
                 ["secret", None], [["secret"]], True):
        try:
            expect_invalid(rotate(api, cid, {"keys": keys}), ("keys", "invalid_value"))
        except AssertionError as e:
            raise AssertionError("keys=%r: %s" % (keys, e))
    expect_invalid(rotate(api, cid, {"keys": ["secret"], "extra": 1}), ("extra", "unknown_field"))
    expect_invalid(rotate(api, cid, {"keys": [], "zz": 1}), ("keys", "invalid_value"),
                   ("zz", "unknown_field"))
    for ct in (None, "text/plain", "application/x-www-form-urlencoded"):
        r = rotate(api, cid, {"keys": ["secret"]}, ctype=ct)
        expect_error(r, 415, "Unsupported media type", MEDIA_DETAILS)
    for raw in ("{", "[]", '"secret"', '{"keys":["secret"],"keys":["secret"]}', "{} x"):
        expect_error(rotate(api, cid, raw), 400, "Invalid JSON", JSON_DETAILS)
    r = rotate(api, cid, b" " * 10 + json.dumps({"keys": ["secret"]}).encode() + b" " * 65536)
    expect_error(r, 413, "Payload too large")
    expect_unchanged(api, cid, c, etag)
    eq(audit_count(api, cid), 1, "audit entries after rejected rotations")

def test_rotate_keys_404_and_bad_id(api):
    expect_error(rotate(api, api.uid()), 404, "Client not found")
    expect_error(rotate(api, api.uid(), {"keys": ["secret"]}), 404, "Client not found")
    expect_error(rotate(api, "a.b"), 400, "Invalid client id", ID_DETAILS)


# ---- If-Match on every write -----------------------------------------------------

def stale_then_current(api, send, what):
    """send(cid, if_match) with a stale ETag -> 412 and nothing changed; then with
    the current one -> the response, which is returned."""
    c = api.create(name="V1")
    _, old = api.fetch(c["id"])
    api.update(c["id"], {"name": "V2"})
    before, cur = api.fetch(c["id"])
    for stale in (old, '"nope"', "W/" + cur):
        r = send(c["id"], stale)
        try:
            expect_precondition_failed(r, cur)
        except AssertionError as e:
            raise AssertionError("%s with If-Match %s: %s" % (what, stale, e))
    expect_unchanged(api, c["id"], before, cur)
    eq(audit_count(api, c["id"]), 2, what + ": audit entries after the 412s")
    return c["id"], cur, send(c["id"], cur)

def test_if_match_patch(api):
    cid, cur, r = stale_then_current(
        api, lambda cid, tag: api.patch(cpath(cid), {"name": "V3"}, headers={"If-Match": tag}),
        "PATCH")
    eq(expect_client(r)["name"], "V3", "name after PATCH with the current ETag")
    check(r.etag != cur, "ETag unchanged by the PATCH")

def test_if_match_delete_soft(api):
    cid, cur, r = stale_then_current(
        api, lambda cid, tag: api.delete(cpath(cid), headers={"If-Match": tag}), "soft DELETE")
    expect_deleted(r, False)
    d, etag = api.fetch(cid)
    eq(d["status"], False, "status after soft DELETE with the current ETag")
    check(etag != cur, "ETag unchanged by the soft delete")

def test_if_match_delete_hard(api):
    cid, cur, r = stale_then_current(
        api, lambda cid, tag: api.delete(cpath(cid) + "?hard=true", headers={"If-Match": tag}),
        "hard DELETE")
    expect_deleted(r, True)
    expect_error(api.get(cpath(cid)), 404, "Client not found")

def test_if_match_rotate_keys(api):
    cid, cur, r = stale_then_current(
        api, lambda cid, tag: rotate(api, cid, {"keys": ["secret"]}, headers={"If-Match": tag}),
        "rotate-keys")
    d = expect_client(r)
    check(r.etag != cur, "ETag unchanged by the rotation")
    eq(api.fetch(cid), (d, r.etag), "GET after rotating with the current ETag")
    cid2, _, r = stale_then_current(
        api, lambda cid, tag: rotate(api, cid, headers={"If-Match": tag}), "rotate-keys (no body)")
    expect_client(r)


# ---- audit -----------------------------------------------------------------------

SECRETS = ("publishable_key", "secret_key", "proxy_api_key")
ENTRY_MEMBERS = {"seq", "action", "admin_key_id", "request_id", "at", "changes"}
TIMESTAMPS = ("created_at", "updated_at")

def redacted(f, v):
    return "<redacted>" if f in SECRETS and v is not None else v

def changes_of(entry):
    """The entry's changes without the timestamps (recording them is optional)."""
    return {k: v for k, v in entry["changes"].items() if k not in TIMESTAMPS}

def everything(client, side):
    """changes naming every non-null member of client, on side "old" or "new"."""
    other = "new" if side == "old" else "old"
    return {f: {side: redacted(f, client[f]), other: None}
            for f in FIELDS if f not in TIMESTAMPS and client[f] is not None}

def check_entries(entries, what):
    for e in entries:
        eq(set(e), ENTRY_MEMBERS, what + ": entry members")
        check(isinstance(e["seq"], int) and not isinstance(e["seq"], bool), what + ": seq")
        check(isinstance(e["admin_key_id"], int) and not isinstance(e["admin_key_id"], bool)
              and e["admin_key_id"] > 0, what + ": admin_key_id %r" % e["admin_key_id"])
        check(TIMESTAMP_RE.match(e["at"] or ""), what + ": at %r" % e["at"])
        check(isinstance(e["changes"], dict), what + ": changes not an object")
        for k, v in e["changes"].items():
            check(k in FIELDS, what + ": changes name %r" % k)
            eq(sorted(v), ["new", "old"], what + ": members of changes." + k)
    seqs, ats = [e["seq"] for e in entries], [e["at"] for e in entries]
    check(seqs == sorted(set(seqs), reverse=True), what + ": seq not newest first: %s" % seqs)
    check(ats == sorted(ats, reverse=True), what + ": at not newest first: %s" % ats)

def audit_page(api, cid, **params):
    q = urllib.parse.urlencode(params)
    return expect_list(api.get(apath(cid) + ("?" + q if q else "")))

def test_audit_create_patch_rotate_hard_delete(api):
    cid, dom = api.uid(), domain_name(api)
    rids = [api.rid() for _ in range(4)]
    writes = [api.post(CLIENTS, {"id": cid, "name": "Audited", "domain": dom.upper(),
                                 "proxy_api_key": "px-" + api.uid(), "api_metadata": {"a": 1}},
                       rid=rids[0]),
              api.patch(cpath(cid), {"name": "Audited 2", "status": True,
                                     "email": "a@example.com", "proxy_api_key": None,
                                     "api_metadata": {"b": 2}}, rid=rids[1]),
              rotate(api, cid, {"keys": ["secret"]}, rid=rids[2]),
              api.delete(cpath(cid) + "?hard=true", rid=rids[3])]
    created, patched, rotated = (expect_client(r, st) for r, st in zip(writes, (201, 200, 200)))
    expect_deleted(writes[3], True)
    eq([r.header("X-Request-Id") for r in writes], rids, "X-Request-Id echoes of the writes")
    r = api.get(apath(cid))
    entries, count = expect_list(r)
    eq(count, 4, "count")
    check_entries(entries, "audit")
    eq([e["action"] for e in entries], ["hard_delete", "rotate_keys", "update", "create"],
       "actions, newest first")
    eq([e["request_id"] for e in entries], rids[::-1], "request ids")
    eq(len({e["admin_key_id"] for e in entries}), 1, "one admin_key_id for all four writes")
    eq(changes_of(entries[3]), everything(created, "new"), "changes of the create")
    eq(changes_of(entries[2]), {
        "name": {"old": "Audited", "new": "Audited 2"},
        "email": {"old": None, "new": "a@example.com"},
        "api_metadata": {"old": {"a": 1}, "new": {"a": 1, "b": 2}},
        "proxy_api_key": {"old": "<redacted>", "new": None}}, "changes of the update")
    eq(changes_of(entries[1]), {"secret_key": {"old": "<redacted>", "new": "<redacted>"}},
       "changes of the rotation")
    eq(changes_of(entries[0]), everything(rotated, "old"), "changes of the hard delete")
    text = r.raw.decode()
    for c in (created, patched, rotated):
        for f in SECRETS:
            check(c[f] is None or c[f] not in text, "the audit shows a %s value" % f)
    check(created["proxy_api_key"] not in text, "the audit shows the proxy_api_key")
    # The history's own pages.
    eq(audit_page(api, cid, limit=1), (entries[:1], 4), "limit=1")
    eq(audit_page(api, cid, limit=2, offset=1), (entries[1:3], 4), "limit=2&offset=1")
    eq(audit_page(api, cid, offset=3), (entries[3:], 4), "offset=3")
    eq(audit_page(api, cid, limit=200), (entries, 4), "limit=200")
    eq(audit_page(api, cid, offset=4), ([], 4), "offset=4")
    eq(audit_page(api, cid, offset=1000, limit=1), ([], 4), "offset=1000")
    for params, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
                          ({"limit": "x"}, "limit"), ({"offset": -1}, "offset"),
                          ({"offset": "1.0"}, "offset")):
        r = api.get(apath(cid) + "?" + urllib.parse.urlencode(params))
        bad_query(r, (field, "invalid_value"))

def test_audit_no_row_for_noop_writes(api):
    c = api.create(name="Same", email="s@example.com")
    cid = c["id"]
    api.update(cid, {"name": "Same", "email": "s@example.com", "api_metadata": {}})
    eq(audit_count(api, cid), 1, "entries after a no-op PATCH")
    api.update(cid, {"name": "Other", "email": "s@example.com"})
    expect_deleted(api.delete(cpath(cid)), False)
    expect_deleted(api.delete(cpath(cid)), False)
    api.update(cid, {"status": False})
    entries, count = audit_page(api, cid)
    check_entries(entries, "audit")
    eq(([e["action"] for e in entries], count), (["delete", "update", "create"], 3),
       "(actions, count)")
    eq(changes_of(entries[0]), {"status": {"old": True, "new": False}}, "changes of the delete")
    eq(changes_of(entries[1]), {"name": {"old": "Same", "new": "Other"}}, "changes of the update")

def test_audit_404_never_existing(api):
    expect_error(api.get(apath(api.uid())), 404, "Client not found")
    expect_error(api.get(apath(api.uid()) + "?limit=5&offset=0"), 404, "Client not found")
    expect_error(api.get(CLIENTS + "/a.b/audit"), 400, "Invalid client id", ID_DETAILS)
    cid = api.uid()
    r = api.post(CLIENTS, {"id": cid, "name": 5})
    expect_invalid(r, ("name", "invalid_type"))
    expect_error(api.get(apath(cid)), 404, "Client not found")

def test_clientsctl_audit_matches_api(api):
    c = api.create(proxy_api_key="px-" + api.uid(), email="ctl@example.com")
    cid = c["id"]
    api.update(cid, {"name": "Ctl \"quoted\" é", "api_metadata": {"x": [1, {"y": None}]}})
    expect_client(rotate(api, cid))
    expect_deleted(api.delete(cpath(cid)), False)
    expect_deleted(api.delete(cpath(cid) + "?hard=true"), True)
    entries, count = audit_page(api, cid, limit=200)
    eq(count, 5, "API audit count")
    lines = api.ctl("audit", cid).splitlines()
    try:
        got = [json.loads(ln) for ln in lines]
    except ValueError as e:
        raise Failure("clientsctl audit printed a line that is not JSON (%s): %s"
                      % (e, short("\n".join(lines))))
    eq(got, entries, "clientsctl audit vs GET .../audit")
    for ln, obj in zip(lines, got):
        eq(ln, json.dumps(obj, separators=(",", ":"), ensure_ascii=False),
           "clientsctl audit line (one compact JSON object)")


# ---- process pool and concurrency -----------------------------------------------

@pytest.mark.timeout(30)
def test_worker_sigkill_replaced(api):
    if not api.cfg.pool_pidfile:
        pytest.skip("needs the standalone pool (mod_fcgid runs no master)")
    master = read_pid(api.cfg.pool_pidfile)
    cid = api.create()["id"]
    before = children(master)
    check(before, "master %d has no workers" % master)
    victim = before[0]
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    bad = []
    for i in range(50):
        try:
            r = api.get(cpath(cid))
            if r.status != 200:
                bad.append("#%d: %s" % (i, r.where()))
        except Exception as e:
            bad.append("#%d: %s: %s" % (i, type(e).__name__, e))
    check(not bad, "%d of 50 requests failed after SIGKILL; first: %s" % (len(bad), bad[:1]))
    while True:
        now = children(master)
        if len(now) == len(before) and victim not in now:
            break
        check(time.monotonic() - killed_at < 5,
              "workers %s not restored to %d within 5 s (were %s)" % (now, len(before), before))
        time.sleep(0.1)

def patch_together(api, cid, bodies):
    """PATCHes cid with every body from its own thread, all released at once by
    a barrier; returns the list of failures (empty when all were 200)."""
    barrier = threading.Barrier(len(bodies), timeout=20)
    out = [None] * len(bodies)

    def one(i):
        try:
            r = api.patch(cpath(cid), bodies[i], barrier=barrier, timeout=30)
            out[i] = None if r.status == 200 else r.where()
        except Exception as e:
            out[i] = "%s: %s" % (type(e).__name__, e)
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    return [x for x in out if x is not None]

@pytest.mark.timeout(60)
def test_concurrent_metadata_patches(api):
    for rnd in range(3):
        cid = api.create(api_metadata={"base": rnd})["id"]
        bad = patch_together(api, cid, [{"api_metadata": {"k%d" % i: i}} for i in range(24)])
        check(not bad, "round %d: %d of 24 PATCHes failed; first: %s" % (rnd, len(bad), bad[:1]))
        want = dict({"k%d" % i: i for i in range(24)}, base=rnd)
        eq(api.fetch(cid)[0]["api_metadata"], want, "round %d api_metadata" % rnd)

@pytest.mark.timeout(40)
def test_concurrent_different_members(api):
    for rnd in range(5):
        cid = api.create(name="N0", email="e0@example.com")["id"]
        name, email = "Name %d" % rnd, "e%d@example.com" % (rnd + 1)
        bad = patch_together(api, cid, [{"name": name}, {"email": email}])
        check(not bad, "round %d: %s" % (rnd, bad))
        d = api.fetch(cid)[0]
        eq((d["name"], d["email"]), (name, email), "round %d: both members landed" % rnd)


# ---- straight into the database (--sql) -----------------------------------------

def sql_str(s):
    check(re.match(r"^[A-Za-z0-9_.:\- ]*$", s), "sql_str: unexpected characters in %r" % s)
    return "'%s'" % s

def test_list_order_ties_by_id(api):
    """Clients sharing a created_at are ordered by id (inserted directly, since
    the API cannot be made to create two in the same millisecond)."""
    ag, pre = api.uid("ag"), api.uid("t")
    rows = (("b", "2001-02-03 04:05:06.789"), ("a", "2001-02-03 04:05:06.789"),
            ("0", "2001-02-03 04:05:06.790"), ("c", "2001-02-03 04:05:06.789"),
            ("z", "2001-02-03 04:05:06.788"))
    values = ",".join(
        "(%s, 'Tie', 1, CONCAT('pk_', MD5(%s)), CONCAT('sk_', MD5(%s)), %s, '{}', %s, %s)"
        % (sql_str(pre + s), sql_str("p" + pre + s), sql_str("s" + pre + s), sql_str(ag),
           sql_str(at), sql_str(at)) for s, at in rows)
    api.sql("INSERT INTO clients (id, name, status, publishable_key, secret_key, agency_id,"
            " api_metadata, created_at, updated_at) VALUES %s;" % values)
    try:
        want = [pre + s for s in ("z", "a", "b", "c", "0")]
        items, count = expect_clients(listing(api, agency_id=ag))
        eq((ids_of(items), count), (want, 5), "(ids, count) of clients with tied created_at")
        eq([c["created_at"] for c in items][:2], ["2001-02-03T04:05:06.788Z",
                                                  "2001-02-03T04:05:06.789Z"], "created_at")
        eq(listed(api, agency_id=ag, limit=2, offset=1), (want[1:3], 5), "page inside the tie")
        eq(listed(api, agency_id=ag, limit=2, offset=2), (want[2:4], 5), "page across the tie")
    finally:
        api.sql("DELETE FROM clients WHERE agency_id = %s;" % sql_str(ag))

SEED_ROWS = 20000
FILTERS = ("status", "agency_id", "company_id", "domain")

def seed_sql(run, n):
    """n clients with ids ix_<run>_<i>, varied members, created_at spread over
    two years (a fixed pseudo-random permutation, so it is not id order)."""
    return """
INSERT INTO clients (id, name, status, publishable_key, secret_key, domain, company_id,
                     agency_id, api_metadata, created_at, updated_at)
SELECT CONCAT('ix_{run}_', seq), CONCAT('Seeded ', seq), seq % 3 <> 0,
       CONCAT('pk_', MD5(CONCAT('{run}p', seq))), CONCAT('sk_', MD5(CONCAT('{run}s', seq))),
       IF(seq % 2 = 0, CONCAT('s', seq, '-{run}.example.com'), NULL),
       IF(seq % 5 = 0, NULL, CONCAT('co_{run}_', seq % 400)),
       IF(seq % 7 = 0, NULL, CONCAT('ag_{run}_', seq % 60)),
       '{{}}', t, t
FROM (SELECT seq, TIMESTAMP'2024-01-01 00:00:00'
             + INTERVAL ((seq * 7919) % 63072000) SECOND
             + INTERVAL (seq % 1000) * 1000 MICROSECOND AS t
      FROM seq_1_to_{n}) AS s;
ANALYZE TABLE clients;
""".format(run=run, n=n)

def explain_problems(lines):
    """The lines of clientsctl explain-list that show a scan, a sort or a
    temporary table, or no index."""
    bad = []
    for ln in lines:
        f = ln.split("\t")
        kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        if len(f) != 6 or set(kv) != {"type", "key", "rows", "extra"}:
            bad.append("malformed: " + ln)
            continue
        extra = kv["extra"]
        if kv["key"] == "-" and "Impossible WHERE" not in extra and "const" not in extra:
            bad.append("no index: " + ln)
        if kv["type"] == "ALL" or "filesort" in extra or "temporary" in extra:
            bad.append("scan/sort: " + ln)
    return bad

def paging_plan_problems(lines):
    """Keyset pages ("after") must seek into their index (a range, or a
    const lookup by domain), never walk it from the start (ref/index); the
    offset walk ("seek") must stay inside a covering index for one filter
    or none (a deferred join: no row is read until the page)."""
    bad = []
    for ln in lines:
        f = ln.split("\t")
        kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        if len(f) != 6:
            continue
        kind, shape = f[0], f[1]
        if kind == "after" and kv.get("type") not in ("range", "const") and \
                "Impossible WHERE" not in kv.get("extra", ""):
            bad.append("keyset page not a range: " + ln)
        if kind == "seek" and shape in ("-", "status", "agency_id", "company_id") and \
                "Using index" not in kv.get("extra", "").replace("Using index condition", ""):
            bad.append("offset walk reads rows: " + ln)
    return bad

@pytest.mark.timeout(90)
def test_list_queries_use_indexes(api):
    run = api.cfg.run_id
    api.sql(seed_sql(run, SEED_ROWS))
    try:
        eq(listed(api, agency_id="ag_%s_1" % run, limit=1)[1],
           len([i for i in range(1, SEED_ROWS + 1) if i % 7 and i % 60 == 1]),
           "count of seeded clients of one agency")
        lines = [ln for ln in api.ctl("explain-list").splitlines() if ln.strip()]
        shapes = []
        for mask in range(16):
            names = [FILTERS[i] for i in range(4) if mask & (1 << i)]
            shapes.append(",".join(names) or "-")
        want = sorted((kind, s) for kind in ("count", "page", "after", "seek") for s in shapes)
        eq(sorted(tuple(ln.split("\t")[:2]) for ln in lines),
           want, "query shapes of explain-list")
        bad = explain_problems(lines) + paging_plan_problems(lines)
        check(not bad, "%d of %d plans are bad: %s" % (len(bad), len(lines), " | ".join(bad)))
    finally:
        api.sql("DELETE FROM clients WHERE id LIKE 'ix\\_%s\\_%%'; ANALYZE TABLE clients;" % run)
    eq(listed(api, agency_id="ag_%s_1" % run)[1], 0, "seeded clients left behind")


# ---- the database going away (last: it stops and starts MariaDB) ----------

def expect_unavailable(r):
    expect_error(r, 503, "Service unavailable")
    check(r.header("Retry-After") and r.header("Retry-After").isdigit(),
          "503 without a numeric Retry-After: %r" % r.header("Retry-After"))

@pytest.mark.timeout(60)
def test_database_down_503_then_recovers(api):
    cid = api.create()["id"]
    workers = None
    if api.cfg.pool_pidfile:
        master = read_pid(api.cfg.pool_pidfile)
        workers = sorted(children(master))
    db_control(api, "stop")
    try:
        expect_unavailable(api.get(cpath(cid)))
        expect_unavailable(api.patch(cpath(cid), {"name": "while down"}))
        expect_unavailable(api.post("/api/v1/clients", {"id": api.uid(), "name": "n"}))
        expect_unavailable(api.get("/api/v1/health", auth=None))
    finally:
        db_control(api, "start")
    # The same workers reconnect: no restart of the pool or of Apache.
    wait_healthy(api)
    r = api.patch(cpath(cid), {"name": "after restart"})
    expect_client(r)
    eq(r.data["name"], "after restart", "name after the database came back")
    if workers is not None:
        eq(sorted(children(master)), workers, "pool workers (none restarted)")
