"""sandbox_test - the seccomp sandbox kills a worker that steps outside it.

Starts a throw-away standalone pool (one worker) of the clientsd under
test on the suite's database, with tests/integration/sandbox_probe.c
preloaded: a request carrying the FastCGI parameter HTTP_X_SANDBOX_PROBE
makes the worker call execve or open a new file for writing.  With
[server] sandbox = seccomp the worker must die by SIGSYS, the log must
name the call, the pool must log the signal and start a new worker that
serves; with sandbox = none the same probe must succeed (so the probe
really makes the call and this test can fail).  The pool is spoken to in
FastCGI directly, without a web server.

It also checks that every process of the run that serves requests with the
set-up's binary (cfg.running_bin: mod_fcgid's children here) is in seccomp
filter mode ("Seccomp: 2" in /proc/PID/status).  Through Apache + mod_fcgid,
in both runs.
"""

import os
import signal
import subprocess
import tempfile
import time

import pytest

import fcgikit
from kit import check, eq, short, wait_for
from poolkit import PrivatePool, preload_env

pytestmark = [pytest.mark.setups(["apache-fcgid"], sanitize=["apache-fcgid"]),
              pytest.mark.budget(200)]

HERE = os.path.dirname(os.path.abspath(__file__))
SIGSYS = int(signal.SIGSYS)
# The call each probe makes: its name and x86_64 number.
SYSCALL = {"execve": ("execve", 59), "open-write": ("openat", 257)}


@pytest.fixture(scope="module", autouse=True)
def probe(cfg):
    """tests/integration/sandbox_probe.c built (cfg.probe: the library)."""
    work = tempfile.mkdtemp(prefix="clientsd-probe-")
    os.chmod(work, 0o755)
    cfg.probe = os.path.join(work, "sandbox_probe.so")
    p = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-o", cfg.probe,
                        os.path.join(HERE, "sandbox_probe.c"), "-ldl"],
                       capture_output=True, text=True)
    try:
        check(p.returncode == 0, "build the probe: " + p.stderr.strip())
        yield cfg.probe
    finally:
        subprocess.run(["rm", "-rf", work])


def fcgi_get(sock_path, uri, params=None, timeout=15):
    """GET uri with these FastCGI parameters: returns (stdout bytes, ended)
    where ended says whether an END_REQUEST record came (False: the worker
    died mid-request)."""
    r = fcgikit.Request(sock_path, timeout)
    r.send_params("GET", uri, body_length=0, params=params)
    try:
        # A worker the probe killed may be gone before the body's record.
        r.send_body(b"")
        return r.answer().wire, True
    except (BrokenPipeError, ConnectionResetError):
        return b"", False
    except fcgikit.FcgiError as e:
        return e.stdout, False


# ---- a throw-away pool -------------------------------------------------------

class Pool(PrivatePool):
    def __init__(self, cfg, sandbox, drop=()):
        sets = {("server", "workers"): "1", ("server", "sandbox"): sandbox}
        sets.update((pair, None) for pair in drop)
        super().__init__(cfg.bin, cfg.conf, sets, "sandbox", cfg.log_dir,
                         preload_env(cfg.probe))

        def started():
            check(self.proc.poll() is None, "the probe pool exited: " + self.tail())
            return os.path.exists(self.sock) and self.workers()
        wait_for(started, 20, lambda: "the probe pool did not start: " + self.tail(), 0.1)

    def workers(self):
        """Pids of the master's children."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def tail(self):
        return short(self.text()[-600:], 600)

    def wait_new_worker(self, old, seconds=15):
        return wait_for(lambda: [p for p in self.workers() if p != old], seconds,
                        lambda: "no new worker: " + self.tail(), 0.1)[0]


def health_ok(pool):
    out, ended = fcgi_get(pool.sock, "/api/v1/health")
    check(ended and b'"database":"ok"' in out,
          "health through the probe pool: %r" % short(out.decode("latin-1")))


def seccomp_mode(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("Seccomp:"):
                return int(ln.split()[1])
    return None


def probe_kills(api, probe):
    cfg = api.cfg
    pool = Pool(cfg, "seccomp")
    try:
        old = pool.workers()[0]
        health_ok(pool)     # connected and serving under the sandbox
        eq(seccomp_mode(old), 2, "Seccomp mode of the worker")
        target = os.path.join(pool.dir, "created-by-probe")
        out, ended = fcgi_get(pool.sock, "/api/v1/health",
                              {"HTTP_X_SANDBOX_PROBE": probe, "HTTP_X_SANDBOX_PATH": target})
        check(not ended, "the worker answered after the probe %s: %r" % (probe, out[:200]))
        new = pool.wait_new_worker(old)
        check(not os.path.exists(target), "the probe created %s" % target)
        # The worker's own line: its pid, the call's name and number.
        wants = ("pid=%d error sandbox: forbidden system call %s (number %d)"
                 % ((old,) + SYSCALL[probe]),
                 "worker %d exited (status -1, signal %d)" % (old, SIGSYS))
        # The worker's line comes through the master's pipe: allow a moment.
        deadline = time.monotonic() + 5
        while not all(w in pool.text() for w in wants) and time.monotonic() < deadline:
            time.sleep(0.05)
        log = pool.text()
        for want in wants:
            check(want in log, "pool log lacks %r: %s" % (want, pool.tail()))
        check("probe:" not in log, "the forbidden call returned: " + pool.tail())
        health_ok(pool)     # the new worker serves
        eq(seccomp_mode(new), 2, "Seccomp mode of the new worker")
    finally:
        pool.stop()


# ---- the tests ---------------------------------------------------------------

@pytest.mark.timeout(60)
def test_sandbox_execve_kills_worker(api):
    probe_kills(api, "execve")

@pytest.mark.timeout(60)
def test_sandbox_open_for_writing_kills_worker(api):
    probe_kills(api, "open-write")

@pytest.mark.timeout(60)
def test_sandbox_none_lets_the_probe_through(api):
    """The control: without the sandbox the same probe creates its file and
    the worker goes on serving."""
    pool = Pool(api.cfg, "none")
    try:
        old = pool.workers()[0]
        eq(seccomp_mode(old), 0, "Seccomp mode with sandbox = none")
        target = os.path.join(pool.dir, "created-by-probe")
        out, ended = fcgi_get(pool.sock, "/api/v1/health",
                              {"HTTP_X_SANDBOX_PROBE": "open-write",
                               "HTTP_X_SANDBOX_PATH": target})
        check(ended, "no answer with sandbox = none: " + pool.tail())
        check(os.path.exists(target), "the probe did not create its file: " + pool.tail())
        # Workers log through the master's pipe: the line may come a moment
        # after the answer.
        deadline = time.monotonic() + 5
        while "probe: open-write succeeded" not in pool.text() and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        check("probe: open-write succeeded" in pool.text(), "probe line: " + pool.tail())
        eq(pool.workers(), [old], "workers after the probe")
    finally:
        pool.stop()

@pytest.mark.timeout(60)
def test_default_config_refuses_query_key(api):
    """Not the sandbox, but its throw-away pool: with admin_key_query left
    at its default (the run's config turns it on for api_test.py's query
    tests), ?admin_key= is not a credential; the header still is."""
    pool = Pool(api.cfg, "seccomp", drop=(("api", "admin_key_query"),))
    try:
        key = api.cfg.admin_key
        out, ended = fcgi_get(pool.sock, "/api/v1/clients?limit=1&admin_key=" + key)
        check(ended and out.startswith(b"Status: 401"), "?admin_key= answered: %r"
              % short(out.decode("latin-1")))
        out, ended = fcgi_get(pool.sock, "/api/v1/clients?limit=1",
                              {"HTTP_AUTHORIZATION": "Bearer " + key})
        # (a 200 may come without a Status line: CGI's default)
        check(ended and b'"success":true' in out and b"Status: 401" not in out,
              "Bearer answered: %r" % short(out.decode("latin-1")))
    finally:
        pool.stop()

def test_sandbox_on_in_every_serving_process(api):
    """Every process of the main run that serves with --running-bin (pool
    workers, mod_fcgid's children) runs under the filter."""
    path = api.cfg.running_bin
    check(path, "needs --running-bin")
    serving = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % d)
            with open("/proc/%s/task/%s/children" % (d, d)) as f:
                kids = f.read().split()
        except OSError:
            continue
        if exe not in (path, path + " (deleted)"):
            continue
        kid_exes = []
        for k in kids:
            try:
                kid_exes.append(os.readlink("/proc/%s/exe" % k).replace(" (deleted)", ""))
            except OSError:
                pass
        if path in kid_exes:
            continue            # a pool master: it does not serve
        serving.append(int(d))
    check(serving, "no process serves with %s" % path)
    # A process just started may still be connecting to the database.
    deadline = time.monotonic() + 5
    for pid in serving:
        while True:
            try:
                mode = seccomp_mode(pid)
            except OSError:
                break           # gone meanwhile
            if mode == 2 or time.monotonic() > deadline:
                eq(mode, 2, "Seccomp mode of serving process %d" % pid)
                break
            time.sleep(0.2)
