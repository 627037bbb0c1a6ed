"""paging_test.py - keyset paging, counts and statement budgets.

Black-box HTTP tests through any server in front of clientsd: cursors
(`next`, `?after=`) on the list and the audit history, `?count=false`, the
offset walk, exact counts and statements per request.  Through every set-up
(the sanitizer run: nginx and Apache + mod_fcgid).
"""

import threading
import time
import urllib.parse

import pytest

from apikit import (CLIENTS, check, cpath, eq, expect_clients, expect_error, expect_list,
                    expect_status)

pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(240)]

BAD_QUERY = "Invalid query parameters"


def listing(api, path=CLIENTS, **params):
    q = urllib.parse.urlencode(params)
    return api.get(path + ("?" + q if q else ""))

def order_key(c):
    return (c["created_at"], c["id"])

def walk(api, limit, path=CLIENTS, during=None, **filters):
    """Every page of a list through its cursors; returns (items, pages).
    during(page_number) runs between pages."""
    items, pages, after = [], 0, None
    while True:
        params = dict(filters, limit=limit)
        if after is not None:
            params["after"] = after
        r = listing(api, path, **params)
        page, _ = (expect_clients(r) if path == CLIENTS else expect_list(r))
        check(len(page) <= limit, "page longer than limit: " + r.where())
        items += page
        pages += 1
        after = r.body["next"]
        if after is None:
            return items, pages
        check(len(page) == limit, "a page before the last is short: " + r.where())
        check(pages < 10000, "cursor walk does not end")
        if during is not None:
            during(pages)

def bad_after(r, what):
    expect_error(r, 400, BAD_QUERY, [("after", "invalid_value")])


@pytest.mark.timeout(60)
def test_cursor_walk_under_concurrent_inserts(api):
    """No row twice; no row that existed before the first page skipped;
    the filters carried; the order kept (created_at, id)."""
    ag = api.uid("ag")
    before = [api.create(agency_id=ag, status=(i % 4 != 0)) for i in range(23)]
    stop = threading.Event()
    added = []

    def writer():
        while not stop.is_set() and len(added) < 40:
            added.append(api.create(agency_id=ag)["id"])

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        items, pages = walk(api, 3, agency_id=ag, status="true",
                            during=lambda n: time.sleep(0.01))
    finally:
        stop.set()
        th.join(20)
    ids = [c["id"] for c in items]
    eq(len(ids), len(set(ids)), "distinct ids in the walk (duplicates: %s)"
       % sorted({i for i in ids if ids.count(i) > 1}))
    eq(items, sorted(items, key=order_key), "walk order")
    for c in items:
        check(c["agency_id"] == ag and c["status"] is True, "filter not carried: %s" % c["id"])
    want = {c["id"] for c in before if c["status"]}
    missing = want - set(ids)
    check(not missing, "rows that existed before the first page were skipped: %s"
          % sorted(missing))
    check(set(ids) <= want | set(added), "rows that are no clients of the filter")
    check(pages >= 6, "only %d pages for %d rows" % (pages, len(ids)))

def test_cursor_pages_equal_offset_pages(api):
    ag = api.uid("ag")
    for _ in range(7):
        api.create(agency_id=ag)
    items, count = expect_clients(listing(api, agency_id=ag, limit=200))
    eq(count, 7, "count")
    by_cursor, pages = walk(api, 2, agency_id=ag)
    eq(pages, 4, "pages of 2 for 7 rows")
    eq(by_cursor, items, "pages by cursor put together")
    by_offset = []
    for off in range(0, 8, 2):
        r = listing(api, agency_id=ag, limit=2, offset=off)
        page, n = expect_clients(r)
        eq(n, 7, "count with offset %d" % off)
        by_offset += page
        # offset answers carry a cursor too: it continues after their page
        if off + 2 < 7:
            check(r.body["next"], "no next on an offset page that is not the last")
            nxt, _ = expect_clients(listing(api, agency_id=ag, limit=2, after=r.body["next"]))
            eq(nxt, items[off + 2:off + 4], "page after the cursor of offset %d" % off)
        else:
            eq(r.body["next"], None, "next of the last page by offset")
    eq(by_offset, items, "pages by offset put together")
    r = listing(api, agency_id=ag, limit=7)
    eq(r.body["next"], None, "next when the page holds every row")
    r = listing(api, agency_id=ag, offset=100)
    eq((expect_clients(r)[0], r.body["next"]), ([], None), "page past the end")

def test_count_false_leaves_out_the_total(api):
    ag = api.uid("ag")
    for _ in range(3):
        api.create(agency_id=ag)
    counted = listing(api, agency_id=ag, limit=2)
    items, count = expect_clients(counted)
    eq(count, 3, "count")
    r = listing(api, agency_id=ag, limit=2, count="false")
    got, none = expect_clients(r, counted=False)
    eq(got, items, "page with count=false")
    check(r.body["next"], "next with count=false")
    r2 = listing(api, agency_id=ag, limit=2, count="false", after=r.body["next"])
    eq(len(expect_clients(r2, counted=False)[0]), 1, "second page with count=false")
    eq(expect_clients(listing(api, agency_id=ag, count="true"))[1], 3, "count=true")
    for bad in ("no", "", "1", "TRUE"):
        expect_error(listing(api, agency_id=ag, count=bad), 400, BAD_QUERY,
                     [("count", "invalid_value")])

def test_cursor_tampered_400(api):
    ag = api.uid("ag")
    for _ in range(3):
        api.create(agency_id=ag)
    r = listing(api, agency_id=ag, limit=1)
    cur = r.body["next"]
    check(cur and "." in cur, "cursor shape: %r" % cur)
    pos, mac = cur.split(".", 1)
    flip = lambda s, i: s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
    for bad in (flip(cur, 0), flip(cur, len(pos) - 1), flip(cur, len(cur) - 1),
                pos, pos + ".", "." + mac, cur[:-1], cur + "A", cur + ".x", "x", "!!!",
                pos + "A" + "." + mac, cur.replace(".", "-")):
        bad_after(listing(api, agency_id=ag, limit=1, after=bad), bad)
    bad_after(listing(api, agency_id=ag, after=""), "empty")
    bad_after(listing(api, agency_id=ag, after="x" * 5000), "too long")
    # the untouched cursor still works
    expect_clients(listing(api, agency_id=ag, limit=1, after=cur))

def test_cursor_foreign_or_mismatched_400(api):
    ag, ag2 = api.uid("ag"), api.uid("ag")
    c = [api.create(agency_id=ag) for _ in range(3)]
    api.create(agency_id=ag2)
    cur = listing(api, agency_id=ag, limit=1).body["next"]
    check(cur, "no next")
    bad_after(listing(api, agency_id=ag2, limit=1, after=cur), "other agency")
    bad_after(listing(api, limit=1, after=cur), "no filter")
    bad_after(listing(api, agency_id=ag, status="true", limit=1, after=cur), "filter added")
    bad_after(listing(api, agency_id=ag, company_id="x", limit=1, after=cur), "filter added")
    bad_after(listing(api, CLIENTS + "/" + c[0]["id"] + "/audit", after=cur), "list cursor on audit")
    for _ in range(2):
        api.update(c[0]["id"], {"name": "n%s" % api.uid()})
    acur = listing(api, cpath(c[0]["id"]) + "/audit", limit=1).body["next"]
    check(acur, "no audit next")
    bad_after(listing(api, cpath(c[1]["id"]) + "/audit", limit=1, after=acur),
              "audit cursor of another client")
    bad_after(listing(api, agency_id=ag, limit=1, after=acur), "audit cursor on the list")
    # an unfiltered cursor is no status=… cursor either
    ucur = listing(api, limit=1).body["next"]
    if ucur:
        bad_after(listing(api, status="true", limit=1, after=ucur), "unfiltered on status")

def test_after_with_offset_400(api):
    ag = api.uid("ag")
    for _ in range(2):
        api.create(agency_id=ag)
    cur = listing(api, agency_id=ag, limit=1).body["next"]
    for off in ("0", "1"):
        expect_error(listing(api, agency_id=ag, offset=off, after=cur), 400, BAD_QUERY,
                     [("after", "invalid_value")])
    cid = api.create()["id"]
    expect_error(listing(api, cpath(cid) + "/audit", offset=0, after="x.y"), 400, BAD_QUERY,
                 [("after", "invalid_value")])

@pytest.mark.timeout(60)
def test_audit_cursor_walk_under_concurrent_writes(api):
    cid = api.create()["id"]
    for i in range(9):
        api.update(cid, {"name": "v%d" % i})
    first = expect_list(listing(api, cpath(cid) + "/audit", limit=200))[0]
    eq(len(first), 10, "history length")
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set() and i < 30:
            api.update(cid, {"name": "w%d" % i})
            i += 1

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        items, pages = walk(api, 3, cpath(cid) + "/audit")
    finally:
        stop.set()
        th.join(20)
    seqs = [e["seq"] for e in items]
    eq(len(seqs), len(set(seqs)), "distinct seqs")
    eq(seqs, sorted(seqs, reverse=True), "newest first")
    missing = {e["seq"] for e in first} - set(seqs)
    check(not missing, "entries that existed before the first page were skipped: %s"
          % sorted(missing))
    r = listing(api, cpath(cid) + "/audit", limit=2, count="false")
    eq(r.body["count"], None, "audit count with count=false")
    eq(len(r.body["data"]), 2, "audit page with count=false")
    r = listing(api, cpath(cid) + "/audit", offset=3, limit=2)
    eq([e["seq"] for e in r.body["data"]], [e["seq"] for e in
       expect_list(listing(api, cpath(cid) + "/audit", limit=200))[0][3:5]], "audit offset page")
    expect_error(listing(api, cpath(api.uid()) + "/audit", count="false"), 404,
                 "Client not found")

def sql_rows(api, text):
    out = api.sql(text).strip().splitlines()
    return [ln.split("\t") for ln in out[1:]]

def test_counts_exact_with_sharded_counters(api):
    """The unfiltered and status counts (kept by triggers) equal COUNT(*),
    through creates, soft and hard deletes and status changes."""
    def truth():
        rows = sql_rows(api, "SELECT COUNT(*), COALESCE(SUM(status = 1), 0), "
                        "COALESCE(SUM(status = 0), 0) FROM clients;")
        return tuple(int(x) for x in rows[0])

    def api_counts():
        return (expect_clients(listing(api, limit=1))[1],
                expect_clients(listing(api, limit=1, status="true"))[1],
                expect_clients(listing(api, limit=1, status="false"))[1])

    eq(api_counts(), truth(), "(all, true, false) counts against COUNT(*)")
    a = api.create()["id"]
    b = api.create(status=False)["id"]
    eq(api_counts(), truth(), "counts after two creates")
    api.update(b, {"status": True})
    expect_status(api.delete(cpath(a)), 200)
    eq(api_counts(), truth(), "counts after a status change and a soft delete")
    expect_status(api.delete(cpath(a) + "?hard=true"), 200)
    eq(api_counts(), truth(), "counts after a hard delete")

    # writers in parallel (several connections, so several shards)
    def many(n):
        for _ in range(n):
            cid = api.create()["id"]
            api.update(cid, {"status": False})
    ths = [threading.Thread(target=many, args=(5,), daemon=True) for _ in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(30)
    eq(api_counts(), truth(), "counts after parallel writers")
    shards = sql_rows(api, "SELECT COUNT(DISTINCT shard) FROM client_counts;")
    check(int(shards[0][0]) >= 2, "all writes went to one counter row")


# ---- statements per request and the admin-key cache -------------------------

AUTH_CACHE_S = 5        # [api] auth_cache_s: the default, which the suite's config keeps

def questions(api):
    """MariaDB's global Questions counter (statements clients sent)."""
    return int(sql_rows(api, "SHOW GLOBAL STATUS LIKE 'Questions';")[0][1])

def fewest_statements(api, send, tries=8):
    """The fewest statements MariaDB counted for one call of send() over
    tries calls, less what reading the counter costs (measured the same
    way).  The fewest, because a cold worker (a connect, a first prepare,
    an expired key cache) costs more; a warm one shows the real budget."""
    base = min(-questions(api) + questions(api) for _ in range(3))
    best = None
    for _ in range(tries):
        before = questions(api)
        send()
        n = questions(api) - before - base
        best = n if best is None else min(best, n)
    return best

@pytest.mark.timeout(120)
def test_statements_per_request(api):
    """Warm worker, warm admin-key cache: 1 statement per GET, 2 per PATCH
    (SELECT ... FOR UPDATE, then CALL cm_update_client, whose UPDATE, audit
    INSERT and COMMIT run on the server: two round trips, no START
    TRANSACTION, no key lookup), 2 per list page with count, 1 without.
    What is counted is MariaDB's Questions: the statements clients sent,
    not those a stored procedure runs.  The record of a key's last use (an
    UPDATE at most once a minute) comes only with its lookup, so never in
    a warm request: the fewest of eight still counts exactly these."""
    ag = api.uid("ag")
    cid = api.create(agency_id=ag)["id"]
    api.create(agency_id=ag)
    n = iter(range(1000))
    got = {
        "GET": fewest_statements(api, lambda: expect_status(api.get(cpath(cid)), 200)),
        "PATCH": fewest_statements(api, lambda: api.update(cid, {"name": "v%d" % next(n)})),
        "list": fewest_statements(api, lambda: expect_clients(listing(api, agency_id=ag))),
        "list count=false": fewest_statements(
            api, lambda: expect_clients(listing(api, agency_id=ag, count="false"), False)),
        "list after": fewest_statements(api, lambda: expect_clients(listing(
            api, agency_id=ag, limit=1, count="false",
            after=listing(api, agency_id=ag, limit=1).body["next"]), False)
            ) - 2,   # less the first page's 2 that fetched the cursor
    }
    eq(got, {"GET": 1, "PATCH": 2, "list": 2, "list count=false": 1, "list after": 1},
       "statements per request")


@pytest.mark.timeout(60)
def test_auth_cache_revocation_within_bound(api):
    """A revoked key stops working on every worker within auth_cache_s."""
    key = api.ctl("admin-key", "create", "--name", api.uid("cache")).strip()
    kid = [ln.split("\t")[0] for ln in api.ctl("admin-key", "list").splitlines()[1:]
           if ln.strip()][-1]
    path = cpath(api.uid())
    for _ in range(12):      # warm the caches of the workers
        expect_error(api.get(path, auth="Bearer " + key), 404, "Client not found")
    api.ctl("admin-key", "revoke", kid)
    t0 = time.monotonic()
    while api.get(path, auth="Bearer " + key).status != 401:
        check(time.monotonic() - t0 < AUTH_CACHE_S + 1.5,
              "revoked key still accepted %.1f s after revocation" % (time.monotonic() - t0))
        time.sleep(0.2)
    # once refused, refused by every worker after the bound
    time.sleep(max(0.0, AUTH_CACHE_S + 0.2 - (time.monotonic() - t0)))
    for _ in range(12):
        expect_error(api.get(path, auth="Bearer " + key), 401, "Unauthorized")
