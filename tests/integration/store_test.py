"""store_test.py - black-box HTTP tests of the data layer's hardening (errors
classified by number, numbers that round-trip) and of its deadline.

Duplicates named by the key MariaDB reports (not by the client's value), numbers
that round-trip, valid JSON that Jansson cannot hold answered as a validation
problem, a locked row answered 503 + Retry-After within the lock-wait budget,
and a COMMIT that fails (an LD_PRELOAD shim around mysql_commit, driving a copy of
the real clientsd on its own FastCGI socket) leaving no leak and no write.
Through nginx and Apache + mod_fcgid, in both runs.
"""

import json
import os
import subprocess
import tempfile
import time

import pytest

import fcgikit
from apikit import (CLIENTS, check, cpath, eq, expect_client, expect_error, expect_invalid,
                    lock_row, short, unlock_row)
from poolkit import (build_shim, conf_with, preload_env, spawned, stop_spawned,
                     write_private)

pytestmark = [pytest.mark.setups(["nginx", "apache-fcgid"], sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(200)]

HERE = os.path.dirname(os.path.abspath(__file__))
META_LIMIT = 16384


def hard_delete(api, cid):
    r = api.delete(cpath(cid) + "?hard=true")
    check(r.status in (200, 404), "hard delete of %s: %s" % (cid, r.where()))

def expect_unavailable(r):
    expect_error(r, 503, "Service unavailable")
    check((r.header("Retry-After") or "").isdigit(),
          "503 without a numeric Retry-After: %r" % r.header("Retry-After"))


# ---- duplicates: by the key MariaDB names, never by the value --------------------

def create_twice(api, body):
    """POST body twice: the first 201, the second 409; returns (first, second)."""
    first = expect_client(api.post(CLIENTS, body), 201)
    again = api.post(CLIENTS, body)
    return first, again

def exact_id(api, cid):
    """The exact id the issue names; removed first so that reruns start clean."""
    hard_delete(api, cid)
    return cid

def test_duplicate_id_ending_in_key(api):
    # The value used to end the message in "_key'": a fake deadlock, then 503.
    for cid in (exact_id(api, "x_key"), api.uid() + "_key", api.uid() + "_publishable_key"):
        t0 = time.monotonic()
        first, again = create_twice(api, {"id": cid, "name": "dup"})
        expect_invalid_conflict(again, [("id", "duplicate")])
        eq(api.fetch(cid)[0], first, "client %s after the 409" % cid)

def expect_invalid_conflict(r, details):
    expect_error(r, 409, "Conflict", details)

def test_duplicate_id_named_like_a_key(api):
    # The value used to contain "uq_clients_domain": a 409 naming domain.
    for cid in (exact_id(api, "uq_clients_domain"), exact_id(api, "uq_clients_global_name"),
                api.uid("uq_clients_domain")):
        first, again = create_twice(api, {"id": cid, "name": "dup"})
        expect_invalid_conflict(again, [("id", "duplicate")])
        eq(api.fetch(cid)[0], first, "client %s after the 409" % cid)

def test_duplicate_values_that_look_like_messages(api):
    # A domain/global_name whose text mentions other keys still names its member.
    dom = "uq-clients-global-name-%s.example" % api.cfg.run_id
    gname = "PRIMARY_%s_key" % api.cfg.run_id
    api.create(domain=dom, global_name=gname)
    expect_invalid_conflict(api.post(CLIENTS, {"id": api.uid(), "name": "n", "domain": dom}),
                            [("domain", "duplicate")])
    expect_invalid_conflict(api.post(CLIENTS, {"id": api.uid(), "name": "n",
                                               "global_name": gname}),
                            [("global_name", "duplicate")])
    other = api.create()["id"]
    r = api.patch(cpath(other), {"global_name": gname})
    expect_invalid_conflict(r, [("global_name", "duplicate")])

def test_duplicate_every_member_named(api):
    # id, domain and global_name all taken (by two other clients): one 409 naming each,
    # in the order of the client object's members.
    a = api.create(domain="a-%s.example" % api.cfg.run_id)
    b = api.create(global_name="g_%s_b" % api.cfg.run_id)
    r = api.post(CLIENTS, {"id": a["id"], "name": "n", "domain": a["domain"],
                           "global_name": b["global_name"]})
    expect_invalid_conflict(r, [("id", "duplicate"), ("domain", "duplicate"),
                                ("global_name", "duplicate")])
    c = api.create()
    r = api.patch(cpath(c["id"]), {"domain": a["domain"], "global_name": b["global_name"]})
    expect_invalid_conflict(r, [("domain", "duplicate"), ("global_name", "duplicate")])
    eq(api.fetch(c["id"])[0], c, "client after the 409")


# ---- numbers and depth in api_metadata -------------------------------------------

def raw_member(r, name):
    """The text of data.api_metadata's member name in the raw response body."""
    text = r.raw.decode()
    key = '"%s":' % name
    i = text.index(key) + len(key)
    j = i
    while text[j] not in ",}]":
        j += 1
    return text[i:j]

def test_numbers_round_trip_shortest(api):
    meta = ('{"a":0.1,"b":1e300,"c":-2.5e-8,"d":123456.789,"e":1.0,'
            '"i":9223372036854775807,"j":-9223372036854775808,"k":12345678901234567,'
            '"z":0.30000000000000004}')
    cid = api.uid()
    body = '{"id":"%s","name":"n","api_metadata":%s}' % (cid, meta)
    want = {"a": "0.1", "b": "1e300", "c": "-2.5e-8", "d": "123456.789", "e": "1.0",
            "i": "9223372036854775807", "j": "-9223372036854775808",
            "k": "12345678901234567", "z": "0.30000000000000004"}
    for r in (api.post(CLIENTS, body), api.get(cpath(cid))):
        expect_client(r, 201 if r.method == "POST" else 200)
        got = {k: raw_member(r, k) for k in want}
        eq(got, want, "numbers as written by " + r.method)
    r = api.patch(cpath(cid), '{"api_metadata":{"a":0.2,"n":{"x":[0.1,1e-7]}}}')
    expect_client(r)
    eq(raw_member(r, "a"), "0.2", "PATCHed 0.2")
    check('"x":[0.1,1e-7]' in r.raw.decode(), "nested reals: " + short(r.raw.decode()))
    # What the database holds is the same shortest text.
    out = api.sql("SELECT api_metadata FROM clients WHERE id = '%s'" % cid)
    check('0.1' in out and '0.10000000000000001' not in out, "stored text: " + short(out))

def test_metadata_size_counts_the_shortest_form(api):
    # 1,300 members of 0.1: 15,601 bytes written shortest, 36,401 with %.17g.
    meta = "{" + ",".join('"k%04d":0.1' % i for i in range(1300)) + "}"
    n = len(meta)
    check(n <= META_LIMIT < n + 1300 * 16, "test's own arithmetic: %d" % n)
    cid = api.uid()
    r = api.post(CLIENTS, '{"id":"%s","name":"n","api_metadata":%s}' % (cid, meta))
    expect_client(r, 201)
    eq(len(r.data["api_metadata"]), 1300, "members stored")

def expect_meta_problem(api, cid, meta_text, code):
    before, etag = api.fetch(cid)
    r = api.patch(cpath(cid), '{"api_metadata":%s}' % meta_text)
    try:
        expect_invalid(r, ("api_metadata", code))
    except AssertionError as e:
        raise AssertionError("%s: %s" % (short(meta_text, 60), e))
    now, etag2 = api.fetch(cid)
    eq((now, etag2), (before, etag), "client after a rejected api_metadata")

def test_metadata_out_of_range_numbers(api):
    cid = api.create()["id"]
    # Beyond a double's normal range either way: 1e-400 would be kept as 0,
    # 4.9e-324 with fewer digits than sent.
    for text in ('{"a":9223372036854775808}', '{"a":-9223372036854775809}',
                 '{"a":1e400}', '{"a":-1e400}', '{"a":[1,{"b":1E+999}]}',
                 '{"a":123456789012345678901234567890}', '{"a":1e-400}',
                 '{"a":[4.9e-324]}'):
        expect_meta_problem(api, cid, text, "invalid_value")
    # Zero written small is zero, kept.
    r = api.patch(cpath(cid), '{"api_metadata":{"t":0e-400}}')
    expect_client(r)
    eq(r.data["api_metadata"]["t"], 0.0, "0e-400")
    # On create too, and the client is not created.
    nid = api.uid()
    r = api.post(CLIENTS, '{"id":"%s","name":"n","api_metadata":{"a":1e400}}' % nid)
    expect_invalid(r, ("api_metadata", "invalid_value"))
    expect_error(api.get(cpath(nid)), 404, "Client not found")

def deep(n):
    """A JSON value nested n levels (arrays)."""
    return "[" * n + "]" * n

def test_metadata_nested_past_the_body_limit(api):
    cid = api.create()["id"]
    for n in (64, 65, 100, 3000, 20000):
        expect_meta_problem(api, cid, '{"a":%s}' % deep(n), "too_deep")

def test_other_members_out_of_range_or_deep(api):
    c = api.create()
    cid = c["id"]
    r = api.patch(cpath(cid), '{"name":1e400,"status":99999999999999999999,"email":%s}'
                  % deep(100))
    expect_invalid(r, ("name", "invalid_type"), ("status", "invalid_type"),
                   ("email", "invalid_type"))
    r = api.patch(cpath(cid), '{"nosuch":1e400}')
    expect_invalid(r, ("nosuch", "unknown_field"))
    r = api.patch(cpath(cid), '{"nosuch":%s}' % deep(80))
    expect_invalid(r, ("nosuch", "unknown_field"))
    eq(api.fetch(cid)[0], c, "client after rejected bodies")

def test_invalid_json_stays_invalid(api):
    # Out-of-range numbers or depth do not make broken JSON acceptable.
    c = api.create()
    for body in ('{"api_metadata":{"a":1e400},}', '{"api_metadata":{"a":1e400}',
                 '{"api_metadata":{"a":1e400,"a":1}}', '{"api_metadata":{"a":1e400},"x":"\\u0000"}',
                 '{"api_metadata":%s,}' % deep(100), '{"api_metadata":[%s}' % deep(70),
                 '{"api_metadata":{"a":01e400}}', '{"api_metadata":{"a":1e}}',
                 '{"a":%s' % deep(100), '[%s]' % deep(100)):
        r = api.patch(cpath(c["id"]), body)
        try:
            expect_error(r, 400, "Invalid JSON", None if "details" not in r.body else
                         [(None, "invalid_json")])
        except AssertionError as e:
            raise AssertionError("body %s: %s" % (short(body, 50), e))
    eq(api.fetch(c["id"])[0], c, "client after invalid JSON")


# ---- a locked row: 503 + Retry-After within the lock-wait budget -----------------

def timed_503(path, method, uri, body, headers, low, high, what):
    t0 = time.monotonic()
    status, out = fcgi_request(path, method, uri, body, headers, timeout=40)
    took = time.monotonic() - t0
    eq(status, 503, "%s on a locked row: %s" % (what, short(out)))
    check(low <= took <= high, "%s: 503 after %.1f s (expected %.1f-%.1f s)"
          % (what, took, low, high))

@pytest.mark.timeout(90)
def test_locked_row_answers_503_in_time(api):
    # Conflict retries are bounded by the request's deadline, and
    # [database] retries is only a cap within it.  Two copies of clientsd on
    # their own sockets (the shim preloaded but idle), lock_wait_timeout = 2
    # (the test config): with request_timeout = 6 and the default cap (10),
    # the deadline ends it (6 s minus the 1 s margin); with retries = 1 the
    # cap does (two waits of 2 s).
    c = api.create(name="before")
    cid = c["id"]
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key,
            "CONTENT_TYPE": "application/json"}
    bare = {"HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"]}
    locker = lock_row(api, cid)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            so = build_shim(tmp)
            for conf, low, high in ((("server", "request_timeout", "6"), 3.5, 5.8),
                                    (("database", "retries", "1"), 3.5, 7.0)):
                proc, path, errpath = spawn_clientsd(api, tmp, so, "none-" + conf[1],
                                                     conf_set=[conf])
                try:
                    what = "%s = %s" % conf[1:]
                    timed_503(path, "PATCH", cpath(cid), b'{"name":"while locked"}', auth,
                              low, high, "PATCH, " + what)
                    timed_503(path, "POST", cpath(cid) + "/rotate-keys", b"", bare,
                              low, high, "rotate-keys, " + what)
                finally:
                    rc, err = stop_spawned(proc, errpath)
                check("LeakSanitizer" not in err and "AddressSanitizer" not in err,
                      "sanitizer report: " + short(err, 600))
    finally:
        unlock_row(api, locker)
    now, _ = api.fetch(cid)
    eq(now, c, "client after the 503s (nothing written)")
    eq(expect_client(api.patch(cpath(cid), {"name": "after"}))["name"], "after", "name")


# ---- COMMIT failing: an LD_PRELOAD shim around mysql_commit ----------------------

def fcgi_request(path, method, uri, body, headers, timeout=30):
    """One FastCGI request to the Unix socket at path, with the FastCGI
    parameters headers: returns (status, body)."""
    r = fcgikit.Request(path, timeout)
    r.send_params(method, uri, body_length=len(body), params=dict(
        {"QUERY_STRING": "", "SCRIPT_NAME": "", "PATH_INFO": uri}, **headers))
    r.send_body(body)
    a = r.answer()
    return a.status, a.raw

def spawn_clientsd(api, tmp, so, mode, extra_env=None, conf_set=()):
    """A copy of the real clientsd in spawned mode (as mod_fcgid runs it) on its own
    socket, with the shim preloaded (SHIM_COMMIT=mode; a mode it does not know leaves
    COMMIT alone) and conf_set's (section, key, value) settings; returns (process,
    socket path, stderr path)."""
    conf = api.cfg.conf
    conf_set = list(conf_set)
    if extra_env and "SHIM_KEYDUP" in extra_env:
        # The shim writes its file from inside the worker: the seccomp
        # sandbox (lib/sandbox/sandbox.c) would kill it for that, as it should.
        conf_set.append(("server", "sandbox", "none"))
    if conf_set:
        conf = os.path.join(tmp, "clientsd-%s.conf" % mode)
        write_private(conf, conf_with(api.cfg.conf, {(section, key): value
                                                     for section, key, value in conf_set}))
    path = os.path.join(tmp, "s-%s.sock" % mode)
    errpath = os.path.join(tmp, "stderr-%s.log" % mode)
    env = dict(os.environ, SHIM_COMMIT=mode, **preload_env(so, "detect_leaks=1"),
               **(extra_env or {}))
    return spawned(api.cfg.bin, conf, path, errpath, env), path, errpath

@pytest.mark.timeout(90)
def test_commit_failure_leaves_no_leak(api):
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key,
            "CONTENT_TYPE": "application/json"}
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        fences = fence_count(api)
        # 1. The connection drops before COMMIT: 503, nothing written, nothing leaked.
        proc, path, errpath = spawn_clientsd(api, tmp, so, "drop")
        try:
            cid = api.uid("leak")
            status, body = fcgi_request(path, "POST", CLIENTS,
                                        json.dumps({"id": cid, "name": "n"}).encode(), auth)
            eq(status, 503, "POST with the connection dropped before COMMIT: %s" % short(body))
            c = api.create(name="patched")
            status, body = fcgi_request(path, "PATCH", cpath(c["id"]),
                                        b'{"name":"lost"}', auth)
            eq(status, 503, "PATCH with the connection dropped before COMMIT")
            status, body = fcgi_request(path, "POST", cpath(c["id"]) + "/rotate-keys", b"",
                                        {"HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"]})
            eq(status, 503, "rotate-keys with the connection dropped before COMMIT")
        finally:
            rc, err = stop_spawned(proc, errpath)
        check("LeakSanitizer" not in err and "AddressSanitizer" not in err,
              "sanitizer report after COMMIT failed: " + short(err, 600))
        eq(rc, 0, "clientsd exit status (stderr: %s)" % short(err, 300))
        # Each write's token was looked up, not found and fenced, and the
        # write run once more with a new token (and dropped again, that token
        # fenced too): three reruns, no more, and a fence for each attempt.
        eq(err.count("running it once more"), 3, "reruns after a dropped COMMIT: "
           + short(err, 600))
        eq(err.count("and never will (its token fenced)"), 6,
           "fenced tokens after dropped COMMITs: " + short(err, 600))
        if api.cfg.sql:
            eq(fence_count(api), fences + 6, "fence rows in the history table")
        expect_error(api.get(cpath(cid)), 404, "Client not found")
        eq(api.fetch(c["id"])[0], c, "client after the lost PATCH and rotation")
        if api.cfg.sql:
            # Each was run once more after its COMMIT dropped (no token found),
            # and dropped again: nothing of either attempt is in the history.
            eq(audit_rows(api, cid), [], "audit rows of the create that never committed")
            eq(audit_rows(api, c["id"]), [("create", "1")],
               "audit rows of the client whose PATCH and rotation never committed")
        # 2. COMMIT answers 1213 once (a Galera certification failure): the job runs
        #    again and its first result is freed.
        proc, path, errpath = spawn_clientsd(api, tmp, so, "deadlock")
        try:
            cid = api.uid("leak")
            status, body = fcgi_request(path, "POST", CLIENTS,
                                        json.dumps({"id": cid, "name": "n"}).encode(), auth)
            eq(status, 201, "POST after a 1213 at COMMIT: %s" % short(body))
            status, body = fcgi_request(path, "PATCH", cpath(cid), b'{"name":"again"}', auth)
            eq(status, 200, "PATCH after a 1213 at COMMIT: %s" % short(body))
        finally:
            rc, err = stop_spawned(proc, errpath)
        check("LeakSanitizer" not in err and "AddressSanitizer" not in err,
              "sanitizer report after a 1213 at COMMIT: " + short(err, 600))
        eq(rc, 0, "clientsd exit status (stderr: %s)" % short(err, 300))
        d, _ = api.fetch(cid)
        eq(d["name"], "again", "name after the retried PATCH")
        audit = api.get(cpath(cid) + "/audit")
        eq(audit.body["count"], 2, "audit rows (one create, one update: no double write)")


def fence_count(api):
    """The fences in client_audit: rows of no client that claim a token whose
    COMMIT was lost and not found (lib/db/store_tx.c); 0 without SQL access."""
    if not api.cfg.sql:
        return 0
    return int(api.sql("SELECT COUNT(*) FROM client_audit WHERE action = 'fence' "
                       "AND client_id = '' AND tx_token IS NOT NULL").split()[-1])

def audit_rows(api, cid):
    """(action, has a token) of each audit row of cid, oldest first, from the database."""
    out = api.sql("SELECT action, tx_token IS NOT NULL FROM client_audit "
                  "WHERE client_id = '%s' ORDER BY seq" % cid)
    return [tuple(line.split("\t")) for line in out.splitlines()[1:]]

def tokens_unique(api, cid):
    out = api.sql("SELECT COUNT(*), COUNT(DISTINCT tx_token) FROM client_audit "
                  "WHERE client_id = '%s'" % cid).split()
    eq(out[-2], out[-1], "audit rows of %s and their distinct tokens" % cid)

@pytest.mark.timeout(90)
def test_commit_answer_lost_is_resolved_by_token(api):
    # Every COMMIT reaches the server and commits, then the
    # connection is cut before the answer is read (SHIM_COMMIT=lost).  The
    # worker reconnects, finds the transaction's token in its audit row and
    # answers what committed: no 503, no second write.  Then "droplost": the
    # first COMMIT of each request is dropped before it reaches the server
    # (nothing committed, no token: run once more), the rerun's commits and
    # its answer is lost (token found).  Then "lostunseen": as "lost", but the
    # first lookup of the token reads no row (as a Galera node does that
    # applies a departed node's write set just after that read): the fence
    # finds the token taken, and the next lookup finds the write.
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key,
            "CONTENT_TYPE": "application/json"}
    bare = {"HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"]}
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        for mode in ("lost", "droplost", "lostunseen"):
            fences = fence_count(api)
            proc, path, errpath = spawn_clientsd(api, tmp, so, mode)
            try:
                cid = api.uid(mode)
                status, body = fcgi_request(path, "POST", CLIENTS,
                                            json.dumps({"id": cid, "name": "n"}).encode(), auth)
                eq(status, 201, "%s: POST whose COMMIT answer was lost: %s" % (mode, short(body)))
                created = json.loads(body)["data"]
                eq(api.fetch(cid)[0], created, "%s: the 201's client is what the database holds"
                   % mode)
                status, body = fcgi_request(path, "PATCH", cpath(cid),
                                            b'{"name":"once","api_metadata":{"k":1}}', auth)
                eq(status, 200, "%s: PATCH whose COMMIT answer was lost: %s" % (mode, short(body)))
                patched = json.loads(body)["data"]
                eq(api.fetch(cid)[0], patched, "%s: the 200's client is what the database holds"
                   % mode)
                status, body = fcgi_request(path, "POST", cpath(cid) + "/rotate-keys", b"", bare)
                eq(status, 200, "%s: rotate-keys whose COMMIT answer was lost: %s"
                   % (mode, short(body)))
                rotated = json.loads(body)["data"]
                eq(api.fetch(cid)[0], rotated, "%s: the rotated keys are the stored ones" % mode)
                check(rotated["secret_key"] != patched["secret_key"], "keys did not change")
                status, body = fcgi_request(path, "DELETE", cpath(cid) + "?hard=true", b"",
                                            dict(bare, QUERY_STRING="hard=true"))
                eq(status, 200, "%s: hard delete whose COMMIT answer was lost: %s"
                   % (mode, short(body)))
            finally:
                rc, err = stop_spawned(proc, errpath)
            check("LeakSanitizer" not in err and "AddressSanitizer" not in err,
                  "sanitizer report (%s): %s" % (mode, short(err, 600)))
            eq(rc, 0, "clientsd exit status (stderr: %s)" % short(err, 300))
            expect_error(api.get(cpath(cid)), 404, "Client not found")
            # Exactly one of each write, each with its own token: nothing ran twice.
            eq(audit_rows(api, cid), [("create", "1"), ("update", "1"), ("rotate_keys", "1"),
                                      ("hard_delete", "1")], "%s: audit rows" % mode)
            tokens_unique(api, cid)
            check("token found" in err, "%s: no log line of the token lookup: %s"
                  % (mode, short(err, 400)))
            if mode == "droplost":
                check("running it once more" in err, "droplost: no log line of the rerun: %s"
                      % short(err, 400))
            if mode == "lostunseen":
                check("token was taken when fenced" in err, "lostunseen: the fence did not find the "
                      "token taken: %s" % short(err, 400))
            # A fence for each dropped first COMMIT, none where the token was found;
            # the feed shows the four writes and nothing of the fences.
            if api.cfg.sql:
                eq(fence_count(api), fences + (4 if mode == "droplost" else 0),
                   "%s: fence rows" % mode)
            r = api.get("/api/v1/events?limit=20&client_id=" + cid)
            eq([e["type"] for e in r.body["data"]], ["client.created", "client.updated",
                                                    "client.keys_rotated", "client.deleted"],
               "%s: the client's events" % mode)


@pytest.mark.timeout(90)
def test_commit_nobody_can_settle_says_so(api):
    """COMMIT dropped, and every lookup of its token loses its connection
    too (SHIM_COMMIT=dropblind): no node can tell in time whether the write
    committed.  The 503 says so (details: outcome_unknown), unlike every
    other 503, which means nothing was written."""
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key,
            "CONTENT_TYPE": "application/json"}
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        c = api.create(name="blind")
        proc, path, errpath = spawn_clientsd(api, tmp, so, "dropblind")
        try:
            status, body = fcgi_request(path, "PATCH", cpath(c["id"]),
                                        b'{"name":"unsettled"}', auth, timeout=60)
        finally:
            rc, err = stop_spawned(proc, errpath)
        eq(status, 503, "PATCH whose COMMIT nobody could settle: %s" % short(body))
        b = json.loads(body)
        eq((b["error"], [(d["field"], d["code"]) for d in b.get("details", [])]),
           ("Service unavailable", [(None, "outcome_unknown")]), "the 503's body")
        check(b["details"][0]["message"].startswith("must "), "the message: %r"
              % b["details"][0]["message"])
        check("no node could tell in time" in err, "no log line of the unsettled COMMIT: "
              + short(err, 400))
        eq(rc, 0, "clientsd exit status (stderr: %s)" % short(err, 300))
        # Here nothing had committed (the shim dropped the COMMIT before the server
        # saw it): the client is as it was.
        eq(api.fetch(c["id"])[0], c, "the client after the unsettled PATCH")


@pytest.mark.timeout(60)
def test_commit_settled_after_the_deadline(api):
    """COMMIT commits and its answer is lost, and the lookup of its token
    gets no answer until after the request's deadline
    (SHIM_COMMIT=lostslow), as on a cluster that commits nothing until a
    failed node is evicted.  Settling may go on for half of request_timeout
    past the deadline: the answer is the write's own 200, late and true,
    not a 503 that cannot say whether the write was made."""
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key,
            "CONTENT_TYPE": "application/json"}
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        c = api.create(name="slow")
        proc, path, errpath = spawn_clientsd(api, tmp, so, "lostslow",
                                             {"SHIM_LOOK_WAIT_MS": "4000"},
                                             [("server", "request_timeout", "4")])
        try:
            t0 = time.monotonic()
            status, body = fcgi_request(path, "PATCH", cpath(c["id"]),
                                        b'{"name":"settled late"}', auth, timeout=30)
            took = time.monotonic() - t0
        finally:
            rc, err = stop_spawned(proc, errpath)
        eq(status, 200, "PATCH whose token lookup answered after the deadline: %s"
           % short(body))
        eq(json.loads(body)["data"]["name"], "settled late", "the PATCH's answer")
        # request_timeout 4, the lookup answers 4 s after COMMIT: past the
        # deadline, before its end plus the 2 s settling may take.
        check(4.0 <= took <= 5.5, "the PATCH took %.1f s (request_timeout 4, settling "
              "up to 2 s more)" % took)
        check("had committed (token found)" in err, "no log line of the settled COMMIT: "
              + short(err, 400))
        eq(rc, 0, "clientsd exit status (stderr: %s)" % short(err, 300))
        eq(api.fetch(c["id"])[0]["name"], "settled late", "the client after the PATCH")


@pytest.mark.timeout(60)
def test_read_aborted_while_fetching_runs_again(api):
    """A read's row fetch fails the way Connector/C reports a Galera
    brute-force abort arriving mid-result (SHIM_FETCH=abort): the
    statement's own error is empty and 1213 is on the connection.  The
    read is a conflict and runs again: the GET answers 200 with the client,
    where it answered 500 ("database fetch:  (0)")."""
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key}
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        c = api.create(name="fetched")
        proc, path, errpath = spawn_clientsd(api, tmp, so, "none-fetch",
                                             {"SHIM_FETCH": "abort"})
        try:
            status, body = fcgi_request(path, "GET", cpath(c["id"]), b"", auth)
        finally:
            rc, err = stop_spawned(proc, errpath)
        eq(status, 200, "GET whose first fetch was aborted: %s" % short(body))
        eq(json.loads(body)["data"], c, "the client read again")
        check("database fetch: Deadlock found when trying to get lock" in err and
              "(1213)" in err, "no log line of the aborted fetch: " + short(err, 400))
        eq(rc, 0, "clientsd exit status (stderr: %s)" % short(err, 300))


@pytest.mark.timeout(60)
def test_version_checked_writes_run_again(api):
    # The UPDATE and DELETE carry the version the transaction
    # read.  The shim (SHIM_VERSION=bump) bumps the version on the same
    # connection just before the first of each, as a write through another
    # Galera node would: the write matches no row, the transaction runs again
    # from its read (its rollback undid the bump) and succeeds, once.
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key,
            "CONTENT_TYPE": "application/json"}
    c = api.create(name="v1")
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        proc, path, errpath = spawn_clientsd(api, tmp, so, "none-version",
                                             {"SHIM_VERSION": "bump"})
        try:
            status, body = fcgi_request(path, "PATCH", cpath(c["id"]), b'{"name":"v2"}', auth)
            eq(status, 200, "PATCH after a version miss: %s" % short(body))
            patched = json.loads(body)["data"]
            eq(api.fetch(c["id"])[0], patched, "the 200's client is the stored one")
            status, body = fcgi_request(path, "DELETE", cpath(c["id"]), b"",
                                        {"HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"],
                                         "QUERY_STRING": "hard=true"})
            eq(status, 200, "hard DELETE after a version miss: %s" % short(body))
        finally:
            rc, err = stop_spawned(proc, errpath)
        check("LeakSanitizer" not in err and "AddressSanitizer" not in err,
              "sanitizer report: " + short(err, 600))
        check("shim: bump failed" not in err, "the shim's bump: " + short(err, 400))
        eq(err.count("changed since it was read"), 2, "version misses logged: " + short(err, 600))
    expect_error(api.get(cpath(c["id"])), 404, "Client not found")
    eq(audit_rows(api, c["id"]), [("create", "1"), ("update", "1"), ("hard_delete", "1")],
       "audit rows: one per write")
    out = api.sql("SELECT changes FROM client_audit WHERE client_id = '%s' AND action = 'update'"
                  % c["id"])
    check('"old":"v1"' in out and '"new":"v2"' in out, "update's audit row: " + short(out))


@pytest.mark.timeout(60)
def test_generated_key_collision_draws_new_keys(api):
    # A generated key that collides reruns the transaction with NEW keys: on
    # create and on rotate-keys (which used to draw them outside the retry).
    auth = {"HTTP_AUTHORIZATION": "Bearer " + api.cfg.admin_key,
            "CONTENT_TYPE": "application/json"}
    c = api.create()
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        # The worker drops to the configured user: it must reach the file.
        os.chmod(tmp, 0o755)
        keyfile = os.path.join(tmp, "collided")
        with open(keyfile, "w"):
            pass
        os.chmod(keyfile, 0o666)
        proc, path, errpath = spawn_clientsd(api, tmp, so, "none", {"SHIM_KEYDUP": keyfile})
        try:
            cid = api.uid()
            status, body = fcgi_request(path, "POST", CLIENTS,
                                        json.dumps({"id": cid, "name": "n"}).encode(), auth)
            eq(status, 201, "POST after a generated key collided: %s" % short(body))
            created = json.loads(body)["data"]
            status, body = fcgi_request(path, "POST", cpath(c["id"]) + "/rotate-keys", b"",
                                        {"HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"]})
            eq(status, 200, "rotate-keys after a generated key collided: %s" % short(body))
            rotated = json.loads(body)["data"]
        finally:
            rc, err = stop_spawned(proc, errpath)
        check("LeakSanitizer" not in err and "AddressSanitizer" not in err,
              "sanitizer report: " + short(err, 600))
        with open(keyfile) as f:
            collided = f.read().split()
        eq(len(collided), 2, "collisions the shim made (%s)" % collided)
        check(created["secret_key"] != collided[0],
              "create reused the secret key that collided: %s" % collided[0])
        check(rotated["secret_key"] != collided[1],
              "rotate-keys reused the secret key that collided: %s" % collided[1])
        check(rotated["secret_key"] != c["secret_key"], "rotate-keys kept the old key")
        eq(api.fetch(c["id"])[0]["secret_key"], rotated["secret_key"], "stored secret_key")
        eq(api.get(cpath(cid) + "/audit").body["count"], 1, "audit rows of the create")
        eq(api.get(cpath(c["id"]) + "/audit").body["count"], 2, "audit rows: create, rotate")
