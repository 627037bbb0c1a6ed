"""cluster_test.py - clientsd on a real 3-node MariaDB Galera cluster, run by `./dev test --cluster`.

Two pools (A: nodes 1, 2, 3 in that order; B: nodes 2, 3, 1), each behind its
own nginx server block; a third pool (C) reaches node 1 through a TCP proxy of
this file that cuts the connection around COMMIT; a fourth (S) runs on a single,
non-Galera MariaDB for the throughput comparison.  The drills start and stop
the pools themselves; the ctx fixture has the shell library (tools/instance
drills up) start the nodes, nginx and the single server, fresh.

The drills, each checked against what the database holds afterwards (read on a
node with wsrep_sync_wait = 1):
  merge_patches_across_pools   2,000 merge-PATCHes, 24 connections, A and B
  kill_preferred_node          kill -9 of node 1 under load, then its return
  causal_reads_across_pools    500 PATCH (A) then GET (B) pairs
  commit_cut_by_proxy          the connection cut before/after COMMIT, the
                               COMMIT's answer held past the deadline, every
                               answer slowed
  idempotency_across_pools     one Idempotency-Key sent through A and B
  throughput_cluster_vs_single PATCH req/s, printed
  upgrade_migrate_under_load   clientsctl migrate applies 012 (TOI) under load
                               through both pools
  webhook_dispatcher_node_killed  two webhook dispatchers; the one holding the
                               lease dies with its node (kill -9 of both):
                               the other takes over, nothing lost
A drill FAILS on a lost acknowledged write, on a 503 (or any non-2xx) whose
write had committed, on a 500, and on what each drill names; rates
(503s, retries) are "info" lines, not asserted (on two shared cores they are
noise; correctness is not).  The drills' sizes: CLUSTER_ARGS (options()).

Without `[database] hosts` support, A runs on node 1 only and B on node 2
only: the drills then measure that baseline (and fail where they must).
"""

import argparse
import calendar
import http.client
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import tempfile
import threading
import time
import traceback

import pytest

import fcgikit
import kit
import releasekit
from kit import Answer, Failure, check, wait_for
from poolkit import (TOOL, alive, applied_names, build_shim, conf_value, conf_with,
                     cut_migration_env, instance_env, read_pid, tool, write_private)

pytestmark = [pytest.mark.cluster, pytest.mark.setups("before"), pytest.mark.budget(600),
              pytest.mark.timeout(600)]

CLIENTS = "/api/v1/clients"
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def info(ctx, text):
    kit.info(ctx.a.label, text)


class Pool:
    """A clientsd pool on $run_dir/pool-NAME.sock (nginx's server block for
    NAME passes to it), its config written from base with sets."""

    def __init__(self, ctx, name, base, sets, binary=None, env=None):
        a = ctx.a
        self.ctx, self.name, self.env = ctx, name, env or {}
        self.binary = binary or a.bin
        self.sock = os.path.join(a.run_dir, "pool-%s.sock" % name)
        self.pidfile = os.path.join(a.run_dir, "pool-%s.pid" % name)
        self.conf = os.path.join(a.run_dir, "pool-%s.conf" % name)
        self.log = os.path.join(a.log_dir, "cluster-pool-%s.log" % name)
        s = {("server", "listen"): self.sock, ("server", "pid_file"): self.pidfile,
             ("server", "workers"): "4", ("server", "pool"): "pool-" + name,
             ("server", "pm"): "static"}
        s.update(sets)
        write_private(self.conf, conf_with(base, s))
        self.proc = None

    def start(self):
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        env = dict(os.environ)
        env.pop("CLIENTSD_CONFIG", None)
        env.update(self.env)
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=fd, stderr=fd, env=env, start_new_session=True)
        os.close(fd)
        check(fcgikit.wait_answering(self.sock, 20),
              "pool %s does not answer on %s; log: %s" % (self.name, self.sock,
                                                          self.log_tail()))
        self.ctx.pools[self.name] = self
        return self

    def log_tail(self, n=1500):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def stop(self):
        pid = read_pid(self.pidfile) or (self.proc.pid if self.proc else None)
        if pid and alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
        if self.proc:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.ctx.pools.pop(self.name, None)


# ---- HTTP ------------------------------------------------------------------

class Http:
    """One keep-alive connection to one nginx port; reconnects on failure."""

    def __init__(self, port, key, timeout=30):
        self.port, self.key, self.timeout, self.conn = port, key, timeout, None

    def call(self, method, path, body=None, rid=None, headers=None):
        h = {"Authorization": "Bearer " + self.key}
        if body is not None:
            body = json.dumps(body).encode() if not isinstance(body, bytes) else body
            h["Content-Type"] = "application/json"
        if rid:
            h["X-Request-Id"] = rid
        h.update(headers or {})
        t0 = time.monotonic()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                raw = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                a = Answer(r.status, hdrs, raw)
                a.t0, a.t1 = t0, time.monotonic()
                return a
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                # A kept connection nginx closed meanwhile: once more, fresh.
                self.close()
                if attempt == 2:
                    raise Failure("%s %s: %s" % (method, path, e))
            except OSError:
                self.close()
                raise
        raise Failure("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def cpath(cid):
    return "%s/%s" % (CLIENTS, cid)


# ---- the database, read on a node with wsrep_sync_wait -----------------------

def sql(ctx, node, text, timeout=60, causal=True):
    """Rows (lists of strings) of the last SELECT of text, run as root on
    node; causal: after everything committed anywhere before (a read of the
    processlist during a stall must not wait for the stall to end)."""
    cmd = shlex.split(ctx.a.cluster) + ["sql", str(node)]
    p = subprocess.run(cmd, input=("SET SESSION wsrep_sync_wait = 15;\n" if causal else "")
                       + text,
                       capture_output=True, text=True, timeout=timeout)
    check(p.returncode == 0, "sql on node %d: %s" % (node, p.stderr.strip()[-400:]))
    lines = p.stdout.splitlines()
    return [unescape(x).split("\t") for x in lines[1:]] if lines else []


def unescape(s):
    # mariadb --batch escapes \\, \t, \n, \0 in values; our values hold none
    # but backslashes in JSON strings.
    return s.replace("\\\\", "\\")


def live_node(ctx, avoid=()):
    for n in (2, 3, 1):
        if n not in avoid and n not in ctx.down:
            return n
    raise Failure("no live node")


def audit_rids(ctx, prefix):
    """{request_id: [actions]} of the audit rows whose request id starts with prefix."""
    rows = sql(ctx, live_node(ctx), "SELECT request_id, action FROM client_audit "
               "WHERE request_id LIKE '%s%%'" % prefix)
    out = {}
    for r in rows:
        out.setdefault(r[0], []).append(r[1])
    return out


def metadata(ctx, cids):
    rows = sql(ctx, live_node(ctx), "SELECT id, api_metadata FROM clients WHERE id IN (%s)"
               % ",".join("'%s'" % c for c in cids))
    return {r[0]: json.loads(r[1]) for r in rows}


def cluster(ctx, *args, timeout=180):
    cmd = shlex.split(ctx.a.cluster) + [str(x) for x in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    check(p.returncode == 0, "dev cluster %s: %s" % (" ".join(map(str, args)),
                                                    (p.stdout + p.stderr)[-600:]))
    return p.stdout


def node_state(ctx, n):
    rows = sql(ctx, n, "SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'", timeout=10)
    return rows[0][1] if rows else "?"


def node_connections(ctx, n, user="clients"):
    """Connections of user (pool A's; pool B logs in as clients_b) on node
    n, or None when the node does not answer."""
    try:
        rows = sql(ctx, n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                   "WHERE USER = '%s'" % user, timeout=10, causal=False)
        return int(rows[0][0])
    except (Failure, subprocess.TimeoutExpired, IndexError, ValueError):
        return None


def poll_connections(ctx, stop, out):
    """(time, A's connections on node 1, on nodes 2 and 3) every 0.25 s."""
    while not stop.is_set():
        t = time.monotonic()
        c = [node_connections(ctx, n) if n not in ctx.down else 0 for n in (1, 2, 3)]
        out.append((t, c[0], (c[1] or 0) + (c[2] or 0)))
        time.sleep(0.25)


# ---- load --------------------------------------------------------------------

class Load:
    """Threads sending merge-PATCHes, each with a unique api_metadata key and
    X-Request-Id (the audit stores it), round-robin over ports and clients,
    until stopped or a count is reached.  Records every answer."""

    def __init__(self, ctx, tag, ports, cids, threads, count=None, key=None):
        self.ctx, self.tag, self.ports, self.cids = ctx, tag, ports, cids
        self.key = key or ctx.key
        self.count, self.threads = count, threads
        self.lock = threading.Lock()
        self.n = 0
        self.results = []      # (i, port, cid, key, rid, status, t0, t1, retry_after, body)
        self.stop_flag = threading.Event()
        self.errors = []

    def next(self):
        with self.lock:
            if self.stop_flag.is_set() or (self.count is not None and self.n >= self.count):
                return None
            self.n += 1
            return self.n - 1

    def worker(self, w):
        conns = {p: Http(p, self.key) for p in self.ports}
        try:
            while True:
                i = self.next()
                if i is None:
                    return
                port = self.ports[i % len(self.ports)]
                cid = self.cids[(i // len(self.ports)) % len(self.cids)]
                key = "%s_%d" % (self.tag, i)
                rid = "%s.%s.%d" % (self.ctx.run, self.tag, i)
                try:
                    a = conns[port].call("PATCH", cpath(cid), {"api_metadata": {key: i}},
                                         rid=rid)
                    rec = (i, port, cid, key, rid, a.status, a.t0, a.t1,
                           a.header("Retry-After"), a.raw[:300])
                except (OSError, Failure) as e:
                    rec = (i, port, cid, key, rid, 0, time.monotonic(), time.monotonic(),
                           None, str(e).encode())
                with self.lock:
                    self.results.append(rec)
                if rec[5] != 200:
                    # A client backing off a little (503s come back at
                    # once: without it an outage is tens of thousands of
                    # requests, and the clients' api_metadata fills up).
                    time.sleep(0.05)
        except Exception:       # noqa: BLE001 - reported by the test
            self.errors.append(traceback.format_exc())
        finally:
            for c in conns.values():
                c.close()

    def start(self):
        self.t0 = time.monotonic()
        self.ths = [threading.Thread(target=self.worker, args=(w,), daemon=True)
                    for w in range(self.threads)]
        for t in self.ths:
            t.start()
        return self

    def join(self, timeout=300):
        deadline = time.monotonic() + timeout
        for t in self.ths:
            t.join(max(0.1, deadline - time.monotonic()))
        self.t1 = time.monotonic()
        check(not any(t.is_alive() for t in self.ths), "load %s did not finish" % self.tag)
        check(not self.errors, "load %s: %s" % (self.tag, self.errors[:1]))
        return self

    def stop(self):
        self.stop_flag.set()
        return self.join()


def verify_writes(ctx, load, what):
    """Every answer of load against the database: a 200's key is in the
    client's api_metadata and its request id in exactly one audit row; a 503's
    (or any other answer's) write is not there; no 500.  Returns counts."""
    res = load.results
    check(res, "%s: no answers at all" % what)
    rids = audit_rids(ctx, "%s.%s." % (ctx.run, load.tag))
    meta = metadata(ctx, sorted(set(r[2] for r in res)))
    by_status = {}
    lost, twice, committed_but, s500 = [], [], [], []
    for (i, port, cid, key, rid, status, t0, t1, ra, body) in res:
        by_status[status] = by_status.get(status, 0) + 1
        in_meta = key in meta.get(cid, {})
        n_audit = len(rids.get(rid, []))
        if status == 200:
            if not in_meta or n_audit == 0:
                lost.append("%s (%s on :%d, key %s in metadata: %s, audit rows %d)"
                            % (rid, cid, port, key, in_meta, n_audit))
            if n_audit > 1:
                twice.append("%s: %d audit rows" % (rid, n_audit))
        else:
            if status == 500:
                s500.append("%s: %s" % (rid, body[:160]))
            if in_meta or n_audit:
                committed_but.append("%s answered %d but committed (key in metadata: %s, "
                                     "audit rows %d) %s" % (rid, status, in_meta, n_audit,
                                                            body[:120]))
            elif status == 503 and not (ra or "").isdigit():
                s500.append("%s: 503 without Retry-After" % rid)
    audit_total = sum(len(v) for v in rids.values())
    n200 = by_status.get(200, 0)
    info(ctx, "%s: %d requests, answers %s, lost acknowledged writes %d, "
         "non-2xx that had committed %d, 500s %d, audit rows %d for %d 200s"
         % (what, len(res), json.dumps(dict(sorted(by_status.items()))), len(lost),
            len(committed_but), by_status.get(500, 0), audit_total, n200))
    problems = []
    if lost:
        problems.append("%d acknowledged writes lost: %s" % (len(lost), "; ".join(lost[:5])))
    if twice:
        problems.append("%d writes applied twice: %s" % (len(twice), "; ".join(twice[:5])))
    if committed_but:
        problems.append("%d answers that were not 2xx had committed: %s"
                        % (len(committed_but), "; ".join(committed_but[:5])))
        problems.append("what the pools logged for the first of them: %s; the nodes' "
                        "flow control: %s"
                        % (" || ".join(request_story(ctx, c.split(" ", 1)[0])
                                       for c in committed_but[:2]),
                           flow_control(ctx)))
    if s500:
        problems.append("%d 500s (or 503s without Retry-After): %s"
                        % (len(s500), "; ".join(s500[:5])))
    unexpected = {s: c for s, c in by_status.items() if s not in (200, 503, 500)}
    if unexpected:
        problems.append("answers other than 200/503: %s (e.g. %s)" % (
            unexpected, [r[9][:120] for r in res if r[5] in unexpected][:3]))
    if audit_total != n200 - len(lost) + len(twice) + len(committed_but) and not problems:
        problems.append("audit rows %d != 200s %d" % (audit_total, n200))
    check(not problems, "%s: %s" % (what, " | ".join(problems)))
    return by_status


# ---- the suite's context --------------------------------------------------------

class Ctx:
    def __init__(self, a):
        self.a = a
        with open(a.admin_key_file) as f:
            self.key = f.read().strip()
        with open(a.single_key_file) as f:
            self.single_key = f.read().strip()
        self.run = "cl%x" % random.getrandbits(24)
        self.pools = {}
        self.down = set()
        b = a.base_port
        self.node_port = {n: b + 10 * n for n in (1, 2, 3)}
        self.port = {"a": b + 40, "b": b + 41, "c": b + 42, "s": b + 43}
        self.multi = self.probe_multi()
        self.request_timeout = int(conf_value(a.conf, "server", "request_timeout") or 30)

    def node(self, n):
        return "127.0.0.1:%d" % self.node_port[n]

    def ctl(self, *args, env=None, timeout=120):
        """clientsctl as an operator runs it on a cluster: the [database]
        keys of a pool over nodes 1, 2 and 3, as the migration user."""
        conf = os.path.join(self.a.run_dir, "clientsctl.conf")
        if not os.path.exists(conf):
            write_private(conf, conf_with(self.a.conf, self.db_sets(
                [self.node(1), self.node(2), self.node(3)])))
        return subprocess.run([os.path.join(self.a.build, "app", "clientsctl"), "-c", conf,
                               "-m", self.a.mconf] + list(args), capture_output=True,
                              text=True, timeout=timeout, env=env)

    def db_sets(self, hosts, **kw):
        """[database] keys for a pool over hosts (a list of "host:port"):
        hosts + policy failover + galera when clientsd has them, else the
        first host alone (the baseline)."""
        if self.multi:
            s = {("database", "socket"): None, ("database", "host"): None,
                 ("database", "port"): None, ("database", "hosts"): ", ".join(hosts),
                 ("database", "policy"): "failover", ("database", "galera"): "true",
                 ("database", "failback_s"): "2",
                 ("database", "causal_reads"): "true" if kw.get("causal", True) else "false"}
            if self.idem_ttl and kw.get("short_ttl"):
                s[("api", "idempotency_ttl_s")] = "4"
        else:
            h, p = hosts[0].rsplit(":", 1)
            s = {("database", "socket"): "", ("database", "host"): h,
                 ("database", "port"): p}
        return s

    def probe_multi(self):
        """Does this clientsd take [database] hosts (and the Galera keys)?"""
        self.idem_ttl = False
        d = self.a.run_dir
        for ttl in (True, False):
            conf = os.path.join(d, "probe.conf")
            sets = {("database", "socket"): None, ("database", "host"): None,
                    ("database", "port"): None,
                    ("database", "hosts"): "%s, %s" % (self.node(1), self.node(2)),
                    ("database", "policy"): "failover", ("database", "galera"): "true",
                    ("database", "causal_reads"): "true", ("database", "failback_s"): "2",
                    ("server", "listen"): os.path.join(d, "probe.sock")}
            if ttl:
                sets[("api", "idempotency_ttl_s")] = "4"
            with open(conf, "w") as f:
                f.write(conf_with(self.a.conf, sets))
            p = subprocess.run([self.a.bin, "-t", "-c", conf], capture_output=True, text=True)
            os.unlink(conf)
            if p.returncode == 0:
                self.idem_ttl = ttl
                return True
            last = (p.stdout + p.stderr).strip()[-300:]
        self.probe_error = last
        return False

    def pool(self, name, hosts, workers=None, failback=2, binary=None, env=None, **kw):
        workers = workers or self.a.pool_workers
        if name in self.pools:
            self.pools[name].stop()
        sets = self.db_sets(hosts, **kw)
        if name == "b":
            # Its own database user: the nodes' processlists tell where
            # each pool's workers are connected.
            sets[("database", "user")] = "clients_b"
        sets[("server", "workers")] = str(workers)
        if self.multi:
            sets[("database", "failback_s")] = str(failback)
        return Pool(self, name, self.a.conf, sets, binary=binary, env=env).start()

    def pools_ab(self, **kw):
        """Pools A (nodes 1, 2, 3) and B (2, 3, 1).  short_ttl: their
        Idempotency-Keys expire after 4 s (the expiry drill); otherwise
        after the default day, so that a keyed write whose COMMIT came late
        is settled by its replay, not run again as a new request."""
        self.pool("a", [self.node(1), self.node(2), self.node(3)], **kw)
        self.pool("b", [self.node(2), self.node(3), self.node(1)], **kw)

    def http(self, name, key=None):
        return Http(self.port[name], key or self.key)


def second_user(ctx):
    """clients_b: the runtime user's twin (same password, its data rights
    and the update procedure's EXECUTE)."""
    pwfile = conf_value(ctx.a.conf, "database", "password_file")
    check(pwfile, "no [database] password_file in %s" % ctx.a.conf)
    with open(pwfile) as f:
        pw = f.read().strip()
    check(pw.isalnum(), "the database password is not plain hex")
    sql(ctx, 1, "CREATE USER IF NOT EXISTS 'clients_b'@'%%' IDENTIFIED BY '%s';\n"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON clients.* TO 'clients_b'@'%%';\n"
        "GRANT EXECUTE ON PROCEDURE clients.cm_update_client TO 'clients_b'@'%%';\n"
        "SELECT 1;" % pw)


def create_clients(ctx, prefix, n, port="a"):
    h = ctx.http(port)
    cids = []
    for i in range(n):
        cid = "%s_%s_%d" % (prefix, ctx.run, i)
        r = h.call("POST", CLIENTS, {"id": cid, "name": "Cluster %s %d" % (prefix, i)})
        check(r.status == 201, "create %s: %s" % (cid, r.where()))
        cids.append(cid)
    h.close()
    return cids


# ---- the drills -------------------------------------------------------------------

def test_merge_patches_across_pools(ctx):
    cids = create_clients(ctx, "mp", 5)
    mark = log_mark(ctx)
    load = Load(ctx, "mp", [ctx.port["a"], ctx.port["b"]], cids, threads=24,
                count=ctx.a.merges).start().join(timeout=400)
    secs = load.t1 - load.t0
    n503 = count_status(load.results).get(503, 0)
    info(ctx, "merge_patches_across_pools: %d PATCHes in %.1f s (%.0f/s), 503s %d (%.2f %%); "
         "conflicts logged by the pools (1213/1205, each retried or answered 503): %d"
         % (len(load.results), secs, len(load.results) / secs, n503,
            100.0 * n503 / len(load.results), log_conflicts(ctx, mark)))
    verify_writes(ctx, load, "merge_patches_across_pools")
    # Every client's history agrees with its final state: each key merged by
    # a 200 is there (verify_writes), and nothing else was added.
    meta = metadata(ctx, cids)
    want = {}
    for r in load.results:
        if r[5] == 200:
            want.setdefault(r[2], set()).add(r[3])
    for cid in cids:
        extra = set(meta.get(cid, {})) - want.get(cid, set())
        check(not extra, "%s holds keys no 200 acknowledged: %s" % (cid, sorted(extra)[:5]))


def poll_health(ctx, port, stop, out):
    h = Http(port, ctx.key, timeout=5)
    while not stop.is_set():
        t = time.monotonic()
        try:
            s = h.call("GET", "/api/v1/health").status
        except (OSError, Failure):
            s = 0
        out.append((t, s))
        time.sleep(0.05)
    h.close()


def test_kill_preferred_node(ctx):
    # 30 clients: each takes at most a few hundred keys (16 KiB of
    # api_metadata) during the drill.
    cids = create_clients(ctx, "kn", 30)
    a, b = ctx.port["a"], ctx.port["b"]
    # Mostly pool A (which prefers node 1), some B (node 2): 12 connections.
    load = Load(ctx, "kn", [a, a, b], cids, threads=12).start()
    health, hstop = [], threading.Event()
    ht = threading.Thread(target=poll_health, args=(ctx, a, hstop, health), daemon=True)
    ht.start()
    conns, cstop = [], threading.Event()
    ct = threading.Thread(target=poll_connections, args=(ctx, cstop, conns), daemon=True)
    ct.start()
    time.sleep(3)
    t_kill, wall_kill = time.monotonic(), time.time()
    cluster(ctx, "kill", 1)
    ctx.down.add(1)
    t_killed = time.monotonic()
    # Until pool A answers 2xx again (bounded), then 3 s more of load.
    first_2xx = None
    deadline = t_kill + 40
    while time.monotonic() < deadline:
        with load.lock:
            oks = [r[7] for r in load.results if r[1] == a and r[5] == 200 and r[6] >= t_killed]
        if oks:
            first_2xx = min(oks)
            break
        time.sleep(0.05)
    time.sleep(3)
    health_after = [(t, s) for t, s in health if t >= t_killed]
    health_ok = next((t for t, s in health_after if s == 200), None)
    moved = next((t for t, c1, c23 in list(conns) if t >= t_killed and c23 >= 4), None)
    with load.lock:
        during = [r for r in load.results if r[1] == a and r[6] >= t_kill]
    info(ctx, "kill_preferred_node: node 1 killed (kill -9 took %.2f s); pool A: "
         "(a) connected to the surviving Synced nodes (>= 4 connections, one per worker, "
         "on nodes 2 and 3) after %s, its /health 200 after %s; (b) first 2xx PATCH "
         "after %s; pool A answers in that window: %s"
         % (t_killed - t_kill,
            "%.2f s" % (moved - t_kill) if moved else "never",
            "%.2f s" % (health_ok - t_kill) if health_ok else "never (40 s)",
            "%.2f s" % (first_2xx - t_kill) if first_2xx else "never (40 s)",
            json.dumps(count_status(r for r in during if first_2xx is None or r[7] <= first_2xx))))
    # The node comes back (IST) while the load goes on; then fail-back.
    t_start = time.monotonic()
    back_err = []
    starter = threading.Thread(target=lambda: back_err.append(run_quiet(
        lambda: cluster(ctx, "start", 1))), daemon=True)
    starter.start()
    starter.join(200)
    check(not starter.is_alive(), "node 1 did not come back in 200 s")
    check(back_err == [None], "dev cluster start 1: %s" % back_err)
    ctx.down.discard(1)
    t_synced = time.monotonic()
    # Fail-back: pool A (user clients) on node 1 and no longer anywhere else.
    # A node that rejoined under load may have cached a table whose triggers
    # a brute-force abort cut while they loaded: it then refuses writes
    # until the table leaves its cache, and the pool keeps its writes away
    # ("triggers failed to load there").  The remedy the admin guide gives
    # is applied then, and fail-back is required within 30 s of it.
    failback, flushed, wall_synced = None, None, time.time()
    until = t_synced + 30
    while time.monotonic() < until:
        last = conns[-1] if conns else None
        if last and last[0] > t_synced and last[1] and last[2] == 0:
            failback = last[0]
            break
        if flushed is None and time.monotonic() > t_synced + 10 and \
                refusals(ctx, "a", ctx.node(1), wall_synced):
            sql(ctx, 1, "FLUSH LOCAL TABLES clients", causal=False)
            flushed = time.monotonic()
            until = flushed + 30
        time.sleep(0.25)
    time.sleep(1)
    hstop.set()
    cstop.set()
    load.stop()
    ht.join(10)
    ct.join(15)
    with load.lock:
        rejoin = [r for r in load.results if r[6] >= t_start]
    info(ctx, "kill_preferred_node: node 1 Synced again %.1f s after `start`; pool A's 4 "
         "workers back on node 1 %s; answers from `start` on: %s"
         % (t_synced - t_start,
            ("%.1f s after it was Synced" % (failback - t_synced) if failback else
             "not within 30 s (its connections on node 1, on nodes 2+3: %s)"
             % [c[1:] for c in conns[-5:]]) +
            ("" if flushed is None else " (node 1 refused writes %d times, its triggers "
             "cut by a brute-force abort while they loaded; FLUSH LOCAL TABLES clients "
             "there %.1f s after it was Synced)"
             % (refusals(ctx, "a", ctx.node(1), wall_synced), flushed - t_synced)),
            json.dumps(count_status(rejoin))))
    switches = log_switches(ctx, "a", ctx.node(1), wall_kill)
    if switches:
        info(ctx, "kill_preferred_node: pool A's log: %s" % switches)
    st = verify_writes(ctx, load, "kill_preferred_node")
    info(ctx, "kill_preferred_node: 503s %d of %d (%.2f %%)" % (
        st.get(503, 0), len(load.results), 100.0 * st.get(503, 0) / len(load.results)))
    check(first_2xx is not None, "pool A never answered 2xx in the 40 s after node 1 was "
          "killed (no failover)%s" % ("" if ctx.multi else ": this clientsd has no "
                                     "[database] hosts"))
    check(health_ok is not None, "pool A's /health never said 200 after the kill")
    check(failback is not None, "pool A did not fail back to node 1 within 30 s of its "
          "return%s (its connections on node 1, on nodes 2+3: %s)"
          % (" and of FLUSH LOCAL TABLES clients there" if flushed else "",
             [c[1:] for c in conns[-5:]]))
    s500 = [r for r in rejoin if r[5] == 500]
    check(not s500, "500s while node 1 rejoined: %d" % len(s500))


def log_mark(ctx):
    """Where each pool log ends now (for log_conflicts)."""
    out = {}
    for name in ("a", "b"):
        try:
            out[name] = os.path.getsize(os.path.join(ctx.a.log_dir, "cluster-pool-%s.log" % name))
        except OSError:
            out[name] = 0
    return out


def log_conflicts(ctx, mark):
    """Lines pools A and B logged since mark about a conflict that clientsd
    retries (1213 deadlock/certification failure, 1205 lock wait, a version
    miss), and "last message repeated N more times" after them: the retries
    that are visible in the log (reported only)."""
    n = 0
    for name, off in mark.items():
        try:
            with open(os.path.join(ctx.a.log_dir, "cluster-pool-%s.log" % name), "rb") as f:
                f.seek(off)
                last = False
                for line in f.read().decode("utf-8", "replace").splitlines():
                    low = line.lower()
                    if "deadlock" in low or "(1213)" in low or "(1205)" in low or \
                            "version" in low and "retr" in low:
                        n += 1
                        last = True
                    elif "last message repeated" in low and last:
                        n += int("".join(c for c in low.split("repeated")[1] if c.isdigit())
                                 or 0)
                    else:
                        last = False
        except OSError:
            pass
    return n


def log_time(line):
    """The Unix time of a log line's UTC stamp (2026-12-07T00:29:39.870Z ...),
    or None for a line without one."""
    stamp = line.split(" ", 1)[0]
    try:
        return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + \
            float("0." + stamp[20:23])
    except ValueError:
        return None


def request_story(ctx, rid):
    """The lines the worker that answered request rid logged while it ran
    (its access line names the pid and the time), from the pools' logs:
    evidence for a failure message, since a CI run's logs do not outlive
    its clone."""
    for name in sorted(ctx.port):
        path = os.path.join(ctx.a.log_dir, "cluster-pool-%s.log" % name)
        try:
            with open(path, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            continue
        for i, line in enumerate(lines):
            if "request id=%s " % rid not in line:
                continue
            pid = line.split(" ", 2)[1]
            end = log_time(line) or 0
            us = next((w[3:] for w in line.split() if w.startswith("us=")), "0")
            start = end - int(us) / 1e6 - 0.5
            mine = [x.strip()[:220] for x in lines[max(0, i - 400):i + 1]
                    if x.split(" ", 2)[1:2] == [pid] and (log_time(x) or 0) >= start]
            return "%s (pool %s): %s" % (rid, name, " | ".join(mine[-14:]))
    return "%s: no access line in the pools' logs" % rid


def flow_control(ctx):
    """Each live node's flow-control pause (seconds in total since it
    started) and the pauses it asked for, for a failure message."""
    out = []
    for n in (1, 2, 3):
        if n in ctx.down:
            continue
        try:
            st = dict(sql(ctx, n, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                          "('wsrep_flow_control_paused_ns', 'wsrep_flow_control_sent', "
                          "'wsrep_local_state_comment')", timeout=10, causal=False))
            out.append("node %d %s: paused %.1f s, asked %s" % (
                n, st.get("wsrep_local_state_comment"),
                int(st.get("wsrep_flow_control_paused_ns", 0)) / 1e9,
                st.get("wsrep_flow_control_sent")))
        except Exception as e:  # evidence only: never hides the failure
            out.append("node %d: %s" % (n, e))
    return "; ".join(out + bf_lock_waits(ctx))


def node_dir(run_dir, n):
    """Node n's directory (tools/galera.sh's cl_dir): its log, pid file and
    slow-disk control file."""
    return os.path.join(run_dir, "galera", "n%d" % n)


def node_log(run_dir, n):
    """Node n's error log."""
    return os.path.join(node_dir(run_dir, n), "mysqld.log")


def bf_lock_waits(ctx):
    """Each node's "BF lock wait long" lines: an applier that waited
    innodb_lock_wait_timeout for a local transaction's row, holding its
    node (and, by flow control, the cluster) meanwhile."""
    out = []
    for n in (1, 2, 3):
        try:
            with open(node_log(ctx.a.run_dir, n), errors="replace") as f:
                waits = [x[:19] for x in f if "BF lock wait long" in x]
        except OSError:
            continue
        if waits:
            out.append("node %d: %d applier lock waits past innodb_lock_wait_timeout "
                       "(ended at %s)" % (n, len(waits), ", ".join(waits[:5])))
    return out


def pool_log_after(ctx, pool, since):
    """(time, line) of each line of pool's log stamped at or after the
    wall-clock time since; nothing when the log is missing."""
    path = os.path.join(ctx.a.log_dir, "cluster-pool-%s.log" % pool)
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return []
    return [(t, line) for t, line in ((log_time(x), x) for x in lines)
            if t is not None and t >= since]


def pool_log_count(ctx, pool, text, since, until=None):
    """How many lines of pool's log stamped from the wall-clock time since
    (to until) contain text."""
    return sum(1 for t, line in pool_log_after(ctx, pool, since)
               if text in line and (until is None or t < until))


def refusals(ctx, pool, node, since):
    """How often pool's log says, after the wall-clock time since, that node
    refused a write because a table's triggers failed to load there."""
    return pool_log_count(ctx, pool, "node %s down: a table's triggers" % node, since)


def log_switches(ctx, pool, node, since):
    """What pool's log says about node after the wall-clock time since: the
    workers leaving it ("database node N down: …; using M") and coming back
    ("database: back to node N"), with the first of each, in seconds after
    since.  Reported only: the log's wording is not the contract."""
    down, back = [], []
    for t, line in pool_log_after(ctx, pool, since - 1):
        if "node %s down" % node in line:
            down.append(t - since)
        elif "back to node %s" % node in line:
            back.append(t - since)
    if not down and not back:
        return ""
    return ("%d workers logged leaving %s (first %.2f s after the kill), %d logged coming "
            "back (first %.1f s, last %.1f s after the kill)"
            % (len(down), node, min(down) if down else -1, len(back),
               min(back) if back else -1, max(back) if back else -1))


def run_quiet(fn):
    try:
        fn()
        return None
    except Exception as e:      # noqa: BLE001
        return str(e)


def count_status(results):
    out = {}
    for r in results:
        out[r[5]] = out.get(r[5], 0) + 1
    return dict(sorted(out.items()))


def pairs(ctx, tag, n, threads):
    """n PATCH (pool A) then GET (pool B) pairs; returns (stale, errors, GET times)."""
    cids = create_clients(ctx, tag, threads)
    stale, errors, times = [], [], []
    lock = threading.Lock()

    def run(w):
        pa, pb = ctx.http("a"), ctx.http("b")
        cid = cids[w]
        for i in range(w, n, threads):
            r = pa.call("PATCH", cpath(cid), {"api_metadata": {"seq": i}},
                        rid="%s.%s.%d" % (ctx.run, tag, i))
            if r.status != 200:
                with lock:
                    errors.append("PATCH %d: %s" % (i, r.where()))
                continue
            g = pb.call("GET", cpath(cid))
            with lock:
                times.append(g.t1 - g.t0)
                if g.status != 200:
                    errors.append("GET %d: %s" % (i, g.where()))
                elif g.data["api_metadata"].get("seq") != i:
                    stale.append("%s: PATCH seq %d, GET on B saw %s"
                                 % (cid, i, g.data["api_metadata"].get("seq")))
        pa.close()
        pb.close()

    ths = [threading.Thread(target=run, args=(w,), daemon=True) for w in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(300)
    return stale, errors, times


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


def test_causal_reads_across_pools(ctx):
    stale, errors, times = pairs(ctx, "cr", ctx.a.pairs, 4)
    info(ctx, "causal_reads_across_pools (causal_reads = %s): %d pairs, stale %d, errors %d; "
         "GET on B p50 %.1f ms p99 %.1f ms"
         % ("true" if ctx.multi else "unsupported", ctx.a.pairs, len(stale), len(errors),
            pct(times, 0.5), pct(times, 0.99)))
    check(not errors, "PATCH/GET errors: %d: %s" % (len(errors), errors[:3]))
    check(not stale, "%d of %d GETs through B did not see the PATCH through A: %s"
          % (len(stale), ctx.a.pairs, stale[:3]))
    if not ctx.multi:
        return
    # What causal_reads costs (reported): the same pairs with pool B
    # restarted without it; stale reads there are the reason it exists.
    try:
        ctx.pool("b", [ctx.node(2), ctx.node(3), ctx.node(1)], causal=False)
        stale0, errors0, times0 = pairs(ctx, "cr0", ctx.a.pairs, 4)
        info(ctx, "causal_reads_across_pools (causal_reads = false): %d pairs, stale %d, "
             "errors %d; GET on B p50 %.1f ms p99 %.1f ms (with causal_reads: p50 %.1f, "
             "p99 %.1f)" % (ctx.a.pairs, len(stale0), len(errors0), pct(times0, 0.5),
                           pct(times0, 0.99), pct(times, 0.5), pct(times, 0.99)))
    finally:
        ctx.pool("b", [ctx.node(2), ctx.node(3), ctx.node(1)])


# ---- the COMMIT-cutting proxy --------------------------------------------------

class CommitCutter:
    """TCP proxies, one per target node, between pool C and the nodes, that
    understand just enough of the MariaDB protocol (3-byte length, sequence
    byte, then the command: 0x03 COM_QUERY) to find COMMIT, and the
    executions (0x17 COM_STMT_EXECUTE) of a statement prepared as CALL
    cm_update_client, which commits on the server and so is a COMMIT too
    (its id comes in the answer to the prepare).  Armed with
    "before", the proxy that sees the next COMMIT closes both sides instead
    of forwarding it (the server rolls back); with "after", it forwards it,
    reads the server's answer and closes both sides instead of passing it on
    (committed, outcome unknown to the client); with "held", it forwards
    it and holds the server's answer hold_s seconds, past the request's
    deadline, with the connection open (a network that stalls).  One arming
    cuts or holds one COMMIT, whichever node the worker is on; what the
    worker does next (reconnect, look its transaction up, re-run) goes
    through unharmed.  Armed with "slow", every answer of every server waits
    SLOW_S before it is passed on, until the next arming (a slow network)."""

    SLOW_S = 0.2

    def __init__(self, target_ports, hold_s):
        self.lock = threading.Lock()
        self.armed = None
        self.cuts = []
        self.commits = 0
        self.closed = False
        self.hold_s, self.delay, self.delayed = hold_s, 0.0, 0
        self.ports, self.lsocks = [], []
        for tp in target_ports:
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", 0))
            ls.listen(64)
            self.lsocks.append(ls)
            self.ports.append(ls.getsockname()[1])
            threading.Thread(target=self.accept, args=(ls, ("127.0.0.1", tp)),
                             daemon=True).start()

    def arm(self, mode):
        with self.lock:
            self.delay = self.SLOW_S if mode == "slow" else 0.0
            self.armed = None if mode == "slow" else mode

    def accept(self, lsock, target):
        while not self.closed:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(target, timeout=5)
                s.settimeout(None)
            except OSError:
                c.close()
                continue
            # reply: what becomes of the armed COMMIT's answer ("after", "held").
            conn = {"c": c, "s": s, "reply": None, "dead": False,
                    "call_prepare": False, "call_ids": set(), "sbuf": b""}
            threading.Thread(target=self.pump_client, args=(conn,), daemon=True).start()
            threading.Thread(target=self.pump_server, args=(conn,), daemon=True).start()

    @staticmethod
    def kill(conn):
        conn["dead"] = True
        for k in ("c", "s"):
            try:
                conn[k].shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn[k].close()

    def pump_client(self, conn):
        buf = b""
        while not conn["dead"]:
            try:
                data = conn["c"].recv(65536)
            except OSError:
                data = b""
            if not data:
                self.kill(conn)
                return
            buf += data
            out = b""
            while len(buf) >= 4:
                n = buf[0] | buf[1] << 8 | buf[2] << 16
                if len(buf) < 4 + n:
                    break
                pkt, buf = buf[:4 + n], buf[4 + n:]
                payload = pkt[4:]
                if payload[:1] == b"\x16" and payload[1:].startswith(b"CALL cm_update_client"):
                    conn["call_prepare"] = True
                if (payload[:1] == b"\x03" and payload[1:].strip().upper().startswith(b"COMMIT")
                        or payload[:1] == b"\x17" and payload[1:5] in conn["call_ids"]):
                    with self.lock:
                        self.commits += 1
                        mode, self.armed = self.armed, None
                    if mode == "before":
                        self.cuts.append("before")
                        try:
                            conn["s"].sendall(out)
                        except OSError:
                            pass
                        self.kill(conn)
                        return
                    if mode in ("after", "held"):
                        self.cuts.append(mode)
                        conn["reply"] = mode
                out += pkt
            try:
                if out:
                    conn["s"].sendall(out)
            except OSError:
                self.kill(conn)
                return

    def pump_server(self, conn):
        while not conn["dead"]:
            try:
                data = conn["s"].recv(65536)
            except OSError:
                data = b""
            if not data:
                self.kill(conn)
                return
            if conn["reply"] == "after":
                # The answer to the COMMIT (the server answers nothing else
                # while a command is outstanding): never passed on.
                self.kill(conn)
                return
            if conn["call_prepare"]:
                self.prepared_id(conn, data)
            self.wait_before_passing(conn)
            try:
                conn["c"].sendall(data)
            except OSError:
                self.kill(conn)
                return

    def wait_before_passing(self, conn):
        """A held COMMIT's answer waits hold_s; with "slow", any answer
        waits the delay."""
        if conn["reply"] == "held":
            conn["reply"] = None
            time.sleep(self.hold_s)
            return
        with self.lock:
            delay = self.delay
            self.delayed += delay > 0
        if delay:
            time.sleep(delay)

    @staticmethod
    def prepared_id(conn, data):
        """The statement id of the prepare's answer (its first packet:
        0x00, then the id), kept when the prepare was of the call."""
        conn["sbuf"] += data
        if len(conn["sbuf"]) >= 9:
            payload = conn["sbuf"][4:]
            if payload[:1] == b"\x00":
                conn["call_ids"].add(payload[1:5])
            conn["call_prepare"], conn["sbuf"] = False, b""

    def close(self):
        self.closed = True
        for ls in self.lsocks:
            ls.close()


def test_trigger_body_error_leaves_node(ctx):
    """A node whose cached clients table lost its triggers: after a
    brute-force abort hit a statement while it parsed them, MariaDB 10.11
    answers every write that gets that table object "Trigger ... has an
    error in its body" for as long as the object stays cached (minutes, in
    a stalled-node run).  The shim answers that to every client INSERT on
    node 1; pool C prefers node 1 and must leave it like a node that
    stopped serving: every create 201, from nodes 2 and 3, each client on
    every node, and the pool's log says why it left."""
    with tempfile.TemporaryDirectory() as tmp:
        so = build_shim(tmp)
        ctx.pool("c", [ctx.node(1), ctx.node(2), ctx.node(3)], workers=2,
                 env={"LD_PRELOAD": so, "SHIM_TRIGBODY": str(ctx.node_port[1])})
        try:
            h = ctx.http("c")
            cids, answers = [], []
            for i in range(12):
                cid = "tb_%s_%d" % (ctx.run, i)
                a = h.call("POST", CLIENTS, {"id": cid, "name": "t %d" % i})
                answers.append(a.status)
                cids.append(cid)
                time.sleep(0.25)
            h.close()
            log = ctx.pools["c"].log_tail(200000)
        finally:
            ctx.pools["c"].stop()
    check(answers == [201] * len(cids), "creates with node 1's triggers failing: %s" % answers)
    check("triggers failed to load there" in log,
          "pool C's log does not say why it left node 1: %s" % log[-600:])
    for n in (1, 2, 3):
        ids = {r[0] for r in sql(ctx, n, "SELECT id FROM clients WHERE id LIKE 'tb\\_%s\\_%%'"
                                 % ctx.run)}
        check(ids == set(cids), "node %d holds %d of the %d creates" % (n, len(ids), len(cids)))
    info(ctx, "trigger_body_error_leaves_node: %d creates through a pool preferring node 1, "
         "all 201; node 1 left %d times" % (len(cids), log.count("triggers failed to load there")))
    migrate_leaves_trigger_error(ctx)


def migrate_leaves_trigger_error(ctx):
    """The same error, answered to clientsctl migrate by node 1 in the middle
    of 012 (its ALTER applied, its first CREATE OR REPLACE TRIGGER refused,
    as in a cluster drill under load): migrate leaves node 1, runs 012 again
    whole through node 2, records it once, and every node holds its column
    and its three triggers.  012 is run again over itself here (its record
    deleted first), as a migration stopped halfway is."""
    if not ctx.multi:
        return
    path = os.path.join(REPO, "db", UNDONE + ".sql")
    with open(path) as f:
        second = [ln for ln in f if ln.startswith("CREATE OR REPLACE TRIGGER")][0].rstrip("\n")
    sql(ctx, 1, "DELETE FROM schema_migrations WHERE name = '%s.sql';\nSELECT 1;" % UNDONE)
    with tempfile.TemporaryDirectory() as tmp:
        m = ctx.ctl("migrate", "-d", os.path.join(REPO, "db"), env=cut_migration_env(
            build_shim(tmp), path, second, 1064, port=ctx.node_port[1]))
    said = m.stdout + m.stderr
    check(m.returncode == 0, "migrate with node 1 failing 012's triggers: exit %d: %s"
          % (m.returncode, said[-600:]))
    check("triggers failed to load there" in said and "%s stopped at its "
          "statement 2" % UNDONE in said and "running it again whole" in said,
          "migrate does not say it left node 1 and ran 012 again: " + said[-600:])
    check(applied_names(m.stdout) == [UNDONE], "migrate applied: " + m.stdout)
    for n in (1, 2, 3):
        rows = sql(ctx, n, "SELECT COUNT(*) FROM schema_migrations WHERE name = '%s.sql'"
                   % UNDONE)
        trig = sql(ctx, n, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE "
                   "TRIGGER_SCHEMA = 'clients' AND ACTION_STATEMENT LIKE '%%@@hostname%%'")
        check(rows == [["1"]] and trig == [["3"]],
              "node %d after 012 ran again: recorded %s, its triggers %s" % (n, rows, trig))
    info(ctx, "trigger_body_error_leaves_node: clientsctl migrate, 012 refused by node 1 at "
         "its 2nd statement: ran again through node 2, recorded once on every node")


def test_commit_cut_by_proxy(ctx):
    # Proxies before nodes 1 and 2: pool C goes through them only.  A held
    # answer outlasts the request's deadline.
    proxy = CommitCutter([ctx.node_port[1], ctx.node_port[2]], ctx.request_timeout + 2)
    try:
        hosts = ["127.0.0.1:%d" % p for p in proxy.ports]
        if not ctx.multi:
            hosts = hosts[:1]
        # One worker: the armed cut hits the request sent, on either node.
        ctx.pool("c", hosts, causal=False, workers=1, failback=1)
        h = ctx.http("c")
        # Three clients to PATCH, and one per rotate-keys case (its keys
        # before the cut are compared with the stored ones at the end).
        # A held answer costs a deadline each: one case of each.
        plan = (("before", 3), ("after", 3), ("held", 1), ("slow", 1))
        base = create_clients(ctx, "cut", 3, port="c")
        rot = create_clients(ctx, "cutrot", sum(n for _, n in plan), port="c")
        cases, problems = [], []
        seq = 0
        for mode, reps in plan:
            for op in ("patch", "create", "rotate"):
                for rep in range(reps):
                    seq += 1
                    rid = "%s.cut.%d" % (ctx.run, seq)
                    cid = base[rep]
                    before_keys = None
                    if op == "rotate":
                        cid = rot.pop()
                        g = h.call("GET", cpath(cid))
                        check(g.status == 200, "GET %s: %s" % (cid, g.where()))
                        before_keys = (g.data["publishable_key"], g.data["secret_key"])
                    cuts0, delayed0 = len(proxy.cuts), proxy.delayed
                    proxy.arm(mode)
                    if op == "patch":
                        key = "cut_%d" % seq
                        r = h.call("PATCH", cpath(cid), {"api_metadata": {key: seq}}, rid=rid)
                    elif op == "create":
                        cid = "cutnew_%s_%d" % (ctx.run, seq)
                        r = h.call("POST", CLIENTS, {"id": cid, "name": "cut %d" % seq},
                                   rid=rid)
                    else:
                        r = h.call("POST", cpath(cid) + "/rotate-keys", rid=rid)
                    proxy.arm(None)
                    cut = (proxy.delayed > delayed0 if mode == "slow"
                           else len(proxy.cuts) > cuts0)
                    cases.append((mode, op, seq, rid, cid, r, cut,
                                  key if op == "patch" else None, before_keys))
        # What the database holds, on a node the proxy does not stand before.
        rids = audit_rids(ctx, "%s.cut." % ctx.run)
        ids = sorted(set(c[4] for c in cases))
        rows = sql(ctx, live_node(ctx), "SELECT id, api_metadata, publishable_key, secret_key "
                   "FROM clients WHERE id IN (%s)" % ",".join("'%s'" % i for i in ids))
        stored = {r[0]: (json.loads(r[1]), r[2], r[3]) for r in rows}
        tally = {}
        for (mode, op, seq, rid, cid, r, cut, key, before_keys) in cases:
            n = len(rids.get(rid, []))
            committed = n > 0
            tally.setdefault((mode, r.status, committed), 0)
            tally[(mode, r.status, committed)] += 1
            where = "COMMIT %s, %s %s (rid %s): answer %s, audit rows %d" % (
                mode, op, cid, rid, r.where()[:140], n)
            if not cut:
                problems.append("the proxy did nothing: " + where)
                continue
            # A hold that did not happen would pass as an ordinary COMMIT:
            # the worker must have waited for it up to its deadline.
            if mode == "held" and r.t1 - r.t0 < ctx.request_timeout - 2:
                problems.append("answered after %.1f s, before the deadline: %s"
                                % (r.t1 - r.t0, where))
            if n > 1:
                problems.append("applied %d times: %s" % (n, where))
            ok2xx = r.status in (200, 201)
            if r.status == 500:
                problems.append("500: " + where)
            elif ok2xx and not committed:
                problems.append("2xx but nothing committed: " + where)
            elif not ok2xx and committed:
                problems.append("not 2xx but committed: " + where)
            elif r.status not in (200, 201, 503):
                problems.append("unexpected answer: " + where)
            if ok2xx and committed:
                s = stored.get(cid)
                if op == "patch" and (s is None or key not in s[0]):
                    problems.append("key not stored: " + where)
                if op == "create" and s is None:
                    problems.append("client not stored: " + where)
                if op == "rotate" and (s is None or (r.data or {}).get("secret_key") != s[2]
                                       or (s[1], s[2]) == before_keys):
                    problems.append("keys answered != keys stored: " + where)
            if not ok2xx and op == "rotate" and stored.get(cid) and \
                    (stored[cid][1], stored[cid][2]) != before_keys and not committed:
                problems.append("keys changed without an audit row: " + where)
        info(ctx, "commit_cut_by_proxy: %d COMMITs cut or held, %d answers slowed (%d "
             "COMMITs seen); answers (mode, status, committed): %s" % (
                 len(proxy.cuts), proxy.delayed, proxy.commits,
                 ", ".join("%s/%d/%s: %d" % (k[0], k[1], "yes" if k[2] else "no", v)
                           for k, v in sorted(tally.items()))))
        h.close()
        check(not problems, "%d answers do not match the database: %s"
              % (len(problems), " | ".join(problems[:6])))
    finally:
        if "c" in ctx.pools:
            ctx.pools["c"].stop()
        proxy.close()


def test_idempotency_across_pools(ctx):
    if ctx.idem_ttl:
        ctx.pools_ab(short_ttl=True)
    try:
        idempotency_across_pools(ctx)
    finally:
        if ctx.idem_ttl:
            ctx.pools_ab()


def idempotency_across_pools(ctx):
    """Replays, reuse and concurrent repeats through pools A and B, and
    (with short keys) a key that expired."""
    a, b = ctx.http("a"), ctx.http("b")
    key = "idem-%s-1" % ctx.run
    cid = "idem_%s" % ctx.run
    body = {"id": cid, "name": "Idempotent"}
    r1 = a.call("POST", CLIENTS, body, rid="%s.idem.1" % ctx.run,
                headers={"Idempotency-Key": key})
    check(r1.status == 201, "first POST through A: %s" % r1.where())
    r2 = b.call("POST", CLIENTS, body, rid="%s.idem.2" % ctx.run,
                headers={"Idempotency-Key": key})
    check(r2.status == 201 and (r2.header("Idempotent-Replayed") or "").lower() == "true",
          "the same POST and key through B: expected the stored 201 with "
          "Idempotent-Replayed: true, got %s (Idempotent-Replayed: %r)"
          % (r2.where(), r2.header("Idempotent-Replayed")))
    check(r2.data == r1.data, "the replay's body differs from the first answer")
    # Another body with the same key: 422 idempotency_key_reused, nothing written.
    r3 = b.call("POST", CLIENTS, {"id": cid + "x", "name": "Other"},
                headers={"Idempotency-Key": key})
    check(r3.status == 422 and "idempotency_key_reused" in r3.raw.decode(),
          "same key, other body, through B: %s" % r3.where())
    # A PATCH with a key through A, replayed through B: one update.
    key3 = "idem-%s-3" % ctx.run
    p1 = a.call("PATCH", cpath(cid), {"api_metadata": {"idem": 1}},
                headers={"Idempotency-Key": key3})
    check(p1.status == 200, "PATCH with a key through A: %s" % p1.where())
    p2 = b.call("PATCH", cpath(cid), {"api_metadata": {"idem": 1}},
                headers={"Idempotency-Key": key3})
    check(p2.status == 200 and (p2.header("Idempotent-Replayed") or "").lower() == "true"
          and p2.data == p1.data, "the PATCH replayed through B: %s (Idempotent-Replayed %r)"
          % (p2.where(), p2.header("Idempotent-Replayed")))
    # Concurrent duplicates of a rotate-keys, one through each pool: one write.
    key2 = "idem-%s-2" % ctx.run
    out = {}
    bar = threading.Barrier(2)

    def send(name, h):
        bar.wait()
        out[name] = h.call("POST", cpath(cid) + "/rotate-keys",
                           rid="%s.idem.rot.%s" % (ctx.run, name),
                           headers={"Idempotency-Key": key2})

    ths = [threading.Thread(target=send, args=(n, h)) for n, h in (("a", a), ("b", b))]
    for t in ths:
        t.start()
    for t in ths:
        t.join(30)
    sts = sorted(out[n].status for n in out)
    rows = sql(ctx, live_node(ctx), "SELECT action, request_id FROM client_audit "
               "WHERE client_id = '%s' ORDER BY seq" % cid)
    actions = [r[0] for r in rows]
    info(ctx, "idempotency_across_pools: concurrent rotate-keys through A and B: %s; "
         "audit: %s" % (sts, actions))
    check(actions.count("create") == 1, "creates in the audit: %s" % actions)
    check(actions.count("update") == 1, "updates in the audit: %s" % actions)
    check(actions.count("rotate_keys") == 1, "two rotate-keys with one Idempotency-Key "
          "through two pools wrote %d times" % actions.count("rotate_keys"))
    check(all(s in (200, 409) for s in sts) and 200 in sts,
          "answers to the concurrent pair: %s" % [out[n].where() for n in out])
    for r in out.values():
        check(r.status != 409 or ("idempotency_in_progress" in r.raw.decode()
                                  and (r.header("Retry-After") or "").isdigit()),
              "a 409 to the concurrent pair without idempotency_in_progress and "
              "Retry-After: %s" % r.where())
    # A replay after the pair: the stored 200, with the header.
    r4 = a.call("POST", cpath(cid) + "/rotate-keys", headers={"Idempotency-Key": key2})
    check(r4.status == 200 and (r4.header("Idempotent-Replayed") or "").lower() == "true",
          "replay of the rotate-keys: %s" % r4.where())
    if ctx.idem_ttl:
        # Expiry (idempotency_ttl_s = 4 here): the key is new again.
        time.sleep(5)
        r5 = b.call("POST", cpath(cid) + "/rotate-keys", headers={"Idempotency-Key": key2})
        check(r5.status == 200 and r5.header("Idempotent-Replayed") is None,
              "after the key expired: %s (Idempotent-Replayed %r)"
              % (r5.where(), r5.header("Idempotent-Replayed")))
    a.close()
    b.close()


class CreateLoad:
    """Threads POSTing new clients, each with its own Idempotency-Key and
    X-Request-Id, round-robin over ports, until stopped or a count is
    reached.  Records every answer: (i, port, cid, key, rid, status, t0, t1,
    body)."""

    def __init__(self, ctx, tag, ports, threads, count=None):
        self.ctx, self.tag, self.ports, self.threads, self.count = ctx, tag, ports, threads, count
        self.lock = threading.Lock()
        self.n = 0
        self.results = []
        self.stop_flag = threading.Event()
        self.errors = []

    def next(self):
        with self.lock:
            if self.stop_flag.is_set() or (self.count is not None and self.n >= self.count):
                return None
            self.n += 1
            return self.n - 1

    def worker(self, w):
        conns = {p: Http(p, self.ctx.key) for p in self.ports}
        try:
            while True:
                i = self.next()
                if i is None:
                    return
                port = self.ports[i % len(self.ports)]
                cid = "%s_%s_%d" % (self.tag, self.ctx.run, i)
                key = "%s-%s-%d" % (self.tag, self.ctx.run, i)
                rid = "%s.%s.%d" % (self.ctx.run, self.tag, i)
                try:
                    a = conns[port].call("POST", CLIENTS, {"id": cid, "name": "kc %d" % i},
                                         rid=rid, headers={"Idempotency-Key": key})
                    rec = (i, port, cid, key, rid, a.status, a.t0, a.t1, a.raw[:300])
                except (OSError, Failure) as e:
                    rec = (i, port, cid, key, rid, 0, time.monotonic(), time.monotonic(),
                           str(e).encode())
                with self.lock:
                    self.results.append(rec)
                if rec[5] != 201:
                    time.sleep(0.05)
        except Exception:       # noqa: BLE001 - reported by the test
            self.errors.append(traceback.format_exc())
        finally:
            for c in conns.values():
                c.close()

    def start(self):
        self.t0 = time.monotonic()
        self.ths = [threading.Thread(target=self.worker, args=(w,), daemon=True)
                    for w in range(self.threads)]
        for t in self.ths:
            t.start()
        return self

    def join(self, timeout=600):
        deadline = time.monotonic() + timeout
        for t in self.ths:
            t.join(max(0.1, deadline - time.monotonic()))
        self.t1 = time.monotonic()
        check(not any(t.is_alive() for t in self.ths), "load %s did not finish" % self.tag)
        check(not self.errors, "load %s: %s" % (self.tag, self.errors[:1]))
        return self


def galera_conflicts(ctx):
    """{variable: sum over the live nodes} of wsrep_local_bf_aborts and
    wsrep_local_cert_failures."""
    out = {"wsrep_local_bf_aborts": 0, "wsrep_local_cert_failures": 0}
    for n in (1, 2, 3):
        if n in ctx.down:
            continue
        for r in sql(ctx, n, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                     "('wsrep_local_bf_aborts', 'wsrep_local_cert_failures')", causal=False):
            out[r[0]] += int(r[1])
    return out


def node_view(ctx, n, tag):
    """What node n holds of the creates tagged tag: client ids, create audit
    rows by request id, and idempotency rows {key: (status, client_id)}."""
    like = "%s_%s_%%" % (tag, ctx.run)
    ids = set(r[0] for r in sql(ctx, n, "SELECT id FROM clients WHERE id LIKE '%s'" % like))
    audit = {}
    for r in sql(ctx, n, "SELECT request_id, client_id FROM client_audit WHERE action = "
                 "'create' AND request_id LIKE '%s.%s.%%'" % (ctx.run, tag)):
        audit.setdefault(r[0], []).append(r[1])
    idem = {r[0]: (r[1], r[2]) for r in sql(
        ctx, n, "SELECT idem_key, COALESCE(status, 'NULL'), COALESCE(client_id, 'NULL') "
        "FROM idempotency_keys WHERE idem_key LIKE '%s-%s-%%'" % (tag, ctx.run))}
    counts = sql(ctx, n, "SELECT (SELECT COALESCE(SUM(n), 0) FROM client_counts), "
                 "(SELECT COUNT(*) FROM clients)")
    return ids, audit, idem, counts[0] if counts else None


def answer_code(raw):
    """The first detail's code of an error answer ("" for none)."""
    try:
        details = json.loads(raw).get("details") or [{}]
        return details[0].get("code") or ""
    except (ValueError, AttributeError, TypeError):
        return ""


def verify_creates(ctx, load, what):
    """Every keyed create of load against every live node: a 201's client,
    its one create audit row and its stored answer are on each node; a
    non-2xx left nothing, or its key's replay settles it (retried here until
    it answers 201 or a 4xx); nodes agree; client_counts matches COUNT(*)."""
    res = load.results
    check(res, "%s: no answers at all" % what)
    # A failure with a key: the same request again settles it (the contract).
    settled, trail = {}, {}
    h = {p: Http(p, ctx.key) for p in load.ports}
    for (i, port, cid, key, rid, status, t0, t1, body) in res:
        if status == 201:
            continue
        for attempt in range(40):
            a = h[port].call("POST", CLIENTS, {"id": cid, "name": "kc %d" % i},
                             rid=rid + ".retry", headers={"Idempotency-Key": key})
            said = "%d %s" % (a.status, answer_code(a.raw))
            if not trail.get(cid) or trail[cid][-1][0] != said:
                trail.setdefault(cid, []).append((said, attempt))
            if a.status != 503 and a.status != 409:
                settled[cid] = a.status
                break
            time.sleep(0.5)
        else:
            settled[cid] = a.status
    for c in h.values():
        c.close()
    problems = []
    views = {}
    for n in (1, 2, 3):
        if n in ctx.down:
            continue
        views[n] = node_view(ctx, n, load.tag)
    by_status = {}
    for (i, port, cid, key, rid, status, t0, t1, body) in res:
        by_status[status] = by_status.get(status, 0) + 1
        for n, (ids, audit, idem, counts) in views.items():
            here, n_audit = cid in ids, len(audit.get(rid, []))
            st = idem.get(key)
            if status == 201:
                if not here or n_audit != 1:
                    problems.append("lost: %s answered 201 through :%d, on node %d: client %s, "
                                    "create audit rows %d, idempotency row %s"
                                    % (cid, port, n, here, n_audit, st))
            elif n_audit or (here and settled.get(cid) != 201):
                problems.append("answered %d but committed: %s through :%d, node %d: client "
                                "%s, audit rows %d, idempotency row %s, its replays (answer, "
                                "from attempt) %s (%s)" % (
                                    status, cid, port, n, here, n_audit, st, trail.get(cid),
                                    body[:100]))
            if st is not None and st[0] == "201" and not here:
                problems.append("stored 201 for a client that is not there: %s on node %d"
                                % (cid, n))
            if here and settled.get(cid, 201) != 201:
                problems.append("%s is there but its key's replay answered %s"
                                % (cid, settled.get(cid)))
    # 503 (out of time, Retry-After) and the web server's own 502/504 are
    # failures the contract allows, as long as nothing was written (above).
    odd = {s: c for s, c in by_status.items() if s not in (201, 502, 503, 504)}
    if odd:
        problems.append("answers other than 201/502/503/504: %s (e.g. %s)" % (
            odd, [r[8][:120] for r in res if r[5] in odd][:3]))
    if by_status.get(201, 0) < len(res) / 2:
        problems.append("fewer than half the creates answered 201: %s" % by_status)
    for n, v in views.items():
        if v[3] and v[3][0] != v[3][1]:
            problems.append("node %d: client_counts sums to %s, COUNT(*) is %s"
                            % (n, v[3][0], v[3][1]))
    sets = {n: v[0] for n, v in views.items()}
    if len(set(frozenset(x) for x in sets.values())) > 1:
        problems.append("the nodes disagree: %s" % {n: len(x) for n, x in sets.items()})
    info(ctx, "%s: %d keyed creates, answers %s, settled by replay %s, problems %d"
         % (what, len(res), json.dumps(dict(sorted(by_status.items()))),
            json.dumps(count_status([(0, 0, 0, 0, 0, s) for s in settled.values()])),
            len(problems)))
    check(not problems, "%s: %d problems: %s" % (what, len(problems), " | ".join(problems[:6])))
    return by_status


def test_keyed_creates_two_pools(ctx):
    """Keyed creates through pool A (node 1) and pool B (node 2) at once:
    the two nodes certify against each other on every row both touch."""
    if ctx.a.counters != "node":
        # By hand, for comparison: every create counted on one row (the
        # most conflicts two nodes can make), or on the shards of the
        # schema before node-local shards (per connection id only).
        shard = "0" if ctx.a.counters == "hot" else "CONNECTION_ID() % 32"
        sql(ctx, 1, "CREATE OR REPLACE TRIGGER clients_count_insert AFTER INSERT ON clients "
            "FOR EACH ROW INSERT INTO client_counts (status, shard, n) "
            "VALUES (NEW.status, %s, 1) ON DUPLICATE KEY UPDATE n = n + 1;\nSELECT 1;" % shard,
            causal=False)
    before = galera_conflicts(ctx)
    load = CreateLoad(ctx, "kc", [ctx.port["a"], ctx.port["b"]], threads=8,
                      count=ctx.a.creates).start().join(timeout=900)
    secs = load.t1 - load.t0
    after = galera_conflicts(ctx)
    info(ctx, "keyed_creates_two_pools: %d creates in %.1f s (%.0f/s); Galera conflicts "
         "(brute-force aborts + certification failures, all nodes): %s, %.2f per 100 creates"
         % (len(load.results), secs, len(load.results) / secs,
            {k: after[k] - before[k] for k in after},
            100.0 * sum(after[k] - before[k] for k in after) / max(1, len(load.results))))
    verify_creates(ctx, load, "keyed_creates_two_pools")


def all_threads_stopped(pid):
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
    except OSError:
        return False
    return True


def cluster_size(ctx, n):
    """wsrep_cluster_size as node n sees it (None when it does not answer)."""
    try:
        rows = sql(ctx, n, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'", timeout=5,
                   causal=False)
        return int(rows[0][1])
    except (Failure, subprocess.TimeoutExpired, IndexError, ValueError):
        return None


def wait_synced(ctx, n, timeout):
    def synced():
        try:
            return node_state(ctx, n) == "Synced" and cluster_size(ctx, n) == 3
        except (Failure, subprocess.TimeoutExpired):
            return False
    try:
        return wait_for(synced, timeout, "node %d Synced" % n, 0.5)
    except Failure:
        return False


def first_2xx_after(load, port, t, ok):
    """Seconds from t to the first answer in ok through port of a request
    sent at or after t; None if none."""
    with load.lock:
        times = [r[7] for r in load.results if r[1] == port and r[5] in ok and r[6] >= t]
    return min(times) - t if times else None


def test_stalled_node(ctx):
    """Node 2 (pool B's first) stops answering for 15 s (SIGSTOP: its
    connections stay open) under PATCH and keyed-create load through both
    pools.  Every answer is checked against every node once it is back:
    nothing acknowledged lost, nothing failed that committed; and pool B
    answers 2xx again once the others have evicted the node and its
    requests' deadlines have passed, not when the node resumes."""
    stall_s = ctx.a.stall
    cids = create_clients(ctx, "sn", 24)
    a, b = ctx.port["a"], ctx.port["b"]
    patches = Load(ctx, "sn", [a, b], cids, threads=6).start()
    creates = CreateLoad(ctx, "snc", [a, b], threads=2).start()
    time.sleep(3)
    cluster(ctx, "stall", 2)
    # A group stop reaches each thread on its way back to user space: the
    # stall starts when the last one has stopped.
    pid = read_pid(os.path.join(node_dir(ctx.a.run_dir, 2), "mysqld.pid"))
    deadline = time.monotonic() + 5
    while pid and not all_threads_stopped(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    t_stall = time.monotonic()
    evicted = None
    try:
        while time.monotonic() < t_stall + stall_s:
            if evicted is None and cluster_size(ctx, 1) == 2:
                evicted = time.monotonic() - t_stall
            time.sleep(0.25)
    finally:
        cluster(ctx, "resume", 2)
    t_resume = time.monotonic()
    back = wait_synced(ctx, 2, 120)
    time.sleep(2)
    patches.stop()
    creates.stop_flag.set()
    creates.join()
    check(back, "node 2 did not come back Synced within 120 s of SIGCONT")
    b_patch = first_2xx_after(patches, b, t_stall, (200,))
    b_create = first_2xx_after(creates, b, t_stall, (201,))
    a_patch = first_2xx_after(patches, a, t_stall, (200,))
    with patches.lock:
        during = [r for r in patches.results + creates.results
                  if r[1] == b and t_stall <= r[6] < t_resume]
    info(ctx, "stalled_node: node 2 stopped %d s; nodes 1 and 3 evicted it after %s; "
         "pool B's first 2xx of a request sent after the stall: PATCH %s, create %s "
         "(pool A: %s); pool B's answers during the stall: %s" % (
             stall_s, "%.1f s" % evicted if evicted else "never",
             "%.1f s" % b_patch if b_patch is not None else "never",
             "%.1f s" % b_create if b_create is not None else "never",
             "%.1f s" % a_patch if a_patch is not None else "never",
             json.dumps(count_status(during))))
    verify_writes(ctx, patches, "stalled_node (PATCH)")
    verify_creates(ctx, creates, "stalled_node (keyed create)")
    check(evicted is not None, "nodes 1 and 3 never evicted node 2 while it was stopped")
    # Bounded by the eviction plus the deadline (and a tick of the watch,
    # a back-off), not by the stall.
    bound = evicted + ctx.request_timeout + 2
    for what, t in (("PATCH", b_patch), ("create", b_create)):
        check(t is not None and t <= bound, "pool B's first 2xx %s after the stall came after "
              "%s, past the eviction (%.1f s) plus request_timeout (%d s)"
              % (what, t, evicted, ctx.request_timeout))


def slow_disk(ctx, n, ms):
    """Every write of node n's disk waits ms milliseconds from now on (0: a
    sound disk again): the file tests/faults/slowdisk.c reads in the
    node's directory."""
    path = os.path.join(node_dir(ctx.a.run_dir, n), "slowdisk")
    with open(path + ".new", "w") as f:
        f.write("%d\n" % ms)
    os.chmod(path + ".new", 0o644)
    os.replace(path + ".new", path)


def test_slow_disk_node(ctx):
    """Node 2 (pool B's first) gets a slow disk under PATCH and keyed-create
    load through both pools: each of its writes waits 100 ms for 8 s, then
    400 ms for 8 s, then the disk is sound again.  The commits made
    through it slow down (at 400 ms, pool B's requests take seconds); were
    its applier to fall behind, flow control would slow every node.  Every
    answer is checked against every node: nothing acknowledged lost,
    nothing failed that committed, no 500.  The fault must show: pool B's
    requests took at least the delay, or its workers left the slowed node
    (a statement that outlasts the deadline takes the node for stalled).
    (A disk slower still, whose stall outlasts a request's deadline and the
    settling after it, can leave a COMMIT of unknown outcome that no node
    can tell in time: the admin guide's "A disk that stalls" says what
    then.)"""
    cids = create_clients(ctx, "sd", 24)
    a, b = ctx.port["a"], ctx.port["b"]
    patches = Load(ctx, "sd", [a, b], cids, threads=6).start()
    creates = CreateLoad(ctx, "sdc", [a, b], threads=2).start()
    phases = []
    try:
        time.sleep(3)
        for ms, secs in ((100, 8), (400, 8)):
            slow_disk(ctx, 2, ms)
            phases.append((ms, time.monotonic(), time.time()))
            time.sleep(secs)
    finally:
        slow_disk(ctx, 2, 0)
    t_sound = time.monotonic()
    time.sleep(3)
    patches.stop()
    creates.stop_flag.set()
    creates.join()
    told, unslowed = [], []
    for k, (ms, t0, wall0) in enumerate(phases):
        t1 = phases[k + 1][1] if k + 1 < len(phases) else t_sound
        with patches.lock, creates.lock:
            during = [r for r in patches.results + creates.results if t0 <= r[6] < t1]
        took = [r[7] - r[6] for r in during if r[1] == b and r[6] >= t0 + 0.5]
        p50 = pct(took, 0.5) / 1000.0 if took else None
        left = pool_log_count(ctx, "b", "node %s down" % ctx.node(2), wall0,
                              wall0 + (t1 - t0))
        if (p50 is None or p50 < ms / 1000.0) and not left:
            unslowed.append(ms)
        told.append("%d ms a write: %s, pool B's answers p50 %s, pool B's workers that "
                    "left node 2 %d" % (ms, json.dumps(count_status(during)),
                                        "%.2f s" % p50 if p50 is not None else "none", left))
    info(ctx, "slow_disk_node: %s; flow control: %s" % ("; ".join(told), flow_control(ctx)))
    verify_writes(ctx, patches, "slow_disk_node (PATCH)")
    verify_creates(ctx, creates, "slow_disk_node (keyed create)")
    check(not unslowed, "pool B's requests were not slowed by node 2's disk at %s ms a write, "
          "nor did its workers leave the node (%s): did the nodes load "
          "tests/faults/slowdisk.c?" % (unslowed, "; ".join(told)))


def test_keyed_creates_node_killed(ctx):
    """Keyed creates through pools A and B while node 1 (A's first) is
    killed with -9 and started again: each answer against every node."""
    load = CreateLoad(ctx, "kk", [ctx.port["a"], ctx.port["b"]], threads=6).start()
    time.sleep(3)
    t_kill = time.monotonic()
    cluster(ctx, "kill", 1)
    ctx.down.add(1)
    time.sleep(6)
    starter = threading.Thread(target=lambda: cluster(ctx, "start", 1), daemon=True)
    starter.start()
    starter.join(200)
    check(not starter.is_alive(), "node 1 did not come back in 200 s")
    ctx.down.discard(1)
    check(wait_synced(ctx, 1, 60), "node 1 not Synced again")
    time.sleep(2)
    load.stop_flag.set()
    load.join()
    a_first = first_2xx_after(load, ctx.port["a"], t_kill, (201,))
    info(ctx, "keyed_creates_node_killed: %d creates, pool A's first 201 after the kill: %s"
         % (len(load.results), "%.1f s" % a_first if a_first is not None else "never"))
    verify_creates(ctx, load, "keyed_creates_node_killed")


def test_throughput_cluster_vs_single(ctx):
    single = os.path.join(ctx.a.run_dir, "pool-s.base.conf")
    with open(single, "w") as f:
        f.write(open(ctx.a.single_conf).read())
    Pool(ctx, "s", single, {}).start()
    n = ctx.a.bench
    figures = {}
    # Alternating, twice, so the machine's noise hits both alike.
    for rnd in (1, 2):
        for name, ports, key, label in (
                ("s", [ctx.port["s"]], ctx.single_key, "single server"),
                ("a", [ctx.port["a"]], ctx.key, "cluster, one pool (node 1 writes)"),
                ("ab", [ctx.port["a"], ctx.port["b"]], ctx.key,
                 "cluster, two pools (nodes 1 and 2 write)")):
            cids = create_clients(ctx, "tp%s%d" % (name, rnd), 16,
                                  port=name[0]) if name != "s" else None
            if name == "s":
                h = Http(ctx.port["s"], ctx.single_key)
                cids = []
                for i in range(16):
                    cid = "tps%d_%s_%d" % (rnd, ctx.run, i)
                    r = h.call("POST", CLIENTS, {"id": cid, "name": "t"})
                    check(r.status == 201, "create on the single server: %s" % r.where())
                    cids.append(cid)
                h.close()
            load = Load(ctx, "tp%s%d" % (name, rnd), ports, cids, threads=16,
                        count=n, key=key).start().join(timeout=300)
            st = count_status(load.results)
            check(set(st) <= {200, 503}, "%s: answers %s" % (label, st))
            rate = len(load.results) / (load.t1 - load.t0)
            lat = [r[7] - r[6] for r in load.results]
            figures.setdefault(label, []).append(rate)
            info(ctx, "throughput round %d: %s: %d PATCHes, 16 connections, %.0f/s, p50 %.1f ms, "
                 "p99 %.1f ms, answers %s" % (rnd, label, n, rate, pct(lat, 0.5),
                                              pct(lat, 0.99), json.dumps(st)))
    s = max(figures["single server"])
    for label, rates in figures.items():
        info(ctx, "throughput: %s: best %.0f PATCH/s (%.2f x the single server)"
             % (label, max(rates), max(rates) / s))


# ---- an upgrade's schema step, under load --------------------------------------------

# 009's triggers, as db/009_list_counts.sql creates them (the drill checks that
# the file still says so): the counters before 012 keyed them by node too.
TRIGGERS_009 = (
    "CREATE TRIGGER IF NOT EXISTS clients_count_insert AFTER INSERT ON clients FOR EACH ROW "
    "INSERT INTO client_counts (status, shard, n) VALUES (NEW.status, CONNECTION_ID() % 32, 1) "
    "ON DUPLICATE KEY UPDATE n = n + 1;",
    "CREATE TRIGGER IF NOT EXISTS clients_count_delete AFTER DELETE ON clients FOR EACH ROW "
    "INSERT INTO client_counts (status, shard, n) VALUES (OLD.status, CONNECTION_ID() % 32, -1) "
    "ON DUPLICATE KEY UPDATE n = n - 1;",
    "CREATE TRIGGER IF NOT EXISTS clients_count_update AFTER UPDATE ON clients FOR EACH ROW "
    "IF OLD.status <> NEW.status THEN "
    "INSERT INTO client_counts (status, shard, n) VALUES (OLD.status, CONNECTION_ID() % 32, -1) "
    "ON DUPLICATE KEY UPDATE n = n - 1; "
    "INSERT INTO client_counts (status, shard, n) VALUES (NEW.status, CONNECTION_ID() % 32, 1) "
    "ON DUPLICATE KEY UPDATE n = n + 1; END IF;")
UNDONE = "012_node_counters"
# Migrations after UNDONE, each with the SQL that takes it back.  The pools
# of this build need them on every connection (014's procedure is how they
# write), so they are undone only under the previous release's pools.  A
# migration not listed here fails the drill until it gets its undo.
LATER_UNDO = {
    "013_key_scopes": "ALTER TABLE client_audit DROP KEY ix_audit_key;\n"
                      "ALTER TABLE admin_keys DROP COLUMN scopes, DROP COLUMN agency_id, "
                      "DROP COLUMN expires_at, DROP COLUMN description, "
                      "DROP COLUMN last_used_at;\n",
    "014_update_procedure": "DROP PROCEDURE IF EXISTS cm_update_client;\n",
    "015_event_agency": "DROP TRIGGER IF EXISTS client_audit_agency;\n"
                        "ALTER TABLE client_audit DROP KEY ix_audit_agency, "
                        "DROP KEY ix_audit_action, DROP COLUMN agency_id;\n",
    "016_webhook_endpoints": "DROP TABLE IF EXISTS webhook_endpoints;\n",
    "017_webhook_deliveries": "DROP TABLE IF EXISTS webhook_deliveries, webhook_progress, "
                              "webhook_lease;\n",
}


def migrations_after(name):
    db = os.path.join(REPO, "db")
    return sorted(f[:-4] for f in os.listdir(db) if f.endswith(".sql") and f[:-4] > name)


def schema_before_newest(ctx, later):
    """The cluster's schema as the previous release left it: 012 undone
    (client_counts without its node column and rebuilt from the rows,
    009's triggers back; no pool runs meanwhile, so the recount is exact)
    and its row deleted; with `later`, each migration after 012 undone too.
    Each statement in total order isolation."""
    db = os.path.join(REPO, "db")
    after = migrations_after(UNDONE)
    check(set(after) <= set(LATER_UNDO), "migrations %s came after %s: give this drill "
          "their undo" % (sorted(set(after) - set(LATER_UNDO)), UNDONE))
    with open(os.path.join(db, "009_list_counts.sql")) as f:
        text = " ".join(f.read().split())
    for t in TRIGGERS_009:
        check(t in text, "db/009_list_counts.sql no longer creates %s" % t[:60])
    undone = [UNDONE] + (after if later else [])
    sql(ctx, 1, "DELETE FROM client_counts;\n"
        "ALTER TABLE client_counts DROP PRIMARY KEY, DROP COLUMN node, "
        "ADD PRIMARY KEY (status, shard);\n"
        "INSERT INTO client_counts (status, shard, n) "
        "SELECT status, 32, COUNT(*) FROM clients GROUP BY status;\n"
        "DELIMITER //\n" + "".join(t.replace("CREATE TRIGGER IF NOT EXISTS",
                                             "CREATE OR REPLACE TRIGGER") + " //\n"
                                   for t in TRIGGERS_009) +
        "DELIMITER ;\n" + "".join(LATER_UNDO[m] for m in undone[1:]) +
        "DELETE FROM schema_migrations WHERE name IN (%s);\nSELECT 1;"
        % ", ".join("'%s.sql'" % m for m in undone))
    return undone


def counts_per_node(ctx):
    """{node: [(status, counted, rows)]}, each read in one consistent
    snapshot after everything committed anywhere before."""
    out = {}
    for n in (1, 2, 3):
        out[n] = [tuple(r) for r in sql(
            ctx, n, "START TRANSACTION WITH CONSISTENT SNAPSHOT;\n"
            "SELECT s.status, COALESCE(c.n, 0), s.rows_ FROM "
            "(SELECT status, COUNT(*) AS rows_ FROM clients GROUP BY status) s LEFT JOIN "
            "(SELECT status, SUM(n) AS n FROM client_counts GROUP BY status) c "
            "ON c.status = s.status ORDER BY s.status;\nCOMMIT;")]
    return out


class Mixed:
    """Status flips (PATCH {"status"}) of cids through one port, one
    client after another, and GETs (a client, or the list with its count)
    through ports, until stopped.  Records (kind, port, cid, value, status,
    t0, t1, body)."""

    def __init__(self, ctx, flip_port, flip_cids, get_ports, get_cids):
        self.ctx, self.flip_port, self.flip_cids = ctx, flip_port, flip_cids
        self.get_ports, self.get_cids = get_ports, get_cids
        self.lock, self.results, self.errors = threading.Lock(), [], []
        self.stop_flag = threading.Event()

    def record(self, kind, port, cid, value, a):
        with self.lock:
            self.results.append((kind, port, cid, value, a.status, a.t0, a.t1, a.raw[:200]))

    def flips(self):
        h = Http(self.flip_port, self.ctx.key)
        i = 0
        try:
            while not self.stop_flag.is_set():
                cid = self.flip_cids[i % len(self.flip_cids)]
                value = (i // len(self.flip_cids)) % 2 == 0
                a = h.call("PATCH", cpath(cid), {"status": value},
                           rid="%s.umf.%d" % (self.ctx.run, i))
                self.record("flip", self.flip_port, cid, value, a)
                i += 1
        except Exception:       # noqa: BLE001 - reported by the test
            self.errors.append(traceback.format_exc())
        finally:
            h.close()

    def gets(self, port):
        h = Http(port, self.ctx.key)
        rnd = random.Random(port)
        i = 0
        try:
            while not self.stop_flag.is_set():
                path = (CLIENTS + "?status=false&limit=1" if i % 5 == 0
                        else cpath(rnd.choice(self.get_cids)))
                self.record("get", port, None, path, h.call("GET", path))
                i += 1
                time.sleep(0.01)
        except Exception:       # noqa: BLE001 - reported by the test
            self.errors.append(traceback.format_exc())
        finally:
            h.close()

    def start(self):
        self.ths = [threading.Thread(target=self.flips, daemon=True)] + [
            threading.Thread(target=self.gets, args=(p,), daemon=True) for p in self.get_ports]
        for t in self.ths:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.ths:
            t.join(60)
        check(not any(t.is_alive() for t in self.ths), "the flips and GETs did not stop")
        check(not self.errors, "flips and GETs: %s" % self.errors[:1])


def applier_threads(ctx, n, value=None, wait=False):
    """wsrep_slave_threads of node n, set to value first; wait: until the
    node runs that many applier threads (an applier thread too many exits
    once it has applied its next write set: on a node that applies some)."""
    if value is not None:
        sql(ctx, n, "SET GLOBAL wsrep_slave_threads = %d;\nSELECT 1;" % value, causal=False)
    if wait:
        wait_for(lambda: sql(ctx, n, "SHOW GLOBAL STATUS LIKE 'wsrep_applier_thread_count'",
                             causal=False)[0][1] == str(value),
                 30, "node %d: %d applier threads" % (n, value), 0.2)
    return int(sql(ctx, n, "SELECT @@GLOBAL.wsrep_slave_threads", causal=False)[0][0])


def test_upgrade_migrate_under_load(ctx):
    """An upgrade's schema step on Galera: `clientsctl migrate` applies
    012 (an ALTER of client_counts and three CREATE OR REPLACE TRIGGER on
    clients, each in total order isolation: writes everywhere wait while
    it runs, and the transactions in flight on the table are aborted and
    run again) through node 1, under load through both pools:
    merge-PATCHes through A and B on clients of their own, status flips
    through A (the counters move), GETs through both.  The pools are this
    build's, started on the whole schema before 012 is undone under them
    (their connections, made before, stay: the next release's migrations
    will run under this one's pools); CLUSTER_ARGS="--migrate-pools
    previous" runs the previous release's (0.1.0, built from its git tag)
    instead, as an upgrade from it does: that run is expected to fail now
    and then with an acknowledged write lost, 0.1.0's own defect, which is
    why the admin guide says to stop writes while migrating from it.

    As the admin guide sets a cluster up and tells it to migrate: both
    pools write through node 1 (the same hosts, in the same order),
    migrate runs through that node, and every node applies with one thread
    while it runs.  Without that (writes through two nodes, or the default
    two applier threads), MariaDB 10.11 stalls the whole cluster here
    ("MDL BF-BF conflict"): the ALTER of client_counts and a replicated
    UPDATE of clients, whose write set maps client_counts (the counting
    trigger's table) without certification keys when the status did not
    change, are applied in parallel and wait for each other for good.

    Nothing may fail: every answer 200, no acknowledged write lost, none
    slower than request_timeout; afterwards every node holds 012 and
    client_counts equal to COUNT(*) per status; then pools A and B as
    before."""
    previous = ctx.a.migrate_pools == "previous"
    old_bin = None
    if previous:
        old = releasekit.build(say=lambda t: info(ctx, "upgrade_migrate_under_load: " + t))
        old_bin = os.path.join(ctx.a.run_dir, "bin", "clientsd-" + old.tag)
        subprocess.run(["install", "-m", "0755", old.clientsd, old_bin], check=True)
    migrated = False
    appliers = {n: applier_threads(ctx, n) for n in (1, 2, 3)}
    loads = []
    every = [ctx.node(1), ctx.node(2), ctx.node(3)]
    try:
        if previous:
            for name in ("a", "b"):
                ctx.pools[name].stop()
        else:
            # B writes through node 1 too (this build starts only on the
            # whole schema: before 012 is undone).
            ctx.pool("b", every)
        undone = schema_before_newest(ctx, later=previous)
        p = subprocess.run([ctx.a.bin, "-t", "-c", ctx.a.conf], capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 1 and UNDONE in p.stderr,
              "this build's -t should refuse the schema without %s: exit %d %s"
              % (UNDONE, p.returncode, p.stderr.strip()[-200:]))
        if previous:
            for name in ("a", "b"):
                ctx.pool(name, every, binary=old_bin)
        cids_a = create_clients(ctx, "uma", 12, port="a")
        cids_b = create_clients(ctx, "umb", 12, port="b")
        cids_f = create_clients(ctx, "umf", 12, port="a")
        pa, pb = ctx.port["a"], ctx.port["b"]
        la = Load(ctx, "uma", [pa], cids_a, threads=2)
        lb = Load(ctx, "umb", [pb], cids_b, threads=2)
        mixed = Mixed(ctx, pa, cids_f, [pa, pb], cids_a + cids_b + cids_f)
        for ld in (la, lb, mixed):
            loads.append(ld.start())
        time.sleep(4)
        # As the drill's database was set up (its users' host is that of
        # a.conf's connection).
        setup_sql = subprocess.run([os.path.join(ctx.a.build, "app", "clientsctl"), "-c",
                                    ctx.a.conf, "-m", ctx.a.mconf, "db-setup", "--print"],
                                   capture_output=True, text=True, timeout=30,
                                   check=True).stdout
        t0 = time.monotonic()
        sql(ctx, 1, setup_sql + "\nSELECT 1;", causal=False)
        t_setup = time.monotonic() - t0
        # Nodes 2 and 3 apply node 1's writes: each down to one applier
        # thread before the first ALTER (node 1 applies none meanwhile).
        for n in (1, 2, 3):
            applier_threads(ctx, n, 1, wait=n != 1)
        t0 = time.monotonic()
        m = ctx.ctl("migrate", "-d", os.path.join(REPO, "db"), timeout=60)
        t_migrate = time.monotonic() - t0
        migrated = m.returncode == 0
        for n in (1, 2, 3):
            applier_threads(ctx, n, appliers[n])
        time.sleep(4)
        la.stop()
        lb.stop()
        mixed.stop()
        check(migrated, "clientsctl migrate under load: exit %d: %s"
              % (m.returncode, (m.stdout + m.stderr)[-600:]))
        applied = [ln for ln in m.stdout.splitlines() if ln.startswith("applied ")]
        answers = ([("merge", r[1], r[5], r[6], r[7], r[9]) for r in la.results + lb.results] +
                   [(r[0], r[1], r[4], r[5], r[6], r[7]) for r in mixed.results])
        by_kind = {}
        for kind, port, st, t_0, t_1, body in answers:
            k = "%s via %s" % (kind, "A" if port == pa else "B")
            by_kind.setdefault(k, {}).setdefault(st, 0)
            by_kind[k][st] += 1
        slowest = max(t_1 - t_0 for _, _, _, t_0, t_1, _ in answers)
        counts = counts_per_node(ctx)
        info(ctx, "upgrade_migrate_under_load (pools of %s): db-setup SQL %.2f s, clientsctl "
             "migrate %.2f s (%s) under load, one applier thread a node; answers %s; slowest "
             "%.0f ms; client_counts (status, counted, rows) per node %s"
             % (old.tag if previous else "this build", t_setup, t_migrate,
                " | ".join(applied) or m.stdout.strip(),
                json.dumps(by_kind, sort_keys=True), 1000 * slowest, json.dumps(counts)))
        bad = [a for a in answers if a[2] != 200]
        check(not bad, "%d answers not 200 while the schema changed: %s"
              % (len(bad), [(a[0], a[2], a[5][:100]) for a in bad[:5]]))
        check(applied_names(m.stdout) == sorted(undone),
              "migrate applied %s, not what was undone (%s): %s"
              % (applied_names(m.stdout), sorted(undone), m.stdout.strip()))
        check(slowest < ctx.request_timeout, "a request took %.1f s, past request_timeout %d s"
              % (slowest, ctx.request_timeout))
        verify_writes(ctx, la, "upgrade_migrate_under_load (PATCH via A)")
        verify_writes(ctx, lb, "upgrade_migrate_under_load (PATCH via B)")
        last = {}
        for r in sorted((r for r in mixed.results if r[0] == "flip"), key=lambda r: r[5]):
            last[r[2]] = r[3]
        for n in (1, 2, 3):
            held = {r[0]: r[1] == "1" for r in sql(
                ctx, n, "SELECT id, status FROM clients WHERE id IN (%s)"
                % ",".join("'%s'" % c for c in cids_f))}
            check(held == last, "node %d: the flipped clients hold %s, their last acknowledged "
                  "PATCHes set %s" % (n, held, last))
            check(counts[n] and all(c == r for _, c, r in counts[n]),
                  "node %d: client_counts off COUNT(*): %s" % (n, counts[n]))
            cols = [r[0] for r in sql(ctx, n, "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                                      "WHERE TABLE_SCHEMA = 'clients' AND TABLE_NAME = "
                                      "'client_counts' ORDER BY ORDINAL_POSITION")]
            rows = sql(ctx, n, "SELECT COUNT(*) FROM schema_migrations WHERE name = '%s.sql'"
                       % UNDONE)
            check(cols == ["status", "node", "shard", "n"] and rows == [["1"]],
                  "node %d: 012 not there: client_counts columns %s, recorded %s"
                  % (n, cols, rows))
    finally:
        for ld in loads:
            ld.stop_flag.set()
        for ld in loads:
            run_quiet(ld.stop)
        for name in ("a", "b"):
            if name in ctx.pools:
                ctx.pools[name].stop()
        for n in (1, 2, 3):
            run_quiet(lambda: applier_threads(ctx, n, appliers[n]))
        if not migrated:
            ctx.ctl("migrate", "-d", os.path.join(REPO, "db"))
        ctx.pools_ab()


# ---- the set-up ---------------------------------------------------------------------


# ---- webhooks: the dispatcher's node dies ------------------------------------------

WEBHOOK_USER = "clients_webhooks"


def dispatcher_conf(ctx, name, hosts, password):
    """A clientsd-webhooks config over hosts, as its own database user."""
    sets = ctx.db_sets(hosts)
    sets.update({("database", "user"): WEBHOOK_USER, ("database", "password"): password,
                 ("database", "password_file"): None, ("log", "target"): "stderr",
                 ("webhooks", "allow_http"): "true", ("webhooks", "allow_private"): "true",
                 ("webhooks", "retry_min_ms"): "200", ("webhooks", "retry_max_s"): "1",
                 ("webhooks", "poll_ms"): "100", ("webhooks", "lease_s"): "5",
                 ("webhooks", "settle_s"): "15", ("webhooks", "timeout"): "3"})
    path = os.path.join(ctx.a.run_dir, "webhooks-%s.conf" % name)
    write_private(path, conf_with(ctx.a.conf, sets))
    return path


def start_dispatcher(ctx, name, conf):
    log = os.path.join(ctx.a.log_dir, "cluster-webhooks-%s.log" % name)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    p = subprocess.Popen([os.path.join(ctx.a.build, "app", "clientsd-webhooks"), "-c", conf],
                         stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                         start_new_session=True)
    os.close(fd)
    p.log = log
    return p


def log_text(p):
    with open(p.log, errors="replace") as f:
        return f.read()


def disorder_evidence(ctx, recv, per_client, clients):
    """What tells a row that appeared late from a number out of step with
    the commit order, around each client's first inversion: its events in
    the order of their first 2xx (with the time), its history rows (seq,
    the write's time) and its deliveries (queued, done, attempts)."""
    firsts = {eid: t for t, eid, _ in recv.first_acks()}
    out = []
    for c in clients:
        seqs = per_client[c]
        i = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
        near = seqs[max(0, i - 3):i + 3]
        lo, hi = min(near), max(near)
        acked = ["%d@%.3f" % (q, firsts["evt_%d" % q]) for q in near]
        rows = sql(ctx, live_node(ctx), "SELECT seq, at, action FROM client_audit WHERE "
                   "client_id = '%s' AND seq BETWEEN %d AND %d ORDER BY seq" % (c, lo, hi))
        deliveries = sql(ctx, live_node(ctx), "SELECT event_seq, state, queued_at, done_at, "
                         "attempts FROM webhook_deliveries WHERE client_id = '%s' AND "
                         "event_seq BETWEEN %d AND %d ORDER BY event_seq" % (c, lo, hi))
        out.append("%s: acked %s; history %s; deliveries %s" % (c, acked, rows, deliveries))
    return "; ".join(out)


def test_webhook_dispatcher_node_killed(ctx):
    """Dispatchers D1 (nodes 1, 2, 3) and D2 (2, 3, 1); D1 takes the
    lease.  Under a PATCH load through pool B, node 1 and D1 are killed
    together (its host dies).  D2 takes the lease over once it expires
    and delivers the rest: every event acknowledged, each client's in
    order, every signature valid; duplicates are counted, not asserted
    (the deliveries in flight at the kill)."""
    from delivery_test import SECRET, Receiver, check_signatures
    password = "wh%x" % random.getrandbits(64)
    sql(ctx, 1, "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\n"
        "ALTER USER '%s'@'%%' IDENTIFIED BY '%s';\nSELECT 1;"
        % (WEBHOOK_USER, password, WEBHOOK_USER, password))
    p = ctx.ctl("migrate", "-d", os.path.join(REPO, "db"))
    check(p.returncode == 0, "migrate: " + (p.stdout + p.stderr)[-400:])
    recv = Receiver()
    procs = []
    try:
        sql(ctx, 1, "DELETE FROM webhook_lease;\nINSERT INTO webhook_endpoints (url, "
            "event_types, enabled, secret, after_seq, created_at, updated_at) SELECT "
            "'%s', 'client.created,client.updated,client.deleted,client.keys_rotated,"
            "client.erased', 1, '%s', COALESCE(MAX(seq), 0), NOW(3), NOW(3) FROM "
            "client_audit;\nSELECT 1;" % (recv.url, SECRET))
        n1, n2, n3 = ctx.node(1), ctx.node(2), ctx.node(3)
        d1 = start_dispatcher(ctx, "d1", dispatcher_conf(ctx, "d1", [n1, n2, n3], password))
        procs.append(d1)
        wait_for(lambda: "holding the lease" in log_text(d1), 30, "D1 holding the lease")
        d2 = start_dispatcher(ctx, "d2", dispatcher_conf(ctx, "d2", [n2, n3, n1], password))
        procs.append(d2)
        cids = create_clients(ctx, "wh", 10, port="b")
        load = Load(ctx, "wh", [ctx.port["b"]], cids, threads=4).start()
        wait_for(lambda: len(recv.acked()) >= 20, 60, "deliveries before the kill")
        wall_kill = time.time()
        os.killpg(d1.pid, signal.SIGKILL)
        cluster(ctx, "kill", 1)
        ctx.down.add(1)
        time.sleep(8)
        load.stop()
        prefix = "wh_%s_" % ctx.run
        rows = sql(ctx, live_node(ctx), "SELECT seq FROM client_audit WHERE client_id "
                   "LIKE '%s%%' ORDER BY seq" % prefix)
        wanted = {"evt_" + r[0] for r in rows}
        wait_for(lambda: wanted <= {e for e, _ in recv.acked()}, 120,
                 lambda: "events acknowledged: %d of %d (deliveries by state: %s; progress: "
                 "%s; the history's newest: %s)" % (
                     len(wanted & {e for e, _ in recv.acked()}), len(wanted),
                     sql(ctx, live_node(ctx), "SELECT state, COUNT(*), MAX(event_seq) FROM "
                         "webhook_deliveries GROUP BY state"),
                     sql(ctx, live_node(ctx), "SELECT * FROM webhook_progress"),
                     sql(ctx, live_node(ctx), "SELECT MAX(seq), MAX(at), NOW(3) FROM "
                         "client_audit")))
        took_over = "holding the lease" in log_text(d2)
        per_client = {}
        for e, body in recv.acked():
            if e in wanted:
                per_client.setdefault(body["client_id"], []).append(int(e[4:]))
        disorder = [c for c, seqs in per_client.items() if seqs != sorted(seqs)]
        acks = recv.acks()
        dups = sum(n - 1 for e, n in acks.items() if e in wanted)
        requests = check_signatures(recv)
        d2_lines = [ln for ln in log_text(d2).splitlines() if "delivery event=" in ln]
        took = [ln for ln in log_text(d2).splitlines() if "holding the lease" in ln]
        info(ctx, "webhook_dispatcher_node_killed: %d events (%d PATCHes, %d creates), "
             "%d requests, %d acknowledged, %d duplicates, lost 0; D2 held the lease %s "
             "after the kill and made %d attempts at %.0f a second"
             % (len(wanted), len(load.results), len(cids), requests,
                len(wanted & set(acks)), dups,
                "%.1f s" % (log_time(took[0]) - wall_kill) if took else "never",
                len(d2_lines), len(d2_lines) / max(0.001, log_time(d2_lines[-1]) -
                                                   log_time(d2_lines[0]))
                if len(d2_lines) > 1 else 0))
        check(took_over, "D2 never took the lease over")
        if disorder:
            raise Failure("clients whose events came out of order (%d): %s" % (
                len(disorder), disorder_evidence(ctx, recv, per_client, disorder[:2])))
    finally:
        for d in procs:
            if d.poll() is None:
                os.killpg(d.pid, signal.SIGTERM)
                d.wait(15)
        recv.stop()


def options():
    """The drills' sizes, from CLUSTER_ARGS (./dev test --cluster)."""
    ap = argparse.ArgumentParser(prog="CLUSTER_ARGS=", description="the drills' sizes")
    ap.add_argument("--merges", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--bench", type=int, default=1500)
    ap.add_argument("--creates", type=int, default=4000)
    ap.add_argument("--stall", type=int, default=15, help="stalled_node: seconds stopped")
    ap.add_argument("--pool-workers", type=int, default=4, help="workers of pools A and B")
    ap.add_argument("--migrate-pools", choices=("current", "previous"), default="current",
                    help="upgrade_migrate_under_load: this build's pools, or the previous "
                    "release's (built from its git tag)")
    ap.add_argument("--counters", choices=("node", "connection", "hot"), default="node",
                    help="keyed_creates_two_pools: count creates on node-local shards (the "
                    "schema's), per-connection shards, or one row")
    return ap.parse_args(shlex.split(os.environ.get("CLUSTER_ARGS", "")))


@pytest.fixture(scope="module")
def ctx(build):
    """A fresh cluster, single server and nginx (tools/instance drills up),
    pools A and B started; everything stopped at the end."""
    t_all = time.monotonic()
    c = None
    try:
        tool("drills", "up", build)
        env, single = instance_env("cluster"), instance_env("clsingle")
        kit.LOGS.extend([node_log(env["H_RUN"], n) for n in (1, 2, 3)] + [
            os.path.join(env["H_LOG"], x) for x in (
                "cluster-pool-a.log", "cluster-pool-b.log", "nginx-error.log")])
        a = options()
        a.label, a.cluster, a.base_port = "cluster", TOOL + " cluster", int(env["CL_BASE"])
        a.admin_key_file, a.bin, a.conf = env["H_KEYFILE"], env["H_BIN"], env["H_CONF"]
        a.mconf, a.build = env["H_MCONF"], build
        a.run_dir, a.log_dir = env["H_RUN"], env["H_LOG"]
        a.single_conf, a.single_key_file = single["H_CONF"], single["H_KEYFILE"]
        c = Ctx(a)
        if c.multi:
            info(c, "clientsd takes [database] hosts: pool A over nodes 1, 2, 3, pool B over "
                 "2, 3, 1 (policy failover, galera, causal_reads, failback_s 2)")
        else:
            info(c, "this clientsd has no [database] hosts (%s): pool A on node 1 only, pool B "
                 "on node 2 only: the baseline" % c.probe_error.replace("\n", " "))
        second_user(c)
        c.pools_ab()
        yield c
    finally:
        for p in list(c.pools.values()) if c else ():
            p.stop()
        tool("drills", "down", check=False)
        kit.info("cluster", "drills took %.0f s" % (time.monotonic() - t_all))


@pytest.fixture(autouse=True)
def nodes_back(ctx):
    """A drill that left a node down brings it back for the next."""
    yield
    for n in sorted(ctx.down):
        run_quiet(lambda: cluster(ctx, "start", n))
        ctx.down.discard(n)
