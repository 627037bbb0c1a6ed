"""webhooks_test.py - the webhook endpoints API (doc/api-guide.md,
"Webhook endpoints"): register (the secret answered once, stored as
clients' secret keys are), list, read, change, rotate the secret with an
overlap, delete; bad bodies named member by member and nothing written;
the webhooks:manage scope; a key bound to an agency.  Through nginx and
Apache + mod_fcgid (both in the sanitizer run).
"""

import re
import urllib.parse

import pytest

from apikit import check, eq, expect_error, expect_list, expect_status
# Keys made here, not scopes_test.scoped()'s cache: a set-up started anew
# (a fresh database) between two files would leave it holding dead keys.
from scopes_test import SCOPES, make_key

pytestmark = [pytest.mark.setups(["nginx", "apache-fcgid"],
                                 sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(120)]

ENDPOINTS = "/api/v1/webhook-endpoints"
MEMBERS = ["agency_id", "created_at", "description", "enabled", "event_types", "id",
           "previous_secret_expires_at", "updated_at", "url"]
SECRET = re.compile(r"^whsec_[0-9a-f]{64}$")


def epath(eid):
    return ENDPOINTS + "/" + urllib.parse.quote(eid, safe="")


def create(api, auth=None, status=201, **body):
    body.setdefault("url", "https://hooks.example/" + api.uid("h"))
    body.setdefault("event_types", ["client.created"])
    kw = {} if auth is None else {"auth": auth}
    r = api.post(ENDPOINTS, body, **kw)
    expect_status(r, status)
    return r


def stored(api, eid):
    """The row as the database has it (secret columns included)."""
    out = api.sql("SELECT url, event_types, agency_id, enabled, secret, previous_secret, "
                  "previous_secret_until IS NOT NULL, version FROM webhook_endpoints "
                  "WHERE id = %d" % int(eid[3:])).strip().splitlines()
    return out[1].split("\t") if len(out) > 1 else None


def count_rows(api):
    return int(api.sql("SELECT COUNT(*) FROM webhook_endpoints").split()[-1])


def test_register_read_list_and_the_secret_shown_once(api):
    url = "https://hooks.example/" + api.uid("h") + "?v=1"
    r = create(api, url=url, event_types=["client.deleted", "client.created"],
               description="provisioning")
    e = r.body["data"]
    eq(sorted(e), sorted(MEMBERS + ["secret"]), "members of a created endpoint")
    check(SECRET.match(e["secret"]), "secret format: %r" % e["secret"])
    eq(r.headers.get("location"), "/api/v1/webhook-endpoints/" + e["id"], "Location")
    eq(e["event_types"], ["client.created", "client.deleted"], "types in their order")
    eq((e["url"], e["agency_id"], e["enabled"], e["description"],
        e["previous_secret_expires_at"]), (url, None, True, "provisioning", None), "members")
    eq(e["created_at"], e["updated_at"], "updated_at of a new endpoint")
    row = stored(api, e["id"])
    eq(row[4], e["secret"], "the secret as stored")
    # Never again: not on a read, not in the list.
    g = api.get(epath(e["id"]))
    expect_status(g, 200)
    eq(sorted(g.body["data"]), MEMBERS, "members of a read endpoint")
    eq({k: v for k, v in e.items() if k != "secret"}, g.body["data"], "read = created")
    seen, after = [], None
    while True:
        q = "?limit=2" + ("&after=" + after if after else "")
        lr = api.get(ENDPOINTS + q)
        page, count = expect_list(lr)
        eq(count, count_rows(api), "count of the list")
        check(e["secret"].encode() not in lr.raw, "a secret in the list")
        seen += page
        after = lr.body["next"]
        if after is None:
            break
    ids = [int(x["id"][3:]) for x in seen]
    eq(ids, sorted(set(ids)), "listed by id, once each")
    check(e["id"] in [x["id"] for x in seen], "the new endpoint is listed")
    expect_status(api.head(epath(e["id"])), 200)
    expect_status(api.head(ENDPOINTS + "?limit=1"), 200)


def test_bad_bodies_are_named_and_write_nothing(api):
    before = count_rows(api)
    r = api.post(ENDPOINTS, {"url": "ftp://x.example/", "event_types": ["client.renamed"],
                             "agency_id": "a b", "enabled": "yes", "description": 5,
                             "secret": "whsec_mine", "color": "red"})
    expect_error(r, 400, "Validation failed", [
        ("url", "invalid_url"), ("event_types", "invalid_value"), ("agency_id", "invalid_format"),
        ("enabled", "invalid_type"), ("description", "invalid_type"),
        ("secret", "read_only_field"), ("color", "unknown_field")])
    expect_error(api.post(ENDPOINTS, {"description": "x"}), 400, "Validation failed",
                 [("url", "required"), ("event_types", "required")])
    for body, field, code in (
            ({"url": "http://hooks.example/x"}, "url", "invalid_url"),
            ({"url": "https://hooks.example/x#frag"}, "url", "invalid_url"),
            ({"url": "https://hooks.example/caf\u00e9"}, "url", "invalid_url"),
            ({"url": "https://user@hooks.example/"}, "url", "invalid_url"),
            ({"event_types": []}, "event_types", "invalid_type"),
            ({"event_types": "client.created"}, "event_types", "invalid_type"),
            ({"event_types": ["client.created", "client.created"]}, "event_types",
             "invalid_value"),
            ({"description": "d" * 501}, "description", "invalid_length")):
        full = dict({"url": "https://hooks.example/ok", "event_types": ["client.created"]}, **body)
        expect_error(api.post(ENDPOINTS, full), 400, "Validation failed", [(field, code)])
    expect_error(api.post(ENDPOINTS, "[1]"), 400, "Invalid JSON", [(None, "invalid_json")])
    eq(count_rows(api), before, "endpoints after refused creates")
    eid = create(api).body["data"]["id"]
    row = stored(api, eid)
    expect_error(api.patch(epath(eid), {}), 400, "No valid fields provided")
    expect_error(api.patch(epath(eid), {"url": "http://x.example/"}), 400, "Validation failed",
                 [("url", "invalid_url")])
    expect_error(api.patch(epath(eid), {"enabled": False}, headers={"If-Match": "*"}), 400,
                 "Bad request", [("If-Match", "invalid_value")])
    eq(stored(api, eid), row, "the endpoint after refused changes")
    expect_error(api.get(ENDPOINTS + "/bad.id"), 400, "Invalid webhook endpoint id",
                 [("id", "invalid_format")])
    for missing in ("we_999999999999", "we_0", "we_01", "acme", "we_" + "9" * 20):
        expect_error(api.get(epath(missing)), 404, "Webhook endpoint not found")
    expect_error(api.get(ENDPOINTS + "?limit=0"), 400, "Invalid query parameters",
                 [("limit", "invalid_value")])
    expect_error(api.get(ENDPOINTS + "?after=nope"), 400, "Invalid query parameters",
                 [("after", "invalid_value")])


def test_patch_changes_what_is_sent(api):
    e = create(api, description="first").body["data"]
    same = api.patch(epath(e["id"]), {"description": "first"})
    expect_status(same, 200)
    eq(same.body["data"]["updated_at"], e["updated_at"], "updated_at after a no-op PATCH")
    r = api.patch(epath(e["id"]), {"enabled": False, "description": None,
                                   "event_types": ["client.erased", "client.updated"]},
                  ctype="application/merge-patch+json")
    expect_status(r, 200)
    d = r.body["data"]
    eq((d["enabled"], d["description"], d["event_types"], d["url"]),
       (False, None, ["client.updated", "client.erased"], e["url"]), "after the PATCH")
    check(d["updated_at"] > e["updated_at"], "updated_at moved")
    check("secret" not in d, "a PATCH answers no secret")
    eq(stored(api, e["id"])[1], "client.updated,client.erased", "the SET as stored")


def test_rotation_keeps_the_old_secret_for_the_overlap(api):
    e = create(api).body["data"]
    old = e["secret"]
    r = api.post(epath(e["id"]) + "/rotate-secret", {"overlap_s": 3600})
    expect_status(r, 200)
    d = r.body["data"]
    check(SECRET.match(d["secret"]) and d["secret"] != old, "a new secret")
    check(d["previous_secret_expires_at"] is not None, "the overlap's end")
    row = stored(api, e["id"])
    eq((row[4], row[5], row[6]), (d["secret"], old, "1"), "secret, previous secret, until")
    gap = api.sql("SELECT TIMESTAMPDIFF(SECOND, NOW(3), previous_secret_until) FROM "
                  "webhook_endpoints WHERE id = %d" % int(e["id"][3:])).split()[-1]
    check(3590 <= int(gap) <= 3600, "the overlap is an hour: %s s" % gap)
    # Without a body: the default day; with 0, the previous secret goes at once.
    expect_status(api.post(epath(e["id"]) + "/rotate-secret"), 200)
    r = api.post(epath(e["id"]) + "/rotate-secret", {"overlap_s": 0})
    expect_status(r, 200)
    eq(r.body["data"]["previous_secret_expires_at"], None, "no overlap")
    eq(stored(api, e["id"])[5:7], ["NULL", "0"], "previous secret after a rotation without overlap")
    for body, code in (({"overlap_s": -1}, "invalid_value"), ({"overlap_s": 604801}, "invalid_value"),
                       ({"overlap_s": "60"}, "invalid_value"), ({"keep": 1}, "unknown_field")):
        expect_error(api.post(epath(e["id"]) + "/rotate-secret", body), 400,
                     "Validation failed", [(list(body)[0], code)])
    expect_error(api.post(epath("we_999999999") + "/rotate-secret"), 404,
                 "Webhook endpoint not found")


def test_delete(api):
    eid = create(api).body["data"]["id"]
    r = api.delete(epath(eid))
    expect_status(r, 200)
    eq(r.body, {"success": True, "deleted": True}, "delete's answer")
    eq(stored(api, eid), None, "the row after the delete")
    expect_error(api.delete(epath(eid)), 404, "Webhook endpoint not found")
    expect_error(api.get(epath(eid)), 404, "Webhook endpoint not found")


def test_scope_webhooks_manage(api):
    eid = create(api).body["data"]["id"]
    lacking = make_key(api, set(SCOPES) - {"webhooks:manage"})
    before = count_rows(api)
    for method, path, body in (("GET", ENDPOINTS, None), ("POST", ENDPOINTS,
                                                          {"url": "https://h.example/",
                                                           "event_types": ["client.created"]}),
                               ("GET", epath(eid), None), ("PATCH", epath(eid), {"enabled": False}),
                               ("POST", epath(eid) + "/rotate-secret", None),
                               ("DELETE", epath(eid), None)):
        r = api.call(method, path, body, auth=lacking.auth)
        expect_error(r, 403, "Forbidden", [(None, "missing_scope")])
        eq(r.body["details"][0]["message"], "must use a key with the scope webhooks:manage",
           "the 403 of " + method + " " + path)
    eq(count_rows(api), before, "endpoints after 403s")
    eq(stored(api, eid)[3], "1", "still enabled after a refused PATCH")
    expect_status(api.get(epath(eid), auth=make_key(api, {"webhooks:manage"}).auth), 200)


def test_bound_key_manages_its_agency_endpoints_only(api):
    a, b = api.uid("agA"), api.uid("agB")
    key = make_key(api, agency=a)
    mine = create(api, auth=key.auth).body["data"]
    eq(mine["agency_id"], a, "a bound key's endpoint gets its agency")
    theirs = create(api, agency_id=b).body["data"]
    every = create(api).body["data"]
    for other in (theirs, every):
        for method, path, body in (("GET", epath(other["id"]), None),
                                   ("PATCH", epath(other["id"]), {"enabled": False}),
                                   ("POST", epath(other["id"]) + "/rotate-secret", None),
                                   ("DELETE", epath(other["id"]), None)):
            expect_error(api.call(method, path, body, auth=key.auth), 404,
                         "Webhook endpoint not found")
        eq(stored(api, other["id"])[3], "1", "another agency's endpoint untouched")
    listed, count = expect_list(api.get(ENDPOINTS + "?limit=200", auth=key.auth))
    eq(([x["id"] for x in listed], count), ([mine["id"]], 1), "a bound key's list")
    r = create(api, auth=key.auth, status=403, agency_id=b)
    expect_error(r, 403, "Forbidden", [("agency_id", "agency_not_allowed")])
    expect_error(api.patch(epath(mine["id"]), {"agency_id": None}, auth=key.auth), 403,
                 "Forbidden", [("agency_id", "agency_not_allowed")])
    expect_status(api.patch(epath(mine["id"]), {"enabled": False}, auth=key.auth), 200)
    expect_status(api.delete(epath(mine["id"]), auth=key.auth), 200)


def test_create_with_idempotency_key_makes_one_endpoint(api):
    before = count_rows(api)
    body = {"url": "https://hooks.example/" + api.uid("h"), "event_types": ["client.created"]}
    ik = {"Idempotency-Key": api.uid("ik")}
    first = api.post(ENDPOINTS, body, headers=ik)
    expect_status(first, 201)
    again = api.post(ENDPOINTS, body, headers=ik)
    expect_status(again, 201)
    eq(again.headers.get("idempotent-replayed"), "true", "the repeat is a replay")
    eq(again.body, first.body, "the replayed answer")
    eq(count_rows(api), before + 1, "endpoints made by a create and its repeat")
