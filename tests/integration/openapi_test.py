"""openapi_test.py - the API as a document, over HTTP.

GET /api/v1/openapi.json serves doc/openapi.yaml as JSON with an ETag and
If-None-Match; errors teach (412 carries the current ETag, 415 names the
types, Invalid JSON says where and why, Invalid client id states the rule);
and the checker apikit runs on every response really fails on a response the
document does not allow.  Through every set-up (the sanitizer run: nginx and
Apache + mod_fcgid); it stops the database once.
"""

import json
import os
import sys

import pytest
import yaml                                            # python3-yaml

from apikit import (CLIENTS, CONTRACT, Failure, check, cpath, eq, expect_client, expect_error,
                    expect_status, db_control, wait_healthy)
from openapi_check import ContractError

pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(60)]

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_YAML = os.path.join(HERE, "..", "..", "doc", "openapi.yaml")
DOC_PATH = "/api/v1/openapi.json"


def the_yaml():
    sys.path.insert(0, os.path.join(HERE, "..", "..", "doc"))
    from yaml2json import plain
    with open(DOC_YAML, encoding="utf-8") as f:
        return plain(yaml.safe_load(f))


def test_openapi_json_served_without_key(api):
    r = api.get(DOC_PATH, auth=None)
    expect_status(r, 200)
    eq(r.body, the_yaml(), "served document against doc/openapi.yaml")
    check(r.etag and r.etag.startswith('"sha256-'), "ETag %r" % r.etag)
    # A wrong key does not matter either: the document is public.
    eq(api.get(DOC_PATH, auth="Bearer nope").status, 200, "status with a bad key")
    h = api.head(DOC_PATH, auth=None)
    expect_status(h, 200)
    eq(h.etag, r.etag, "ETag of HEAD")

def test_openapi_json_if_none_match(api):
    etag = api.get(DOC_PATH, auth=None).etag
    for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
        r = api.get(DOC_PATH, auth=None, headers={"If-None-Match": inm})
        expect_status(r, 304)
        eq(r.raw, b"", "body of a 304")
        eq(r.etag, etag, "ETag of the 304")
        # Nothing to describe: a proxy that sees a type may parse the empty body.
        eq(r.header("Content-Type"), None, "Content-Type of a 304")
    r = api.get(DOC_PATH, auth=None, headers={"If-None-Match": '"sha256-0"'})
    expect_status(r, 200)
    check(len(r.raw) > 1000, "a stale If-None-Match gets the document")

def test_openapi_json_other_methods_405(api):
    r = api.post(DOC_PATH, {"x": 1})
    expect_error(r, 405, "Method not allowed")
    eq(r.header("Allow"), "GET, HEAD", "Allow")

def test_precondition_failed_names_current_etag(api):
    c = api.create(name="V1")
    _, old = api.fetch(c["id"])
    api.update(c["id"], {"name": "V2"})
    _, cur = api.fetch(c["id"])
    r = api.patch(cpath(c["id"]), {"name": "V3"}, headers={"If-Match": old})
    expect_error(r, 412, "Precondition failed", [(None, "precondition_failed")])
    eq(r.etag, cur, "ETag of the 412")
    check("ETag" in r.body["details"][0]["message"], "the detail names the ETag header")
    # The tag from the 412 is enough to retry: no GET needed.
    r = api.patch(cpath(c["id"]), {"name": "V3"}, headers={"If-Match": r.etag})
    eq(expect_client(r)["name"], "V3", "name after the retry")

def test_unsupported_media_type_names_types(api):
    cid = api.create()["id"]
    r = api.patch(cpath(cid), "name=x", ctype="application/x-www-form-urlencoded")
    expect_error(r, 415, "Unsupported media type", [(None, "unsupported_media_type")])
    msg = r.body["details"][0]["message"]
    for t in ("application/json", "application/merge-patch+json"):
        check(t in msg, "415 of PATCH does not name %s: %r" % (t, msg))
    r = api.post(CLIENTS, "<x/>", ctype="text/xml")
    expect_error(r, 415, "Unsupported media type", [(None, "unsupported_media_type")])
    msg = r.body["details"][0]["message"]
    check("application/json" in msg and "merge-patch" not in msg,
          "415 of POST names only application/json: %r" % msg)

def test_invalid_json_says_where_and_why(api):
    cid = api.create()["id"]
    cases = [
        (b'{"name": "x",\n "email": }', ("line 2, column ", "unexpected token")),
        (b'{"name": "a", "name": "b"}', ("line 1", "duplicate object key")),
        (b'["name"]', ("not an array",)),
        (b'{"name": "\xff"}', ("line 1", "decode byte 0xff")),
        (b'{"name": "x"} {}', ("end of file expected",)),
    ]
    for body, parts in cases:
        r = api.patch(cpath(cid), body)
        expect_error(r, 400, "Invalid JSON", [(None, "invalid_json")])
        msg = r.body["details"][0]["message"]
        check(msg.startswith("must be one JSON object"), "message %r" % msg)
        for p in parts:
            check(p in msg, "%r: message %r lacks %r" % (body, msg, p))
    r = api.post(CLIENTS, b"")
    expect_error(r, 400, "Invalid JSON", [(None, "invalid_json")])
    check("empty" in r.body["details"][0]["message"], "empty body message")

def test_invalid_client_id_states_rule(api):
    for path in (cpath("a.b"), cpath("a%2Fb") + "/audit", cpath("x" * 256) + "/rotate-keys"):
        r = api.get(path) if "rotate" not in path else api.post(path)
        expect_error(r, 400, "Invalid client id", [("id", "invalid_format")])
        check("^[a-zA-Z0-9_-]{1,255}$" in r.body["details"][0]["message"],
              "rule not stated: %r" % r.body["details"][0]["message"])

def test_every_detail_is_an_instruction(api):
    """Many problems at once: each message reads "must ..." (the schema says so
    for every response; this shows it on the widest answer there is)."""
    bad = {"id": "x", "publishable_key": "pk", "name": "", "status": "yes", "domain": "-a",
           "email": "no", "phone": "123", "website": "ftp://x", "timezone": "Mars/Base",
           "global_name": "class", "company_id": "a b", "agency_id": "", "api_metadata": 3,
           "ghl_location_id": "?", "proxy_api_key": "a b", "nope": 1}
    r = api.patch(cpath(api.create()["id"]), bad)
    expect_status(r, 400)
    details = r.body["details"]
    eq(len(details), 16, "number of details")
    for d in details:
        check(d["message"].startswith("must "), "%s: %r" % (d["field"], d["message"]))

def test_contract_checker_catches_drift(api):
    """The checker fails on what the document does not allow (else it proves nothing)."""
    good = api.get(cpath(api.create()["id"]))
    h = dict(good.headers)

    def rejects(what, method, path, status, headers, raw, req_headers=None, body=None):
        try:
            CONTRACT.check(method, path, {"Authorization": "Bearer k"} if req_headers is None
                           else req_headers, body,
                           status, headers, raw)
        except ContractError:
            return
        raise Failure("the checker let through " + what)

    no_etag = {k: v for k, v in h.items() if k != "etag"}
    rejects("a 200 without ETag", "GET", good.path, 200, no_etag, good.raw)
    rejects("an undeclared status", "GET", good.path, 418, h, good.raw)
    rejects("a 201 on GET", "GET", good.path, 201, h, good.raw)
    extra = json.loads(good.raw)
    extra["data"]["colour"] = "red"
    rejects("an extra member", "GET", good.path, 200, h, json.dumps(extra).encode())
    short = json.loads(good.raw)
    del short["data"]["phone"]
    rejects("a missing member", "GET", good.path, 200, h, json.dumps(short).encode())
    rejects("text/html", "GET", good.path, 200, dict(h, **{"content-type": "text/html"}),
            good.raw)
    rejects("no Cache-Control", "GET", good.path, 200,
            {k: v for k, v in h.items() if k != "cache-control"}, good.raw)
    err = {"success": False, "data": None, "error": "Validation failed", "count": 0,
           "details": [{"field": "name", "code": "invalid_length", "message": "is bad"}]}
    rejects("a detail that is not an instruction", "PATCH", good.path, 400, h,
            json.dumps(err).encode())
    err["details"][0].update(message="must be x", code="made_up")
    rejects("an unknown detail code", "PATCH", good.path, 400, h, json.dumps(err).encode())
    # A request the document calls invalid must not get a 2xx.
    rejects("a 200 to a limit of 500", "GET", CLIENTS + "?limit=500", 200, h,
            b'{"success":true,"data":[],"count":0}')
    rejects("a 200 without credentials", "GET", good.path, 200, h, good.raw, req_headers={})
    rejects("a 200 to an unknown member", "PATCH", good.path, 200, h, good.raw,
            {"Authorization": "Bearer k", "Content-Type": "application/json"},
            b'{"colour": "red"}')


def test_every_keyed_operation_401(api):
    """Each operation that needs a key answers 401 with the challenge."""
    cid = api.create()["id"]
    for method, path in (("GET", CLIENTS), ("POST", CLIENTS), ("GET", cpath(cid)),
                         ("PATCH", cpath(cid)), ("DELETE", cpath(cid)),
                         ("POST", cpath(cid) + "/rotate-keys"), ("GET", cpath(cid) + "/audit")):
        r = api.call(method, path, {"name": "x"} if method in ("POST", "PATCH") else None,
                     auth=None)
        expect_error(r, 401, "Unauthorized")
        eq(r.header("WWW-Authenticate"), 'Bearer realm="admin"', "challenge of " + r.where())


def test_status_bad_query_400(api):
    for q, field in (("full=yes", "full"), ("format=xml", "format")):
        r = api.get("/api/v1/status?" + q)
        expect_error(r, 400, "Invalid query parameters", [(field, "invalid_value")])


@pytest.mark.timeout(60)
def test_every_database_operation_503(api):
    """With the database down, each operation that needs it answers 503 with
    Retry-After (and the documents that need none still answer)."""
    cid = api.create()["id"]
    db_control(api, "stop")
    try:
        for method, path, body in (
                ("GET", CLIENTS, None), ("POST", CLIENTS, {"id": api.uid(), "name": "n"}),
                ("GET", cpath(cid), None), ("PATCH", cpath(cid), {"name": "n"}),
                ("DELETE", cpath(cid), None), ("POST", cpath(cid) + "/rotate-keys", None),
                ("GET", cpath(cid) + "/audit", None), ("GET", "/api/v1/health", None)):
            r = api.call(method, path, body)
            expect_error(r, 503, "Service unavailable")
            check((r.header("Retry-After") or "").isdigit(), "Retry-After of " + r.where())
        # The status page reads no table: a worker that has the key in its
        # auth cache ([api] auth_cache_s) answers it; one that must look the
        # key up answers 503.
        r = api.get("/api/v1/status")
        check(r.status in (200, 503), "status page with the database down: " + r.where())
        if r.status == 503:
            expect_error(r, 503, "Service unavailable")
            check((r.header("Retry-After") or "").isdigit(), "Retry-After of " + r.where())
        expect_status(api.get(DOC_PATH, auth=None), 200)
        expect_status(api.get("/api/v1/ping", auth=None), 200)
    finally:
        db_control(api, "start")
    wait_healthy(api)
