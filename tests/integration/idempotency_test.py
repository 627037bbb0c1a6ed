"""idempotency_test.py - Idempotency-Key (doc/api-guide.md, "Idempotency-Key").

Through the web server: a repeat gets the stored answer (same status, body,
ETag, Location) with Idempotent-Replayed: true and writes nothing; the same key
for another request is 422; a repeat while the first still runs (held on a
locked row) is 409 with Retry-After; keys are per admin key; stored 4xx answers
replay too; erasure deletes a client's stored answers; clientsctl
purge-idempotency deletes expired rows.  On copies of clientsd (spawned mode, on
their own socket, fcgikit) with their own config: a short idempotency_ttl_s
expires a key, and a 5xx (the deadline passing on a locked row) stores nothing
and frees the key.  Every answer is checked against what the database holds.
Through nginx and Apache + mod_fcgid, in both runs.
"""

import os
import tempfile
import threading
import time

import pytest

import fcgikit
from apikit import (CLIENTS, check, cpath, eq, expect_client, expect_error, lock_row, short,
                    unlock_row)
from kit import wait_for
from poolkit import conf_with, spawned, stop_spawned, write_private

pytestmark = [pytest.mark.setups(["nginx", "apache-fcgid"], sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(300)]

REPLAYED = "Idempotent-Replayed"


def key_of(api):
    return api.uid("idem-key")

def idem(key):
    return {"Idempotency-Key": key}

def rows_of(api, key):
    """(status or NULL, client_id or NULL) of the stored rows of key, from the database."""
    out = api.sql("SELECT COALESCE(status, 'NULL'), COALESCE(client_id, 'NULL') "
                  "FROM idempotency_keys WHERE idem_key = '%s'" % key)
    return [tuple(line.split("\t")) for line in out.splitlines()[1:]]

def audit_actions(api, cid):
    out = api.sql("SELECT action FROM client_audit WHERE client_id = '%s' ORDER BY seq" % cid)
    return out.split()[1:]

def expect_replay(r, first, what):
    """r is first's stored answer, replayed: same status, body, ETag, Location."""
    eq(r.status, first.status, "%s: replayed status" % what)
    eq(r.raw, first.raw, "%s: replayed body" % what)
    eq(r.header("ETag"), first.header("ETag"), "%s: replayed ETag" % what)
    eq(r.header("Location"), first.header("Location"), "%s: replayed Location" % what)
    eq(r.header(REPLAYED), "true", "%s: %s" % (what, REPLAYED))

def expect_fresh(r, what):
    check(r.header(REPLAYED) is None, "%s: answered as a replay: %s" % (what, r.where()))


# ---- replay -------------------------------------------------------------------------

def test_create_replayed_once(api):
    key, cid = key_of(api), api.uid()
    body = {"id": cid, "name": "Acme", "api_metadata": {"plan": "pro"}}
    first = api.post(CLIENTS, body, headers=idem(key))
    created = expect_client(first, 201)
    expect_fresh(first, "first POST")
    eq(first.header("Location"), cpath(cid), "Location")
    for i in range(2):
        again = api.post(CLIENTS, body, headers=idem(key))
        expect_replay(again, first, "repeat %d of the POST" % (i + 1))
    eq(api.fetch(cid), (created, first.header("ETag")), "the stored client is the 201's")
    eq(audit_actions(api, cid), ["create"], "audit rows: one create")
    eq(rows_of(api, key), [("201", cid)], "stored row of the key")
    # Without the key the same body is a new request: the id is taken.
    expect_error(api.post(CLIENTS, body), 409, "Conflict", [("id", "duplicate")])

def test_patch_replayed_once(api):
    c = api.create()
    key = key_of(api)
    first = api.patch(cpath(c["id"]), {"api_metadata": {"n": 1}, "name": "once"},
                      headers=idem(key))
    patched = expect_client(first)
    # Another PATCH without a key in between: the replay is still the old answer.
    api.update(c["id"], {"email": "ops@acme.example"})
    again = api.patch(cpath(c["id"]), {"api_metadata": {"n": 1}, "name": "once"},
                      headers=idem(key))
    expect_replay(again, first, "repeat of the PATCH")
    now, _ = api.fetch(c["id"])
    eq((now["name"], now["api_metadata"], now["email"]),
       (patched["name"], {"n": 1}, "ops@acme.example"), "stored client")
    eq(audit_actions(api, c["id"]), ["create", "update", "update"],
       "audit rows: the keyed PATCH once, the plain one once")

def test_rotate_keys_replayed_once(api):
    c = api.create()
    key = key_of(api)
    first = api.post(cpath(c["id"]) + "/rotate-keys", headers=idem(key))
    rotated = expect_client(first)
    check(rotated["secret_key"] != c["secret_key"], "secret_key did not change")
    again = api.post(cpath(c["id"]) + "/rotate-keys", headers=idem(key))
    expect_replay(again, first, "repeat of rotate-keys")
    eq(api.fetch(c["id"])[0]["secret_key"], rotated["secret_key"],
       "stored secret_key: rotated once")
    eq(audit_actions(api, c["id"]), ["create", "rotate_keys"], "audit rows")

def test_delete_replayed_once(api):
    # DELETE too: a soft delete, its repeat; the same key for a hard delete is
    # another request (422); a hard delete's repeat is its 200, not a 404.
    c = api.create()
    k1, k2 = key_of(api), key_of(api)
    first = api.delete(cpath(c["id"]), headers=idem(k1))
    eq((first.status, first.body), (200, {"success": True, "deleted": True, "hard": False}),
       "soft delete")
    expect_replay(api.delete(cpath(c["id"]), headers=idem(k1)), first, "repeat of the delete")
    r = api.delete(cpath(c["id"]) + "?hard=true", headers=idem(k1))
    expect_error(r, 422, "Unprocessable request", [(None, "idempotency_key_reused")])
    hard = api.delete(cpath(c["id"]) + "?hard=true", headers=idem(k2))
    eq((hard.status, hard.body), (200, {"success": True, "deleted": True, "hard": True}),
       "hard delete")
    # The same request, spelled with hard=true last and an unknown parameter.
    expect_replay(api.delete(cpath(c["id"]) + "?x=1&hard=true", headers=idem(k2)), hard,
                  "repeat of the hard delete")
    expect_error(api.get(cpath(c["id"])), 404, "Client not found")
    eq(audit_actions(api, c["id"]), ["create", "delete", "hard_delete"], "audit rows")
    eq(rows_of(api, k2), [("200", c["id"])], "stored row of the hard delete")

def test_erase_with_key_replayed(api):
    c = api.create(email="e@example.com")
    key = key_of(api)
    first = api.delete(cpath(c["id"]) + "?hard=true&erase=true", headers=idem(key))
    eq(first.status, 200, "erase: " + first.where())
    expect_replay(api.delete(cpath(c["id"]) + "?hard=true&erase=true", headers=idem(key)),
                  first, "repeat of the erase")
    # Its own answer stays (it names nobody: no client id); the erasure wrote once.
    eq(rows_of(api, key), [("200", "NULL")], "stored row of the erase")
    eq(audit_actions(api, c["id"]), ["create", "erase"], "audit rows")


def test_error_answers_replayed(api):
    # Non-5xx answers are stored too: a 404, then the client appears; the
    # repeat still gets the 404.
    key, cid = key_of(api), api.uid()
    first = api.patch(cpath(cid), {"name": "n"}, headers=idem(key))
    expect_error(first, 404, "Client not found")
    api.create(id=cid)
    again = api.patch(cpath(cid), {"name": "n"}, headers=idem(key))
    expect_replay(again, first, "repeat of the 404")
    eq(rows_of(api, key), [("404", cid)], "stored row of the 404")

def test_validation_400_replayed(api):
    key, cid = key_of(api), api.uid()
    body = {"id": cid, "name": ""}
    first = api.post(CLIENTS, body, headers=idem(key))
    eq(first.status, 400, "invalid body: " + first.where())
    again = api.post(CLIENTS, body, headers=idem(key))
    expect_replay(again, first, "repeat of the 400")
    expect_error(api.get(cpath(cid)), 404, "Client not found")


# ---- mismatch, separation, the header -----------------------------------------------

def test_same_key_other_request_422(api):
    key, cid = key_of(api), api.uid()
    first = api.post(CLIENTS, {"id": cid, "name": "a"}, headers=idem(key))
    expect_client(first, 201)
    other = api.uid()
    for method, path, body, what in (
            ("POST", CLIENTS, {"id": other, "name": "a"}, "another body"),
            ("POST", CLIENTS, {"id": cid, "name": "a "}, "one byte more"),
            ("PATCH", cpath(cid), {"id": cid, "name": "a"}, "another method and path"),
            ("POST", cpath(cid) + "/rotate-keys", None, "another path")):
        r = api.call(method, path, body, headers=idem(key))
        expect_error(r, 422, "Unprocessable request", [(None, "idempotency_key_reused")])
        check(r.body["details"][0]["message"].startswith("must "), "message: " + r.where())
    expect_error(api.get(cpath(other)), 404, "Client not found")
    eq(audit_actions(api, cid), ["create"], "audit rows after the 422s")
    # The original request still replays.
    expect_replay(api.post(CLIENTS, {"id": cid, "name": "a"}, headers=idem(key)), first,
                  "the first request after the 422s")

def test_keys_are_per_admin_key(api):
    out = api.ctl("admin-key", "create", "--name", "idem-" + api.cfg.run_id)
    other = [w for w in out.split() if w.startswith("ak_")]
    check(len(other) == 1, "no key in clientsctl's output")
    key = key_of(api)
    a, b = api.uid(), api.uid()
    first = api.post(CLIENTS, {"id": a, "name": "a"}, headers=idem(key))
    expect_client(first, 201)
    # The same key under another admin key is another key: no 422, no replay.
    r = api.post(CLIENTS, {"id": b, "name": "b"}, headers=idem(key),
                 auth="Bearer " + other[0])
    expect_client(r, 201)
    expect_fresh(r, "the same key under another admin key")
    r2 = api.post(CLIENTS, {"id": b, "name": "b"}, headers=idem(key),
                  auth="Bearer " + other[0])
    expect_replay(r2, r, "the other admin key's repeat")
    expect_replay(api.post(CLIENTS, {"id": a, "name": "a"}, headers=idem(key)), first,
                  "the first admin key's repeat")
    eq(len(rows_of(api, key)), 2, "one row per admin key")

def test_bad_header_400(api):
    cid = api.uid()
    for value in ("has space", "x" * 256, "caf\u00e9".encode("utf-8").decode("latin-1"),
                  "tab\there"):
        r = api.post(CLIENTS, {"id": cid, "name": "n"}, headers=idem(value))
        expect_error(r, 400, "Bad request", [("Idempotency-Key", "invalid_value")])
    expect_error(api.get(cpath(cid)), 404, "Client not found")
    # 255 visible characters are fine.
    r = api.post(CLIENTS, {"id": cid, "name": "n"}, headers=idem("K" * 250 + api.cfg.run_id[:5]))
    expect_client(r, 201)


# ---- a repeat while the first still runs: 409 ---------------------------------------

@pytest.mark.timeout(90)
def test_repeat_while_running_409(api):
    c = api.create()
    key = key_of(api)
    body = {"name": "held"}
    got = {}
    locker = lock_row(api, c["id"])
    try:
        t = threading.Thread(target=lambda: got.update(r=api.patch(
            cpath(c["id"]), body, headers=idem(key), timeout=40)))
        t.start()
        # The first request's marker is committed before it waits for the row.
        wait_for(lambda: rows_of(api, key) == [("NULL", c["id"])], 10,
                 "never happened: the first request's marker")
        r = api.patch(cpath(c["id"]), body, headers=idem(key))
        expect_error(r, 409, "Conflict", [(None, "idempotency_in_progress")])
        check((r.header("Retry-After") or "").isdigit(), "409 without a numeric Retry-After")
        eq(rows_of(api, key), [("NULL", c["id"])], "the marker, still the first's")
    finally:
        unlock_row(api, locker)
    t.join(40)
    first = got.get("r")
    check(first is not None, "the first PATCH never answered")
    expect_client(first)
    expect_fresh(first, "the first PATCH")
    expect_replay(api.patch(cpath(c["id"]), body, headers=idem(key)), first,
                  "a repeat after the first finished")
    eq(audit_actions(api, c["id"]), ["create", "update"], "audit rows: one update")

@pytest.mark.timeout(30)
def test_concurrent_first_requests_one_wins(api):
    # Eight identical requests at once: exactly one runs (201), the others are
    # 409 in progress or replays of it; one client, one audit row.
    key, cid = key_of(api), api.uid()
    body = {"id": cid, "name": "race"}
    barrier = threading.Barrier(8)
    out = [None] * 8

    def one(i):
        out[i] = api.post(CLIENTS, body, headers=idem(key), barrier=barrier)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    statuses = sorted(r.status for r in out)
    fresh = [r for r in out if r.status == 201 and r.header(REPLAYED) is None]
    eq(len(fresh), 1, "requests that ran (statuses %s)" % statuses)
    for r in out:
        if r.status == 201:
            eq(r.raw, fresh[0].raw, "every 201 is the one that ran")
        else:
            expect_error(r, 409, "Conflict", [(None, "idempotency_in_progress")])
    eq(audit_actions(api, cid), ["create"], "audit rows")


# ---- erasure, expiry, purge ---------------------------------------------------------

def test_erase_deletes_stored_answers(api):
    key1, key2, cid = key_of(api), key_of(api), api.uid()
    body = {"id": cid, "name": "Erika", "email": "erika@example.com"}
    first = api.post(CLIENTS, body, headers=idem(key1))
    expect_client(first, 201)
    expect_client(api.patch(cpath(cid), {"phone": "+1-555-0100"}, headers=idem(key2)))
    stored = api.sql("SELECT COUNT(*) FROM idempotency_keys WHERE client_id = '%s' "
                     "AND body LIKE '%%erika@example.com%%'" % cid).split()[-1]
    eq(stored, "2", "stored answers holding the e-mail address")
    r = api.delete(cpath(cid) + "?hard=true&erase=true")
    eq(r.status, 200, "erase: " + r.where())
    eq(api.sql("SELECT COUNT(*) FROM idempotency_keys WHERE client_id = '%s'"
               % cid).split()[-1], "0", "stored answers after the erasure")
    # The key is free again: the repeat runs anew (a new client, new keys).
    again = api.post(CLIENTS, body, headers=idem(key1))
    created = expect_client(again, 201)
    expect_fresh(again, "the repeat after the erasure")
    check(created["secret_key"] != first.data["secret_key"], "old secret_key replayed")

def test_purge_deletes_expired_rows(api):
    keys = [key_of(api) for _ in range(3)]
    for k in keys:
        expect_client(api.post(CLIENTS, {"id": api.uid(), "name": "p"}, headers=idem(k)), 201)
    # Two of them a day and a second past the default ttl (86400 s).
    api.sql("UPDATE idempotency_keys SET created_at = created_at - INTERVAL 86401 SECOND "
            "WHERE idem_key IN ('%s', '%s')" % (keys[0], keys[1]))
    out = api.ctl("purge-idempotency", "--batch", "1")
    check("deleted " in out, "purge output: " + short(out))
    check(int(out.split("deleted ")[1].split()[0]) >= 2, "rows purged: " + short(out))
    eq([len(rows_of(api, k)) for k in keys], [0, 0, 1], "rows left per key")


# ---- copies of clientsd with their own config: short ttl, 5xx -------------------------

def spawn(api, tmp, name, settings):
    """A copy of clientsd in spawned mode (as mod_fcgid runs it) on its own socket,
    with settings [(section, key, value)] over the suite's config; returns
    (process, socket path, stderr path)."""
    path = os.path.join(tmp, "clientsd-%s.conf" % name)
    write_private(path, conf_with(api.cfg.conf, {(sec, k): v for sec, k, v in settings}))
    sock = os.path.join(tmp, "%s.sock" % name)
    errpath = os.path.join(tmp, "%s.stderr" % name)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=1").lstrip(":")
    proc = spawned(api.cfg.bin, path, sock, errpath, env)
    check(fcgikit.wait_answering(sock, 10), "the copy of clientsd never answered")
    return proc, sock, errpath

def stop(proc, errpath):
    rc, err = stop_spawned(proc, errpath)
    check("Sanitizer" not in err, "sanitizer report: " + short(err, 600))
    eq(rc, 0, "exit status of the copy (stderr: %s)" % short(err, 300))

def fcgi(api, sock, method, uri, body=None, key=None, timeout=15):
    headers = {"Authorization": "Bearer " + api.cfg.admin_key}
    if key is not None:
        headers["Idempotency-Key"] = key
    return fcgikit.call(sock, method, uri, body, headers, timeout=timeout)

@pytest.mark.timeout(40)
def test_short_ttl_expires(api):
    key, cid = key_of(api), api.uid()
    body = {"id": cid, "name": "short"}
    with tempfile.TemporaryDirectory() as tmp:
        proc, sock, errpath = spawn(api, tmp, "ttl", [("api", "idempotency_ttl_s", "2")])
        try:
            first = fcgi(api, sock, "POST", CLIENTS, body, key)
            eq(first.status, 201, "first POST: " + first.where())
            again = fcgi(api, sock, "POST", CLIENTS, body, key)
            eq((again.status, again.raw, again.headers.get("idempotent-replayed")),
               (201, first.raw, "true"), "a repeat within the ttl")
            time.sleep(2.5)
            # Expired: the key is taken anew and the request runs again (the id
            # exists now: 409 duplicate), and that answer is the one stored.
            late = fcgi(api, sock, "POST", CLIENTS, body, key)
            eq((late.status, late.headers.get("idempotent-replayed")), (409, None),
               "a repeat after the ttl: " + late.where())
            eq(late.body["details"][0]["code"], "duplicate", "the 409's code")
            eq(rows_of(api, key), [("409", cid)], "the row, replaced")
        finally:
            stop(proc, errpath)
    eq(audit_actions(api, cid), ["create"], "audit rows: one create")

@pytest.mark.timeout(60)
def test_answer_5xx_not_stored(api):
    # The first PATCH waits on a locked row until its deadline passes (request
    # timeout 3 s on this copy): 503, its marker deleted.  The repeat, once
    # the row is free, runs (200), and that answer is stored.
    c = api.create(name="before")
    key = key_of(api)
    with tempfile.TemporaryDirectory() as tmp:
        proc, sock, errpath = spawn(api, tmp, "deadline",
                                    [("server", "request_timeout", "3")])
        try:
            locker = lock_row(api, c["id"])
            try:
                r = fcgi(api, sock, "PATCH", cpath(c["id"]), {"name": "after"}, key,
                         timeout=30)
                eq(r.status, 503, "PATCH past its deadline: " + r.where())
                check(r.headers.get("retry-after", "").isdigit(), "503 without Retry-After")
                eq(rows_of(api, key), [], "rows of the key after the 503")
            finally:
                unlock_row(api, locker)
            again = fcgi(api, sock, "PATCH", cpath(c["id"]), {"name": "after"}, key)
            eq((again.status, again.headers.get("idempotent-replayed")), (200, None),
               "the repeat after the 503: " + again.where())
            eq(again.body["data"]["name"], "after", "name")
        finally:
            stop(proc, errpath)
    eq(rows_of(api, key), [("200", c["id"])], "the 200, stored")
    eq(audit_actions(api, c["id"]), ["create", "update"], "audit rows")
