"""hostile_test - input an attacker (or a careless integrator) sends gets a
clear answer in the envelope, with the right status, and changes nothing.

- every problem of a body in one answer, api_metadata's limits included;
- control, format and bidirectional characters in text members refused,
  named with their position; the joiners languages and emoji need kept;
- numbers a double would not keep (too large, or so small they would be
  stored as 0) refused alike;
- a body on DELETE, an Idempotency-Key sent twice: 400, nothing written;
- a hard delete takes the stored answers of the client's requests with it;
- the same unknown key sent again and again costs no database query;
- a batch of other hostile requests, each with its expected answer.

Through every set-up (two under the sanitizers): web servers differ in how
they pass a header sent twice.
"""

import json
import time

import pytest

import apikit
from apikit import CLIENTS, cpath, expect_error, expect_invalid, expect_unchanged
from kit import check, eq

pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(120)]


def details(r):
    return [(d["field"], d["code"], d["message"]) for d in r.body.get("details", [])]


# ---- every problem at once ---------------------------------------------------------------

def test_metadata_limits_with_the_other_members(api):
    long_key = "k" * 300
    deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}
    big = {"blob": "x" * 17000}
    cid = api.uid()
    for meta, code in ((({long_key: 1}), "invalid_key"), (deep, "too_deep"), (big, "too_large")):
        r = api.post(CLIENTS, {"id": cid, "name": "x", "email": "bad", "api_metadata": meta})
        expect_invalid(r, ("email", "invalid_email"), ("api_metadata*", code))
        eq(api.get(cpath(cid)).status, 404, "a rejected create wrote nothing")
    c = api.create()
    before, etag = api.fetch(c["id"])
    r = api.patch(cpath(c["id"]), {"phone": "12", "api_metadata": {long_key: 1}})
    expect_invalid(r, ("phone", "invalid_phone"), ("api_metadata*", "invalid_key"))
    expect_unchanged(api, c["id"], before, etag)


# ---- characters nobody sees --------------------------------------------------------------

# (member, value, the code its rule gives, the note naming the character)
INVISIBLE = [
    ("name", "Acme\u202eCorp", "invalid_characters", "U+202E at character 5"),  # RTL override
    ("name", "\u2066Acme", "invalid_characters", "U+2066 at character 1"),      # LTR isolate
    ("name", "Acme\u2028Corp", "invalid_characters", "U+2028 at character 5"),  # line separator
    ("name", "Ac\u200bme", "invalid_characters", "U+200B at character 3"),      # zero width
    ("name", "\ufeffAcme", "invalid_characters", "U+FEFF at character 1"),      # BOM
    ("name", "A\u00adcme", "invalid_characters", "U+00AD at character 2"),      # soft hyphen
    ("name", "a\tb", "invalid_characters", "U+0009 at character 2"),
    ("website", "https://acme.example/\u202ep", "invalid_characters", "U+202E at character 22"),
    ("website", "https://acme.example/\x01", "invalid_url", "U+0001 at character 22"),
    ("global_name", "Acme\u2067", "invalid_format", "U+2067 at character 5"),
    ("email", "ops\u200f@acme.example", "invalid_email", "U+200F at character 4"),
]


@pytest.mark.parametrize("member,value,code,note", INVISIBLE,
                         ids=["%s %s" % (c[0], c[3]) for c in INVISIBLE])
def test_invisible_characters_named_with_their_position(api, member, value, code, note):
    c = api.create()
    before, etag = api.fetch(c["id"])
    r = api.patch(cpath(c["id"]), {member: value})
    expect_invalid(r, (member, code))
    message = details(r)[0][2]
    check(message.endswith(": " + note), "%s: message %r does not end with %r"
          % (member, message, note))
    expect_unchanged(api, c["id"], before, etag)


def test_joiners_that_languages_and_emoji_need_are_kept(api):
    for name in ("Famille \U0001F468\u200d\U0001F469\u200d\U0001F467",   # ZWJ sequence
                 "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",       # ZWNJ (Persian)
                 "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"):
        c = api.create(name=name)
        eq(c["name"], name, "name kept as sent")


# ---- numbers a double would not keep ---------------------------------------------------

@pytest.mark.parametrize("text", ["1e400", "-1e400", "1e-400", "-4.9e-324", "2e-310"])
def test_numbers_out_of_a_doubles_range(api, text):
    cid = api.uid()
    body = '{"id": "%s", "name": "n", "api_metadata": {"x": %s}}' % (cid, text)
    r = api.post(CLIENTS, body)
    expect_invalid(r, ("api_metadata", "invalid_value"))
    eq(api.get(cpath(cid)).status, 404, "a rejected create wrote nothing")


@pytest.mark.parametrize("text,value", [("0e-400", 0), ("2.2250738585072014e-308",
                                                        2.2250738585072014e-308),
                                        ("1.7976931348623157e308", 1.7976931348623157e308)])
def test_numbers_a_double_keeps(api, text, value):
    cid = api.uid()
    r = api.post(CLIENTS, '{"id": "%s", "name": "n", "api_metadata": {"x": %s}}' % (cid, text))
    eq(r.status, 201, "status for %s: %s" % (text, r.where()))
    eq(r.body["data"]["api_metadata"]["x"], value, "stored value of " + text)


# ---- DELETE with a body; a header twice -------------------------------------------------

def test_delete_with_a_body_is_refused(api):
    c = api.create()
    before, etag = api.fetch(c["id"])
    for body in ('{"hard": true}', '{}', "x"):
        r = api.delete(cpath(c["id"]), body=body)
        expect_error(r, 400, "Bad request", [(None, "body_not_allowed")])
        expect_unchanged(api, c["id"], before, etag)
    # Content-Type without a body is no body.
    r = api.delete(cpath(c["id"]) + "?hard=true", ctype="application/json")
    eq(r.status, 200, "a hard delete without a body: " + r.where())
    eq(api.get(cpath(c["id"])).status, 404, "deleted")


def test_idempotency_key_twice_is_refused(api):
    cfg = api.cfg
    cid = api.uid()
    body = json.dumps({"id": cid, "name": "twice"}).encode()
    a = apikit.raw_request(cfg, "POST", CLIENTS, [
        "Content-Type: application/json", "Content-Length: %d" % len(body),
        "Idempotency-Key: first-%s" % cid, "Idempotency-Key: second-%s" % cid,
        "X-Request-Id: " + api.rid()], body)
    eq(a.status, 400, "two Idempotency-Key headers: " + a.where())
    b = json.loads(a.raw)
    eq(b.get("error"), "Bad request", "error")
    eq([(d["field"], d["code"]) for d in b.get("details", [])],
       [("Idempotency-Key", "invalid_value")], "details")
    check("more than one" in b["details"][0]["message"], "message says why: %r" % b)
    apikit.validate_raw("POST", CLIENTS, {"Content-Type": "application/json"}, body,
                        a.status, a.headers, a.raw)
    eq(api.get(cpath(cid)).status, 404, "nothing created")
    # One key alone is fine.
    r = api.post(CLIENTS, {"id": cid, "name": "once"}, headers={"Idempotency-Key": "once-" + cid})
    eq(r.status, 201, "one Idempotency-Key: " + r.where())


# ---- stored answers of a client hard deleted ----------------------------------------------

def test_hard_delete_drops_the_clients_stored_answers(api):
    cid = api.uid()
    k_create, k_patch = "create-" + cid, "patch-" + cid
    r1 = api.post(CLIENTS, {"id": cid, "name": "n"}, headers={"Idempotency-Key": k_create})
    eq(r1.status, 201, "create: " + r1.where())
    r2 = api.patch(cpath(cid), {"name": "m"}, headers={"Idempotency-Key": k_patch})
    eq(r2.status, 200, "patch: " + r2.where())
    # Before the delete they replay.
    r = api.patch(cpath(cid), {"name": "m"}, headers={"Idempotency-Key": k_patch})
    eq(r.headers.get("idempotent-replayed"), "true", "a replay before the delete")
    r = api.delete(cpath(cid) + "?hard=true", headers={"Idempotency-Key": "del-" + cid})
    eq(r.status, 200, "hard delete: " + r.where())
    # The delete's own answer still replays.
    r = api.delete(cpath(cid) + "?hard=true", headers={"Idempotency-Key": "del-" + cid})
    eq((r.status, r.headers.get("idempotent-replayed")), (200, "true"), "the delete replayed")
    # The client's: requests never seen.  The PATCH runs (on nothing)...
    r = api.patch(cpath(cid), {"name": "m"}, headers={"Idempotency-Key": k_patch})
    expect_error(r, 404, "Client not found")
    check("idempotent-replayed" not in r.headers, "a replay of a deleted client's PATCH")
    # ... and the create creates anew, with new keys.
    r = api.post(CLIENTS, {"id": cid, "name": "n"}, headers={"Idempotency-Key": k_create})
    eq(r.status, 201, "the create again: " + r.where())
    check("idempotent-replayed" not in r.headers, "the create's old answer replayed")
    check(r.body["data"]["secret_key"] != r1.body["data"]["secret_key"],
          "the deleted client's secret_key handed out again")


def test_soft_delete_keeps_stored_answers(api):
    cid = api.uid()
    r1 = api.post(CLIENTS, {"id": cid, "name": "n"}, headers={"Idempotency-Key": "c-" + cid})
    eq(api.delete(cpath(cid)).status, 200, "soft delete")
    r = api.post(CLIENTS, {"id": cid, "name": "n"}, headers={"Idempotency-Key": "c-" + cid})
    eq((r.status, r.headers.get("idempotent-replayed")), (201, "true"), "replay")
    eq(r.body, r1.body, "the stored answer")


# ---- a refused key is remembered --------------------------------------------------------

def questions(api):
    out = api.sql("SHOW GLOBAL STATUS LIKE 'Questions';").split()
    return int(out[-1])


def test_a_repeated_unknown_key_costs_no_query(api):
    bad = "Bearer ak_" + "7" * 64
    workers = 8        # at most: every worker looks it up once
    q0 = questions(api)
    for _ in range(20):
        expect_error(api.get(CLIENTS, auth=bad), 401, "Unauthorized")
    spent = questions(api) - q0 - 1     # our own SHOW counts once
    check(spent <= workers, "20 requests with one unknown key cost %d queries" % spent)
    # After auth_refused_cache_s (2 s), it is looked up again.
    time.sleep(2.5)
    q0 = questions(api)
    expect_error(api.get(CLIENTS, auth=bad), 401, "Unauthorized")
    check(questions(api) - q0 - 1 >= 1, "no lookup once the refusal expired")
    # A new key works at once: nobody can have sent it before it existed.
    key = api.ctl("admin-key", "create", "--name", api.uid("fresh")).strip()
    apikit.record_secrets("Bearer " + key)
    eq(api.get(CLIENTS + "?limit=1", auth="Bearer " + key).status, 200, "a new key at once")


# ---- a batch ---------------------------------------------------------------------------

def _deep(n):
    return "[" * n + "]" * n


# (name, method, path suffix, body, headers, status, error)
BATCH = [
    ("array body", "POST", "", "[]", {}, 400, "Invalid JSON"),
    ("string body", "POST", "", '"x"', {}, 400, "Invalid JSON"),
    ("null body", "POST", "", "null", {}, 400, "Invalid JSON"),
    ("trailing garbage", "POST", "", '{"id":"a","name":"b"} x', {}, 400, "Invalid JSON"),
    ("two documents", "POST", "", '{}{}', {}, 400, "Invalid JSON"),
    ("comment", "POST", "", '{/*x*/"id":"a","name":"b"}', {}, 400, "Invalid JSON"),
    ("NaN", "POST", "", '{"id":"a","name":"b","api_metadata":{"x":NaN}}', {}, 400,
     "Invalid JSON"),
    ("Infinity", "POST", "", '{"id":"a","name":"b","api_metadata":{"x":Infinity}}', {}, 400,
     "Invalid JSON"),
    ("single quotes", "POST", "", "{'id':'a'}", {}, 400, "Invalid JSON"),
    ("invalid UTF-8", "POST", "", b'{"id":"a","name":"\xff\xfe"}', {}, 400, "Invalid JSON"),
    ("lone surrogate", "POST", "", '{"id":"a","name":"\\ud800"}', {}, 400, "Invalid JSON"),
    ("NUL escape in name", "POST", "", '{"id":"z%s","name":"a\\u0000b"}', {}, 400,
     "Invalid JSON"),
    ("nesting 10000 deep", "POST", "", '{"id":"a","name":"b","api_metadata":{"x":%s}}'
     % _deep(10000), {}, 400, None),
    ("id with a slash", "POST", "", '{"id":"a/b","name":"b"}', {}, 400, "Validation failed"),
    ("id of 256", "POST", "", '{"id":"%s","name":"b"}' % ("a" * 256), {}, 400,
     "Validation failed"),
    ("duplicate member", "POST", "", '{"id":"a","id":"b","name":"n"}', {}, 400, None),
    ("name of 256 characters", "POST", "", '{"id":"z%s","name":"%s"}' % ("%s", "é" * 256), {},
     400, "Validation failed"),
    ("status as a string", "PATCH", "/{id}", '{"status":"false"}', {}, 400,
     "Validation failed"),
    ("read-only key", "PATCH", "/{id}", '{"secret_key":"sk_x"}', {}, 400, "Validation failed"),
    ("id in a PATCH", "PATCH", "/{id}", '{"id":"other"}', {}, 400, "Validation failed"),
    ("empty PATCH", "PATCH", "/{id}", "{}", {}, 400, "No valid fields provided"),
    ("text/plain", "PATCH", "/{id}", '{"name":"x"}', {"Content-Type": "text/plain"}, 415,
     "Unsupported media type"),
    ("If-Match garbage", "PATCH", "/{id}", '{"name":"x"}', {"If-Match": "garbage"}, 412,
     "Precondition failed"),
    ("If-Match 40 tags", "PATCH", "/{id}", '{"name":"x"}',
     {"If-Match": ", ".join('"%d"' % i for i in range(40))}, 400, "Bad request"),
    ("Idempotency-Key with a space", "PATCH", "/{id}", '{"name":"x"}',
     {"Idempotency-Key": "a b"}, 400, "Bad request"),
    ("Idempotency-Key of 256", "PATCH", "/{id}", '{"name":"x"}',
     {"Idempotency-Key": "k" * 256}, 400, "Bad request"),
    ("path id with a space", "GET", "/a%20b", None, {}, 400, "Invalid client id"),
    ("path id with a quote", "GET", "/a%27b", None, {}, 400, "Invalid client id"),
    ("path id ..", "GET", "/..", None, {}, 400, "Invalid client id"),
    ("path id of 300", "GET", "/" + "a" * 300, None, {}, 400, "Invalid client id"),
    ("limit -1", "GET", "?limit=-1", None, {}, 400, "Invalid query parameters"),
    ("limit 1e9", "GET", "?limit=1000000000", None, {}, 400, "Invalid query parameters"),
    ("offset abc", "GET", "?offset=abc", None, {}, 400, "Invalid query parameters"),
    ("forged cursor", "GET", "?after=AAAA.BBBB", None, {}, 400, "Invalid query parameters"),
    ("status maybe", "GET", "?status=maybe", None, {}, 400, "Invalid query parameters"),
    ("erase without hard", "DELETE", "/{id}?erase=true", None, {}, 400,
     "Invalid query parameters"),
    ("hard=yes", "DELETE", "/{id}?hard=yes", None, {}, 400, "Invalid query parameters"),
    ("DELETE with a body", "DELETE", "/{id}", '{"hard":true}', {}, 400, "Bad request"),
    ("rotate unknown key kind", "POST", "/{id}/rotate-keys", '{"keys":["admin"]}', {}, 400,
     None),
    ("PUT", "PUT", "/{id}", '{"name":"x"}', {}, 405, "Method not allowed"),
]


@pytest.mark.parametrize("case", BATCH, ids=[c[0] for c in BATCH])
def test_hostile_batch(api, case):
    name, method, suffix, body, headers, status, error = case
    c = api.create()
    before, etag = api.fetch(c["id"])
    path = CLIENTS + suffix.replace("{id}", c["id"])
    if isinstance(body, str) and "%s" in body:
        body = body % api.uid()
    r = api.call(method, path, body, headers=headers or None)
    eq(r.status, status, "%s: %s" % (name, r.where()))
    b = r.body
    eq({k: b.get(k) for k in ("success", "data", "count")},
       {"success": False, "data": None, "count": 0}, name + ": the error envelope")
    if error is not None:
        eq(b.get("error"), error, name + ": error")
    for d in b.get("details", []):
        check(d["message"].startswith("must "), "%s: a detail that is no instruction: %r"
              % (name, d))
    expect_unchanged(api, c["id"], before, etag)
