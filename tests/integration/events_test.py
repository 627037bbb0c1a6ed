"""events_test.py - the events feed (doc/api-guide.md, "Events"): every
write of a client is one event, in order, thin (the names of the members
that changed, never their values), with the acting key's id and the
request's id; cursor paging, the type and client_id filters, bad queries,
the events:read scope, and a key bound to an agency (its agency's events
only, a hard delete and an erasure included).  Through nginx and Apache +
mod_fcgid (both in the sanitizer run): the feed is one more list, and the
list's behaviour through every web server is paging_test.py's.
"""

import hashlib
import re
import urllib.parse

import pytest

from apikit import CLIENTS, check, cpath, eq, expect_error, expect_list, expect_status
# Keys made here, not scopes_test.scoped()'s cache: a set-up started anew
# (a fresh database) between two files would leave it holding dead keys.
from scopes_test import make_key

pytestmark = [pytest.mark.setups(["nginx", "apache-fcgid"],
                                 sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(120)]

EVENTS = "/api/v1/events"
BAD_QUERY = "Invalid query parameters"
EVENT_MEMBERS = ["admin_key_id", "changed", "client_id", "created_at", "id", "request_id",
                 "type"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def feed(api, auth=None, **params):
    q = urllib.parse.urlencode(params)
    kw = {} if auth is None else {"auth": auth}
    return api.get(EVENTS + ("?" + q if q else ""), **kw)


def events(api, auth=None, limit=200, **filters):
    """Every event of the feed with filters, walking its cursors; checks
    each page's envelope (count null) and the members of each event."""
    out, after, pages = [], None, 0
    while True:
        params = dict(filters, limit=limit)
        if after is not None:
            params["after"] = after
        r = feed(api, auth, **params)
        page, _ = expect_list(r, counted=False)
        check(len(page) <= limit, "page longer than limit: " + r.where())
        for e in page:
            eq(sorted(e), EVENT_MEMBERS, "members of an event of " + r.where())
            check(TIMESTAMP.match(e["created_at"]), "created_at of " + r.where())
        out += page
        pages += 1
        after = r.body["next"]
        if after is None:
            return out
        check(len(page) == limit, "a page before the last is short: " + r.where())
        check(pages < 1000, "the feed's cursor walk does not end")


def seq(e):
    check(re.match(r"^evt_[1-9][0-9]*$", e["id"]), "event id %r" % e["id"])
    return int(e["id"][4:])


def key_id(api, secret):
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return int(api.sql("SELECT id FROM admin_keys WHERE key_sha256 = '%s'"
                       % digest).split()[-1])


def feed_end(api):
    """The cursor of the unfiltered feed's last page (None: one page)."""
    cursor, after = None, None
    for _ in range(1000):
        r = feed(api, limit=200, **({"after": after} if after else {}))
        expect_list(r, counted=False)
        if r.body["next"] is None:
            return cursor
        cursor = after = r.body["next"]
    check(False, "the feed's cursor walk does not end")


def test_fences_do_not_end_the_feed(api):
    """A fence (a history row that claims a lost COMMIT's token,
    lib/db/store_tx.c) is no event.  Rows of them between events must not
    end a page walk early, nor make a page before the last short."""
    if not api.cfg.sql:
        pytest.skip("needs SQL access to write fences")
    start = feed_end(api)
    made = []
    for i in range(4):
        made.append(api.create()["id"])
        api.sql("INSERT INTO client_audit (client_id, action, admin_key_id, request_id, at, "
                "changes, tx_token) VALUES " + ", ".join(
                    "('', 'fence', NULL, '', NOW(3), '{}', RANDOM_BYTES(16))"
                    for _ in range(3)))
    made.append(api.create()["id"])
    got, after, pages = [], start, []
    for _ in range(100):
        r = feed(api, limit=2, **({"after": after} if after else {}))
        page, _ = expect_list(r, counted=False)
        pages.append(len(page))
        got += page
        after = r.body["next"]
        if after is None:
            break
    created = [e["client_id"] for e in got if e["type"] == "client.created"
               and e["client_id"] in made]
    eq(created, made, "the creates between fences, in order, in a walk of pages of 2 (pages %s)"
       % pages)
    check(all(n == 2 for n in pages[:-1]), "a page before the last is short: %s" % pages)
    check(all(e["client_id"] for e in got), "a fence in the feed: %s" % got)


def test_every_write_is_one_thin_event_in_order(api):
    """Create, PATCH, soft delete, rotate keys, hard delete of one client:
    five events of it in that order, each naming the members that changed
    and no value, with the key's id and the request's X-Request-Id."""
    cid = api.uid()
    rids = [api.rid() for _ in range(5)]
    email = api.uid("mail").replace("_", "-") + "@example.com"
    expect_status(api.call("POST", CLIENTS, {"id": cid, "name": "Events Inc.",
                                            "proxy_api_key": "pak-" + cid},
                           rid=rids[0]), 201)
    expect_status(api.call("PATCH", cpath(cid), {"email": email, "name": "Events Ltd."},
                           rid=rids[1]), 200)
    expect_status(api.call("DELETE", cpath(cid), rid=rids[2]), 200)
    expect_status(api.call("POST", cpath(cid) + "/rotate-keys", {"keys": ["secret"]},
                           rid=rids[3]), 200)
    expect_status(api.call("DELETE", cpath(cid) + "?hard=true", rid=rids[4]), 200)
    r = feed(api, client_id=cid)
    got, _ = expect_list(r, counted=False)
    eq([e["type"] for e in got], ["client.created", "client.updated", "client.deleted",
                                  "client.keys_rotated", "client.deleted"], "types")
    eq([e["request_id"] for e in got], rids, "request ids")
    eq({e["client_id"] for e in got}, {cid}, "client ids")
    eq({e["admin_key_id"] for e in got}, {key_id(api, api.cfg.admin_key)}, "admin key ids")
    eq(got[1]["changed"], ["name", "email"], "changed members of the PATCH")
    eq(got[2]["changed"], ["status"], "changed members of the soft delete")
    eq(got[3]["changed"], ["secret_key"], "changed members of the rotation")
    check({"id", "name", "proxy_api_key", "secret_key"} <= set(got[0]["changed"]),
          "a create names what it set: %r" % got[0]["changed"])
    ids = [seq(e) for e in got]
    eq(ids, sorted(set(ids)), "event ids increasing, no duplicate")
    check(got[0]["created_at"] <= got[-1]["created_at"], "created_at in order")
    # Thin: no value of any member, secret or personal, is in the feed.
    for v in (email, "Events Ltd.", "pak-" + cid, "<redacted>"):
        check(v.encode() not in r.raw, "the feed carries a value: %r" % v)
    # The PATCH's event is the one the unfiltered feed has at that id.
    everything = events(api)
    eq([e for e in everything if e["id"] == got[1]["id"]], [got[1]], "the same event unfiltered")


def test_erasure_is_an_event_without_values(api):
    cid = api.create(email="erin@example.com", name="Erin's shop")["id"]
    expect_status(api.delete(cpath(cid) + "?hard=true&erase=true"), 200)
    got = events(api, client_id=cid)
    eq([e["type"] for e in got], ["client.created", "client.erased"], "types")
    r = feed(api, client_id=cid)
    for v in (b"erin@example.com", b"Erin", b"<erased>"):
        check(v not in r.raw, "the feed carries %r after an erasure" % v)


def test_cursor_walk_and_resume(api):
    """Pages of 3 walk every event once, oldest first; a cursor kept from
    the last page that had one, used again later, brings what happened
    since without losing or repeating what came before it."""
    cid = api.create()["id"]
    for i in range(7):
        api.update(cid, {"name": "v%d" % i})
    walked = events(api, limit=3, client_id=cid)
    eq(len(walked), 8, "events of a create and 7 PATCHes")
    eq([seq(e) for e in walked], sorted({seq(e) for e in walked}), "oldest first, once each")
    first = feed(api, client_id=cid, limit=3)
    kept = first.body["next"]
    check(kept is not None, "a first page of 3 out of 8 has a next")
    api.update(cid, {"name": "after"})
    rest = events(api, limit=200, client_id=cid, after=kept)
    eq([e["id"] for e in rest], [e["id"] for e in walked[3:]] + [rest[-1]["id"]],
       "the events after the kept cursor, then the new one")
    eq(rest[-1]["type"], "client.updated", "the new event")


def test_filters_and_their_cursors(api):
    a, b = api.create()["id"], api.create()["id"]
    for cid in (a, b):
        api.update(cid, {"name": "renamed"})
        expect_status(api.post(cpath(cid) + "/rotate-keys"), 200)
    got = events(api, client_id=a, type="client.keys_rotated")
    eq([(e["client_id"], e["type"]) for e in got], [(a, "client.keys_rotated")],
       "client_id and type together")
    rotations = [e for e in events(api, type="client.keys_rotated") if e["client_id"] in (a, b)]
    eq([e["client_id"] for e in rotations], [a, b], "type alone, in order")
    eq(rotations[1]["changed"], ["publishable_key", "secret_key"], "both keys rotated")
    deletes = []
    for hard in ("false", "true"):
        cid = api.create()["id"]
        expect_status(api.delete(cpath(cid) + "?hard=" + hard), 200)
        deletes.append(cid)
    got = [e["client_id"] for e in events(api, type="client.deleted")]
    check(set(deletes) <= set(got), "soft and hard deletes are both client.deleted")
    # A cursor opens only for the filters it was made with.
    r = feed(api, client_id=a, limit=1)
    cursor = r.body["next"]
    check(cursor is not None, "next of a first page of one")
    for other in ({"client_id": b}, {}, {"client_id": a, "type": "client.updated"}):
        expect_error(feed(api, after=cursor, **other), 400, BAD_QUERY,
                     [("after", "invalid_value")])
    tampered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    expect_error(feed(api, client_id=a, after=tampered), 400, BAD_QUERY,
                 [("after", "invalid_value")])
    # The clients list's cursor is not the feed's.
    lst = api.get(CLIENTS + "?limit=1").body["next"]
    expect_error(feed(api, after=lst), 400, BAD_QUERY, [("after", "invalid_value")])


def test_bad_queries_named_all_at_once(api):
    r = feed(api, limit=0, offset=2, type="client.update", client_id="a b")
    expect_error(r, 400, BAD_QUERY, [("limit", "invalid_value"), ("offset", "invalid_value"),
                                     ("type", "invalid_value"),
                                     ("client_id", "invalid_format")])
    for params, field in (({"limit": 201}, "limit"), ({"limit": "x"}, "limit"),
                          ({"after": ""}, "after"), ({"type": "update"}, "type"),
                          ({"type": ""}, "type")):
        expect_error(feed(api, **params), 400, BAD_QUERY, [(field, "invalid_value")])
    expect_status(api.head(EVENTS + "?limit=0"), 400)
    expect_status(api.head(EVENTS + "?limit=1"), 200)


def test_scope_events_read(api):
    """events:read alone reads the feed; every other scope together does not."""
    cid = api.create()["id"]
    expect_status(feed(api, auth=make_key(api, {"events:read"}).auth, client_id=cid), 200)
    others = {"clients:read", "clients:write", "clients:delete", "clients:erase",
              "keys:rotate", "audit:read", "pool:status", "webhooks:manage"}
    r = feed(api, auth=make_key(api, others).auth, client_id=cid)
    expect_error(r, 403, "Forbidden", [(None, "missing_scope")])
    eq(r.body["details"][0]["message"], "must use a key with the scope events:read",
       "the 403's message")


def test_bound_key_sees_its_agency_events_only(api):
    """A key bound to agency A: the events of A's clients (a client moved
    into A from then on, a hard delete and an erasure of an A client
    included); never B's or an agency-less client's, whatever the filter;
    its cursors do not open for an unbound key, nor the other way."""
    a, b = api.uid("agA"), api.uid("agB")
    key = make_key(api, agency=a)
    mine = api.create(agency_id=a)["id"]
    theirs = api.create(agency_id=b)["id"]
    loose = api.create()["id"]
    gone = api.create(agency_id=a)["id"]
    erased = api.create(agency_id=a, email="ann@example.com")["id"]
    for cid in (mine, theirs, loose):
        api.update(cid, {"name": "renamed"})
    expect_status(api.delete(cpath(gone) + "?hard=true"), 200)
    expect_status(api.delete(cpath(erased) + "?hard=true&erase=true"), 200)
    api.update(loose, {"agency_id": a})
    seen = events(api, auth=key.auth, limit=2)
    check(theirs not in {e["client_id"] for e in seen}, "another agency's events seen")
    by_client = {}
    for e in seen:
        by_client.setdefault(e["client_id"], []).append(e["type"])
    eq(by_client.get(mine), ["client.created", "client.updated"], "the agency's client")
    eq(by_client.get(gone), ["client.created", "client.deleted"], "a hard-deleted client")
    eq(by_client.get(erased), ["client.created", "client.erased"], "an erased client")
    eq(by_client.get(loose), ["client.updated"], "a client moved into the agency: from then on")
    for cid in (theirs, loose):
        got = events(api, auth=key.auth, client_id=cid, type="client.created")
        eq(got, [], "another agency's events by client_id")
    r = feed(api, auth=key.auth, limit=1)
    bound_cursor = r.body["next"]
    check(bound_cursor is not None, "next of a bound key's first page")
    expect_error(feed(api, after=bound_cursor), 400, BAD_QUERY, [("after", "invalid_value")])
    unbound_cursor = feed(api, limit=1).body["next"]
    expect_error(feed(api, auth=key.auth, after=unbound_cursor), 400, BAD_QUERY,
                 [("after", "invalid_value")])


def test_history_rows_carry_their_agency(api):
    """The trigger of 015 fills client_audit.agency_id on the server from
    the client's row, or from the history row's old value once the row is
    gone: what the bound feed reads."""
    a = api.uid("ag")
    cid = api.create(agency_id=a)["id"]
    api.update(cid, {"name": "x"})
    expect_status(api.delete(cpath(cid) + "?hard=true"), 200)
    rows = api.sql("SELECT action, agency_id FROM client_audit WHERE client_id = '%s' "
                   "ORDER BY seq" % cid).strip().splitlines()[1:]
    eq([ln.split("\t") for ln in rows], [["create", a], ["update", a], ["hard_delete", a]],
       "history rows and their agency")
