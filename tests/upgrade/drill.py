#!/usr/bin/env python3
"""drill.py - the upgrade drill (./dev upgrade-drill): the previous release
(the git tag, 0.1.0) upgraded to this tree, rolled back and upgraded again,
under load, the way the admin guide's "Upgrading" tells an operator to.

  1. The previous release is built from its git tag, or the commit recorded
     for it where the clone has no tags (git archive, autoreconf, configure,
     make; kept in var/upgrade-build/ by commit), this tree's
     build is ./dev's (--build).
  2. The "upgrade" instance of the shell library (tools/instance): MariaDB
     set up with the previous release's own `clientsctl db-setup --print`,
     configuration samples and migrations (H_CONF_SRC, H_MIGRATIONS), an
     admin key made by its clientsctl, N clients seeded by SQL, its pool
     (the binary copied to the instance's installed path) behind nginx (the
     repository's snippet).
  3. PATCH and GET load through nginx for the whole drill, open-loop at a
     fixed rate, every answer recorded.
  4. upgrade: this tree's binary renamed into the installed path (as dpkg
     does); its `clientsd -t` refuses the old schema, naming the migration
     it lacks (what the packages' scripts check before they move the
     pool); its db-setup SQL as the MariaDB admin, its `clientsctl
     migrate`; then SIGHUP, which a previous-release master takes for a
     configuration reload only (it predates the upgrade on reload), and
     SIGUSR2, which moves it; until every worker answers /status with this
     tree's version.
     rollback: the previous binary renamed back, SIGHUP (this tree's master
     upgrades to a replaced binary on reload); until it serves.
     upgrade again: this tree's binary, `clientsctl migrate` (nothing to
     apply), SIGUSR2, then `clientsctl migrate --contract`, which must say
     there is nothing to apply and change nothing.
  5. The checks: no answer but 2xx in any step, the slowest request below
     [server] request_timeout, every acknowledged PATCH's values in the
     database, one audit row per acknowledged PATCH and no other new one,
     the admin keys as they were (and the key still accepted),
     client_counts equal to COUNT(*) per status (in one consistent
     snapshot, under load, after each step, and at the end).

Prints a table a step and the migrate lines, and exits 1 on any failure.
Everything is sent to 127.0.0.1 only; the load is bounded in count and in
time and stops by itself.
"""

import argparse
import http.client
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import releasekit  # noqa: E402
from kit import Failure, check  # noqa: E402
from poolkit import TOOL, alive, conf_value, instance_env, read_pid, tool  # noqa: E402

INSTANCE = "upgrade"
# Each client the load PATCHes is PATCHed again only after this many other
# PATCHes (minutes apart): no two PATCHes of one client are ever in flight
# together, so "its last acknowledged value" is well defined.
PATCHED_CLIENTS = 2000
# How long a pool may take to move to another binary: past it the drill
# fails instead of waiting on.
STEP_TIMEOUT = 90


def say(text):
    print("upgrade-drill: %s" % text, flush=True)


def run(cmd, timeout=300, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def must(p, what):
    check(p.returncode == 0, "%s failed (exit %d): %s" % (what, p.returncode,
                                                         (p.stdout + p.stderr)[-1500:]))
    return p.stdout


# ---- the instance -----------------------------------------------------------------

class Instance:
    def __init__(self):
        self.env = instance_env(INSTANCE)
        for k, v in self.env.items():
            setattr(self, k[2:].lower() if k.startswith("H_") else k.lower(), v)

    def sql(self, text, timeout=120):
        """Rows (lists of strings) of the last result of text, run as the
        MariaDB admin in database clients (tools/instance sql)."""
        p = run([TOOL, "sql", INSTANCE], input=text, timeout=timeout)
        must(p, "SQL %r" % text[:200])
        lines = p.stdout.splitlines()
        return [ln.split("\t") for ln in lines[1:]] if lines else []

    def ctl(self, build, *args, timeout=300):
        return run([os.path.join(build, "app", "clientsctl"), "-c", self.conf, "-m", self.mconf]
                   + list(args), timeout=timeout)

    def install(self, build):
        """build's clientsd renamed into the installed path, as dpkg
        installs a file (a running copy is never written to)."""
        new = self.bin + ".dpkg-new"
        shutil.copyfile(os.path.join(build, "app", "clientsd"), new)
        os.chmod(new, 0o755)
        os.rename(new, self.bin)

    def master(self):
        return read_pid(self.poolpid)

    def pool_processes(self):
        """{pid: exe} of the processes that run the installed path, or a
        file once there ("... (deleted)")."""
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                exe = os.readlink("/proc/%s/exe" % d)
            except OSError:
                continue
            if exe in (self.bin, self.bin + " (deleted)") and alive(int(d)):
                out[int(d)] = exe
        return out


# ---- HTTP and the load -----------------------------------------------------------------

def call(port, key, method, path, body=None, rid=None, timeout=30):
    """One request on a connection of its own (no kept connection: a
    request is never sent twice); (status, parsed body or None).  Status 0:
    no answer (the exception's text as the body)."""
    h = {"Authorization": "Bearer " + key, "Connection": "close"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if rid:
        h["X-Request-Id"] = rid
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return r.status, parsed if parsed is not None else raw[:300]
    except (OSError, http.client.HTTPException) as e:
        return 0, "%s: %s" % (type(e).__name__, e)
    finally:
        c.close()


class Load:
    """PATCH and GET requests, alternating, sent open-loop at `rate` a
    second (each at its scheduled time, whatever the answers before it),
    by `threads` senders, until stopped, `limit` requests or `seconds`.
    A PATCH sets a client's name to a value of its own and its status to
    a pseudo-random one (so the counts move); a GET reads a random client,
    or every fifth the list of inactive clients (the count: client_counts).
    Every request is recorded with the step it was sent in."""

    def __init__(self, port, key, n_clients, rate, seconds, threads=24):
        self.port, self.key, self.n, self.rate = port, key, n_clients, rate
        self.limit, self.seconds = int(rate * seconds), seconds
        self.q = queue.Queue()
        self.step = "?"
        self.lock = threading.Lock()
        self.results = []
        self.stop_flag = threading.Event()
        self.errors = []
        self.dispatcher = threading.Thread(target=self.dispatch, daemon=True)
        self.senders = [threading.Thread(target=self.send, daemon=True) for _ in range(threads)]

    def request(self, i):
        if i % 2 == 0:
            j = i // 2
            cid = "up%d" % ((j % PATCHED_CLIENTS) * (self.n // PATCHED_CLIENTS) + 1)
            value = {"name": "drill %d" % j, "status": random.Random(j).random() < 0.5}
            return "PATCH", "/api/v1/clients/" + cid, value, cid
        r = random.Random(-i)
        if i % 10 == 1:
            return "GET", "/api/v1/clients?status=false&limit=1", None, None
        return "GET", "/api/v1/clients/up%d" % r.randint(1, self.n), None, None

    def dispatch(self):
        t0 = time.monotonic()
        i = 0
        while not self.stop_flag.is_set() and i < self.limit:
            t = t0 + i / self.rate
            if t - t0 > self.seconds:
                break
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.q.put((i, t, self.step))
            i += 1
        for _ in self.senders:
            self.q.put(None)

    def send(self):
        try:
            while True:
                item = self.q.get()
                if item is None:
                    return
                i, t_sched, step = item
                method, path, body, cid = self.request(i)
                rid = "drill-%d" % i
                t_sent = time.monotonic()
                status, answer = call(self.port, self.key, method, path, body, rid)
                t_done = time.monotonic()
                with self.lock:
                    self.results.append({"i": i, "step": step, "method": method, "path": path,
                                         "cid": cid, "value": body, "rid": rid,
                                         "status": status, "answer": answer,
                                         "t_sched": t_sched, "t_sent": t_sent,
                                         "t_done": t_done})
        except Exception as e:       # noqa: BLE001 - reported as a failure
            self.errors.append("%s: %s" % (type(e).__name__, e))

    def start(self):
        for t in self.senders:
            t.start()
        self.dispatcher.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.dispatcher.join(10)
        deadline = time.monotonic() + 60
        for t in self.senders:
            t.join(max(0.1, deadline - time.monotonic()))
        check(not self.dispatcher.is_alive() and not any(t.is_alive() for t in self.senders),
              "the load did not stop within 60 s")
        check(not self.errors, "the load's senders failed: %s" % self.errors[:3])


# ---- the drill ----------------------------------------------------------------------------

class Drill:
    def __init__(self, a, inst, old_build, new_build, old_version, new_version):
        self.a, self.inst = a, inst
        self.old_build, self.new_build = old_build, new_build
        self.old_version, self.new_version = old_version, new_version
        self.notes = {}          # step: [lines]
        self.checks = []         # (ok, what)
        self.migrate_lines = []
        self.load = None

    def note(self, text):
        say(text)
        self.notes.setdefault(self.load.step if self.load else "set-up", []).append(text)

    def ok(self, cond, what):
        self.checks.append((bool(cond), what))
        say("%s: %s" % ("ok" if cond else "FAILED", what))
        return cond

    def step(self, name):
        self.load.step = name
        say("--- %s" % name)

    def settle(self):
        time.sleep(self.a.settle)

    def status(self):
        code, body = call(self.port, self.key, "GET", "/api/v1/status", timeout=10)
        check(code == 200 and isinstance(body, dict), "GET /api/v1/status: %s %s"
              % (code, str(body)[:200]))
        return body["data"]

    def wait_serving(self, want_version, old_master, what):
        """Until the old master has gone, every process of the pool runs
        the binary now at the installed path, and the pool's workers all
        answer /status with want_version (None: no version member, the
        previous release) and the new master's pid.  Seconds taken."""
        t0 = time.monotonic()
        workers = int(conf_value(self.inst.conf, "server", "workers") or 4)
        last = ""
        while time.monotonic() - t0 < STEP_TIMEOUT:
            m = self.inst.master()
            procs = self.inst.pool_processes()
            stale = sorted(p for p, exe in procs.items() if exe.endswith(" (deleted)"))
            if m and m != old_master and alive(m) and not alive(old_master) and not stale:
                seen = [self.status() for _ in range(3 * workers)]
                versions = set(s.get("version") for s in seen)
                masters = set(s.get("master_pid") for s in seen)
                if versions == {want_version} and masters == {m}:
                    return time.monotonic() - t0
                last = "statuses say versions %s, masters %s" % (versions, masters)
            else:
                last = "master %s (old %s, alive %s), processes on a replaced binary %s" % (
                    m, old_master, alive(old_master), stale)
            time.sleep(0.2)
        raise Failure("%s: the pool does not serve %s after %d s: %s"
                      % (what, want_version or self.old_version, STEP_TIMEOUT, last))

    def counts_exact(self, when):
        """client_counts against COUNT(*) per status, both read in one
        consistent snapshot (exact under load: the triggers count in the
        writing transaction)."""
        rows = self.inst.sql(
            "START TRANSACTION WITH CONSISTENT SNAPSHOT;\n"
            "SELECT s.status, COALESCE(c.n, 0), s.rows_ FROM\n"
            "  (SELECT status, COUNT(*) AS rows_ FROM clients GROUP BY status) s\n"
            "  LEFT JOIN (SELECT status, SUM(n) AS n FROM client_counts GROUP BY status) c\n"
            "  ON c.status = s.status ORDER BY s.status;\nCOMMIT;")
        text = ", ".join("status %s: counted %s, rows %s" % tuple(r) for r in rows)
        self.ok(rows and all(r[1] == r[2] for r in rows), "%s: client_counts %s" % (when, text))

    def schema_snapshot(self):
        out = []
        for q in ("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "
                  "COALESCE(COLUMN_DEFAULT, 'NULL') FROM information_schema.COLUMNS "
                  "WHERE TABLE_SCHEMA = 'clients' ORDER BY TABLE_NAME, ORDINAL_POSITION",
                  "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM "
                  "information_schema.STATISTICS WHERE TABLE_SCHEMA = 'clients' "
                  "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                  "SELECT TRIGGER_NAME, MD5(ACTION_STATEMENT) FROM information_schema.TRIGGERS "
                  "WHERE TRIGGER_SCHEMA = 'clients' ORDER BY TRIGGER_NAME",
                  "SELECT name, COALESCE(kind, 'NULL') FROM schema_migrations ORDER BY name"):
            out.append(self.inst.sql(q + ";"))
        return out

    def binary_test(self, build):
        p = run([os.path.join(build, "app", "clientsd"), "-t", "-c", self.inst.conf], timeout=30)
        said = (p.stdout + p.stderr).strip().splitlines()
        return p.returncode, said[-1] if said else ""

    def migrate(self, *extra):
        p = self.inst.ctl(self.new_build, "migrate", "-d", os.path.join(REPO, "db"), *extra)
        out = must(p, "clientsctl migrate %s" % " ".join(extra))
        warnings = [ln for ln in p.stderr.splitlines() if " warning " in ln or " error " in ln]
        return out.strip().splitlines(), warnings

    # -- the steps --

    def set_up(self):
        a, inst = self.a, self.inst
        say("the %s instance: MariaDB with %s's db-setup SQL, configuration and migrations"
            % (INSTANCE, a.old_tag))
        tool("fresh", INSTANCE, self.old_build,
             env={"H_CONF_SRC": os.path.join(self.old_src, "conf"),
                  "H_MIGRATIONS": os.path.join(self.old_src, "db")})
        # The deadline of the configuration the instance now has.
        self.timeout_s = int(conf_value(inst.conf, "server", "request_timeout") or 30)
        p = inst.ctl(self.old_build, "admin-key", "create", "--name", "upgrade drill")
        self.key = must(p, "%s's clientsctl admin-key create" % a.old_tag).strip()
        check(self.key, "no admin key printed")
        fd = os.open(inst.keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.key + "\n")
        t0 = time.monotonic()
        inst.sql("""
INSERT INTO clients (id, name, status, publishable_key, secret_key, domain, company_id,
                     agency_id, api_metadata, created_at, updated_at)
SELECT CONCAT('up', seq), CONCAT('Client ', seq), seq % 3 <> 0,
       CONCAT('pk_', MD5(CONCAT('p', seq))), CONCAT('sk_', MD5(CONCAT('s', seq))),
       CONCAT('c', seq, '.example.com'), CONCAT('co', seq % 5000), CONCAT('ag', seq % 100), '{}',
       TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND,
       TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND
FROM seq_1_to_N;
ANALYZE TABLE clients;
""".replace("seq_1_to_N", "seq_1_to_%d" % a.clients), timeout=600)
        self.seed_s = time.monotonic() - t0
        say("seeded %d clients in %.1f s" % (a.clients, self.seed_s))
        self.keys_before = inst.sql("SELECT id, name, key_sha256, created_at, "
                                    "COALESCE(revoked_at, 'NULL') FROM admin_keys ORDER BY id;")
        self.audit_before = int(inst.sql("SELECT COUNT(*) FROM client_audit;")[0][0])
        out = tool("setup-start", INSTANCE, "nginx", self.old_build)
        self.port = int(out.split()[-1])
        say("%s's pool (%s) behind nginx on 127.0.0.1:%d" % (a.old_tag, inst.bin, self.port))
        s = self.status()
        check(s.get("version") is None and self.inst.master() == s.get("master_pid"),
              "not %s's pool answering: %s" % (a.old_tag, s))

    def upgrade(self, first):
        inst = self.inst
        old_master = inst.master()
        inst.install(self.new_build)
        self.note("%s renamed into %s" % (self.new_version, inst.bin))
        if first:
            rc, said = self.binary_test(self.new_build)
            self.ok(rc == 1 and self.added[0] in said,
                    "the new `clientsd -t` refuses the %s schema, naming %s (exit %d: %s)"
                    % (self.a.old_tag, self.added[0], rc, said))
            setup_sql = must(inst.ctl(self.new_build, "db-setup", "--print"),
                             "clientsctl db-setup --print")
            t0 = time.monotonic()
            inst.sql(setup_sql)
            self.note("the new db-setup SQL as the MariaDB admin: %.2f s" % (time.monotonic() - t0))
        t0 = time.monotonic()
        lines, warnings = self.migrate()
        took = time.monotonic() - t0
        for ln in lines:
            self.migrate_lines.append("%s: %s" % (self.load.step, ln))
        self.note("clientsctl migrate (%.2f s): %s" % (took, " | ".join(lines)))
        self.ok(not warnings, "clientsctl migrate: no warning or error (%s)" % warnings)
        applied = [ln for ln in lines if ln.startswith("applied ")]
        if first:
            self.ok([ln.split()[1] for ln in applied] == self.added
                    and lines[-1] == "schema up to date",
                    "migrate applied %s and says the schema is up to date"
                    % ", ".join(self.added))
        else:
            self.ok(not applied and lines == ["schema up to date"],
                    "migrate again: nothing to apply (%s)" % lines)
        rc, said = self.binary_test(self.new_build)
        self.ok(rc == 0, "the new `clientsd -t` passes now (%s)" % said)
        if first:
            # What `systemctl reload` sends: a previous-release master
            # reloads its configuration and stays what it is.
            os.kill(old_master, signal.SIGHUP)
            time.sleep(3)
            s = self.status()
            self.ok(inst.master() == old_master and s.get("version") is None,
                    "SIGHUP: %s's master only reloads its configuration (master %s, "
                    "version %s)" % (self.a.old_tag, s.get("master_pid"), s.get("version")))
        os.kill(old_master, signal.SIGUSR2)
        took = self.wait_serving(self.new_version, old_master, "upgrade")
        self.note("SIGUSR2: %s serves, every worker, %.1f s after the signal"
                  % (self.new_version, took))
        self.settle()
        self.counts_exact("after %s" % self.load.step)

    def rollback(self):
        inst = self.inst
        old_master = inst.master()
        inst.install(self.old_build)
        self.note("%s renamed back into %s" % (self.a.old_tag, inst.bin))
        os.kill(old_master, signal.SIGHUP)
        took = self.wait_serving(None, old_master, "rollback")
        self.note("SIGHUP: %s serves, every worker, %.1f s after the signal"
                  % (self.a.old_tag, took))
        # The previous release's clientsctl reads the admin keys as it did.
        p = inst.ctl(self.old_build, "admin-key", "list")
        self.ok(p.returncode == 0 and "upgrade drill" in p.stdout,
                "%s's clientsctl admin-key list after the rollback: %s"
                % (self.a.old_tag, (p.stdout + p.stderr).strip().splitlines()[-1:]))
        self.settle()
        self.counts_exact("after rollback")

    def contract(self):
        before = self.schema_snapshot()
        lines, warnings = self.migrate("--contract")
        for ln in lines:
            self.migrate_lines.append("%s: --contract: %s" % (self.load.step, ln))
        after = self.schema_snapshot()
        self.ok(lines == ["schema up to date"] and not warnings,
                "clientsctl migrate --contract: nothing to apply (%s)" % lines)
        self.ok(before == after, "clientsctl migrate --contract changed nothing in the schema "
                "(columns, indexes, triggers, schema_migrations)")
        self.settle()

    # -- the checks at the end --

    def verify(self):
        res = sorted(self.load.results, key=lambda r: r["i"])
        inst = self.inst
        bad = [r for r in res if not 200 <= r["status"] < 300]
        self.ok(not bad, "every answer 2xx (%d requests; not: %s)" % (
            len(res), ["%s %s %s: %s" % (r["step"], r["method"], r["path"], str(r["answer"])[:120])
                       for r in bad[:5]]))
        slow = max(res, key=lambda r: r["t_done"] - r["t_sched"])
        slow_ms = 1000 * (slow["t_done"] - slow["t_sched"])
        self.ok(slow_ms < 1000 * self.timeout_s,
                "the slowest request (%s %s, %s) took %.0f ms from its scheduled time, below "
                "request_timeout %d s" % (slow["method"], slow["path"], slow["step"], slow_ms,
                                           self.timeout_s))
        # Every acknowledged PATCH: the last one of each client is what it holds.
        acked = [r for r in res if r["method"] == "PATCH" and r["status"] == 200]
        last, overlap = {}, []
        for r in sorted(acked, key=lambda r: r["t_sent"]):
            prev = last.get(r["cid"])
            if prev and prev["t_done"] > r["t_sent"]:
                overlap.append(r["cid"])
            last[r["cid"]] = r
        check(not overlap, "PATCHes of one client overlapped (the drill's design): %s"
              % overlap[:5])
        rows = inst.sql("SELECT id, name, status FROM clients WHERE id IN (%s);"
                        % ",".join("'%s'" % c for c in sorted(last)))
        held = {r[0]: (r[1], r[2] == "1") for r in rows}
        wrong = ["%s holds %s, its last acknowledged PATCH %s set %s" % (
            c, held.get(c), r["rid"], (r["value"]["name"], r["value"]["status"]))
            for c, r in sorted(last.items())
            if held.get(c) != (r["value"]["name"], r["value"]["status"])]
        self.ok(not wrong, "every acknowledged PATCH is there: %d clients hold their last "
                "acknowledged values (%d PATCHes acknowledged; wrong: %s)"
                % (len(last), len(acked), wrong[:3]))
        # History: one audit row per acknowledged PATCH (each changed the
        # name), and no other new row.
        audit = {r[0]: int(r[1]) for r in inst.sql(
            "SELECT request_id, COUNT(*) FROM client_audit WHERE request_id LIKE 'drill-%' "
            "GROUP BY request_id;")}
        total = int(inst.sql("SELECT COUNT(*) FROM client_audit;")[0][0])
        want = {r["rid"] for r in acked}
        missing = sorted(want - set(audit))
        extra = sorted(set(audit) - want)
        twice = sorted(k for k, n in audit.items() if n != 1)
        self.ok(not missing and not extra and not twice and
                total == self.audit_before + len(acked),
                "audit: %d rows = %d before + %d acknowledged PATCHes (missing %s, not "
                "acknowledged %s, more than once %s)" % (total, self.audit_before, len(acked),
                                                         missing[:3], extra[:3], twice[:3]))
        keys = inst.sql("SELECT id, name, key_sha256, created_at, COALESCE(revoked_at, 'NULL') "
                        "FROM admin_keys ORDER BY id;")
        code, _ = call(self.port, self.key, "GET", "/api/v1/clients/up1")
        self.ok(keys == self.keys_before and code == 200,
                "admin keys as they were (%d), the key made by %s's clientsctl still accepted "
                "(%d)" % (len(keys), self.a.old_tag, code))
        self.counts_exact("at the end")

    def table(self):
        res = self.load.results
        order = []
        for r in sorted(res, key=lambda r: r["i"]):
            if r["step"] not in order:
                order.append(r["step"])
        lines = ["%-28s %8s %8s %8s %11s" % ("step", "requests", "2xx", "non-2xx", "slowest ms")]
        for st in order:
            rs = [r for r in res if r["step"] == st]
            ok = sum(1 for r in rs if 200 <= r["status"] < 300)
            slow = max(1000 * (r["t_done"] - r["t_sched"]) for r in rs)
            lines.append("%-28s %8d %8d %8d %11.0f" % (st, len(rs), ok, len(rs) - ok, slow))
        return lines

    def run(self):
        a = self.a
        self.set_up()
        self.load = Load(self.port, self.key, a.clients, a.rate, seconds=a.max_seconds)
        self.step("%s serving" % a.old_tag)
        self.load.start()
        self.settle()
        self.counts_exact("before the upgrade")
        self.step("1 upgrade to %s" % self.new_version)
        self.upgrade(first=True)
        self.step("2 rollback to %s" % a.old_tag)
        self.rollback()
        self.step("3 upgrade again, contract")
        self.upgrade(first=False)
        self.contract()
        self.load.stop()
        self.verify()


def migration_names(src):
    """The migrations of a source tree, without ".sql"."""
    return {f[:-4] for f in os.listdir(os.path.join(src, "db")) if f.endswith(".sql")}


def main():
    ap = argparse.ArgumentParser(description="the upgrade drill (./dev upgrade-drill)")
    ap.add_argument("--build", default="build", help="this tree's build directory")
    ap.add_argument("--old-tag", default=releasekit.PREVIOUS, help="the release to upgrade from")
    ap.add_argument("--clients", type=int, default=100000, help="clients seeded")
    ap.add_argument("--rate", type=float, default=40, help="requests a second, half PATCH")
    ap.add_argument("--settle", type=float, default=10,
                    help="seconds of load after each step before the next")
    ap.add_argument("--max-seconds", type=float, default=600, help="the load's upper bound")
    a = ap.parse_args()
    check(a.clients >= PATCHED_CLIENTS and 0 < a.rate <= 200, "--clients or --rate out of range")
    t_all = time.monotonic()
    new_build = os.path.abspath(os.path.join(REPO, a.build))
    old = releasekit.build(a.old_tag, say)
    old_src, old_build = old.src, old.build
    new_version = releasekit.version_of(os.path.join(new_build, "app", "clientsd"))
    old_version = old.version
    say("from %s (%s) to %s (%s)" % (a.old_tag, old_version, new_version, a.build))
    inst = Instance()
    d = Drill(a, inst, old_build, new_build, old_version, new_version)
    d.old_src = old_src
    # The migrations this tree adds to the previous release's: the first one
    # is what the new binary names on the old schema.
    d.added = sorted(migration_names(REPO) - migration_names(old_src))
    failure = None
    try:
        d.run()
    except (Failure, subprocess.TimeoutExpired, RuntimeError, OSError) as e:
        failure = "%s: %s" % (type(e).__name__, e)
    finally:
        if d.load and not d.load.stop_flag.is_set():
            try:
                d.load.stop()
            except Failure as e:
                failure = failure or str(e)
        tool("stop", INSTANCE, check=False)
    print()
    print("upgrade drill: %s -> %s -> %s -> %s, %d clients, %.0f requests/s (half PATCH)"
          % (a.old_tag, new_version, a.old_tag, new_version, a.clients, a.rate))
    if d.load and d.load.results:
        for ln in d.table():
            print("  " + ln)
    for ln in d.migrate_lines:
        print("  migrate, %s" % ln)
    for st, notes in d.notes.items():
        for n in notes:
            print("  %s: %s" % (st, n))
    failed = [w for ok, w in d.checks if not ok]
    if failure:
        failed.append(failure)
    print("upgrade drill: %d checks, %d failed; %.0f s (logs: %s)" % (
        len(d.checks), len(failed), time.monotonic() - t_all, os.path.relpath(inst.log, REPO)))
    for w in failed:
        print("  FAILED: %s" % w)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
