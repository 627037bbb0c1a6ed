"""upgrade_test.py - the upgrade mechanism (lib/db/schema.h): which schemas
a clientsd serves, what it does about one it cannot serve (at start, on
-t, on reload and upgrade, on each connection), the migrations' kinds
(expand, contract, none), and 009's counts with writers running through
the migration.  The whole upgrade under load is ./dev upgrade-drill's.

Each test works on databases of its own in the run's MariaDB (clients_up_*,
each with a runtime and a migration user of its own, made with this
build's `clientsctl db-setup --print`), dropped at its end; the run's own
database is never touched.  Once, before the web server set-ups, in the
plain run.  "The newest migration" is the last file of db/, which is what
this build needs last (check_schema.c keeps schema.c in step with db/).
"""

import hashlib
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

import fcgikit
import kit
from kit import check, eq, wait_for
from poolkit import (TOOL, PrivatePool, alive, applied_names, build_shim, conf_with,
                     cut_migration_env, read_pid, spawned, stop_spawned, write_private)

pytestmark = [pytest.mark.setups("before"), pytest.mark.budget(300)]

HERE = os.path.dirname(os.path.abspath(__file__))
DB_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "db"))
MIGRATIONS = sorted(f for f in os.listdir(DB_DIR) if f.endswith(".sql"))
NEWEST = MIGRATIONS[-1][:-4]


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def admin_sql(text, timeout=120):
    """Rows of the last result of text, run as the MariaDB admin."""
    p = run([TOOL, "sql", "test"], input=text, timeout=timeout)
    check(p.returncode == 0, "SQL failed: %s\n%s" % (p.stderr.strip()[-600:], text[:300]))
    lines = p.stdout.splitlines()
    return [ln.split("\t") for ln in lines[1:]] if lines else []


def migrations_dir(path, names=MIGRATIONS, extra=None):
    """A migrations directory at path: the files names of db/, and extra
    ({file: text})."""
    os.makedirs(path, exist_ok=True)
    for n in names:
        shutil.copy(os.path.join(DB_DIR, n), path)
    for n, text in (extra or {}).items():
        with open(os.path.join(path, n), "w") as f:
            f.write(text)
    return path


class Db:
    """A database of its own: clients_up_<tag>, its runtime user
    up_<tag> and migration user up_<tag>_m, and their configurations."""

    def __init__(self, instance, tmp, tag):
        self.inst, self.name = instance, "clients_up_" + tag
        self.user, self.muser = "up_" + tag, "up_%s_m" % tag
        self.pw, mpw = os.urandom(12).hex(), os.urandom(12).hex()
        with open(instance.secrets_file, "a") as f:
            f.write("%s\n%s\n" % (self.pw, mpw))
        self.conf = os.path.join(tmp, "clientsd-%s.conf" % tag)
        self.mconf = os.path.join(tmp, "migrate-%s.conf" % tag)
        write_private(self.conf, conf_with(instance.conf, {
            ("database", "name"): self.name, ("database", "user"): self.user,
            ("database", "password"): self.pw, ("database", "password_file"): None}))
        write_private(self.mconf, "[database]\nuser = %s\npassword = %s\n" % (self.muser, mpw))
        self.ctlbin = os.path.join(instance.build, "app", "clientsctl")
        self.bin = os.path.join(instance.build, "app", "clientsd")
        setup = self.ctl("db-setup", "--print")
        check(setup.returncode == 0, "db-setup --print: " + setup.stderr)
        self.setup_sql = setup.stdout
        self.reset()

    def reset(self):
        """The database dropped and made again, empty, with its users."""
        admin_sql("DROP DATABASE IF EXISTS %s;\n%s" % (self.name, self.setup_sql))

    def ctl(self, *args, timeout=120):
        return run([self.ctlbin, "-c", self.conf, "-m", self.mconf] + list(args),
                   timeout=timeout)

    def migrate(self, directory, *extra):
        return self.ctl("migrate", "-d", directory, *extra)

    def sql(self, text):
        return admin_sql("USE %s;\n%s" % (self.name, text))

    def applied(self):
        return [tuple(r) for r in self.sql("SELECT name, COALESCE(kind, 'NULL') "
                                            "FROM schema_migrations ORDER BY name;")]

    def test(self, conf=None):
        """clientsd -t on this database: (exit status, what it said)."""
        p = run([self.bin, "-t", "-c", conf or self.conf], timeout=30)
        return p.returncode, (p.stdout + p.stderr).strip()

    def key(self):
        """An admin key: from clientsctl, or, on a schema this build does
        not serve (clientsctl then refuses), minted here as it mints one
        and its SHA-256 stored by SQL."""
        p = self.ctl("admin-key", "create", "--name", "upgrade test")
        key = p.stdout.strip()
        if p.returncode != 0:
            check("lacks migration" in p.stderr, "admin-key create: " + p.stderr)
            key = "ak_" + os.urandom(32).hex()
            self.sql("INSERT INTO admin_keys (name, key_sha256, created_at) VALUES "
                     "('upgrade test', '%s', NOW(3));" % hashlib.sha256(key.encode()).hexdigest())
        check(key, "no admin key")
        with open(self.inst.secrets_file, "a") as f:
            f.write(key + "\n")
        return key

    def drop(self):
        admin_sql("DROP DATABASE IF EXISTS %s;\nDROP USER IF EXISTS '%s'@'localhost', "
                  "'%s'@'localhost';" % (self.name, self.user, self.muser))


@pytest.fixture
def dbs(instance, tmp_path):
    """Makes Db objects (dbs("a")), dropped at the end of the test."""
    made = []

    def make(tag):
        d = Db(instance, str(tmp_path), tag)
        made.append(d)
        return d
    yield make
    for d in made:
        d.drop()


def migrated_without_newest(db, tmp_path):
    p = db.migrate(migrations_dir(os.path.join(str(tmp_path), "m-old"), MIGRATIONS[:-1]))
    check(p.returncode == 0, "migrate without %s: %s" % (NEWEST, p.stderr))
    return db


# ---- -t ---------------------------------------------------------------------------------

def test_t_names_the_migration_the_schema_lacks(dbs, tmp_path):
    db = migrated_without_newest(dbs("t"), tmp_path)
    rc, said = db.test()
    eq(rc, 1, "clientsd -t without %s (said: %s)" % (NEWEST, said))
    check("lacks migration %s" % NEWEST in said and "clientsctl migrate" in said,
          "-t does not name %s: %s" % (NEWEST, said))
    p = db.migrate(DB_DIR)
    check(p.returncode == 0 and "applied %s " % NEWEST in p.stdout,
          "migrate: %s %s" % (p.stdout, p.stderr))
    rc, said = db.test()
    eq(rc, 0, "clientsd -t on the whole schema (said: %s)" % said)
    check("(%s)" % NEWEST in said, "-t does not say the schema it found: %s" % said)


# ---- a running pool: reload and upgrade ------------------------------------------------

class Pool(PrivatePool):
    """A pool from its own copy of this build's clientsd (so that the file
    can be replaced under it, as a package does), on conf."""

    def __init__(self, db, conf, tmp):
        self.binary = os.path.join(tmp, "bin", "clientsd")
        os.makedirs(os.path.dirname(self.binary), exist_ok=True)
        os.chmod(tmp, 0o755)
        os.chmod(os.path.dirname(self.binary), 0o755)
        install(db.bin, self.binary)
        with open(conf) as f:
            base = f.read()
        self.base = os.path.join(tmp, "base.conf")
        with open(self.base, "w") as f:
            f.write(base)
        super().__init__(self.binary, self.base, {("server", "workers"): "2",
                                                  ("server", "pm"): "static"},
                         "upgrade", db.inst.log)
        self.conf = os.path.join(self.dir, "clientsd.conf")

    def ready(self):
        check(fcgikit.wait_answering(self.sock, 20),
              "the pool does not answer: " + kit.short(self.text()[-900:], 900))
        return self

    def master(self):
        return read_pid(self.pidfile)

    def get(self, key, uri):
        return fcgikit.call(self.sock, "GET", uri, headers={"Authorization": "Bearer " + key},
                            timeout=20)

    def point_at(self, db):
        """The pool's configuration file now names db (read by a reload
        and by a new master)."""
        write_private(self.conf, conf_with(self.conf, {
            ("database", "name"): db.name, ("database", "user"): db.user,
            ("database", "password"): db.pw}))

    def stop(self):
        """The master now running (after an upgrade, not the process this
        started), then the rest."""
        m = self.master()
        if m and m != self.proc.pid and alive(m):
            os.kill(m, signal.SIGTERM)
            wait_for(lambda: not alive(m), 30, "the new master stops")
        super().stop()


def install(src, dst):
    """src renamed into dst, as dpkg installs a file."""
    shutil.copyfile(src, dst + ".new")
    os.chmod(dst + ".new", 0o755)
    os.rename(dst + ".new", dst)


@pytest.mark.timeout(120)
def test_reload_and_upgrade_keep_serving_until_migrated(dbs, tmp_path):
    """A pool serving database F (whole schema) is told to move to L,
    which lacks the newest migration (its configuration changed, then its
    binary replaced): SIGHUP, SIGHUP with a new binary on disk and SIGUSR2
    each keep the running master and workers on F, answering 200, and the
    log names the migration; after `clientsctl migrate` on L, SIGHUP moves
    the pool to a new master on L (a client only L holds answers 200, one
    only F holds 404)."""
    full, late = dbs("f"), migrated_without_newest(dbs("l"), tmp_path)
    check(full.migrate(DB_DIR).returncode == 0, "migrate F")
    kf, kl = full.key(), late.key()
    full.sql("INSERT INTO clients (id, name, publishable_key, secret_key, api_metadata, "
             "created_at, updated_at) VALUES ('only_f', 'F', 'pk_f', 'sk_f', '{}', NOW(3), "
             "NOW(3));")
    late.sql("INSERT INTO clients (id, name, publishable_key, secret_key, api_metadata, "
             "created_at, updated_at) VALUES ('only_l', 'L', 'pk_l', 'sk_l', '{}', NOW(3), "
             "NOW(3));")
    pool = Pool(full, full.conf, str(tmp_path / "pool")).ready()
    try:
        first = pool.master()
        eq(pool.get(kf, "/api/v1/clients/only_f").status, 200, "GET only_f on F")
        pool.point_at(late)

        def refused(sig, replace, pattern, n):
            if replace:
                install(full.bin, pool.binary)
            before = pool.text().count(pattern)
            os.kill(first, sig)
            wait_for(lambda: pool.text().count(pattern) > before, 15,
                     lambda: "%s: no %r in the log: %s" % (sig.name, pattern,
                                                           kit.short(pool.text()[-900:], 900)))
            time.sleep(0.5)
            check(pool.master() == first and alive(first) and pool.proc.poll() is None,
                  "%s: the master changed or went (%s)" % (sig.name, pool.master()))
            for _ in range(4):
                a = pool.get(kf, "/api/v1/clients/only_f")
                eq(a.status, 200, "%s %d: GET only_f through the old pool: %s"
                   % (sig.name, n, a.where()))
            text = pool.text()
            check(text.count("lacks migration %s" % NEWEST) >= n,
                  "%s: the log does not say which migration L lacks: %s"
                  % (sig.name, kit.short(text[-900:], 900)))

        refused(signal.SIGHUP, False, "keeping the running configuration", 1)
        refused(signal.SIGHUP, True, "keeping the running binary", 2)
        refused(signal.SIGUSR2, True, "keeping the running binary", 3)
        p = late.migrate(DB_DIR)
        check(p.returncode == 0 and "applied %s " % NEWEST in p.stdout, "migrate L: " + p.stderr)
        os.kill(first, signal.SIGHUP)
        wait_for(lambda: pool.master() not in (None, first) and not alive(first), 20,
                 lambda: "no new master after migrate and SIGHUP: " +
                 kit.short(pool.text()[-900:], 900))
        new = pool.master()
        check(os.readlink("/proc/%d/exe" % new) == pool.binary,
              "the new master does not run the binary on disk: %s"
              % os.readlink("/proc/%d/exe" % new))
        check(fcgikit.wait_answering(pool.sock, 10), "the new master does not answer")
        eq(pool.get(kl, "/api/v1/clients/only_l").status, 200, "GET only_l on L, new master")
        eq(pool.get(kl, "/api/v1/clients/only_f").status, 404, "GET only_f on L, new master")
        st = pool.get(kl, "/api/v1/status")
        eq((st.status, st.body["data"]["master_pid"], st.body["data"]["schema"]),
           (200, new, NEWEST), "/status of the new master")
    finally:
        pool.stop()


# ---- start and connections on a schema it cannot serve ----------------------------------

def test_pool_refuses_to_start_naming_the_migration(dbs, tmp_path):
    late = migrated_without_newest(dbs("s"), tmp_path)
    pool = PrivatePool(late.bin, late.conf, {}, "upgrade", late.inst.log)
    try:
        rc = pool.proc.wait(20)
        eq(rc, 1, "exit status of a pool started without %s" % NEWEST)
        text = pool.text()
        check("refusing to start: the database schema lacks migration %s" % NEWEST in text,
              "the log does not say why: " + kit.short(text[-600:], 600))
        check(not os.path.exists(pool.sock), "a socket left by the refused pool")
    finally:
        pool.stop()


def test_worker_answers_503_naming_the_migration(dbs, tmp_path):
    """A worker spawned as mod_fcgid spawns it (no master to check first)
    connects to a schema it cannot serve: 503, and the reason logged."""
    late = migrated_without_newest(dbs("w"), tmp_path)
    key = late.key()
    sock, err = str(tmp_path / "w.sock"), str(tmp_path / "w.err")
    os.chmod(str(tmp_path), 0o755)
    proc = spawned(late.bin, late.conf, sock, err)
    try:
        a = fcgikit.call(sock, "GET", "/api/v1/clients?limit=1",
                         headers={"Authorization": "Bearer " + key}, timeout=20)
        eq(a.status, 503, "status on a schema without %s: %s" % (NEWEST, a.where()))
        check(a.header("retry-after"), "503 without Retry-After")
    finally:
        rc, text = stop_spawned(proc, err)
    check("lacks migration %s" % NEWEST in text,
          "the worker's log does not say why: " + kit.short(text[-600:], 600))


# ---- the kinds of migrations ---------------------------------------------------------------

EXPAND_900 = """-- 900: a column a test adds.
-- kind: expand
-- method: instant
ALTER TABLE clients ADD COLUMN cm_upgrade_test INT NULL;
"""
CONTRACT_901 = """-- 901: the column 900 added, taken away.
-- kind: contract
-- needs: 0.2.0
-- method: instant
ALTER TABLE clients DROP COLUMN cm_upgrade_test;
"""


def columns(db):
    return [r[0] for r in db.sql("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                                 "TABLE_SCHEMA = '%s' AND TABLE_NAME = 'clients';" % db.name)]


def test_contract_migration_waits_for_contract(dbs, tmp_path):
    db = dbs("c")
    d = migrations_dir(str(tmp_path / "m"), extra={"900_test_expand.sql": EXPAND_900,
                                                   "901_test_contract.sql": CONTRACT_901})
    p = db.migrate(d)
    eq(p.returncode, 0, "plain migrate: " + p.stderr)
    out = p.stdout.splitlines()
    check(any(ln.startswith("applied 900_test_expand (expand)") for ln in out),
          "900 not applied: %s" % out)
    check("not applied: 901_test_contract (contract): run clientsctl migrate --contract once "
          "every host runs clientsd 0.2.0 or later" in out, "901 not named: %s" % out)
    eq(out[-1], "schema expanded; 1 contract migration waiting", "migrate's last line")
    names = [n for n, _ in db.applied()]
    check("900_test_expand.sql" in names and "901_test_contract.sql" not in names,
          "schema_migrations after plain migrate: %s" % names)
    check("cm_upgrade_test" in columns(db), "900's column missing")
    rc, said = db.test()
    eq(rc, 0, "clientsd -t with an expand migration it does not know (said: %s)" % said)
    p = db.migrate(d, "--contract")
    check(p.returncode == 0 and "applied 901_test_contract (contract)" in p.stdout,
          "migrate --contract: %s %s" % (p.stdout, p.stderr))
    check(("901_test_contract.sql", "contract") in db.applied(),
          "901 not recorded as a contract migration: %s" % db.applied())
    check("cm_upgrade_test" not in columns(db), "901 did not drop the column")
    rc, said = db.test()
    eq(rc, 1, "clientsd -t on a schema contracted by a migration it does not know (%s)" % said)
    check("contracted by a newer release (migration 901_test_contract)" in said,
          "-t does not name 901: %s" % said)
    p = db.migrate(d)
    check(p.returncode == 0 and p.stdout.strip() == "schema up to date",
          "plain migrate once all is applied: %s" % p.stdout)


def test_migration_without_kind_refused_before_any_runs(dbs, tmp_path):
    db = dbs("k")
    d = migrations_dir(str(tmp_path / "m"), extra={
        "950_no_kind.sql": "-- 950: no kind line.\nALTER TABLE clients ADD COLUMN x INT;\n"})
    p = db.migrate(d)
    check(p.returncode != 0, "migrate accepted a migration without a kind: " + p.stdout)
    check("950_no_kind.sql" in p.stderr and "-- kind:" in p.stderr,
          "migrate does not name the file and the line: " + p.stderr)
    eq(db.applied(), [], "migrations applied before the refusal")
    tables = [r[0] for r in db.sql("SHOW TABLES;")]
    eq(tables, ["schema_migrations"], "tables after the refusal")


# ---- a migration stopped halfway -------------------------------------------------------------

# MariaDB commits each DDL statement by itself: a migration that fails at
# its statement k leaves statements 1..k-1 applied and itself unrecorded.
# Every file of db/ runs again whole over that; the runner runs it again on
# a conflict or a lost connection, and the operator's next migrate does
# after any other error.  Here each migration is cut at each of its
# statements (the shim sends the script only up to that statement's line
# and answers it with an error), with clients in the tables.

STATEMENT = re.compile(r"^(CREATE|ALTER|INSERT|START|SELECT|COMMIT|UPDATE|DELETE|DROP)\b")


def statement_lines(name):
    """The lines of db/NAME that start a statement: the files start each
    at a line's first column and indent the lines that go on with it
    (the first test holds their count to what migrate reports)."""
    with open(os.path.join(DB_DIR, name)) as f:
        return [ln.rstrip("\n") for ln in f if STATEMENT.match(ln)]


SCHEMA_SQL = """SET SESSION group_concat_max_len = 4194304;
SELECT
 (SELECT GROUP_CONCAT(TABLE_NAME, ' ', ENGINE, ' ', TABLE_COLLATION ORDER BY TABLE_NAME
  SEPARATOR '; ') FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()) AS c0,
 (SELECT GROUP_CONCAT(TABLE_NAME, '.', COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE, ' ',
  COALESCE(COLUMN_DEFAULT, '-'), ' ', COALESCE(COLLATION_NAME, '-'), ' ', EXTRA
  ORDER BY TABLE_NAME, ORDINAL_POSITION SEPARATOR '; ') FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = DATABASE()) AS c1,
 (SELECT GROUP_CONCAT(TABLE_NAME, '.', INDEX_NAME, ' ', NON_UNIQUE, ' ', COLUMN_NAME
  ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX SEPARATOR '; ')
  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()) AS c2,
 (SELECT GROUP_CONCAT(TABLE_NAME, '.', CONSTRAINT_NAME, ' ', CHECK_CLAUSE
  ORDER BY TABLE_NAME, CONSTRAINT_NAME SEPARATOR '; ')
  FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()) AS c3,
 (SELECT GROUP_CONCAT(TRIGGER_NAME, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ',
  EVENT_OBJECT_TABLE, ' ', ACTION_STATEMENT ORDER BY TRIGGER_NAME SEPARATOR '; ')
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()) AS c4,
 (SELECT GROUP_CONCAT(ROUTINE_NAME, ' ', ROUTINE_DEFINITION ORDER BY ROUTINE_NAME
  SEPARATOR '; ') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()) AS c5,
 (SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.TABLES
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'installation_secrets') AS c6,
 (SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.TABLES
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'client_counts') AS c7;"""

COUNTS_SQL = """SELECT
 (SELECT GROUP_CONCAT(name, ' ', LENGTH(secret)) FROM installation_secrets) AS s0,
 (SELECT GROUP_CONCAT(status, ' ', s ORDER BY status) FROM (SELECT status, SUM(n) AS s
  FROM client_counts GROUP BY status HAVING SUM(n) <> 0) AS c) AS s1,
 (SELECT GROUP_CONCAT(status, ' ', k ORDER BY status) FROM (SELECT status, COUNT(*) AS k
  FROM clients GROUP BY status) AS r) AS s2;"""


def schema_of(db):
    """What the migrations make (the tables, their columns, indexes and
    checks, the triggers, the routines), the secrets' names, and each
    status's count against its rows (SUM(n) of client_counts, COUNT(*) of
    clients).  One query for the schema, one for the rows (this runs
    after every cut), each column named (the client's header line would
    hold an unnamed one's text, newlines and all)."""
    names = ("tables", "columns", "indexes", "checks", "triggers", "routines")
    row = db.sql(SCHEMA_SQL)[0]
    out = dict(zip(names, row))
    if row[6] != "NULL" and row[7] != "NULL":
        out["secrets"], out["counted"], out["rows"] = db.sql(COUNTS_SQL)[0]
    return out


def same_schema(got, want, what):
    """got is want's schema, and counts each status as many times as it
    has rows (the clients differ: those of a database cut are its own)."""
    for key in sorted(set(want) | set(got)):
        if key not in ("counted", "rows"):
            eq(got.get(key), want.get(key), "%s, %s" % (key, what))
    eq(got.get("counted"), got.get("rows"), "counts against rows, " + what)


def seed_clients(db, n=7):
    db.sql("".join("INSERT INTO clients (id, name, status, publishable_key, secret_key, "
                   "api_metadata, created_at, updated_at) VALUES ('cut%d', 'c', %d, 'pk_cut%d', "
                   "'sk_cut%d', '{}', NOW(3), NOW(3));\n" % (i, i % 3 == 0, i, i)
                   for i in range(n)))


def migrate_cut(db, directory, so, name, line, err):
    """migrate with the script of db/NAME cut before its line LINE ("": after
    its end), that statement answered with error ERR."""
    return run([db.ctlbin, "-c", db.conf, "-m", db.mconf, "migrate", "-d", directory],
               env=cut_migration_env(so, os.path.join(DB_DIR, name), line, err))


def state_before(db, tmp_path, i):
    """db holding the migrations before MIGRATIONS[i], with clients once the
    clients table is there."""
    db.reset()
    if i > 0:
        p = db.migrate(migrations_dir(os.path.join(str(tmp_path), "m-%d" % i), MIGRATIONS[:i]))
        check(p.returncode == 0, "migrate before %s: %s" % (MIGRATIONS[i], p.stderr))
        seed_clients(db)


@pytest.mark.timeout(240)
def test_a_migration_stopped_at_any_statement_runs_again_by_itself(dbs, tmp_path):
    """Each migration cut at each of its statements (and after its last)
    by a deadlock or a lost connection, the transient failures: migrate
    says where it stopped, runs it again whole on its own, and goes on;
    the schema is the one a migrate without a cut makes, the secret made
    once, each status counted as many times as it has rows."""
    so = build_shim(str(tmp_path))
    ref = dbs("cr")
    p = ref.migrate(DB_DIR)
    check(p.returncode == 0, "migrate: " + p.stderr)
    want = schema_of(ref)
    reported = {ln.split()[1]: int(re.search(r": (\d+) statements", ln).group(1))
                for ln in p.stdout.splitlines() if ln.startswith("applied ")}
    for name in MIGRATIONS:
        eq(len(statement_lines(name)), reported.get(name[:-4]),
           "db/%s: lines that start a statement, against the statements migrate ran" % name)
    db = dbs("cu")
    cases = 0
    for i, name in enumerate(MIGRATIONS):
        lines = statement_lines(name)
        check(lines, "db/%s: no line starts a statement" % name)
        for k, line in enumerate(lines[1:] + [""], start=2):
            err = 1213 if cases % 2 == 0 else 2013
            cases += 1
            state_before(db, tmp_path, i)
            p = migrate_cut(db, DB_DIR, so, name, line, err)
            where = "%s stopped at its statement %d" % (name[:-4], k)
            check(p.returncode == 0, "%s cut before statement %d (%s) by %d: migrate exit %d: %s"
                  % (name, k, line[:40] or "after the last", err, p.returncode,
                     p.stderr[-600:]))
            check(where in p.stderr and "running it again whole" in p.stderr,
                  "migrate does not say it ran %s again: %s" % (name, p.stderr[-600:]))
            eq(applied_names(p.stdout), [m[:-4] for m in MIGRATIONS[i:]],
               "applied, %s cut at statement %d" % (name, k))
            same_schema(schema_of(db), want, "%s cut at statement %d" % (name, k))
    kit.info("upgrade", "migrations cut and run again by migrate itself: %d cuts over %d "
             "migrations" % (cases, len(MIGRATIONS)))


def test_a_migration_stopped_by_an_error_runs_again_at_the_next_migrate(dbs, tmp_path):
    """012 cut after its ALTER by an error another run would not get past
    (here "Trigger has an error in its body", which a single server keeps):
    migrate exits 1 naming the migration and the statement, 012 is not
    recorded; the next migrate runs it again whole and the schema is the
    one a migrate without a cut makes."""
    so = build_shim(str(tmp_path))
    ref = dbs("er")
    p = ref.migrate(DB_DIR)
    check(p.returncode == 0, "migrate: " + p.stderr)
    want = schema_of(ref)
    db = dbs("eu")
    i = MIGRATIONS.index("012_node_counters.sql")
    state_before(db, tmp_path, i)
    line = statement_lines(MIGRATIONS[i])[1]
    check(line.startswith("CREATE OR REPLACE TRIGGER"), "012's second statement: " + line)
    p = migrate_cut(db, DB_DIR, so, MIGRATIONS[i], line, 1064)
    check(p.returncode == 1, "migrate exit %d: %s" % (p.returncode, p.stderr[-400:]))
    check("012_node_counters stopped at its statement 2" in p.stderr and
          "the next clientsctl migrate runs it again whole" in p.stderr and
          "running it again" not in p.stderr,
          "migrate does not say where 012 stopped and what to do: " + p.stderr[-600:])
    eq([r[0] for r in db.applied()], MIGRATIONS[:i], "recorded after the failure")
    cols = [r[0] for r in db.sql("SHOW COLUMNS FROM client_counts;")]
    check("node" in cols, "012's ALTER was not applied before the cut: %s" % cols)
    p = db.migrate(DB_DIR)
    check(p.returncode == 0, "the next migrate: exit %d: %s" % (p.returncode, p.stderr[-400:]))
    eq(applied_names(p.stdout), [m[:-4] for m in MIGRATIONS[i:]], "applied by the next migrate")
    same_schema(schema_of(db), want, "012 cut, then migrate again")


# ---- 009's counts with writers running through the migration --------------------------------

SEED = 20000
WRITERS = 4


class Writer:
    """A session writing to db, statement by statement as the service
    does (each committed on its own, or a few in a transaction of their
    own): creates, status flips of seeded and own clients, deletes.  Runs
    until stopped, at most `limit` rounds.  mariadb --force goes on after
    an error: the writers deadlock with one another (random rows, in
    transactions), and a deadlock rolls its transaction back, which counts
    nothing; any other error is reported."""

    def __init__(self, instance, db, w, limit=50000):
        admin = "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.proc = subprocess.Popen(
            ["timeout", "300", "mariadb", "--no-defaults", "--socket=" + instance.dbsock,
             "-u", admin, "--force", db.name], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.w, self.limit, self.rounds = w, limit, 0
        self.stop_flag = threading.Event()
        self.rnd = random.Random(w)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        w, rnd = self.w, self.rnd
        try:
            for i in range(1, self.limit + 1):
                if self.stop_flag.is_set():
                    break
                out = ["INSERT INTO clients (id, name, status, publishable_key, secret_key, "
                       "api_metadata, created_at, updated_at) VALUES ('w%d_%d', 'w', %d, "
                       "'pk_w%d_%d', 'sk_w%d_%d', '{}', NOW(3), NOW(3));"
                       % (w, i, rnd.random() < 0.5, w, i, w, i),
                       "UPDATE clients SET status = 1 - status WHERE id = 's%d';"
                       % rnd.randint(1, SEED)]
                if i % 3 == 0:
                    out.append("DELETE FROM clients WHERE id = 'w%d_%d';" % (w, i - 2))
                if i % 5 == 0:
                    out += ["START TRANSACTION;",
                            "UPDATE clients SET status = 1 - status WHERE id = 'w%d_%d';"
                            % (w, i - 1),
                            "DELETE FROM clients WHERE id = 's%d';" % rnd.randint(1, SEED),
                            "INSERT INTO clients (id, name, status, publishable_key, secret_key,"
                            " api_metadata, created_at, updated_at) VALUES ('t%d_%d', 't', 0, "
                            "'pk_t%d_%d', 'sk_t%d_%d', '{}', NOW(3), NOW(3));"
                            % (w, i, w, i, w, i),
                            "COMMIT;"]
                self.proc.stdin.write("\n".join(out) + "\n")
                self.proc.stdin.flush()
                self.rounds = i
        except (BrokenPipeError, ValueError):
            pass

    def alive(self):
        return self.proc.poll() is None and self.thread.is_alive()

    def stop(self):
        self.stop_flag.set()
        self.thread.join(30)
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        errors = [ln for ln in self.proc.stderr.read().splitlines() if ln.startswith("ERROR")]
        return [e for e in errors if not e.startswith(("ERROR 1213", "ERROR 1205"))], len(errors)


@pytest.mark.timeout(150)
def test_009_counts_exact_with_writers_through_the_migration(instance, dbs, tmp_path):
    """001 applied and 20,000 clients seeded; four writers creating,
    flipping and deleting clients while migrate applies the rest (009's
    triggers, then its count of the rows already there, then 012's
    triggers): afterwards SUM(n) per status equals COUNT(*) per status."""
    db = dbs("n")
    p = db.migrate(migrations_dir(str(tmp_path / "m1"), MIGRATIONS[:1]))
    check(p.returncode == 0, "migrate 001: " + p.stderr)
    db.sql("""INSERT INTO clients (id, name, status, publishable_key, secret_key, api_metadata,
                           created_at, updated_at)
SELECT CONCAT('s', seq), 's', MOD(seq, 3) <> 0, CONCAT('pk_s', seq), CONCAT('sk_s', seq),
       '{}', NOW(3), NOW(3) FROM seq_1_to_%d;""" % SEED)
    writers = [Writer(instance, db, w) for w in range(WRITERS)]
    try:
        # Writes going on before the migration, and still after it.
        wait_for(lambda: int(db.sql("SELECT COUNT(*) FROM clients WHERE id LIKE 'w%';")[0][0])
                 > 200, 20, "the writers writing")
        t0 = time.monotonic()
        p = db.migrate(DB_DIR)
        took = time.monotonic() - t0
        check(p.returncode == 0, "migrate under writes: %s %s" % (p.stdout, p.stderr))
        check(all(w.alive() for w in writers), "a writer ended before the migration did")
        time.sleep(1)
    finally:
        results = [w.stop() for w in writers]
    bad = [e for errs, _ in results for e in errs]
    check(not bad, "writers' errors other than deadlocks: %s" % bad[:5])
    rows = db.sql("SELECT s.status, COALESCE(c.n, 0), s.rows_ FROM "
                  "(SELECT status, COUNT(*) AS rows_ FROM clients GROUP BY status) s LEFT JOIN "
                  "(SELECT status, SUM(n) AS n FROM client_counts GROUP BY status) c "
                  "ON c.status = s.status ORDER BY s.status;")
    kit.info("upgrade", "009 under writes: migrate %.2f s (%s); writers' rounds %s, deadlocks "
             "%d; (status, counted, rows): %s" % (
                 took, " | ".join(ln for ln in p.stdout.splitlines()
                                  if ln.startswith("applied 009")),
                 [w.rounds for w in writers], sum(n for _, n in results), rows))
    check(rows and all(r[1] == r[2] for r in rows),
          "client_counts off COUNT(*) per status: %s" % rows)
