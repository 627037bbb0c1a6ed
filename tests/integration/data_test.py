"""data_test.py - data stewardship through the real service:
erasure, audit retention, backup and restore.

Runs through every web server set-up (the sanitizer run: nginx and Apache
+ mod_fcgid); measurements are "info" lines.  The slow tests (retention on
100,000 audit rows, the backup round trip, ~25 s) run once: through nginx
in the plain run (cfg.heavy).
"""

import os
import re
import shlex
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import kit
from apikit import (Api, Config, check, cpath, eq, expect_client, expect_error, expect_list,
                    expect_status, short)

pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(400)]

ERASED = "<erased>"
# The members erasure overwrites (doc/api-guide.md, "Erasure"); the others are kept.
PERSONAL = ("name", "domain", "email", "phone", "website", "global_name", "company_id",
            "api_metadata", "ghl_location_id", "proxy_api_key")
KEPT = ("id", "status", "publishable_key", "secret_key", "timezone", "agency_id")


def info(api, text):
    kit.info(api.cfg.label, "%s: %s" % (api.test, text))


def heavy(api):
    """The slow tests run once (cfg.heavy: through nginx in the plain run)."""
    if not api.cfg.heavy:
        pytest.skip("a heavy test: once, through nginx in the plain run")


def run(command, *args, stdin=None, timeout=120, ok=True):
    """Runs a command line given as an option, with more arguments."""
    p = subprocess.run(shlex.split(command) + list(args), input=stdin, capture_output=True,
                       text=True, timeout=timeout)
    if ok:
        check(p.returncode == 0, "%s %s exited %d: %s" % (command, " ".join(args),
                                                          p.returncode, short(p.stderr, 600)))
    return p


def dump(api):
    """The whole database as mariadb-dump --single-transaction writes it."""
    return run(api.cfg.dump).stdout


def token(api):
    """A distinctive lowercase word: every personal value of a test holds it,
    nothing else in the database does."""
    return "zq" + api.uid("").replace("_", "")


def personal_body(tok, cid):
    return {"id": cid, "name": "Erasa Persona %s" % tok,
            "email": "erasa.%s@mail-%s.example" % (tok, tok),
            "phone": "+49 30 %07d" % (int(tok[-6:], 16) % 10000000),
            "website": "https://www.%s.example/home" % tok, "domain": "%s.example" % tok,
            "global_name": "gn_%s" % tok, "company_id": "co_%s" % tok,
            "ghl_location_id": "ghl_%s" % tok,
            "api_metadata": {"home_address": "%s Street 12" % tok, "plan": "pro"},
            "proxy_api_key": "pxk_%s" % tok,
            "timezone": "Europe/Vienna", "agency_id": "ag_keep_%s" % api_run(cid)}


def api_run(cid):
    return cid.split("_")[1]


def erase_path(cid, query="hard=true&erase=true"):
    return "%s?%s" % (cpath(cid), query)


def expect_erased(r):
    expect_status(r, 200)
    eq(r.body, {"success": True, "deleted": True, "hard": True, "erased": True},
       "erase answer of " + r.where())


def history(api, cid):
    """Every audit entry of cid, newest first (and the count)."""
    r = api.get(cpath(cid) + "/audit?limit=200")
    entries, count = expect_list(r)
    eq(len(entries), count, "audit entries of %s (under 200)" % cid)
    return entries, r.raw.decode("utf-8")


def check_history_erased(entries, cid):
    """Every personal value is "<erased>" (or null); the facts stay."""
    for e in entries:
        for k in ("seq", "action", "admin_key_id", "request_id", "at", "changes"):
            check(k in e, "audit entry of %s lacks %s: %s" % (cid, k, short(e)))
        for member, ch in e["changes"].items():
            for side in ("old", "new"):
                v = ch[side]
                if member in PERSONAL:
                    check(v is None or v == ERASED, "%s %s.%s of %s entry %s not erased: %r"
                          % (cid, member, side, e["action"], e["seq"], v))


# ---- erasure ---------------------------------------------------------------------

def test_erase_query_errors(api):
    c = api.create()
    cid = c["id"]
    for query, fields in (("erase=true", ["erase"]), ("hard=false&erase=true", ["erase"]),
                          ("hard=true&erase=yes", ["erase"]), ("hard=true&erase=1", ["erase"]),
                          ("hard=true&erase=", ["erase"]), ("hard=1", ["hard"]),
                          ("hard=TRUE&erase=true", ["hard", "erase"])):
        expect_error(api.delete(erase_path(cid, query)), 400, "Invalid query parameters",
                     [(f, "invalid_value") for f in fields])
    got, _ = api.fetch(cid)
    eq(got, c, "client after rejected erase requests")
    r = api.delete(erase_path(cid, "hard=true&erase=false"))
    expect_status(r, 200)
    eq(r.body, {"success": True, "deleted": True, "hard": True}, "hard delete with erase=false")
    entries, _ = history(api, cid)
    eq([e["action"] for e in entries], ["hard_delete", "create"], "history of a plain hard delete")
    eq(entries[1]["changes"]["name"]["new"], c["name"], "a plain hard delete erases nothing")
    expect_error(api.delete(erase_path("bad%20id!")), 400, "Invalid client id",
                 [("id", "invalid_format")])


@pytest.mark.timeout(40)
def test_erase_leaves_no_personal_value(api):
    tok = token(api)
    cid = api.uid("er")
    body = personal_body(tok, cid)
    created = expect_client(api.post("/api/v1/clients", body), 201)
    rids = [None]
    for change in ({"name": "Erasa Persona %s II" % tok, "email": "second.%s@x.example" % tok},
                   {"api_metadata": {"home_address": "%s Road 7" % tok}},
                   {"phone": None, "website": "http://%s.example/" % tok}):
        r = api.update(cid, change)
        rids.append(r.header("X-Request-Id"))
    expect_client(api.post(cpath(cid) + "/rotate-keys"), 200)
    check(tok in dump(api), "the distinctive value is not in the dump before erasure")
    before, _ = history(api, cid)
    eq(len(before), 5, "history before erasure")

    r = api.delete(erase_path(cid), rid="erase-" + cid)
    expect_erased(r)
    expect_error(api.get(cpath(cid)), 404, "Client not found")
    entries, raw = history(api, cid)
    eq(len(entries), 6, "history after erasure: the 5 entries and one erase")
    eq(entries[0]["action"], "erase", "newest action")
    eq(entries[0]["request_id"], "erase-" + cid, "request id of the erase entry")
    check(isinstance(entries[0]["admin_key_id"], int), "erase entry without admin_key_id")
    # The facts stay: actions, who, request ids, times, which members changed.
    for old, new in zip(before, entries[1:]):
        for k in ("seq", "action", "admin_key_id", "request_id", "at"):
            eq(new[k], old[k], "%s of audit entry %s after erasure" % (k, old["seq"]))
        eq(sorted(new["changes"]), sorted(old["changes"]),
           "members of audit entry %s after erasure" % old["seq"])
    check_history_erased(entries, cid)
    check(tok not in raw, "the audit endpoint still shows a personal value")
    # What the erase entry says: the members the row held, values erased.
    held = entries[0]["changes"]
    for m in PERSONAL:
        if m != "phone":
            eq(held[m], {"old": ERASED, "new": None}, "erase entry's " + m)
    eq(held["timezone"], {"old": "Europe/Vienna", "new": None}, "timezone is kept")
    eq(held["agency_id"], {"old": created["agency_id"], "new": None}, "agency_id is kept")
    eq(held["secret_key"], {"old": "<redacted>", "new": None}, "secret_key stays redacted")
    eq(before[-1]["changes"]["timezone"]["new"], "Europe/Vienna", "timezone in the create entry")
    text = dump(api)
    check(tok not in text, "a personal value is still in the database dump: ...%s..."
          % short(text[max(0, text.find(tok) - 120):text.find(tok) + 60]))
    check(created["agency_id"] in text, "agency_id (kept) is gone from the dump")


def test_erase_after_hard_delete_and_repeat(api):
    tok = token(api)
    cid = api.uid("eh")
    expect_client(api.post("/api/v1/clients", personal_body(tok, cid)), 201)
    expect_status(api.delete(erase_path(cid, "hard=true")), 200)
    entries, raw = history(api, cid)
    check(tok in raw, "the history of a hard-deleted client holds its values (before erase)")
    # The row is gone, the history is not: erase it anyway.
    expect_erased(api.delete(erase_path(cid)))
    entries, raw = history(api, cid)
    eq([e["action"] for e in entries], ["erase", "hard_delete", "create"], "actions")
    eq(entries[0]["changes"], {}, "erase entry when no row was left")
    check(tok not in raw, "personal value left after erasing a hard-deleted client")
    check_history_erased(entries, cid)
    # A repeat: 200, nothing left to erase, no second erase entry.
    expect_erased(api.delete(erase_path(cid)))
    again, _ = history(api, cid)
    eq(again, entries, "history after a repeated erase")
    # Neither row nor history: 404.
    expect_error(api.delete(erase_path(api.uid("none"))), 404, "Client not found")


def test_erase_if_match(api):
    tok = token(api)
    cid = api.uid("em")
    r = api.post("/api/v1/clients", personal_body(tok, cid))
    expect_client(r, 201)
    stale = r.etag
    r = api.update(cid, {"email": "new.%s@x.example" % tok})
    expect_error(api.delete(erase_path(cid), headers={"If-Match": stale}), 412,
                 "Precondition failed", [(None, "precondition_failed")])
    entries, raw = history(api, cid)
    check(tok in raw and entries[0]["action"] == "update", "a 412 erase changed the history")
    expect_client(api.get(cpath(cid)))
    expect_erased(api.delete(erase_path(cid), headers={"If-Match": r.etag}))
    # No row left to match: any If-Match fails, even once the history exists.
    expect_error(api.delete(erase_path(cid), headers={"If-Match": "*"}), 412,
                 "Precondition failed", [(None, "precondition_failed")])


def test_clientsctl_erase(api):
    tok = token(api)
    cid = api.uid("ec")
    expect_client(api.post("/api/v1/clients", personal_body(tok, cid)), 201)
    out = api.ctl("erase", cid)
    check(out.startswith("erased %s: client deleted" % cid), "clientsctl erase said %r" % out)
    expect_error(api.get(cpath(cid)), 404, "Client not found")
    entries, raw = history(api, cid)
    eq([e["action"] for e in entries], ["erase", "create"], "actions")
    eq(entries[0]["admin_key_id"], None, "admin_key_id of a clientsctl erase")
    check(entries[0]["request_id"].startswith("clientsctl-"), "request id of clientsctl erase")
    check(tok not in raw, "personal value left after clientsctl erase")
    out = api.ctl("erase", cid)
    check("no client row left" in out, "repeat of clientsctl erase said %r" % out)
    p = run(api.cfg.ctl, "erase", api.uid("none"), ok=False)
    eq(p.returncode, 1, "exit status of clientsctl erase of an unknown client")
    check("no client" in p.stderr, "message of clientsctl erase of an unknown client: %r"
          % p.stderr)


@pytest.mark.timeout(60)
def test_erase_races_patch(api):
    """Erasure and PATCH of the same client at once: one wins, the history
    is never half erased."""
    rounds, patch_first = 12, 0
    toks = []
    for i in range(rounds):
        tok = token(api)
        toks.append(tok)
        cid = api.uid("rc")
        expect_client(api.post("/api/v1/clients", personal_body(tok, cid)), 201)
        barrier = threading.Barrier(2)
        res = {}

        def patch():
            res["patch"] = api.patch(cpath(cid), {"name": "Late Persona %s" % tok,
                                                  "api_metadata": {"late": tok}},
                                     barrier=barrier, rid="p-" + cid)

        def erase():
            res["erase"] = api.delete(erase_path(cid), barrier=barrier, rid="e-" + cid)

        ths = [threading.Thread(target=patch), threading.Thread(target=erase)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(20)
        check(len(res) == 2, "a request of round %d did not finish" % i)
        expect_erased(res["erase"])
        p = res["patch"]
        check(p.status in (200, 404), "PATCH racing an erase: " + p.where())
        if p.status == 404:
            expect_error(p, 404, "Client not found")
        entries, raw = history(api, cid)
        actions = [e["action"] for e in entries]
        rids = [e["request_id"] for e in entries]
        if p.status == 200:
            patch_first += 1
            eq(actions, ["erase", "update", "create"], "actions when the PATCH won")
            eq(rids[:2], ["e-" + cid, "p-" + cid], "request ids when the PATCH won")
        else:
            eq(actions, ["erase", "create"], "actions when the erase won")
        check_history_erased(entries, cid)
        check(tok not in raw, "round %d: a personal value is left in the history" % i)
        expect_error(api.get(cpath(cid)), 404, "Client not found")
    text = dump(api)
    left = [t for t in toks if t in text]
    check(not left, "personal values left in the dump: %s" % left)
    info(api, "%d rounds: PATCH first %d, erase first %d" % (rounds, patch_first,
                                                             rounds - patch_first))


@pytest.mark.timeout(60)
def test_erase_races_create(api):
    """Erasure of a hard-deleted client while a POST brings the id back:
    the erase comes wholly before the create or wholly after it."""
    recreated = 0
    for i in range(10):
        tok = token(api)
        cid = api.uid("rx")
        expect_client(api.post("/api/v1/clients", personal_body(tok, cid)), 201)
        expect_status(api.delete(erase_path(cid, "hard=true")), 200)
        tok2 = token(api)
        barrier = threading.Barrier(2)
        res = {}

        def create():
            res["post"] = api.post("/api/v1/clients", personal_body(tok2, cid), barrier=barrier)

        def erase():
            res["erase"] = api.delete(erase_path(cid), barrier=barrier)

        ths = [threading.Thread(target=create), threading.Thread(target=erase)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(20)
        check(len(res) == 2, "a request of round %d did not finish" % i)
        expect_erased(res["erase"])
        expect_client(res["post"], 201)
        entries, raw = history(api, cid)
        check(tok not in raw, "round %d: the first client's values are left" % i)
        r = api.get(cpath(cid))
        if r.status == 200:
            # Erase first, then the create: its entry keeps its values.
            # (Their audit rows may interleave in seq: each was numbered
            # when inserted, before either committed.)
            recreated += 1
            eq(sorted(e["action"] for e in entries[:2]), ["create", "erase"], "newest actions")
            newest_create = [e for e in entries if e["action"] == "create"][0]
            eq(newest_create["changes"]["name"]["new"], expect_client(r)["name"],
               "the new client's create entry")
            eq(newest_create["changes"]["email"]["new"], r.data["email"],
               "the new client's create entry")
        else:
            # Create first, then the erase deleted it: everything erased.
            expect_error(r, 404, "Client not found")
            eq([e["action"] for e in entries[:2]], ["erase", "create"], "actions, create first")
            check(tok2 not in raw, "round %d: the recreated client's values are left" % i)
            check_history_erased(entries, cid)
    info(api, "10 rounds: erase first %d, create first %d" % (recreated, 10 - recreated))


# ---- retention -------------------------------------------------------------------

def sql_count(api, where):
    out = api.sql("SELECT COUNT(*) FROM client_audit WHERE %s;" % where)
    return int(out.split()[-1])


def ctl_with(api, conf_extra, *args):
    """clientsctl with its config plus conf_extra (a section appended)."""
    argv = shlex.split(api.cfg.ctl)
    i = argv.index("-c")
    with open(argv[i + 1]) as f:
        text = f.read()
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(text + "\n" + conf_extra)
        path = f.name
    try:
        os.chmod(path, 0o600)
        argv[i + 1] = path
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)


@pytest.mark.timeout(40)
def test_retention_days_and_before(api):
    cid = api.uid("rd")
    api.sql("""
INSERT INTO client_audit (client_id, action, admin_key_id, request_id, at, changes)
SELECT '{cid}', 'update', NULL, CONCAT('seed-', seq),
       UTC_TIMESTAMP(3) - INTERVAL 2 DAY - INTERVAL seq SECOND, '{{}}' FROM seq_1_to_20;
INSERT INTO client_audit (client_id, action, admin_key_id, request_id, at, changes)
SELECT '{cid}', 'update', NULL, CONCAT('new-', seq),
       UTC_TIMESTAMP(3) - INTERVAL 1 HOUR - INTERVAL seq SECOND, '{{}}' FROM seq_1_to_5;
""".format(cid=cid))
    eq(history(api, cid)[0][0]["request_id"], "new-5", "newest seeded entry (by seq)")
    eq(expect_list(api.get(cpath(cid) + "/audit?limit=1"))[1], 25, "count before the purge")
    # retention_days = 0 (the default): nothing goes.
    out = api.ctl("audit", "purge")
    check("nothing purged" in out, "purge with retention_days 0 said %r" % out)
    eq(sql_count(api, "client_id = '%s'" % cid), 25, "rows after a purge with retention 0")
    # Bad --before: exit 2, says what it expects, deletes nothing.
    for bad in ("2026-02-30", "yesterday", "2026-11-27T25:00:00Z", "'; DELETE FROM x"):
        p = run(api.cfg.ctl, "audit", "purge", "--before", bad, ok=False)
        eq(p.returncode, 2, "exit status of --before %r" % bad)
        check("YYYY-MM-DD" in p.stderr, "message for --before %r: %r" % (bad, p.stderr))
    p = ctl_with(api, "[audit]\nretention_days = 1\n", "audit", "purge", "--dry-run")
    eq(p.returncode, 0, "dry run exit status (%s)" % short(p.stderr))
    m = re.match(r"would delete (\d+) audit rows older than ", p.stdout)
    check(m and int(m.group(1)) >= 20, "dry run said %r" % p.stdout)
    eq(sql_count(api, "client_id = '%s'" % cid), 25, "rows after a dry run")
    p = ctl_with(api, "[audit]\nretention_days = 1\n", "audit", "purge")
    eq(p.returncode, 0, "purge exit status (%s)" % short(p.stderr))
    m = re.match(r"deleted (\d+) audit rows older than ", p.stdout)
    check(m and int(m.group(1)) >= 20, "purge said %r" % p.stdout)
    check("audit purge:" in p.stderr, "no log line of the purge: %r" % p.stderr)
    entries, _ = history(api, cid)
    eq(sorted(e["request_id"] for e in entries), ["new-%d" % i for i in range(1, 6)],
       "entries left by retention_days = 1")
    eq(expect_list(api.get(cpath(cid) + "/audit?limit=2"))[1], 5, "count after the purge")


# The audit rows the purge test seeds: a multiple of 1000 (DATA_PURGE_ROWS,
# for one-off measurements; its timeout grows with it).
PURGE_ROWS = int(os.environ.get("DATA_PURGE_ROWS", "100000"))


def seed_old_rows(api, run_id, n):
    """n audit rows from 2001, a tenth of them for client rt_<run>, the
    rest spread over 37 other ids."""
    api.sql("""
INSERT INTO client_audit (client_id, action, admin_key_id, request_id, at, changes)
SELECT IF(seq % 10 = 0, 'rt_{run}', CONCAT('rtx_{run}_', seq % 37)), 'update', NULL,
       CONCAT('seed-', seq), TIMESTAMP'2001-01-01 00:00:00' + INTERVAL seq SECOND,
       '{{"name":{{"old":"a","new":"b"}}}}'
FROM seq_1_to_{n};
""".format(run=run_id, n=n))


@pytest.mark.timeout(max(150, 150 * PURGE_ROWS // 100000))
def test_retention_purge_100k_in_batches(api):
    heavy(api)
    check(PURGE_ROWS >= 1000 and PURGE_ROWS % 1000 == 0, "DATA_PURGE_ROWS: a multiple of 1000")
    run_id = api.cfg.run_id
    cid = "rt_" + run_id
    expect_client(api.post("/api/v1/clients", {"id": cid, "name": "Retention"}), 201)
    t0 = time.monotonic()
    seed_old_rows(api, run_id, PURGE_ROWS)
    info(api, "seeded %d audit rows in %.1f s" % (PURGE_ROWS, time.monotonic() - t0))
    eq(expect_list(api.get(cpath(cid) + "/audit?limit=1"))[1], PURGE_ROWS // 10 + 1,
       "count before the purge")
    out = api.ctl("audit", "purge", "--before", "2002-01-01", "--dry-run")
    eq(out.strip(), "would delete %d audit rows older than 2002-01-01 00:00:00.000 UTC"
       % PURGE_ROWS, "dry run")

    # PATCHes of the same client while its old rows go: latency per request.
    lat, errors, stop = [], [], threading.Event()

    def patcher(lst, tag):
        n = 0
        while not stop.is_set():
            n += 1
            t = time.monotonic()
            r = api.patch(cpath(cid), {"name": "Retention %s %d" % (tag, n)})
            lst.append(time.monotonic() - t)
            if r.status != 200:
                errors.append(r.where())

    base = []
    th = threading.Thread(target=patcher, args=(base, "base"))
    th.start()
    time.sleep(1.0)
    stop.set()
    th.join()
    stop.clear()
    ths = [threading.Thread(target=patcher, args=(lat, "t%d" % i)) for i in range(2)]
    for t in ths:
        t.start()
    t0 = time.monotonic()
    p = run(api.cfg.ctl, "audit", "purge", "--before", "2002-01-01", timeout=120)
    wall = time.monotonic() - t0
    stop.set()
    for t in ths:
        t.join(20)
    check(not errors, "PATCH during the purge failed: %s" % errors[:3])
    m = re.match(r"deleted (\d+) audit rows older than 2002-01-01 00:00:00.000 UTC in (\d+) "
                 r"batches, ([0-9.]+) s \((\d+) rows/s\)", p.stdout)
    check(m, "purge said %r" % p.stdout)
    eq(int(m.group(1)), PURGE_ROWS, "rows purged")
    eq(int(m.group(2)), PURGE_ROWS // 1000 + 1, "batches (1000 rows each, then an empty one)")
    check(re.search(r"audit purge: %d rows older than 2002-01-01 00:00:00.000 deleted in "
                    r"\d+ batches of at most 1000" % PURGE_ROWS, p.stderr),
          "no log line with the count: %r" % p.stderr)
    eq(sql_count(api, "at < '2002-01-01'"), 0, "old rows left")
    entries, count = expect_list(api.get(cpath(cid) + "/audit?limit=200"))
    eq(count, sql_count(api, "client_id = '%s'" % cid), "history count against the table")
    eq(count, 1 + len(base) + len(lat), "history count: create + every PATCH")
    lat.sort()
    base.sort()
    pct = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))] * 1000
    info(api, "purge of %d rows: %s s (%s rows/s) in %s batches, wall %.2f s; PATCH "
         "of the same client meanwhile (2 threads): n=%d p50=%.1f ms p99=%.1f ms max=%.1f ms; "
         "before (1 thread): n=%d p50=%.1f ms max=%.1f ms"
         % (PURGE_ROWS, m.group(3), m.group(4), m.group(2), wall, len(lat), pct(lat, .5),
            pct(lat, .99), lat[-1] * 1000, len(base), pct(base, .5), base[-1] * 1000))
    check(len(lat) >= 5, "too few PATCHes ran during the purge (%d)" % len(lat))
    # A lock held across the purge would stall these for seconds (the
    # store's lock wait is 5 s); one batch's lock is milliseconds.
    check(lat[-1] < 2.0, "a PATCH took %.2f s during the purge" % lat[-1])


# ---- backup and restore ----------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Writer:
    """Creates and renames clients in a loop; records what was acknowledged
    and when (monotonic time the request was sent and the answer came)."""

    def __init__(self, api, tag):
        self.api, self.tag, self.ops, self.errors = api, tag, [], []
        self.stop = threading.Event()

    def loop(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            cid = "bk_%s_%s_%d" % (self.api.cfg.run_id, self.tag, n)
            for kind, call in (("create", lambda: self.api.post(
                                   "/api/v1/clients", {"id": cid, "name": "v0"}, rid="c-" + cid)),
                               ("patch", lambda: self.api.patch(
                                   cpath(cid), {"name": "v1"}, rid="p-" + cid))):
                sent = time.monotonic()
                r = call()
                if r.status not in (200, 201):
                    self.errors.append(r.where())
                    break
                self.ops.append((sent, time.monotonic(), kind, cid, r.header("X-Request-Id")))


@pytest.mark.timeout(150)
def test_backup_restore_round_trip(api):
    heavy(api)
    cfg = api.cfg
    pre = []
    for i in range(20):
        cid = "bp_%s_%d" % (cfg.run_id, i)
        expect_client(api.post("/api/v1/clients", {"id": cid, "name": "p0", "email":
                                                   "p%d@pre.example" % i}), 201)
        api.update(cid, {"name": "p1"})
        pre.append(cid)
    writers = [Writer(api, "w%d" % i) for i in range(2)]
    ths = [threading.Thread(target=w.loop) for w in writers]
    for t in ths:
        t.start()
    target = tempfile.mkdtemp(prefix="clientsd-backup-")
    port = free_port()
    try:
        time.sleep(1.0)
        b0 = time.monotonic()
        out = run(cfg.backup, target, timeout=120).stdout.strip().splitlines()[-1]
        b1 = time.monotonic()
        time.sleep(0.5)             # writes go on after the backup's end, too
        for w in writers:
            w.stop.set()
        for t in ths:
            t.join(20)
        for w in writers:
            check(not w.errors, "a write during the backup failed: %s" % w.errors[:2])
        r0 = time.monotonic()
        rout = run(cfg.restore, target, str(port), timeout=120).stdout.strip().splitlines()[-1]
        r1 = time.monotonic()
        ops = sorted(op for w in writers for op in w.ops)
        before = [op for op in ops if op[1] < b0]
        during = [op for op in ops if op[1] >= b0 and op[0] < b1]
        after = [op for op in ops if op[0] > b1]
        info(api, "backup+prepare %.2f s (%s); restore %.2f s (%s); writes acknowledged "
             "before the backup %d, during %d, after %d"
             % (b1 - b0, out, r1 - r0, rout, len(before), len(during), len(after)))
        check(before and after, "the writers did not write before and after the backup")

        rcfg = Config("http://127.0.0.1:%d" % port, cfg.admin_key, cfg.label + "-restored",
                      cfg.run_id)
        rapi = Api(rcfg, api.test)
        # The admin key works there (every request below uses it); others do not.
        expect_error(rapi.get(cpath(pre[0]), auth="Bearer ak_" + "0" * 64), 401, "Unauthorized")
        for cid in pre:
            got, _ = rapi.fetch(cid)
            eq(got["name"], "p1", "restored name of %s" % cid)
        # Every write acknowledged before the backup began is there, with its
        # audit row; the client and its history agree (no half transaction).
        acked = {}
        for sent, done, kind, cid, rid in before:
            acked.setdefault(cid, set()).add(rid)
        for cid in pre:
            acked.setdefault(cid, set())
        ids = set(acked) | {op[3] for op in during}
        missing = []
        for cid in sorted(ids):
            r = rapi.get(cpath(cid))
            if r.status == 404:
                check(cid not in acked, "client %s acknowledged before the backup is missing "
                      "in the restore" % cid)
                continue
            got = expect_client(r)
            entries, count = expect_list(rapi.get(cpath(cid) + "/audit?limit=200"))
            rids = {e["request_id"] for e in entries}
            missing += ["%s %s" % (cid, x) for x in acked.get(cid, set()) - rids]
            names = [e["changes"]["name"]["new"] for e in entries if "name" in e["changes"]]
            eq(got["name"], names[0], "restored %s against its newest audit entry" % cid)
        check(not missing, "audit rows acknowledged before the backup missing: %s" % missing[:5])
        # Nothing sent after the backup ended is in it.
        for sent, done, kind, cid, rid in after:
            if kind == "create":
                expect_error(rapi.get(cpath(cid)), 404, "Client not found")
        # The restored service takes writes.
        r = rapi.patch(cpath(pre[0]), {"name": "after restore"})
        expect_client(r)
        eq(r.data["name"], "after restore", "a PATCH on the restored service")
        total = expect_list(rapi.get("/api/v1/clients?limit=1"))[1]
        info(api, "restored clients %d (pre-seeded %d, acknowledged before the backup %d)"
             % (total, len(pre), len(acked)))
    finally:
        for w in writers:
            w.stop.set()
        stopped = run(cfg.restore, "stop", ok=False, timeout=60)
        subprocess.run(["rm", "-rf", target])
    # Reached only when the round trip passed: the restored instance must
    # not outlive the test (a usage error here once left it running).
    check(stopped.returncode == 0, "%s stop exited %d: %s" % (
        cfg.restore, stopped.returncode, short(stopped.stderr, 600)))
