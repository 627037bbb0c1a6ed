"""key_scopes_upgrade_test.py - an installation made before scoped admin
keys keeps working after `clientsctl migrate` applies
db/013_key_scopes.sql: a key made the old way holds every scope, no binding and no expiry, and can do
everything; its use is recorded by the runtime user, whose new column
grant the same migrate run gave.

The database is made anew with the migrations up to 012 only (copied to a
directory of their own), a key is inserted with the statement the
previous release's clientsctl ran, then the whole db/ is applied; a
clientsd spawned on a socket of its own (as mod_fcgid runs it) serves
the requests.  Once, before the web server set-ups (each of which makes
its database anew), in both runs.
"""

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile

import pytest

import fcgikit
from kit import check, eq, short
from poolkit import TOOL, conf_value, spawned, stop_spawned

pytestmark = [pytest.mark.setups("before", sanitize="before"), pytest.mark.budget(120),
              pytest.mark.timeout(120)]

HERE = os.path.dirname(os.path.abspath(__file__))
DB_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "db"))
# What the release before scopes ran to make a key (its store_admin.c).
OLD_KEY_SQL = ("INSERT INTO admin_keys (name, key_sha256, created_at) "
               "VALUES ('made-before-scopes', '%s', NOW(3))")
EVERY_SCOPE = ("clients:read,clients:write,clients:delete,clients:erase,keys:rotate,"
               "audit:read,pool:status,events:read,webhooks:manage")


def sql(text):
    """SQL as the MariaDB administrator (tools/instance sql); its rows."""
    p = subprocess.run([TOOL, "sql", "test"], input=text, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "sql %s: %s" % (short(text), p.stderr.strip()))
    return [ln.split("\t") for ln in p.stdout.strip().splitlines()[1:]]


def ctl(instance, *args, ok=True):
    p = subprocess.run(shlex.split(instance.ctl) + list(args), capture_output=True, text=True,
                       timeout=120)
    if ok:
        check(p.returncode == 0, "clientsctl %s exited %d: %s" % (
            " ".join(args), p.returncode, p.stderr.strip()))
    return p


def database_before_scopes(instance, name):
    """The database made anew with 001..012 applied; the runtime user's
    grants are only what that migrate run gives."""
    users = sql("SELECT DISTINCT host FROM mysql.user WHERE user = 'clients'")
    revoke = "".join("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'clients'@'%s';\n" % h
                     for (h,) in users)
    sql("DROP DATABASE `%s`;\nCREATE DATABASE `%s` CHARACTER SET utf8mb4 "
        "COLLATE utf8mb4_unicode_ci;\n%s" % (name, name, revoke))
    with tempfile.TemporaryDirectory() as old:
        for f in sorted(os.listdir(DB_DIR)):
            if f.endswith(".sql") and f < "013":
                shutil.copy(os.path.join(DB_DIR, f), old)
        out = ctl(instance, "migrate", "-d", old).stdout
    check("applied 012_node_counters" in out and "013_key_scopes" not in out,
          "migrate to 012: " + out)


def test_old_key_keeps_every_right(instance):
    name = conf_value(instance.conf, "database", "name")
    database_before_scopes(instance, name)
    secret = "ak_" + os.urandom(32).hex()
    kid = None
    try:
        sql(OLD_KEY_SQL % hashlib.sha256(secret.encode()).hexdigest())
        # This build does not serve a schema without 013: it says what to run.
        p = ctl(instance, "admin-key", "list", ok=False)
        check(p.returncode != 0 and "013_key_scopes" in p.stderr and
              "clientsctl migrate" in p.stderr, "admin-key list on 012: %s" % p.stderr)
        out = ctl(instance, "migrate", "-d", DB_DIR).stdout
        check("applied 013_key_scopes (expand)" in out, "migrate to 013: " + out)
        rows = [ln.split("\t") for ln in ctl(instance, "admin-key", "list").stdout.splitlines()]
        head = rows[0]
        old = [dict(zip(head, r)) for r in rows[1:] if r[1] == "made-before-scopes"]
        eq(len(old), 1, "the old key in the list")
        kid = old[0]["ID"]
        eq((old[0]["SCOPES"], old[0]["AGENCY_ID"], old[0]["EXPIRES_AT"], old[0]["LAST_USED_AT"],
            old[0]["REVOKED_AT"]), (EVERY_SCOPE, "-", "-", "-", "-"), "the old key after 013")
        everything_works(instance, secret)
        used = sql("SELECT last_used_at IS NOT NULL FROM admin_keys WHERE id = %s" % kid)
        eq(used, [["1"]], "last use of the old key recorded by the runtime user")
    finally:
        if kid is not None:
            ctl(instance, "admin-key", "revoke", kid, ok=False)


def everything_works(instance, secret):
    """Every operation, with the old key, through a clientsd of its own."""
    work = tempfile.mkdtemp(prefix="clientsd-upgrade-")
    os.chmod(work, 0o1777)
    sock, errpath = os.path.join(work, "sock"), os.path.join(work, "stderr")
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=1").lstrip(":")
    proc = spawned(os.path.join(instance.build, "app", "clientsd"), instance.conf, sock,
                   errpath, env)
    try:
        check(fcgikit.wait_answering(sock, 15), "the spawned clientsd never answered")
        auth = {"Authorization": "Bearer " + secret}
        cid = "upgraded-" + os.urandom(4).hex()
        path = "/api/v1/clients/" + cid
        steps = [("POST", "/api/v1/clients", {"id": cid, "name": "Up", "agency_id": "ag-up"},
                  201),
                 ("GET", path, None, 200), ("HEAD", path, None, 200),
                 ("GET", "/api/v1/clients?agency_id=ag-up", None, 200),
                 ("PATCH", path, {"name": "Upgraded"}, 200),
                 ("POST", path + "/rotate-keys", None, 200),
                 ("GET", path + "/audit", None, 200), ("GET", "/api/v1/status", None, 200),
                 ("DELETE", path, None, 200), ("DELETE", path + "?hard=true&erase=true", None,
                                                200)]
        for method, uri, body, want in steps:
            a = fcgikit.call(sock, method, uri, body, headers=auth)
            eq(a.status, want, "%s %s with the key made before scopes: %s" % (
                method, uri, short(a.raw)))
    finally:
        rc, err = stop_spawned(proc, errpath)
        shutil.rmtree(work, ignore_errors=True)
    check("Sanitizer" not in err, "sanitizer report: " + short(err, 600))
    check(secret not in err, "the admin key in the spawned clientsd's log")
    eq(rc, 0, "exit status of the spawned clientsd (stderr: %s)" % short(err, 300))
