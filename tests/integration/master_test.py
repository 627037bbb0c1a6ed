"""master_test - the pool's master trusts nothing its workers can write.

A worker taken over through some bug can write the whole shared scoreboard
and its stderr, the master's log pipe.  These tests do exactly that, as
root, from outside (through /proc/PID/mem and /proc/PID/fd/2), on a
throw-away pool started in a PID namespace of its own, so that even a
master that did signal a pid read from the scoreboard could only reach the
processes of that namespace (kill(-1) included), never the machine's:

- slots claim a foreign root process, -1, 0 and the master itself, with
  a request older than request_timeout; a live worker's slot claims the
  foreign process; another's holds a state out of range: only the pool's
  own worker is signalled (the one whose slot ran past the deadline),
  the foreign process, the master and the other workers live on;
- a worker holds /dev/null on stdin and stdout, the log pipe on stderr,
  and sockets (the listening one, its database connections): nothing else;
- lines written into the log pipe are cut, their control characters
  escaped, and one claiming the master's pid is quoted as a worker's.

Once, before the web server set-ups, in the plain run (root only).
"""

import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import time

import pytest

import fcgikit
from kit import check, eq, short, wait_for
from poolkit import alive, children, conf_with, write_private

pytestmark = [pytest.mark.setups("before"), pytest.mark.budget(120)]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
REQUEST_TIMEOUT = 2


def inner_pid(pid):
    """pid as its own PID namespace numbers it (the last of NSpid)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError("no NSpid for %d" % pid)


def layout(build):
    """Where the scoreboard's fields are, from the tree's own header."""
    work = tempfile.mkdtemp(prefix="clientsd-sblayout-")
    exe = os.path.join(work, "sb_layout")
    flags = subprocess.run(["pkg-config", "--cflags", "jansson"], capture_output=True,
                           text=True).stdout.split()
    p = subprocess.run([os.environ.get("CC", "cc")] + flags + [
        "-I", os.path.join(REPO, "app"), "-I", os.path.join(REPO, "lib", "core"),
        "-I", os.path.join(REPO, "lib", "http"), "-I", os.path.join(build, "gen"),
        "-I", build, "-o", exe, os.path.join(HERE, "sb_layout.c")],
        capture_output=True, text=True)
    check(p.returncode == 0, "build sb_layout: " + p.stderr.strip())
    out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    subprocess.run(["rm", "-rf", work])
    return json.loads(out)


class NamespacedPool:
    """A static pool of 3 workers, its master in a PID namespace of its
    own beside a root `sleep` (the foreign process to protect)."""

    def __init__(self, inst):
        self.dir = tempfile.mkdtemp(prefix="clientsd-master-")
        os.chmod(self.dir, 0o1777)
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(inst.log, "master-test-pool.log")
        conf = os.path.join(self.dir, "clientsd.conf")
        write_private(conf, conf_with(inst.conf, {
            ("server", "listen"): self.sock, ("server", "pid_file"): None,
            ("server", "workers"): "3", ("server", "pm"): "static",
            ("server", "request_timeout"): str(REQUEST_TIMEOUT),
            ("log", "target"): self.log}))
        victim_file = os.path.join(self.dir, "victim")
        binary = os.path.join(inst.build, "app", "clientsd")
        script = 'sleep 600 & echo $! > %s; %s -c %s; kill $!' % (victim_file, binary, conf)
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.born = time.monotonic()

        def up():
            check(self.proc.poll() is None, "the pool exited: " + self.tail())
            return os.path.exists(self.sock) and len(self.workers()) == 3
        wait_for(up, 20, lambda: "the pool did not start: " + self.tail(), 0.1)
        self.victim_inner = int(open(victim_file).read())
        self.victim = [p for p in self.shell_children() if p != self.master()][0]
        eq(inner_pid(self.victim), self.victim_inner, "the foreign process's inner pid")

    def shell_children(self):
        """The namespace's init (sh) has the sleep and the master."""
        sh = children(self.proc.pid)
        return children(sh[0]) if sh else []

    def master(self):
        kids = [p for p in self.shell_children()
                if os.readlink("/proc/%d/exe" % p).endswith("clientsd")]
        return kids[0] if kids else None

    def workers(self):
        m = self.master()
        return children(m) if m else []

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self):
        return short(self.text()[-800:], 800)

    def stop(self):
        m = self.master()
        if m:
            os.kill(m, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


@pytest.fixture(scope="module")
def pool(instance):
    if os.geteuid() != 0:
        pytest.skip("needs root: writes another process's memory")
    p = NamespacedPool(instance)
    try:
        yield p
    finally:
        p.stop()


class Scoreboard:
    """The master's mapping of the scoreboard, written through /proc/PID/mem."""

    def __init__(self, pid, lay):
        self.pid, self.lay = pid, lay
        want = (lay["size"] + 4095) // 4096 * 4096
        self.base = None
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if parts[1] == "rw-s" and hi - lo == want and "/dev/zero" in line:
                    self.base = lo
        check(self.base is not None, "no scoreboard mapping in the master")

    def addr(self, slot, field):
        return self.base + self.lay["slot"] + slot * self.lay["slot_size"] + self.lay[field]

    def read_int(self, slot, field):
        with open("/proc/%d/mem" % self.pid, "rb") as f:
            f.seek(self.addr(slot, field))
            return struct.unpack("=i", f.read(4))[0]

    def write(self, slot, field, fmt, value):
        with open("/proc/%d/mem" % self.pid, "r+b", buffering=0) as f:
            f.seek(self.addr(slot, field))
            f.write(struct.pack(fmt, value))

    def claim(self, slot, pid, started_us, state):
        """A slot says: worker pid, busy since started_us (what the watchdog reads)."""
        self.write(slot, "req_start_us", "=q", started_us)
        self.write(slot, "since_ms", "=q", started_us // 1000)
        self.write(slot, "pid", "=i", pid)
        self.write(slot, "state", "=i", state)


def ping(pool):
    r = fcgikit.Request(pool.sock, 10)
    r.send_params("GET", "/api/v1/ping", body_length=0)
    r.send_body(b"")
    return r.answer()


def test_scoreboard_pids_are_never_signalled(pool, instance):
    lay = layout(instance.build)
    master = pool.master()
    sb = Scoreboard(master, lay)
    workers = pool.workers()
    inner = {w: inner_pid(w) for w in workers}
    slot_of = {}
    for slot in range(lay["slots"]):
        pid = sb.read_int(slot, "pid")
        for w, i in inner.items():
            if pid == i:
                slot_of[w] = slot
    eq(len(slot_of), 3, "the workers' slots (by the pid shown there)")
    # A request that started after the workers did, past request_timeout.
    wait_for(lambda: time.monotonic() - pool.born > REQUEST_TIMEOUT + 2, 10, "time", 0.1)
    late_us = int((time.monotonic() - REQUEST_TIMEOUT - 1) * 1e6)
    busy = lay["busy"]
    for slot, pid in ((300, pool.victim_inner), (301, -1), (302, 0), (303, inner_pid(master))):
        sb.claim(slot, pid, 1, busy)              # free slots, "busy for ever"
        sb.claim(slot + 10, pid, late_us, busy)   # free slots, a plausible time
    killed, garbage, untouched = workers
    sb.claim(slot_of[killed], pool.victim_inner, late_us, busy)
    sb.write(slot_of[garbage], "state", "=i", 77)
    # The watchdog looks at least once a second.
    wait_for(lambda: not alive(killed), 10,
             lambda: "the worker whose slot ran late still runs: " + pool.tail(), 0.1)
    time.sleep(REQUEST_TIMEOUT + 1)
    check(alive(pool.victim), "the foreign root process was killed: " + pool.tail())
    check(alive(master), "the master is gone: " + pool.tail())
    check(alive(garbage) and alive(untouched), "another worker was signalled: " + pool.tail())
    log = pool.text()
    kills = re.findall(r"killing worker (-?\d+)", log)
    eq(kills, [str(inner[killed])], "the workers the watchdog killed")
    check("worker %d exited" % inner[killed] in log, "the master reaped it: " + pool.tail())
    wait_for(lambda: len(pool.workers()) == 3, 10, lambda: "no replacement: " + pool.tail(), 0.1)
    eq(ping(pool).status, 200, "the pool serves")


def test_workers_hold_only_what_they_need(pool):
    master = pool.master()
    master_pipes = set()
    for fd in os.listdir("/proc/%d/fd" % master):
        t = os.readlink("/proc/%d/fd/%s" % (master, fd))
        if t.startswith("pipe:"):
            master_pipes.add(t)
    for w in pool.workers():
        fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (w, fd))
               for fd in os.listdir("/proc/%d/fd" % w)}
        eq(fds.get(0), "/dev/null", "worker %d stdin" % w)
        eq(fds.get(1), "/dev/null", "worker %d stdout" % w)
        check(fds.get(2, "").startswith("pipe:") and fds[2] in master_pipes,
              "worker %d stderr is not the master's log pipe: %r" % (w, fds.get(2)))
        # Sockets (the listening one, the database's) and its own epoll
        # instance, which waits for connections.
        others = {fd: t for fd, t in fds.items() if fd > 2}
        check(others and all(t.startswith("socket:") or t == "anon_inode:[eventpoll]"
                             for t in others.values()),
              "worker %d holds more than sockets and its epoll: %r" % (w, others))


def test_log_pipe_lines_are_cut_and_escaped(pool):
    w = pool.workers()[0]
    wi, mi = inner_pid(w), inner_pid(pool.master())
    stamp = "2026-01-01T00:00:00.000Z"
    lines = [
        "%s pid=%d error forged-by-a-worker\n" % (stamp, mi),
        "%s pid=%d info colour \x1b[31mred\x1b[0m done\r\n" % (stamp, wi),
        "%s pid=%d info %s\n" % (stamp, wi, "x" * 10000),
    ]
    fd = os.open("/proc/%d/fd/2" % w, os.O_WRONLY)
    try:
        for line in lines:
            os.write(fd, line.encode())
    finally:
        os.close(fd)
    wait_for(lambda: "forged-by-a-worker" in pool.text() and "colour" in pool.text()
             and "xxxxxxxx" in pool.text(), 10, lambda: "lines not forwarded: " + pool.tail(),
             0.1)
    log = pool.text()
    check("\x1b" not in log and "\r" not in log, "a control character reached the log")
    check(not re.search(r"^\S+ pid=%d error forged-by-a-worker" % mi, log, re.M),
          "a worker's line passed for the master's: " + pool.tail())
    check(re.search(r"^\S+ pid=%d warn a worker wrote a line not its own: %s pid=%d error "
                    r"forged-by-a-worker$" % (mi, re.escape(stamp), mi), log, re.M),
          "the forged line is not quoted as a worker's: " + pool.tail())
    check("colour \\x1b[31mred\\x1b[0m done\\x0d" in log, "escaped: " + pool.tail())
    longest = max(len(line.encode()) for line in log.splitlines(True))
    check(longest <= 2200, "a log line of %d bytes" % longest)
