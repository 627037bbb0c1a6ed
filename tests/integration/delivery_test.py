"""delivery_test.py - the webhook dispatcher, clientsd-webhooks
(clientsd-webhooks(8)): receivers on 127.0.0.1 verify every signature and
record every request, while the dispatcher meets a receiver that fails
its first attempts, one that times out, one that is down for a while, a
kill -9 in the middle of a delivery, the database stopped and started,
and two dispatchers at once.  Afterwards, each time: every event
delivered (none lost), each client's events acknowledged in order,
duplicates only where an attempt's outcome was unknown (a timeout, a
kill), every signature valid, an old secret accepted only within a
rotation's overlap, and private addresses refused unless allowed.  And
its sandbox: it delivers from inside it (to a host name too, which starts
libcurl's resolver thread there), and a dispatcher made to call execve
(tests/integration/webhooks_probe.c, preloaded) dies by SIGSYS.

The dispatcher runs as its own database user, with the grants
`clientsctl migrate` gives [webhooks] user.  The endpoints here are http
on 127.0.0.1, which the API refuses by default ([webhooks] allow_http):
they are written into webhook_endpoints directly, with a known secret.
Through nginx only (the dispatcher does not go through a web server).
"""

import collections
import hashlib
import hmac
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apikit import check, cpath, db_control, eq, expect_status, wait_healthy
from kit import info, wait_for
from poolkit import conf_with, preload_env

pytestmark = [pytest.mark.setups(["nginx"], sanitize=["nginx"]), pytest.mark.budget(300)]

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
USER = "clients_webhooks"     # [webhooks] user: clientsd.conf's default
PASSWORD = "dispatcher-" + os.urandom(8).hex()
SECRET = "whsec_" + "5e" * 32


# ---- a receiver ------------------------------------------------------------------

class Receiver:
    """An HTTP server on 127.0.0.1 recording every request: (time, event
    id, signature header, body, status answered).  behave(event_id,
    attempt) returns (status, seconds to wait before answering)."""

    def __init__(self, behave=None, port=0):
        self.behave = behave or (lambda eid, n: (200, 0))
        self.got, self.attempts = [], collections.Counter()
        self.lock = threading.Lock()
        self.server = None
        self.start(port)

    def start(self, port=0):
        recv = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                eid = self.headers.get("Clients-Event-Id")
                with recv.lock:
                    recv.attempts[eid] += 1
                    n = recv.attempts[eid]
                status, delay = recv.behave(eid, n)
                if delay:
                    time.sleep(delay)
                with recv.lock:
                    recv.got.append((time.time(), eid, self.headers.get("Clients-Signature"),
                                     body, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass    # the dispatcher gave up waiting

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def first_acks(self):
        """The first 2xx of each event, in the order they came: [(time, id,
        body)]."""
        seen, out = set(), []
        with self.lock:
            for t, eid, _, body, status in self.got:
                if 200 <= status < 300 and eid not in seen:
                    seen.add(eid)
                    out.append((t, eid, body))
        return out

    def acked(self):
        """The first 2xx of each event, in the order they came: [(id, body)]."""
        return [(eid, json.loads(body)) for _, eid, body in self.first_acks()]

    def acks(self):
        with self.lock:
            return collections.Counter(eid for _, eid, _, _, st in self.got if 200 <= st < 300)


def signed_by(header, body, secret):
    """Whether the signature header carries a v1 made with secret."""
    parts = [p.split("=", 1) for p in header.split(",")]
    t = [v for k, v in parts if k == "t"]
    if len(t) != 1:
        return False
    want = hmac.new(secret.encode(), t[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, want) for k, v in parts)


def check_signatures(recv, secret=SECRET):
    """Every request the receiver got is signed with secret, recently, and
    its Clients-Event-Id is its body's id."""
    with recv.lock:
        got = list(recv.got)
    for when, eid, sig, body, _ in got:
        check(sig is not None and signed_by(sig, body, secret), "a bad signature on %s" % eid)
        t = int(dict(p.split("=", 1) for p in sig.split(",") if p.startswith("t="))["t"])
        check(abs(t - when) < 300, "signature time %d, received at %d" % (t, when))
        eq(json.loads(body)["id"], eid, "Clients-Event-Id and the body's id")
    return len(got)


# ---- the dispatcher ------------------------------------------------------------

@pytest.fixture(scope="module")
def grants(cfg):
    """The dispatcher's database account, made as the admin guide says:
    the SQL of `clientsctl db-setup --print --webhooks` (from the
    dispatcher's config) run as the MariaDB admin, then migrate, which
    gives it its grants."""
    path = os.path.join(cfg.run_dir, "webhooks-setup.conf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(conf_with(cfg.conf, {("database", "user"): USER,
                                     ("database", "password"): PASSWORD,
                                     ("database", "password_file"): None}))
    setup = subprocess.run(cfg.ctl.split() + ["db-setup", "--print", "--webhooks", path],
                           capture_output=True, text=True, timeout=60)
    eq(setup.returncode, 0, "db-setup --print --webhooks: " + setup.stderr)
    check("CREATE USER IF NOT EXISTS '%s'@" % USER in setup.stdout,
          "db-setup --webhooks makes the dispatcher's account")
    cfg_sql(cfg, setup.stdout)
    subprocess.run(cfg.ctl.split() + ["migrate", "-d", os.path.join(REPO, "db")], check=True,
                   capture_output=True, timeout=60)
    return cfg_sql(cfg, "SELECT host FROM mysql.user WHERE user = '%s'" % USER)[0][0]


def test_db_setup_refuses_a_user_migrate_would_not_grant(cfg):
    """db-setup --webhooks: the dispatcher's user must be [webhooks] user
    (migrate grants no other) and not the runtime user; nothing printed."""
    for user, says in (("someone_else", "is not [webhooks] user"),
                       ("clients", "is not [webhooks] user")):
        path = os.path.join(cfg.run_dir, "webhooks-bad.conf")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(conf_with(cfg.conf, {("database", "user"): user,
                                         ("database", "password"): "x" * 20,
                                         ("database", "password_file"): None}))
        r = subprocess.run(cfg.ctl.split() + ["db-setup", "--print", "--webhooks", path],
                           capture_output=True, text=True, timeout=60)
        eq((r.returncode, r.stdout), (1, ""), "db-setup with dispatcher user %s" % user)
        check(says in r.stderr, "the reason: " + r.stderr)


def cfg_sql(cfg, text):
    out = subprocess.run(cfg.sql, shell=True, input=text, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return [ln.split("\t") for ln in out.strip().splitlines()[1:]]


class Dispatchers:
    """The dispatchers a test starts, stopped (and their lease freed) after it."""

    def __init__(self, api):
        self.api, self.procs, self.n = api, [], 0
        self.bin = os.path.join(os.path.dirname(api.cfg.bin), "clientsd-webhooks")

    def conf(self, server=None, **webhooks):
        sets = {("database", "user"): USER, ("database", "password"): PASSWORD,
                ("database", "password_file"): None, ("log", "target"): "stderr",
                ("webhooks", "allow_http"): "true", ("webhooks", "allow_private"): "true",
                ("webhooks", "retry_min_ms"): "200", ("webhooks", "retry_max_s"): "1",
                ("webhooks", "poll_ms"): "100", ("webhooks", "lease_s"): "3",
                ("webhooks", "settle_s"): "2", ("webhooks", "timeout"): "2",
                ("webhooks", "connect_timeout"): "1"}
        sets.update({("webhooks", k): v for k, v in webhooks.items()})
        sets.update({("server", k): v for k, v in (server or {}).items()})
        self.n += 1
        path = os.path.join(self.api.cfg.run_dir, "webhooks-%d.conf" % self.n)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(conf_with(self.api.cfg.conf, sets))
        return path

    def start(self, conf=None, env=None):
        conf = conf or self.conf()
        log = os.path.join(self.api.cfg.log_dir, "webhooks-%s-%d.log" % (self.api.test,
                                                                        len(self.procs)))
        # As clientsd's own logs: not world-readable.
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as err:
            p = subprocess.Popen([self.bin, "-c", conf], stdout=subprocess.DEVNULL,
                                 stderr=err, env=dict(os.environ, **(env or {})))
        p.log = log
        self.procs.append(p)
        return p

    def log(self, p):
        with open(p.log) as f:
            return f.read()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.api.sql("DELETE FROM webhook_lease")


@pytest.fixture
def disp(api, grants):
    api.sql("DELETE FROM webhook_endpoints; DELETE FROM webhook_deliveries; "
            "DELETE FROM webhook_progress; DELETE FROM webhook_lease")
    d = Dispatchers(api)
    yield d
    d.stop()
    for p in d.procs:
        text = d.log(p)
        check(SECRET not in text and PASSWORD not in text, "a secret in the dispatcher's log")


def endpoint(api, url, types=("client.created", "client.updated", "client.deleted",
                              "client.keys_rotated", "client.erased"), agency=None,
             secret=SECRET):
    """An endpoint written directly (see the module's docstring); its id."""
    api.sql("INSERT INTO webhook_endpoints (url, event_types, agency_id, enabled, secret, "
            "after_seq, created_at, updated_at) SELECT '%s', '%s', %s, 1, '%s', "
            "COALESCE(MAX(seq), 0), NOW(3), NOW(3) FROM client_audit"
            % (url, ",".join(types), "NULL" if agency is None else "'%s'" % agency, secret))
    return "we_" + api.sql("SELECT MAX(id) FROM webhook_endpoints").split()[-1]


def writes(api, clients=3, patches=3, agency=None):
    """Creates and PATCHes clients, interleaved; their ids."""
    ids = [api.create(**({"agency_id": agency} if agency else {}))["id"]
           for _ in range(clients)]
    for i in range(patches):
        for cid in ids:
            api.update(cid, {"name": "v%d" % i})
    return ids


def feed(api, ids):
    """The events of the clients, oldest first, as the feed has them."""
    out = []
    for cid in ids:
        r = api.get("/api/v1/events?limit=200&client_id=" + urllib.parse.quote(cid))
        expect_status(r, 200)
        out += r.body["data"]
    return sorted(out, key=lambda e: int(e["id"][4:]))


def all_delivered(api, recv, ids, seconds=30):
    """Waits until every event of the clients is acknowledged; checks that
    none is missing, that each body is the feed's event, and each
    client's order."""
    want = feed(api, ids)
    wanted = {e["id"] for e in want}
    wait_for(lambda: wanted <= {eid for eid, _ in recv.acked()}, seconds,
             lambda: "deliveries: %d of %d acknowledged" % (
                 len(wanted & {eid for eid, _ in recv.acked()}), len(wanted)))
    got = {eid: body for eid, body in recv.acked() if eid in wanted}
    eq(got, {e["id"]: e for e in want}, "the delivered events are the feed's")
    per_client = collections.defaultdict(list)
    for eid, body in recv.acked():
        if eid in wanted:
            per_client[body["client_id"]].append(int(eid[4:]))
    for cid, seqs in per_client.items():
        eq(seqs, sorted(seqs), "order of client %s's acknowledgements" % cid)
    return want


# ---- the tests -----------------------------------------------------------------

@pytest.mark.timeout(60)
def test_delivered_signed_and_in_order(api, disp):
    recv, only_deletes = Receiver(), Receiver()
    try:
        endpoint(api, recv.url)
        ag = api.uid("ag")
        endpoint(api, only_deletes.url, types=("client.deleted",), agency=ag)
        disp.start()
        ids = writes(api)
        mine = api.create(agency_id=ag)["id"]
        other = api.create()["id"]
        for cid in (mine, other):
            expect_status(api.delete(cpath(cid) + "?hard=true"), 200)
        all_delivered(api, recv, ids + [mine, other])
        eq(max(recv.acks().values()), 1, "duplicates with a receiver that always answers 200")
        check(check_signatures(recv) > 0, "requests received")
        wait_for(lambda: only_deletes.acked(), 15, "the agency's delete")
        time.sleep(1)
        eq([(b["type"], b["client_id"]) for _, b in only_deletes.acked()],
           [("client.deleted", mine)], "what the endpoint of deletes of one agency got")
        check_signatures(only_deletes)
        lines = [ln for ln in disp.log(disp.procs[0]).splitlines() if "delivery event=" in ln]
        check(lines and all("endpoint=we_" in ln and "status=" in ln and "us=" in ln
                            for ln in lines), "one log line per attempt")
    finally:
        recv.stop()
        only_deletes.stop()


@pytest.mark.timeout(120)
def test_burst_larger_than_a_round_is_not_held_back(api, disp):
    """More new events than one round queues (1,000 per endpoint), all
    younger than settle_s: every round must queue the next ones, not
    read the same unsettled rows again (which held the rest back until
    they were settle_s old)."""
    recv = Receiver()
    try:
        endpoint(api, recv.url)
        ids = [api.create()["id"] for _ in range(12)]
        for i in range(100):
            for cid in ids:
                api.update(cid, {"name": "burst %d" % i})
        disp.start(disp.conf(settle_s="60"))
        t0 = time.time()
        want = all_delivered(api, recv, ids, 40)
        check(len(want) > 1000, "a burst of %d events" % len(want))
        info("delivery", "burst: %d events delivered in %.1f s" % (len(want), time.time() - t0))
        eq(max(recv.acks().values()), 1, "duplicates with a receiver that always answers 200")
    finally:
        recv.stop()


@pytest.mark.timeout(60)
def test_failing_receiver_is_retried_with_backoff(api, disp):
    recv = Receiver(lambda eid, n: (500 if n <= 3 else 200, 0))
    try:
        endpoint(api, recv.url)
        disp.start()
        ids = writes(api, clients=2, patches=1)
        want = all_delivered(api, recv, ids)
        eq({recv.attempts[e["id"]] for e in want}, {4}, "attempts per event")
        check_signatures(recv)
        # The waits between one event's attempts grow (200 ms doubling, half random).
        with recv.lock:
            times = [t for t, eid, _, _, _ in recv.got if eid == want[0]["id"]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        check(gaps[0] >= 0.09 and gaps[2] >= 0.35, "back-off gaps %r" % gaps)
        rows = api.sql("SELECT DISTINCT state, attempts FROM webhook_deliveries").split()
        eq(rows[2:], ["delivered", "4"], "the deliveries' rows")
    finally:
        recv.stop()


@pytest.mark.timeout(60)
def test_timeout_then_delivered(api, disp):
    """A receiver that answers after the dispatcher's timeout (2 s): the
    attempt failed, so it comes again; the receiver saw it twice (an
    outcome the dispatcher could not know)."""
    slow_once = Receiver(lambda eid, n: (200, 3 if n == 1 else 0))
    try:
        endpoint(api, slow_once.url)
        disp.start()
        ids = writes(api, clients=1, patches=1)
        want = all_delivered(api, slow_once, ids, seconds=40)
        check(all(slow_once.attempts[e["id"]] >= 2 for e in want[:1]), "the first timed out")
        check("timed out" in disp.log(disp.procs[0]), "the timeout in the log")
        check_signatures(slow_once)
    finally:
        slow_once.stop()


@pytest.mark.timeout(60)
def test_receiver_down_then_back(api, disp):
    recv = Receiver()
    port = recv.port
    recv.stop()
    try:
        endpoint(api, "http://127.0.0.1:%d/hook" % port)
        disp.start()
        ids = writes(api, clients=2, patches=2)
        wait_for(lambda: int(api.sql("SELECT COALESCE(MAX(attempts), 0) FROM "
                                     "webhook_deliveries").split()[-1]) >= 2, 15,
                 "attempts while the receiver is down")
        recv.start(port)
        all_delivered(api, recv, ids)
        eq(max(recv.acks().values()), 1, "duplicates")
        check_signatures(recv)
    finally:
        recv.stop()


@pytest.mark.timeout(60)
def test_kill_9_mid_delivery(api, disp):
    """kill -9 while a delivery is in flight: the next dispatcher takes
    over once the lease expires (3 s) and delivers everything; only the
    delivery in flight may come twice."""
    arrived = threading.Event()

    def behave(eid, n):
        arrived.set()
        return 200, 0.8
    recv = Receiver(behave)
    try:
        endpoint(api, recv.url)
        ids = writes(api, clients=2, patches=2)
        first = disp.start()
        check(arrived.wait(15), "a first delivery")
        first.send_signal(signal.SIGKILL)
        first.wait()
        disp.start()
        all_delivered(api, recv, ids, seconds=40)
        twice = [eid for eid, n in recv.acks().items() if n > 1]
        check(len(twice) <= 1, "duplicates after one kill: %r" % twice)
        check_signatures(recv)
    finally:
        recv.stop()


@pytest.mark.timeout(60)
def test_two_dispatchers_one_delivers(api, disp):
    recv = Receiver()
    try:
        endpoint(api, recv.url)
        a, b = disp.start(), disp.start()
        ids = writes(api, clients=2, patches=2)
        all_delivered(api, recv, ids)
        eq(max(recv.acks().values()), 1, "duplicates with two dispatchers")
        holders = [p for p in (a, b) if "holding the lease" in disp.log(p)]
        eq(len(holders), 1, "dispatchers that held the lease")
        waiting = b if holders[0] is a else a
        check("delivery event=" not in disp.log(waiting), "the waiting one delivered")
        # The holder stops: the other takes over and delivers what comes next.
        holders[0].send_signal(signal.SIGTERM)
        holders[0].wait(timeout=10)
        more = writes(api, clients=1, patches=1)
        all_delivered(api, recv, ids + more, seconds=30)
        check("holding the lease" in disp.log(waiting), "the second took the lease over")
        check_signatures(recv)
    finally:
        recv.stop()


@pytest.mark.timeout(90)
def test_database_stopped_and_started(api, disp):
    recv = Receiver(lambda eid, n: (200, 0.3))
    try:
        endpoint(api, recv.url)
        disp.start()
        ids = writes(api, clients=2, patches=3)
        wait_for(lambda: recv.acked(), 15, "a first delivery")
        db_control(api, "stop")
        time.sleep(2)
        db_control(api, "start")
        wait_healthy(api, 30)
        more = writes(api, clients=1, patches=1)
        all_delivered(api, recv, ids + more, seconds=45)
        check_signatures(recv)
    finally:
        recv.stop()


@pytest.mark.timeout(60)
def test_rotation_overlap_and_private_addresses(api, disp):
    """During a rotation's overlap each delivery carries a signature with
    the old secret too, after it none; and without allow_private the
    receiver on 127.0.0.1 gets nothing."""
    recv = Receiver()
    try:
        eid = endpoint(api, recv.url)
        r = api.post("/api/v1/webhook-endpoints/%s/rotate-secret" % eid, {"overlap_s": 3600})
        expect_status(r, 200)
        new = r.body["data"]["secret"]
        disp.start()
        ids = writes(api, clients=1, patches=1)
        all_delivered(api, recv, ids)
        check_signatures(recv, SECRET)
        check_signatures(recv, new)
        expect_status(api.post("/api/v1/webhook-endpoints/%s/rotate-secret" % eid,
                               {"overlap_s": 0}), 200)
        newest = api.sql("SELECT secret FROM webhook_endpoints WHERE id = %s"
                         % eid[3:]).split()[-1]
        seen = len(recv.got)
        more = writes(api, clients=1, patches=0)
        all_delivered(api, recv, ids + more)
        with recv.lock:
            later = recv.got[seen:]
        check(later and all(signed_by(s, b, newest) and not signed_by(s, b, new)
                            and not signed_by(s, b, SECRET) for _, _, s, b, _ in later),
              "after a rotation without overlap: the newest secret only")
        disp.stop()
        # The same endpoint with private addresses refused: nothing arrives.
        api.sql("DELETE FROM webhook_lease")
        seen = len(recv.got)
        disp.start(disp.conf(allow_private="false"))
        writes(api, clients=1, patches=0)
        wait_for(lambda: "destination address not allowed" in api.sql(
            "SELECT last_error FROM webhook_deliveries WHERE last_error IS NOT NULL"), 15,
            "a refused destination recorded")
        eq(len(recv.got), seen, "requests that reached a private address")
    finally:
        recv.stop()


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(ln.split(":\t", 1) for ln in f.read().splitlines() if ":\t" in ln)


@pytest.mark.timeout(60)
def test_dispatcher_sandboxed(api, disp):
    """The dispatcher delivers from inside the worker's sandbox (seccomp,
    and Landlock where the kernel has it), with its own additions: an
    endpoint named by a host name makes libcurl start its resolver thread
    there."""
    recv = Receiver()
    try:
        endpoint(api, recv.url.replace("127.0.0.1", "localhost"))
        p = disp.start()
        ids = writes(api, clients=2, patches=2)
        all_delivered(api, recv, ids)
        st = proc_status(p.pid)
        eq((st["Seccomp"].strip(), st["NoNewPrivs"].strip()), ("2", "1"),
           "the dispatcher's seccomp mode and no_new_privs")
        check("forbidden system call" not in disp.log(p), "a call refused: " + disp.log(p))
    finally:
        recv.stop()


@pytest.fixture(scope="module")
def probe():
    """tests/integration/webhooks_probe.c built: the library's path."""
    work = tempfile.mkdtemp(prefix="clientsd-whprobe-")
    so = os.path.join(work, "webhooks_probe.so")
    r = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-o", so,
                        os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "webhooks_probe.c"), "-ldl"],
                       capture_output=True, text=True)
    try:
        check(r.returncode == 0, "build the probe: " + r.stderr.strip())
        yield so
    finally:
        subprocess.run(["rm", "-rf", work])


@pytest.mark.timeout(90)
def test_dispatcher_sandbox_stops_a_forbidden_call(api, disp, probe):
    """A dispatcher taken over (the probe: execve at its next delivery)
    dies by SIGSYS, its log naming the call; with [server] sandbox = none
    the same probe's execve succeeds (so the probe does make the call)."""
    recv = Receiver()
    env = dict(preload_env(probe), WEBHOOKS_PROBE="execve")
    try:
        endpoint(api, recv.url)
        for sandbox, want in (("seccomp", -int(signal.SIGSYS)), ("none", 0)):
            p = disp.start(disp.conf(server={"sandbox": sandbox}), env)
            writes(api, clients=1, patches=0)
            p.wait(30)
            eq(p.returncode, want, "exit of the probed dispatcher, sandbox = " + sandbox)
            said = "error sandbox: forbidden system call execve" in disp.log(p)
            eq(said, sandbox == "seccomp", "the SIGSYS line, sandbox = " + sandbox)
            api.sql("DELETE FROM webhook_lease")
        eq(recv.acked(), [], "deliveries by a probed dispatcher")
    finally:
        recv.stop()


def ctl(api, *args):
    p = subprocess.run(api.cfg.ctl.split() + list(args), capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0, "clientsctl %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


@pytest.mark.timeout(60)
def test_given_up_then_listed_and_replayed(api, disp):
    """A receiver that fails for longer than retry_period: the deliveries
    are marked failed and `clientsctl webhook list` counts them; once it
    is back, `webhook replay --since` sends them, in order."""
    broken = {"on": True}
    recv = Receiver(lambda eid, n: (503 if broken["on"] else 200, 0))
    try:
        eid = endpoint(api, recv.url)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
        disp.start(disp.conf(retry_period="1"))
        ids = writes(api, clients=2, patches=1)
        want = len(feed(api, ids))
        wait_for(lambda: int(api.sql("SELECT COUNT(*) FROM webhook_deliveries WHERE "
                                     "state = 'failed'").split()[-1]) == want, 30,
                 "deliveries given up")
        rows = [ln.split("\t") for ln in ctl(api, "webhook", "list").splitlines()]
        eq(rows[0][:8], ["ID", "ENABLED", "AGENCY_ID", "EVENT_TYPES", "BACKLOG", "OLDEST_S",
                         "FAILED", "ATTEMPTS"], "webhook list's header")
        mine = [r for r in rows[1:] if r[0] == eid]
        eq((mine[0][4], mine[0][6]), ("0", str(want)), "backlog and failed of the endpoint")
        eq(recv.acked(), [], "acknowledged while broken")
        # The status page's figures, JSON and OpenMetrics.
        r = api.get("/api/v1/status?webhooks=true")
        expect_status(r, 200)
        fig = [f for f in r.body["data"]["webhooks"] if f["endpoint_id"] == eid]
        eq((fig[0]["failures"], fig[0]["backlog"], fig[0]["oldest_undelivered_s"]),
           (want, 0, None), "the endpoint's figures on /status")
        check(fig[0]["attempts"] >= want, "attempts on /status")
        check("webhooks" not in api.get("/api/v1/status").body["data"],
              "figures without webhooks=true")
        om = api.get("/api/v1/status?webhooks=true&format=openmetrics")
        expect_status(om, 200)
        text = om.raw.decode()
        check('clientsd_webhook_failures_total{endpoint="%s"} %d\n' % (eid, want) in text
              and text.endswith("# EOF\n"), "the failures in OpenMetrics")
        expect_status(api.get("/api/v1/status?webhooks=maybe"), 400)
        broken["on"] = False
        out = ctl(api, "webhook", "replay", "--since", since, "--endpoint", eid)
        eq(out.strip(), "%d deliveries queued again" % want, "replay's answer")
        all_delivered(api, recv, ids)
        check_signatures(recv)
    finally:
        recv.stop()
