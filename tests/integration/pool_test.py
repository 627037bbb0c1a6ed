"""pool_test - the clientsd pool under signals, failures and load.

Drives the real clientsd binary: the pool behind the web server (through
HTTP, with apikit), and private instances started here on their own
sockets (through FastCGI directly, with fcgikit), so that a test can stop,
kill or starve a master without disturbing the others.  Every answer is
checked against what the database really holds.  Through nginx (the
standalone pool) and Apache + mod_fcgid (the tests marked fcgid_too), in
both runs; no test has a timeout of its own, the file's budget bounds them.
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import apikit
import fcgikit
import kit
from kit import Failure, check, eq, wait_for
from poolkit import (alive, children, conf_with, preload_env, processes_of, read_pid,
                     write_private)

pytestmark = [pytest.mark.setups(["nginx", "apache-fcgid"], sanitize=["nginx", "apache-fcgid"]),
              pytest.mark.budget(900), pytest.mark.timeout(900)]

STATUS_KEYS = ["accepted", "active_workers", "idle_workers", "listen_queue", "master_pid",
               "max_active_workers", "max_listen_queue", "max_workers_reached", "pool",
               "process_manager", "respawns", "schema", "slow_requests", "start_time",
               "total_workers", "uptime_s", "version"]
WORKER_KEYS = ["cpu_ms", "duration_us", "method", "path", "pid", "request_id", "requests",
               "started", "state"]


def fcgid_too(fn):
    """The test runs under mod_fcgid too (the others: the standalone pool's)."""
    fn.fcgid_too = True
    return fn


class Ctx:
    """The set-up (a: the file's cfg), shared by every test; the private
    instances a test started, stopped after it."""

    def __init__(self, cfg):
        self.key = cfg.admin_key
        self.a = self.cfg = cfg
        self.mode = cfg.mode
        self.instances = []

    def api(self, name):
        return apikit.Api(self.cfg, name)

    def auth(self):
        return {"Authorization": "Bearer " + self.key}

    def sql(self, text, timeout=60):
        p = subprocess.run(shlex.split(self.a.sql), input=text, capture_output=True,
                           text=True, timeout=timeout)
        check(p.returncode == 0, "sql exited %d: %s" % (p.returncode, p.stderr[:300]))
        return p.stdout


@pytest.fixture
def ctx(cfg, request):
    if cfg.mode == "fcgid" and not getattr(request.function, "fcgid_too", False):
        pytest.skip("a test of the standalone pool")
    c = Ctx(cfg)
    yield c
    for inst in c.instances:
        inst.stop()


# ---- processes ------------------------------------------------------------

def all_threads_stopped(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
        except OSError:
            pass
    return True


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Instance:
    """A private clientsd pool on its own socket, pid file and log."""

    def __init__(self, ctx, name, sets=None, env=None, argv_prefix=None, sock=None, binary=None):
        a = ctx.a
        self.ctx, self.name = ctx, name
        self.sock = sock or os.path.join(a.run_dir, "pt-%s.sock" % name)
        self.pidfile = os.path.join(a.run_dir, "pt-%s.pid" % name)
        self.conf = os.path.join(a.run_dir, "pt-%s.conf" % name)
        self.log = os.path.join(a.log_dir, "pool-test-%s.log" % name)
        # This run's lines only; 0640 like every log of the run (secrets_test).
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.fchmod(fd, 0o640)
        os.close(fd)
        s = {("server", "listen"): self.sock, ("server", "pid_file"): self.pidfile,
             ("server", "workers"): "2"}
        s.update(sets or {})
        write_private(self.conf, conf_with(a.conf, s))
        self.env = dict(os.environ)
        self.env.pop("CLIENTSD_CONFIG", None)
        self.env.update(env or {})
        self.argv = (argv_prefix or []) + [binary or a.bin, "-c", self.conf]
        self.proc = None
        ctx.instances.append(self)

    def start(self, wait=True, keep_pidfile=False):
        if not keep_pidfile and os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=logf, env=self.env, start_new_session=True)
        logf.close()
        if wait:
            check(fcgikit.wait_answering(self.sock, 20),
                  "instance %s does not answer on %s; log:\n%s" % (self.name, self.sock,
                                                                  self.log_text()[-1500:]))
        return self

    def master(self):
        return read_pid(self.pidfile)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def call(self, method, uri, body=None, auth=True, headers=None, timeout=15):
        h = dict(headers or {})
        if auth:
            h.update(self.ctx.auth())
        return fcgikit.call(self.sock, method, uri, body, h, timeout=timeout)

    def stop(self):
        """TERM to the master named in the pid file (or ours); KILL what remains."""
        pids = set()
        for p in (self.master(), self.proc.pid if self.proc else None):
            if p and alive(p):
                pids.add(p)
                pids.update(children(p))
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for p in pids:
            if alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        if self.proc:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


# ---- helpers ----------------------------------------------------------------

def status(api, query=""):
    r = api.get("/api/v1/status" + query)
    apikit.expect_status(r, 200)
    return r.data


def new_client(inst):
    cid = "pt_%s" % os.urandom(6).hex()
    r = inst.call("POST", "/api/v1/clients", {"id": cid, "name": "Pool test"})
    eq(r.status, 201, "create through %s: %s" % (inst.name, r.where()))
    return cid


def locker(ctx, cid, seconds):
    """A SQL session holding the row of cid locked for seconds (a thread).
    Returns once the lock is held: the session is seen sleeping after its
    SELECT … FOR UPDATE (a fixed pause lost that race on a loaded machine)."""
    tag = "locker-" + os.urandom(4).hex()
    sql = ("BEGIN; SELECT id FROM clients WHERE id = '%s' FOR UPDATE; DO SLEEP(%s), '%s'; "
           "COMMIT;" % (cid, seconds, tag))
    t = threading.Thread(target=ctx.sql, args=(sql,), daemon=True)
    t.start()
    # The probe's own text must not match itself: the pattern is built by CONCAT.
    probe = ("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
             "WHERE INFO LIKE CONCAT('DO SL', 'EEP%%', '%s', '%%')" % tag)
    wait_for(lambda: ctx.sql(probe).split()[-1] == "1", 10, "the row lock of " + cid)
    return t


def in_thread(fn, *args):
    box = {}

    def run():
        try:
            box["r"] = fn(*args)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            box["e"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


# ---- the pool behind the web server -----------------------------------------

@fcgid_too
def test_ping_needs_no_key(ctx):
    r = ctx.api("ping").get("/api/v1/ping", auth=None)
    apikit.expect_status(r, 200)
    eq(r.body, {"success": True, "data": {"pong": True}}, "ping body")


@fcgid_too
def test_status_needs_the_admin_key(ctx):
    r = ctx.api("status401").get("/api/v1/status", auth=None)
    apikit.expect_error(r, 401, "Unauthorized")


@fcgid_too
def test_status_fields_and_counters(ctx):
    api = ctx.api("status")
    d = status(api)
    eq(sorted(d), STATUS_KEYS, "status members")
    # The release answering, and the schema its connection found (it has
    # served a request, so it has connected).
    ver = subprocess.run([ctx.a.bin, "-V"], capture_output=True, text=True).stdout
    eq(d["version"], ver.split()[1], "version, as clientsd -V says")
    check(re.fullmatch(r"\d{3}_[a-z_]+", d["schema"] or ""),
          "schema: the newest migration, got %r" % d["schema"])
    check(("serves %s " % d["schema"]) in ver,
          "the schema found is the one this build names in -V: %r, %r" % (d["schema"], ver))
    if ctx.mode == "fcgid":
        eq(d["process_manager"], "fcgid", "process_manager under mod_fcgid")
        eq(d["total_workers"], 1, "one process under mod_fcgid")
        return
    eq(d["process_manager"], "static", "process_manager")
    eq(d["master_pid"], read_pid(ctx.a.pool_pidfile), "master_pid")
    eq(d["total_workers"], 4, "total_workers")
    eq(d["listen_queue"], None, "listen_queue of a Unix socket")
    for _ in range(5):
        api.get("/api/v1/ping", auth=None)
    d2 = status(api, "?full=true")
    check(d2["accepted"] >= d["accepted"] + 6, "accepted went from %d to %d after 6 requests"
          % (d["accepted"], d2["accepted"]))
    check(d2["active_workers"] >= 1, "the status request itself is busy")
    eq(len(d2["workers"]), d2["total_workers"], "one entry per worker")
    for w in d2["workers"]:
        eq(sorted(w), WORKER_KEYS, "worker members")
        check(w["state"] in ("idle", "busy", "starting", "stopping"), "state %r" % w["state"])
        check("?" not in w["path"], "a worker's path carries a query: %r" % w["path"])


@fcgid_too
def test_openmetrics_parses_strictly(ctx):
    sys.path.append("/usr/lib/python3/dist-packages")   # Debian's python3-prometheus-client
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    status_code, headers, body = _raw_get(ctx, "/api/v1/status?format=openmetrics")
    eq(status_code, 200, "status of the OpenMetrics page")
    eq(headers.get("content-type"),
       "application/openmetrics-text; version=1.0.0; charset=utf-8", "Content-Type")
    check("no-store" in headers.get("cache-control", ""), "Cache-Control: no-store")
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in ("clientsd_accepted", "clientsd_active_workers", "clientsd_total_workers",
                 "clientsd_respawns", "clientsd_max_workers_reached", "clientsd_uptime_seconds"):
        check(name in fams, "%s missing from %s" % (name, sorted(fams)))
    check(all(n.startswith("clientsd_") for n in fams), "names prefixed clientsd_")
    eq(fams["clientsd_accepted"].type, "counter", "type of clientsd_accepted")


def _raw_get(ctx, path):
    import http.client
    c = http.client.HTTPConnection(ctx.cfg.host, ctx.cfg.port, timeout=15)
    try:
        c.request("GET", path, headers=ctx.auth())
        r = c.getresponse()
        res = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        # Checked against doc/openapi.yaml like every other answer.
        apikit.validate_raw("GET", path, ctx.auth(), None, *res)
        return res
    finally:
        c.close()


@fcgid_too
def test_term_to_a_busy_worker_finishes_its_request(ctx):
    """A worker told to stop (the master's TERM, mod_fcgid's TERM) while a
    PATCH waits on a locked row still answers it, and the write is there."""
    api = ctx.api("termbusy")
    cid = api.create()["id"]
    before = set(processes_of(ctx.a.bin))
    lock = locker(ctx, cid, 1.5)
    t, box = in_thread(api.patch, apikit.cpath(cid) + "?probe=1",
                       {"name": "written under TERM"})
    time.sleep(0.4)
    busy = []
    if ctx.mode == "standalone":
        d = status(api, "?full=true")
        busy = [w["pid"] for w in d["workers"] if w["method"] == "PATCH" and w["state"] == "busy"]
        check(busy, "no busy PATCH worker on the status page: %s" % d["workers"])
        check([w["path"] for w in d["workers"] if w["pid"] in busy] == [apikit.cpath(cid)],
              "the busy PATCH's path (without its query): %s" % d["workers"])
        check(d["active_workers"] >= 2, "active_workers %d during a held request"
              % d["active_workers"])
    else:
        busy = sorted(processes_of(ctx.a.bin))
    for p in busy:
        os.kill(p, signal.SIGTERM)
    t.join(20)
    lock.join(20)
    check("e" not in box, "PATCH under TERM failed: %r" % box.get("e"))
    r = box["r"]
    apikit.expect_client(r)
    eq(r.data["name"], "written under TERM", "answer of the PATCH")
    out = ctx.sql("SELECT name FROM clients WHERE id = '%s';" % cid)
    check("written under TERM" in out, "the database does not hold the write: %r" % out)
    wait_for(lambda: all(not alive(p) for p in busy), 5, "the TERMed workers exit")
    if ctx.mode == "standalone":
        wait_for(lambda: status(api)["total_workers"] == 4, 5, "the pool is whole again")
    del before


def test_respawn_counted_after_a_worker_dies(ctx):
    api = ctx.api("respawn")
    d = status(api, "?full=true")
    victim = d["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: status(api)["respawns"] >= d["respawns"] + 1, 5, "respawns + 1")
    wait_for(lambda: status(api)["total_workers"] == 4, 5, "4 workers again")
    log = open(os.path.join(ctx.a.log_dir, "clientsd.log"), errors="replace").read()
    check("worker %d exited (status -1, signal 9)" % victim in log,
          "the master did not log the killed worker")


def test_short_body_is_never_parsed(ctx):
    """CONTENT_LENGTH says more than the stream brings: 400, nothing written."""
    cid = "pt_short_%s" % os.urandom(4).hex()
    body = json.dumps({"id": cid, "name": "Short"}).encode()
    r = fcgikit.Request(ctx.a.socket)
    r.send_params("POST", "/api/v1/clients", ctx.auth(), len(body) + 10, "application/json")
    r.send_body(body)
    a = r.answer()
    eq(a.status, 400, "status of a short body: " + a.where())
    eq(a.body["error"], "Bad request", "error of a short body")
    out = ctx.sql("SELECT COUNT(*) FROM clients WHERE id = '%s';" % cid)
    eq(out.split()[-1], "0", "rows created by a short body")
    # And a body longer than CONTENT_LENGTH says.
    r = fcgikit.Request(ctx.a.socket)
    r.send_params("POST", "/api/v1/clients", ctx.auth(), len(body) - 5, "application/json")
    r.send_body(body)
    a = r.answer()
    eq(a.status, 400, "status of a long body: " + a.where())
    out = ctx.sql("SELECT COUNT(*) FROM clients WHERE id = '%s';" % cid)
    eq(out.split()[-1], "0", "rows created by a long body")
    # CONTENT_LENGTH -1 (Caddy, a chunked body): the stream's end is the
    # body's end; cut short (no closing record, connection gone) it is not.
    r = fcgikit.Request(ctx.a.socket)
    r.send_params("POST", "/api/v1/clients", ctx.auth(), -1, "application/json")
    r.send_body(body[:7], end=False)
    r.s.shutdown(socket.SHUT_WR)
    time.sleep(0.3)
    out = ctx.sql("SELECT COUNT(*) FROM clients WHERE id = '%s';" % cid)
    eq(out.split()[-1], "0", "rows created by an unknown-length body cut short")
    r = fcgikit.Request(ctx.a.socket)
    r.send_params("POST", "/api/v1/clients", ctx.auth(), -1, "application/json")
    r.send_body(body)
    a = r.answer()
    eq(a.status, 201, "status of a body of unknown length (CONTENT_LENGTH -1): " + a.where())
    out = ctx.sql("SELECT COUNT(*) FROM clients WHERE id = '%s';" % cid)
    eq(out.split()[-1], "1", "rows created by a body of unknown length")


def test_slow_body_across_hup_usr2_term(ctx):
    """The params first, the body 0.6 s later, and a signal to the master in
    between: HUP, then USR2, then TERM.  Each POST gets its 201."""
    inst = Instance(ctx, "slow").start()
    first = inst.master()
    for sig in (signal.SIGHUP, signal.SIGUSR2, signal.SIGTERM):
        master = inst.master()
        cid = "pt_slow_%s" % os.urandom(4).hex()
        body = json.dumps({"id": cid, "name": "Slow " + sig.name}).encode()
        r = fcgikit.Request(inst.sock)
        r.send_params("POST", "/api/v1/clients", ctx.auth(), len(body), "application/json")
        time.sleep(0.3)
        os.kill(master, sig)
        time.sleep(0.3)
        r.send_body(body[:10], end=False)
        time.sleep(0.3)
        r.send_body(body[10:])
        a = r.answer()
        eq(a.status, 201, "POST with a slow body across %s: %s" % (sig.name, a.where()))
        out = ctx.sql("SELECT name FROM clients WHERE id = '%s';" % cid)
        check(("Slow " + sig.name) in out, "row of the %s POST missing" % sig.name)
        if sig == signal.SIGUSR2:
            wait_for(lambda: inst.master() not in (None, first), 15, "a new master")
            wait_for(lambda: not alive(first), 15, "the old master exits")
            eq(inst.proc.wait(5), 0, "exit status of the old master")
            check(fcgikit.wait_answering(inst.sock, 10), "the new master serves")
    wait_for(lambda: not alive(master), 15, "the master stops on TERM")
    check(not os.path.exists(inst.pidfile), "pid file left after the stop")
    check(not os.path.exists(inst.sock), "socket left after the stop")
    log = inst.log_text()
    for line in ("SIGHUP: reloading", "SIGUSR2: upgrading", "the new master took over",
                 "SIGTERM: stopping"):
        check(line in log, "log lacks %r" % line)


def test_quit_and_int_stop_gracefully(ctx):
    for sig in (signal.SIGQUIT, signal.SIGINT):
        inst = Instance(ctx, "stop-" + sig.name).start()
        master = inst.master()
        workers = children(master)
        os.kill(master, sig)
        eq(inst.proc.wait(10), 0, "exit status after %s" % sig.name)
        check(not any(alive(p) for p in workers), "workers left after %s" % sig.name)
        check(not os.path.exists(inst.pidfile) and not os.path.exists(inst.sock),
              "pid file or socket left after %s" % sig.name)
        check("%s: stopping" % sig.name in inst.log_text(), "%s not logged" % sig.name)


def test_kill9_master_second_instance_stale_socket(ctx):
    inst = Instance(ctx, "k9").start()
    master = inst.master()
    workers = children(master)
    eq(len(workers), 2, "workers of the instance")
    os.kill(master, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in workers), 2, "workers gone after kill -9")
    check(os.path.exists(inst.sock), "the killed master's socket is left (stale)")
    inst.start()
    check("removing stale socket" in inst.log_text(), "stale socket not reported")
    # A second instance: the same pid file names a live master.
    p = subprocess.run([ctx.a.bin, "-c", inst.conf], capture_output=True, text=True,
                       timeout=15, env=inst.env)
    eq(p.returncode, 1, "exit status of a second instance")
    check("already running" in p.stderr and str(inst.master()) in p.stderr,
          "second instance message: %r" % p.stderr[-300:])
    check("Sanitizer" not in p.stderr, "a refused start leaks: %s" % p.stderr[-2000:])
    # Another pid file, the same socket: something answers there.
    other = Instance(ctx, "k9b", {("server", "listen"): inst.sock})
    p = subprocess.run(other.argv, capture_output=True, text=True, timeout=15, env=other.env)
    eq(p.returncode, 1, "exit status on a socket that answers")
    check("already answers" in p.stderr, "message: %r" % p.stderr[-300:])
    check("Sanitizer" not in p.stderr, "a refused start leaks: %s" % p.stderr[-2000:])
    check(fcgikit.wait_answering(inst.sock, 2), "the first instance still serves")
    inst.stop()
    # A stale pid file naming a live process that is not clientsd (pid reuse).
    with open(inst.pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    inst.start(keep_pidfile=True)
    check(inst.master() not in (None, os.getpid()), "the pid file was not rewritten")
    inst.stop()
    check(not os.path.exists(inst.pidfile) and not os.path.exists(inst.sock),
          "pid file or socket left after the stop")


FAILFORK_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
/* fork() fails with EAGAIN while the file $FAILFORK_FLAG exists. */
pid_t fork(void)
{
	static pid_t (*real)(void);
	const char *flag = getenv("FAILFORK_FLAG");

	if (flag != NULL && access(flag, F_OK) == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (real == NULL)
		real = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	return real();
}
"""


def test_fork_failing_backs_off(ctx):
    d = tempfile.mkdtemp(prefix="failfork-", dir=ctx.a.run_dir)
    src, so, flag = (os.path.join(d, n) for n in ("failfork.c", "failfork.so", "flag"))
    with open(src, "w") as f:
        f.write(FAILFORK_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", so, src, "-ldl"], check=True, timeout=60)
    open(flag, "w").close()
    inst = Instance(ctx, "failfork", env=dict(preload_env(so), FAILFORK_FLAG=flag))
    inst.start(wait=False)
    wait_for(lambda: inst.master() is not None, 10, "the master writes its pid file")
    master = inst.master()
    cpu0 = cpu_seconds(master)
    time.sleep(5)
    cpu = cpu_seconds(master) - cpu0
    lines = [ln for ln in inst.log_text().splitlines() if "fork:" in ln]
    kit.info(ctx.a.label, "fork failing for 5 s: %d log lines, master CPU %.2f s" % (len(lines), cpu))
    check(1 <= len(lines) <= 10, "%d fork lines in 5 s" % len(lines))
    check(cpu < 0.5, "master used %.2f s of CPU in 5 s" % cpu)
    eq(children(master), [], "no workers while fork fails")
    os.unlink(flag)
    check(fcgikit.wait_answering(inst.sock, 15), "workers start once fork works again")
    inst.stop()


def test_workers_dying_at_birth_back_off(ctx):
    """A worker that cannot start (no such user) dies at once: the master
    backs off exponentially instead of forking in a loop."""
    if os.geteuid() != 0:
        pytest.skip("needs root (a user to switch to)")
    inst = Instance(ctx, "crashloop", {("server", "user"): "no-such-user-pt"}).start(wait=False)
    wait_for(lambda: inst.master() is not None, 10, "the master writes its pid file")
    master = inst.master()
    cpu0 = cpu_seconds(master)
    time.sleep(4)
    cpu = cpu_seconds(master) - cpu0
    log = inst.log_text()
    backoffs = log.count("a worker died while starting: next worker start in")
    births = log.count("user no-such-user-pt: no such user")
    kit.info(ctx.a.label, "dying at birth for 4 s: %d back-off lines, %d worker starts, master CPU %.2f s"
          % (backoffs, births, cpu))
    check(1 <= backoffs <= 10, "%d back-off lines in 4 s" % backoffs)
    check(births <= 25, "%d workers started in 4 s" % births)
    check(cpu < 0.5, "master used %.2f s of CPU" % cpu)


def test_max_requests_recycles(ctx):
    inst = Instance(ctx, "maxreq", {("server", "workers"): "1",
                                    ("server", "max_requests"): "3"}).start()
    for _ in range(7):
        eq(inst.call("GET", "/api/v1/ping", auth=False).status, 200, "ping")

    def ping_lines():
        return [ln.split("pid=")[1].split()[0] for ln in inst.log_text().splitlines()
                if "path=/api/v1/ping" in ln and " info request " in ln]
    # The master forwards the workers' lines in batches (every 50 ms at most).
    pids = wait_for(lambda: len(ping_lines()) >= 7 and ping_lines(), 5,
                    lambda: "7 access lines: %s" % ping_lines())[-7:]
    served = {p: pids.count(p) for p in pids}
    check(len(served) >= 3 and max(served.values()) <= 3,
          "requests per worker pid with max_requests = 3: %s" % pids)
    check("(max_requests): exiting" in inst.log_text(), "recycling not logged")
    inst.stop()


def test_request_timeout_kills_a_stuck_worker(ctx):
    """A worker stuck in a request outside the database (here: stopped with
    SIGSTOP while it waits on a stalled MariaDB, before the database watch
    would cut the wait): the master's watchdog kills it after
    request_timeout and half of it again, names the request, and the pool
    goes on."""
    inst = Instance(ctx, "watchdog", {("server", "workers"): "1",
                                      ("server", "request_timeout"): "2"}).start()
    eq(inst.call("GET", "/api/v1/health", auth=False).status, 200, "health before")
    db = read_pid(ctx.a.db_pidfile)
    check(db and alive(db), "no MariaDB pid")
    worker = children(inst.master())[0]
    rid = "pt-watchdog-%s" % os.urandom(3).hex()
    out = []

    def call():
        t0 = time.monotonic()
        try:
            a = inst.call("GET", "/api/v1/health", auth=False, headers={"X-Request-Id": rid},
                          timeout=15)
            out.append("a stuck request got an answer: " + a.where())
        except fcgikit.FcgiError:
            out.append(None)
        out.append(time.monotonic() - t0)

    os.kill(db, signal.SIGSTOP)
    try:
        # A group stop reaches each thread on its way back to user space:
        # wait until every thread of mariadbd has stopped.
        wait_for(lambda: all_threads_stopped(db), 5, "mariadbd's threads stop")
        th = threading.Thread(target=call, daemon=True)
        th.start()
        # The request is in the worker, waiting on the database: freeze the
        # worker there (the watch would cut that wait at 1 s).
        time.sleep(0.3)
        os.kill(worker, signal.SIGSTOP)
    finally:
        os.kill(db, signal.SIGCONT)
    th.join(20)
    check(len(out) == 2 and out[0] is None, "the stuck request: %s" % out)
    took = out[1]
    # The watchdog allows request_timeout and half of it again (the time a
    # lost COMMIT may take to settle).
    check(2.9 <= took <= 5, "the stuck request ended after %.1f s (request_timeout 2, "
          "killed after 3 s)" % took)
    log = inst.log_text()
    check("request_timeout (2 s): killing worker" in log and "id=%s method=GET "
          "path=/api/v1/health" % rid in log, "watchdog line missing:\n" + log[-800:])
    wait_for(lambda: inst.call("GET", "/api/v1/health", auth=False).status == 200, 15,
             "health 200 after the worker was replaced")
    inst.stop()


def test_request_timeout_kills_a_worker_stuck_in_a_body(ctx):
    """The same watchdog, whatever the data layer does: a request whose body
    never comes holds its worker until request_timeout and half of it
    again, then it is killed."""
    inst = Instance(ctx, "watchdog2", {("server", "workers"): "1",
                                       ("server", "request_timeout"): "2"}).start()
    worker = children(inst.master())[0]
    rid = "pt-stuck-%s" % os.urandom(3).hex()
    r = fcgikit.Request(inst.sock)
    h = ctx.auth()
    h["X-Request-Id"] = rid
    r.send_params("POST", "/api/v1/clients", h, 100, "application/json")
    r.send_body(b'{"id":', end=False)
    t0 = time.monotonic()
    try:
        a = r.answer()
        raise Failure("a request without its body got an answer: " + a.where())
    except fcgikit.FcgiError:
        pass
    took = time.monotonic() - t0
    check(2.9 <= took <= 5, "the stuck request ended after %.1f s (request_timeout 2, "
          "killed after 3 s)" % took)
    wait_for(lambda: not alive(worker), 5, "the watchdog kills the worker")
    check("request_timeout (2 s): killing worker %d, request id=%s method=POST "
          "path=/api/v1/clients" % (worker, rid) in inst.log_text(),
          "watchdog line missing:\n" + inst.log_text()[-600:])
    check(fcgikit.wait_answering(inst.sock, 10), "the pool serves after the kill")


def test_stalled_database_answers_503_before_the_deadline(ctx):
    """MariaDB stops answering (SIGSTOP) while its connections stay open:
    the wait is cut at the request's deadline minus its margin, the answer
    is 503 + Retry-After (never a hang until the master's watchdog kills
    the worker), the log says why, and the same worker serves again once
    the database is back."""
    inst = Instance(ctx, "stall", {("server", "workers"): "1",
                                   ("server", "request_timeout"): "4"}).start()
    eq(inst.call("GET", "/api/v1/health", auth=False).status, 200, "health before")
    worker = children(inst.master())[0]
    db = read_pid(ctx.a.db_pidfile)
    check(db and alive(db), "no MariaDB pid")
    os.kill(db, signal.SIGSTOP)
    try:
        wait_for(lambda: all_threads_stopped(db), 5, "mariadbd's threads stop")
        t0 = time.monotonic()
        a = inst.call("GET", "/api/v1/health", auth=False, timeout=15)
        took = time.monotonic() - t0
    finally:
        os.kill(db, signal.SIGCONT)
    eq(a.status, 503, "/health on a stalled database: " + a.where())
    check((a.headers.get("retry-after") or "").isdigit(), "Retry-After: %r"
          % a.headers.get("retry-after"))
    # The watch cuts at deadline - 1 s = 3 s, checking every 0.25 s.
    check(2.8 <= took < 4, "the 503 came after %.1f s (request_timeout 4)" % took)
    # The worker's line reaches the log through the master: wait for it.
    wait_for(lambda: "connection cut" in inst.log_text(), 5, "the cut is logged")
    log = inst.log_text()
    check("killing worker" not in log, "the watchdog killed the worker:\n" + log[-800:])
    wait_for(lambda: inst.call("GET", "/api/v1/health", auth=False).status == 200, 15,
             "health 200 after the database is back")
    eq(children(inst.master()), [worker], "the worker after the stall")
    inst.stop()


def test_notify_messages_arrive(ctx):
    path = os.path.join(ctx.a.run_dir, "pt-notify-%s" % os.urandom(3).hex())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(20)
    try:
        inst = Instance(ctx, "notify", env={"NOTIFY_SOCKET": path}).start(wait=False)

        def expect(word):
            while True:
                msg = s.recv(4096).decode()
                if word in msg.split("\n"):
                    return msg
        ready = expect("READY=1")
        check("MAINPID=%d" % inst.proc.pid in ready, "READY without MAINPID: %r" % ready)
        check("STATUS=2 workers: 0 busy, 2 idle" in ready, "READY without STATUS: %r" % ready)
        os.kill(inst.proc.pid, signal.SIGHUP)
        expect("RELOADING=1")
        expect("READY=1")
        os.kill(inst.proc.pid, signal.SIGTERM)
        expect("STOPPING=1")
        eq(inst.proc.wait(15), 0, "exit status")
    finally:
        s.close()
        os.unlink(path)


def test_socket_activation(ctx):
    sock = os.path.join(ctx.a.run_dir, "pt-activated.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    inst = Instance(ctx, "activated", argv_prefix=["systemd-socket-activate", "-l", sock])
    inst.start(wait=False)
    wait_for(lambda: os.path.exists(sock), 10, "systemd-socket-activate listens")
    a = fcgikit.call(sock, "GET", "/api/v1/ping", timeout=20)
    eq(a.status, 200, "ping through the activated socket")
    check("inherited from systemd" in inst.log_text(), "the inherited socket is not reported")
    os.kill(inst.proc.pid, signal.SIGTERM)
    eq(inst.proc.wait(15), 0, "exit status")
    check(os.path.exists(sock), "clientsd removed systemd's socket")
    os.unlink(sock)


def test_reload_and_upgrade_under_load(ctx):
    """16 connections for 16 s through the web server; SIGHUP x3 and SIGUSR2
    x1 to the master: zero non-2xx, zero connection errors, new workers."""
    api = ctx.api("load")
    cids = [api.create()["id"] for _ in range(4)]
    master = read_pid(ctx.a.pool_pidfile)
    before = set(children(master))
    stop = time.monotonic() + 16
    counts = {"ok": 0, "bad": 0, "err": 0}
    bad = []
    lock = threading.Lock()

    def worker(i):
        n = 0
        while time.monotonic() < stop:
            n += 1
            cid = cids[(i + n) % len(cids)]
            try:
                if n % 5 == 0:
                    r = api.patch(apikit.cpath(cid), {"name": "load %d %d" % (i, n)}, timeout=30)
                else:
                    r = api.get(apikit.cpath(cid), timeout=30)
                key = "ok" if 200 <= r.status < 300 else "bad"
                if key == "bad":
                    bad.append(r.where())
            except Exception as e:  # noqa: BLE001 - counted
                key = "err"
                bad.append(repr(e))
            with lock:
                counts[key] += 1
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    for at, sig in ((2, signal.SIGHUP), (5, signal.SIGHUP), (8, signal.SIGHUP),
                    (11, signal.SIGUSR2)):
        time.sleep(max(0, at - (16 - (stop - time.monotonic()))))
        os.kill(read_pid(ctx.a.pool_pidfile), sig)
    for t in threads:
        t.join(60)
    kit.info(ctx.a.label, "load: %d requests, %d non-2xx, %d connection errors" %
          (counts["ok"] + counts["bad"] + counts["err"], counts["bad"], counts["err"]))
    check(counts["bad"] == 0 and counts["err"] == 0, "failures under reload/upgrade: %s"
          % bad[:5])
    check(counts["ok"] > 100, "only %d requests in 16 s" % counts["ok"])
    new = read_pid(ctx.a.pool_pidfile)
    check(new != master, "the pid file still names the old master after SIGUSR2")
    wait_for(lambda: not alive(master), 15, "the old master exits")
    after = set(children(new))
    eq(len(after), 4, "workers of the new master")
    check(not (before & after), "old worker pids still serve: %s" % (before & after))


def test_command_line(ctx):
    b = ctx.a.bin
    p = subprocess.run([b, "-V"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0 and p.stdout.startswith("clientsd "), "-V: %r" % p.stdout)
    p = subprocess.run([b, "--version"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0 and p.stdout.startswith("clientsd "), "--version: %r" % p.stdout)
    p = subprocess.run([b, "--help"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0 and "usage: clientsd" in p.stdout and "SIGHUP" not in p.stdout
          and "HUP" in p.stdout, "--help: %r" % p.stdout[:200])
    p = subprocess.run([b, "-t", "-c", ctx.a.conf], capture_output=True, text=True, timeout=10)
    eq(p.returncode, 0, "-t on the running config: " + p.stderr)
    check("is OK" in p.stdout, "-t says OK: %r" % p.stdout)
    bad = Instance(ctx, "badconf", {("server", "pm"): "sometimes"})
    p = subprocess.run([b, "-t", "-c", bad.conf], capture_output=True, text=True, timeout=10)
    eq(p.returncode, 1, "-t on a bad config")
    check(bad.conf + ":" in p.stderr and "pm: bad value" in p.stderr, "-t: %r" % p.stderr)
    if os.geteuid() == 0:
        root = Instance(ctx, "rootconf", {("server", "user"): "", ("server", "group"): ""})
        p = subprocess.run([b, "-t", "-c", root.conf], capture_output=True, text=True,
                           timeout=10)
        eq(p.returncode, 1, "-t with workers as root")
        check("root" in p.stderr, "-t root message: %r" % p.stderr)
    if ctx.a.ctl:
        ctl = shlex.split(ctx.a.ctl)[0]
        for opt in ("--version", "-V"):
            p = subprocess.run([ctl, opt], capture_output=True, text=True, timeout=10)
            check(p.returncode == 0 and p.stdout.startswith("clientsctl "),
                  "clientsctl %s: %r" % (opt, p.stdout))
        p = subprocess.run([ctl, "--help"], capture_output=True, text=True, timeout=10)
        check(p.returncode == 0 and "usage: clientsctl" in p.stdout, "clientsctl --help")


def test_workers_refuse_root_unless_allowed(ctx):
    if os.geteuid() != 0:
        kit.info(ctx.a.label, "workers_refuse_root_unless_allowed: not root: nothing to refuse")
        return
    inst = Instance(ctx, "asroot", {("server", "user"): "", ("server", "group"): ""})
    p = subprocess.run(inst.argv, capture_output=True, text=True, timeout=15, env=inst.env)
    eq(p.returncode, 1, "exit status with workers as root")
    check("refusing to run workers as root" in p.stderr, "message: %r" % p.stderr[-300:])
    check("Sanitizer" not in p.stderr, "a refused start leaks: %s" % p.stderr[-2000:])
    check(not os.path.exists(inst.sock), "a refused start left its socket")
    ok = Instance(ctx, "allowroot", {("server", "user"): "", ("server", "group"): "",
                                     ("server", "allow_root"): "true"}).start()
    check("allow_root = true: the workers run as root" in ok.log_text(), "no warning logged")
    for w in children(ok.master()):
        with open("/proc/%d/status" % w) as f:
            uid = [ln for ln in f if ln.startswith("Uid:")][0].split()[1]
        eq(uid, "0", "uid of a worker with allow_root")
    inst2 = Instance(ctx, "asuser").start()
    for w in children(inst2.master()):
        with open("/proc/%d/status" % w) as f:
            uid = [ln for ln in f if ln.startswith("Uid:")][0].split()[1]
        check(uid != "0", "a worker runs as root although user is set")


def test_hup_with_a_bad_config_keeps_running_then_rebinds(ctx):
    inst = Instance(ctx, "reload").start()
    master = inst.master()
    workers = children(master)
    with open(inst.conf) as f:
        good = f.read()
    with open(inst.conf, "a") as f:
        f.write("[server]\nworkers = many\n")
    nlines = good.count("\n") + 2
    os.kill(master, signal.SIGHUP)
    wait_for(lambda: "reload failed" in inst.log_text(), 10, "reload failed logged")
    check("reload failed: %s:%d: workers: bad integer" % (inst.conf, nlines) in inst.log_text(),
          "file:line: reason not logged: %s" % inst.log_text()[-400:])
    time.sleep(0.5)
    eq(children(master), workers, "workers after a bad reload (unchanged)")
    eq(inst.call("GET", "/api/v1/ping", auth=False).status, 200, "serves after a bad reload")
    # A good config with another listen: bound anew, the old socket removed.
    new_sock = inst.sock + ".2"
    with open(inst.conf, "w") as f:
        f.write(good.replace("listen = " + inst.sock, "listen = " + new_sock))
    os.kill(master, signal.SIGHUP)
    check(fcgikit.wait_answering(new_sock, 10), "the new listen does not answer")
    wait_for(lambda: not os.path.exists(inst.sock), 5, "the old socket is removed")
    wait_for(lambda: not (set(children(master)) & set(workers)), 10, "old workers exit")
    eq(len(children(master)), 2, "workers after the reload")
    inst.sock = new_sock
    inst.stop()
    check(not os.path.exists(new_sock), "socket left after the stop")


def test_usr1_reopens_the_log_file(ctx):
    path = os.path.join(os.path.abspath(ctx.a.log_dir), "pool-test-target.log")
    for p in (path, path + ".1"):
        if os.path.exists(p):
            os.unlink(p)
    inst = Instance(ctx, "logfile", {("log", "target"): path, ("log", "level"): "info"}).start()
    inst.call("GET", "/api/v1/ping", auth=False)
    wait_for(lambda: os.path.exists(path) and "path=/api/v1/ping" in open(path).read(), 5,
             "worker lines reach the file through the master")
    os.rename(path, path + ".1")
    os.kill(inst.master(), signal.SIGUSR1)
    wait_for(lambda: os.path.exists(path), 5, "the log file is reopened")
    rid = "pt-usr1-%s" % os.urandom(3).hex()
    inst.call("GET", "/api/v1/ping", auth=False, headers={"X-Request-Id": rid})
    wait_for(lambda: "id=%s " % rid in open(path).read(), 5, "a new line in the new file")
    check("SIGUSR1: log reopened" in open(path).read(), "reopen not logged")
    check("id=%s " % rid not in open(path + ".1").read(), "a line went to the rotated file")


def held_patch(ctx, inst, cid, seconds, name="held"):
    """A PATCH through inst waiting on cid's row, locked from SQL for seconds."""
    lock = locker(ctx, cid, seconds)
    rid = "pt-%s-%s" % (name, os.urandom(3).hex())
    t, box = in_thread(inst.call, "PATCH", "/api/v1/clients/" + cid, {"name": name}, True,
                       {"X-Request-Id": rid}, 30)
    return lock, t, box, rid


def test_dynamic_pm_and_slowlog(ctx):
    inst = Instance(ctx, "dynamic", {("server", "pm"): "dynamic", ("server", "workers"): "3",
                                     ("server", "min_spare"): "1", ("server", "max_spare"): "1",
                                     ("server", "start_workers"): "1",
                                     ("server", "slowlog_ms"): "300"}).start()
    master = inst.master()
    cid = new_client(inst)
    # The requests so far made a spare; above max_spare it is stopped again.
    wait_for(lambda: len(children(master)) == 1, 5, "one idle worker (max_spare = 1)")
    lock, t, box, rid = held_patch(ctx, inst, cid, 1.5)
    # The only worker is busy: below min_spare, the master starts one more.
    wait_for(lambda: len(children(master)) == 2, 4, "a spare worker while one is busy")
    d = inst.call("GET", "/api/v1/status").body["data"]
    eq(d["process_manager"], "dynamic", "process_manager")
    check(d["active_workers"] >= 2, "busy: the PATCH and the status request (%d)"
          % d["active_workers"])
    t.join(30)
    lock.join(30)
    eq(box.get("r") and box["r"].status, 200, "the held PATCH")
    # The worker's lines reach the file through the master's pipe: wait for it.
    want = "slow request id=%s method=PATCH path=/api/v1/clients/%s status=200" % (rid, cid)
    wait_for(lambda: want in inst.log_text(), 5, "the slow log line for %s" % rid)
    log = inst.log_text()
    slow = [ln for ln in log.splitlines() if "slow request id=%s" % rid in ln][0]
    check(" statements=" in slow and " retries=0" in slow and " db_us=" in slow,
          "slow line lacks database figures: " + slow)
    check(inst.call("GET", "/api/v1/status").body["data"]["slow_requests"] >= 1,
          "slow_requests on the status page")


def test_max_workers_reached_counts(ctx):
    """The only worker busy: the status page counts the pool as full."""
    inst = Instance(ctx, "full", {("server", "workers"): "1"}).start()
    cid = new_client(inst)
    d0 = inst.call("GET", "/api/v1/status").body["data"]
    lock, t, box, rid = held_patch(ctx, inst, cid, 1.5, "full")
    t.join(30)
    lock.join(30)
    eq(box.get("r") and box["r"].status, 200, "the held PATCH")
    d = inst.call("GET", "/api/v1/status").body["data"]
    check(d["max_workers_reached"] >= d0["max_workers_reached"] + 1,
          "max_workers_reached %d -> %d" % (d0["max_workers_reached"],
                                            d["max_workers_reached"]))
    eq(d["max_active_workers"], 1, "max_active_workers with one worker")
    check(d["accepted"] >= d0["accepted"] + 2, "accepted counts the PATCH")


def test_ondemand_pm(ctx):
    inst = Instance(ctx, "ondemand", {("server", "pm"): "ondemand", ("server", "workers"): "2",
                                      ("server", "idle_timeout"): "1"}).start()
    master = inst.master()
    eq(inst.call("GET", "/api/v1/status").body["data"]["process_manager"], "ondemand", "pm")
    wait_for(lambda: children(master) == [], 6, "idle workers stopped after idle_timeout")
    eq(inst.call("GET", "/api/v1/ping", auth=False, timeout=10).status, 200,
       "a connection starts a worker")
    eq(len(children(master)), 1, "one worker for one connection")
    wait_for(lambda: children(master) == [], 6, "and it goes after idle_timeout")


def test_stop_timeout_bounds_a_stop(ctx):
    inst = Instance(ctx, "stoptimeout", {("server", "stop_timeout"): "1"}).start()
    cid = new_client(inst)
    lock, t, box, rid = held_patch(ctx, inst, cid, 4)
    time.sleep(0.3)
    master = inst.master()
    t0 = time.monotonic()
    os.kill(master, signal.SIGTERM)
    wait_for(lambda: not alive(master), 5, "the master stops within stop_timeout")
    took = time.monotonic() - t0
    check(0.9 <= took <= 3, "stop took %.1f s with stop_timeout = 1" % took)
    check("stop_timeout (1 s): 1 workers still busy: killing them" in inst.log_text(),
          "stop_timeout not logged")
    check(not os.path.exists(inst.sock), "socket left")
    t.join(30)
    lock.join(30)


def test_locked_row_patch_answers_503_within_the_deadline(ctx):
    """The data layer honours request_timeout (the store's own deadline,
    not the watchdog's): a PATCH waiting on a locked row answers 503 + Retry-After
    before the deadline, never after 20 s."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf",
                           "clientsd.conf")) as f:
        sample = f.read()
    if "lock_wait_timeout" not in sample:
        pytest.skip("this tree's data layer has no deadline yet ([database] "
                   "lock_wait_timeout is missing)")
    inst = Instance(ctx, "deadline", {("server", "request_timeout"): "4"}).start()
    cid = new_client(inst)
    lock, t, box, rid = held_patch(ctx, inst, cid, 8)
    t0 = time.monotonic()
    t.join(30)
    took = time.monotonic() - t0
    lock.join(30)
    check("r" in box, "no answer: %r" % box.get("e"))
    a = box["r"]
    eq(a.status, 503, "PATCH on a locked row: " + a.where())
    check((a.headers.get("retry-after") or "").isdigit(), "Retry-After: %r"
          % a.headers.get("retry-after"))
    check(took < 4, "the 503 came after %.1f s (request_timeout 4)" % took)



def test_tcp_listen_allowed_and_queue(ctx):
    """A TCP listen: listen_allowed closes other peers; the status page
    reports the accept queue (Linux gives it for TCP only)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    addr = "127.0.0.1:%d" % port
    inst = Instance(ctx, "tcp", {("server", "listen"): addr,
                                 ("server", "listen_allowed"): "127.0.0.1, ::1"}, sock=addr)
    inst.start()
    d = inst.call("GET", "/api/v1/status").body["data"]
    check(isinstance(d["listen_queue"], int) and isinstance(d["max_listen_queue"], int),
          "listen_queue of a TCP socket: %r / %r" % (d["listen_queue"], d["max_listen_queue"]))
    try:
        a = fcgikit.call(addr, "GET", "/api/v1/ping", source="127.0.0.2", timeout=5)
        raise Failure("a peer outside listen_allowed got an answer: " + a.where())
    except (fcgikit.FcgiError, ConnectionResetError, BrokenPipeError):
        pass
    wait_for(lambda: "connection from 127.0.0.2 refused: not in listen_allowed"
             in inst.log_text(), 5, "the refused peer is logged")
    eq(fcgikit.call(addr, "GET", "/api/v1/ping", source="127.0.0.1").status, 200,
       "an allowed peer")
    inst.stop()


def test_upgrade_checks_the_new_binary_first(ctx):
    """SIGUSR2 with a binary that fails -t: logged, the running master stays;
    with a good one: a new master."""
    d = tempfile.mkdtemp(prefix="upgrade-", dir=ctx.a.run_dir)
    os.chmod(d, 0o755)
    exe = os.path.join(d, "clientsd")
    subprocess.run(["install", "-m", "0755", ctx.a.bin, exe], check=True)
    inst = Instance(ctx, "upgrade", binary=exe).start()
    master = inst.master()
    broken = exe + ".new"
    with open(broken, "w") as f:
        f.write("#!/bin/sh\necho 'broken build' >&2\nexit 1\n")
    os.chmod(broken, 0o755)
    os.rename(broken, exe)
    os.kill(master, signal.SIGUSR2)
    wait_for(lambda: "keeping the running binary" in inst.log_text(), 10, "the failed check logged")
    check("upgrade: %s -t -c %s failed (status 1" % (exe, inst.conf) in inst.log_text(),
          "the failed check names the binary and status")
    time.sleep(0.3)
    eq(inst.master(), master, "the pid file after a failed upgrade")
    check(alive(master), "the master died on a failed upgrade")
    eq(inst.call("GET", "/api/v1/ping", auth=False).status, 200, "serves on")
    subprocess.run(["install", "-m", "0755", ctx.a.bin, exe + ".new"], check=True)
    os.rename(exe + ".new", exe)
    os.kill(master, signal.SIGUSR2)
    wait_for(lambda: inst.master() != master, 10, "a new master after a good upgrade")
    wait_for(lambda: not alive(master), 10, "the old master exits")
    eq(inst.call("GET", "/api/v1/ping", auth=False).status, 200, "the new master serves")


def test_nginx_logs_the_upstream_request_id(ctx):
    api = ctx.api("rid")
    rid = "pt-nginx-rid-%s" % os.urandom(3).hex()
    api.get("/api/v1/ping", auth=None, rid=rid)
    path = os.path.join(ctx.a.log_dir, "nginx-access.log")
    wait_for(lambda: "rid=%s" % rid in open(path, errors="replace").read(), 5,
             "rid=%s in nginx's access log" % rid)
    # A request without one: nginx logs the id clientsd made.
    r = api.get("/api/v1/ping", auth=None, rid=None)
    made = r.header("X-Request-Id")
    wait_for(lambda: "rid=%s" % made in open(path, errors="replace").read(), 5,
             "the generated id in nginx's access log")
