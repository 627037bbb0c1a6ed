"""nodes_test - several database endpoints on one server ([database] hosts).

Starts throw-away standalone pools of the clientsd under test on the
suite's database, each with its own [database] hosts list, and speaks
FastCGI to them directly.  The single MariaDB of the run listens on a Unix
socket only; a node that can die and come back is a TCP forwarder in this
process (127.0.0.1:PORT -> the socket), which the test stops (every
connection cut, new ones refused) and starts again.  Shown here:

- a closed port listed first: every request succeeds, the log names the
  switch and its reason;
- the real server listed first (failover): nothing switches;
- a node lost under a worker: it moves on within the request, and moves
  back (fail-back) once the node answers again;
- balance: the pool's workers spread over the nodes;
- galera = true against this plain (non-Galera) server: it is "not
  synced", so /health and every request answer 503 with Retry-After,
  never 500; galera = false keeps /health 200;
- a host name (localhost) in the list is resolved by a sandboxed worker.

The 3-node Galera drills are tests/integration/cluster_test.py's.  Runs
while nginx is up, in both runs; the web server plays no part.
"""

import os
import re
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import fcgikit
from kit import check, eq, short, wait_for
from poolkit import PrivatePool, conf_value, terminate

pytestmark = [pytest.mark.setups(["nginx"], sanitize=["nginx"]), pytest.mark.budget(400)]


# ---- a database node that can die: TCP -> the run's Unix socket ------------

class Forwarder:
    """127.0.0.1:port forwarding each connection to the MariaDB socket."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.accepted = 0
        self.lock = threading.Lock()
        self.conns = []
        self.lsock = None

    def start(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.lsock = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                u.connect(self.target)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.accepted += 1
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        """The node dies: no new connection, every open one cut."""
        if self.lsock is not None:
            # shutdown wakes the thread in accept(); close alone would not
            # (the socket would go on listening).
            try:
                self.lsock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.lsock.close()
            self.lsock = None
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def count(self):
        with self.lock:
            return self.accepted


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A port nothing listens on (bound and released: refused at connect)."""
    return free_port()


# ---- a throw-away pool -------------------------------------------------------

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

SERVER_SETS = ("listen", "workers", "pid_file", "listen_mode", "listen_owner",
               "listen_group")
ENDPOINT_KEYS = ("socket", "host", "port", "hosts")


def db_socket(conf):
    sock = conf_value(conf, "database", "socket")
    check(sock, "no [database] socket in " + conf)
    return sock


def conf_sets(server, database, log_level):
    """The changes to the run's config: [server] keys of server, [database]
    keys of database (socket/host/port dropped: hosts replaces them), the
    log level; the other SERVER_SETS keys back to their defaults."""
    sets = {("server", k): None for k in SERVER_SETS}
    sets.update({("database", k): None for k in ENDPOINT_KEYS})
    sets.update({("server", k): v for k, v in server.items()})
    sets.update({("database", k): v for k, v in database.items()})
    sets[("log", "level")] = log_level
    return sets


class Pool(PrivatePool):
    def __init__(self, cfg, database, workers=1, log_level="info"):
        super().__init__(cfg.bin, cfg.conf, conf_sets({"workers": str(workers)}, database,
                                                      log_level), "nodes", cfg.log_dir)
        self.workers = workers

        def ready():
            check(self.proc.poll() is None, "the pool exited: " + self.tail())
            return "ready: pool" in self.text()
        wait_for(ready, 20, lambda: "the pool did not start: " + self.tail(), 0.1)

    def tail(self, n=900):
        return short(self.text()[-n:], n)

    def wait_log(self, pattern, seconds=5):
        """The first match of the regex pattern in the log (lines come
        through the master's pipe, a moment after the answer)."""
        return wait_for(lambda: re.search(pattern, self.text()), seconds,
                        lambda: "pool log lacks /%s/: %s" % (pattern, self.tail()))

    def call(self, method, uri, key=None, body=None):
        headers = {"Authorization": "Bearer " + key} if key else None
        return fcgikit.call(self.sock, method, uri, body=body, headers=headers,
                            timeout=30)

    def stop(self):
        self.end()
        text = self.text()
        super().stop()
        check("SIGSYS" not in text and "forbidden system call" not in text,
              "a worker left the sandbox: " + short(text[-900:], 900))


def serves(api, pool, times=3):
    """/health 200, then create, read and patch a client: each as expected."""
    for _ in range(times):
        r = pool.call("GET", "/api/v1/health")
        eq(r.status, 200, "/health: " + r.where())
        eq(r.body["data"]["database"], "ok", "/health body")
    key = api.cfg.admin_key
    cid = api.uid("nodes")
    r = pool.call("POST", "/api/v1/clients", key, {"id": cid, "name": "Nodes"})
    eq(r.status, 201, "POST: " + r.where())
    r = pool.call("PATCH", "/api/v1/clients/" + cid, key, {"name": "Nodes 2"})
    eq(r.status, 200, "PATCH: " + r.where())
    r = pool.call("GET", "/api/v1/clients/" + cid, key)
    eq(r.status, 200, "GET: " + r.where())
    eq(r.body["data"]["name"], "Nodes 2", "the name read back")
    return cid


def unavailable(r, what):
    eq(r.status, 503, what + ": " + r.where())
    check(r.headers.get("retry-after", "").isdigit(),
          "%s: 503 without Retry-After: %r" % (what, r.headers))


# ---- the tests ---------------------------------------------------------------

@pytest.mark.timeout(60)
def test_closed_port_first_fails_over(api):
    """hosts = a closed port, the real socket: every worker starts on the
    socket, says why, and serves."""
    sock, port = db_socket(api.cfg.conf), closed_port()
    pool = Pool(api.cfg, {"hosts": "127.0.0.1:%d, %s" % (port, sock)}, workers=2)
    try:
        serves(api, pool)
        pool.wait_log(r"warn database node 127\.0\.0\.1:%d down: [^\n]*\((2002|2003)\); "
                      r"using %s\n" % (port, re.escape(sock)))
        check("password" not in pool.text().lower() or "password_file" in pool.text(),
              "the log mentions a password: " + pool.tail())
    finally:
        pool.stop()


@pytest.mark.timeout(60)
def test_preferred_first_nothing_changes(api):
    """failover with the real server first: no switch, no probe of the
    others, even past failback_s."""
    sock, port = db_socket(api.cfg.conf), closed_port()
    pool = Pool(api.cfg, {"hosts": "%s, 127.0.0.1:%d" % (sock, port), "policy": "failover",
                          "failback_s": "1"}, workers=2, log_level="debug")
    try:
        serves(api, pool)
        time.sleep(1.2)
        serves(api, pool, times=2)
        time.sleep(0.3)
        check("database node" not in pool.text() and "database:" not in pool.text(),
              "a switch with the preferred node up: " + pool.tail())
    finally:
        pool.stop()


@pytest.mark.timeout(90)
def test_lost_node_fails_over_and_back(api):
    """The preferred node (a forwarder) dies under a connected worker: the
    next requests succeed on the socket and the log says why; when it
    answers again the worker goes back to it within failback_s."""
    sock = db_socket(api.cfg.conf)
    fwd = Forwarder(sock)
    fwd.start()
    node = "127.0.0.1:%d" % fwd.port
    pool = Pool(api.cfg, {"hosts": "%s, %s" % (node, sock), "failback_s": "1"})
    try:
        serves(api, pool)
        check(fwd.count() >= 2, "the worker's two connections did not go through "
              "the preferred node (%d)" % fwd.count())
        check("database node" not in pool.text(), "switched early: " + pool.tail())

        fwd.stop()
        serves(api, pool)
        pool.wait_log(r"warn database node %s down: [^\n]*\((2006|2013|2055|2002|2003)\); "
                      r"using %s\n" % (re.escape(node), re.escape(sock)))

        before = fwd.count()
        fwd.start()
        # A worker checks between requests, at most every failback_s.
        deadline = time.monotonic() + 10
        while "back to node " + node not in pool.text() and time.monotonic() < deadline:
            serves(api, pool, times=1)
            time.sleep(0.3)
        pool.wait_log(r"info database: back to node %s \(from %s\)"
                      % (re.escape(node), re.escape(sock)), seconds=1)
        check(fwd.count() > before, "no new connection through the node that came back")
        serves(api, pool)
    finally:
        fwd.stop()
        pool.stop()


@pytest.mark.timeout(60)
def test_balance_spreads_workers(api):
    """policy = balance: the pool's slots start at different nodes, so both
    nodes get workers; failover puts them all on the first."""
    sock = db_socket(api.cfg.conf)
    a, b = Forwarder(sock), Forwarder(sock)
    a.start()
    b.start()
    hosts = "127.0.0.1:%d, 127.0.0.1:%d" % (a.port, b.port)
    try:
        pool = Pool(api.cfg, {"hosts": hosts, "policy": "balance"}, workers=4)
        try:
            serves(api, pool)
            # Each worker connects its two stores at start; the master,
            # once, to check the schema before it starts them (a node its
            # own offset picks).
            eq(sorted((a.count(), b.count())), [4, 5], "connections per node under balance")
        finally:
            pool.stop()
        a0, b0 = a.count(), b.count()
        pool = Pool(api.cfg, {"hosts": hosts, "policy": "failover"}, workers=4)
        try:
            serves(api, pool)
            eq((a.count() - a0, b.count() - b0), (9, 0),
               "connections per node under failover")
        finally:
            pool.stop()
    finally:
        a.stop()
        b.stop()


@pytest.mark.timeout(60)
def test_galera_true_on_a_plain_server_is_not_synced(api):
    """galera = true against a server without wsrep: the node is not
    synced, so /health and every request answer 503 + Retry-After, never
    500, and the log says why."""
    sock = db_socket(api.cfg.conf)
    pool = Pool(api.cfg, {"hosts": sock, "galera": "true"})
    try:
        unavailable(pool.call("GET", "/api/v1/health"), "/health")
        unavailable(pool.call("GET", "/api/v1/clients?limit=1", api.cfg.admin_key),
                    "GET /clients")
        unavailable(pool.call("POST", "/api/v1/clients", api.cfg.admin_key,
                              {"id": api.uid("gal"), "name": "G"}), "POST")
        pool.wait_log(r"database node %s down: not a Galera node" % re.escape(sock))
    finally:
        pool.stop()
    # The control: the same server with galera = false is healthy.
    pool = Pool(api.cfg, {"hosts": sock, "galera": "false", "causal_reads": "true"})
    try:
        serves(api, pool)
    finally:
        pool.stop()


@pytest.mark.timeout(60)
def test_host_name_resolved_in_the_sandbox(api):
    """A host name in hosts is resolved at each connect, also by a worker
    under seccomp: its fail-back probes run after the sandbox is on.  The
    name goes over TCP (Connector/C alone would take "localhost" for its
    default Unix socket)."""
    sock = db_socket(api.cfg.conf)
    fwd = Forwarder(sock)
    node = "localhost:%d" % fwd.port
    pool = Pool(api.cfg, {"hosts": "%s, %s" % (node, sock), "failback_s": "1"},
                log_level="debug")
    try:
        serves(api, pool)
        pool.wait_log(r"warn database node %s down: Can't connect to server on "
                      r"'localhost' [^\n]*\((2002|2003)\); using" % re.escape(node))
        time.sleep(1.1)
        serves(api, pool)       # after it: a probe of localhost, sandboxed
        pool.wait_log(r"debug database node %s still down: Can't connect to server "
                      r"on 'localhost'" % re.escape(node))
        fwd.start()
        deadline = time.monotonic() + 10
        while "back to node " + node not in pool.text() and time.monotonic() < deadline:
            serves(api, pool, times=1)
            time.sleep(0.3)
        pool.wait_log(r"info database: back to node %s" % re.escape(node), seconds=1)
        check(fwd.count() >= 1, "no connection through %s" % node)
        serves(api, pool)
    finally:
        fwd.stop()
        pool.stop()


# ---- TLS: a private MariaDB that takes TLS connections only ------------------

class TlsServer:
    """A throw-away mariadbd on 127.0.0.1:port with a certificate from a CA
    made here, refusing connections without TLS (require_secure_transport),
    holding an empty `clients` database and a `clients` user with a
    password of its own."""

    def __init__(self, log_dir):
        self.dir = tempfile.mkdtemp(prefix="clientsd-nodes-tls-")
        os.chmod(self.dir, 0o755)       # the workers read the CA file
        self.port = free_port()
        self.sock = os.path.join(self.dir, "s.sock")
        self.pidfile = os.path.join(self.dir, "pid")
        self.log = os.path.join(log_dir or self.dir, "nodes-tls-mariadb-%d.log" % os.getpid())
        self.password = os.urandom(12).hex()
        note_secret(self.password)
        self.ca = self._ca("ca")
        self.other_ca = self._ca("other-ca")
        self._server_cert()
        self._start()

    def path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        p = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "%s: %s" % (args[0], short(p.stderr, 400)))
        return p.stdout

    def _ca(self, name):
        self._run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                  "-subj", "/CN=clientsd test " + name, "-keyout", self.path(name + ".key"),
                  "-out", self.path(name + ".pem"))
        os.chmod(self.path(name + ".pem"), 0o644)
        return self.path(name + ".pem")

    def _server_cert(self):
        with open(self.path("ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self._run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                  "-keyout", self.path("server.key"), "-out", self.path("server.csr"))
        self._run("openssl", "x509", "-req", "-in", self.path("server.csr"), "-CA", self.ca,
                  "-CAkey", self.path("ca.key"), "-CAcreateserial", "-days", "2",
                  "-extfile", self.path("ext"), "-out", self.path("server.pem"))

    def _start(self):
        user = ["--user=root"] if os.geteuid() == 0 else []
        self._run("mariadb-install-db", "--no-defaults", "--datadir=" + self.path("data"),
                  "--auth-root-authentication-method=socket", "--skip-test-db", *user)
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        with os.fdopen(fd, "ab") as logf:
            self.proc = subprocess.Popen(
                ["mariadbd", "--no-defaults", "--datadir=" + self.path("data"),
                 "--socket=" + self.sock, "--port=%d" % self.port, "--bind-address=127.0.0.1",
                 "--pid-file=" + self.pidfile, "--skip-name-resolve",
                 "--innodb-buffer-pool-size=16M", "--require-secure-transport=ON",
                 "--ssl-cert=" + self.path("server.pem"), "--ssl-key=" + self.path("server.key"),
                 "--ssl-ca=" + self.ca, *user],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run(["mariadb-admin", "--no-defaults", "--socket=" + self.sock,
                              "ping"], capture_output=True).returncode != 0:
            check(self.proc.poll() is None and time.monotonic() < deadline,
                  "the TLS MariaDB did not start")
            time.sleep(0.2)
        self.sql("CREATE DATABASE clients; CREATE USER clients@'%%' IDENTIFIED BY '%s'; "
                 "GRANT SELECT ON clients.* TO clients@'%%';" % self.password)
        # A connection checks the schema before anything else: this one
        # says it has every migration of the tree (it is here for /health).
        names = sorted(f for f in os.listdir(os.path.join(REPO, "db")) if f.endswith(".sql"))
        self.sql("CREATE TABLE clients.schema_migrations (name VARCHAR(255) PRIMARY KEY, "
                 "applied_at DATETIME(3) NOT NULL, kind VARCHAR(8) NULL); " +
                 "".join("INSERT INTO clients.schema_migrations VALUES ('%s', NOW(3), "
                         "'expand');" % n for n in names))

    def sql(self, text):
        p = subprocess.run(["mariadb", "--no-defaults", "-N", "--socket=" + self.sock],
                           input=text, capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "SQL on the TLS MariaDB: " + short(p.stderr, 300))
        return p.stdout

    def kill_clients(self):
        """Ends every connection of the pool: its next request reconnects,
        inside the sandbox."""
        ids = self.sql("SELECT id FROM information_schema.processlist "
                       "WHERE user = 'clients'").split()
        check(ids, "no connection of the pool on the TLS MariaDB")
        self.sql("".join("KILL %s;" % i for i in ids))

    def ssl_accepts(self):
        return int(self.sql("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'").split()[1])

    def stop(self):
        terminate(self.proc, 60)
        subprocess.run(["rm", "-rf", self.dir])


def note_secret(secret):
    """secrets_test.py checks that no log of the run holds it."""
    target = os.environ.get("CM_SECRETS_FILE")
    if target:
        with open(target, "a") as f:
            f.write(secret + "\n")


def tls_pool(api, srv, **keys):
    db = {"hosts": "127.0.0.1:%d" % srv.port, "password": srv.password,
          "password_file": "", "failback_s": "1"}
    db.update(keys)
    return Pool(api.cfg, db)


@pytest.mark.timeout(120)
def test_tls_to_the_database(api):
    """tls = verify with the server's CA connects, also when a sandboxed
    worker reconnects (the TLS handshake and the CA file read inside the
    seccomp list); without TLS, or with another CA, the server is not
    reachable: 503 + Retry-After and the reason in the log."""
    srv = TlsServer(api.cfg.log_dir)
    try:
        pool = tls_pool(api, srv, tls="off")
        try:
            unavailable(pool.call("GET", "/api/v1/health"), "/health with tls = off")
        finally:
            pool.stop()
        for keys in ({"tls": "verify", "ca": srv.ca}, {"tls": "required"},
                     {"tls": "verify"}):
            pool = tls_pool(api, srv, **keys)
            try:
                if keys == {"tls": "verify"}:
                    # The system's CAs do not know this one: refused,
                    # and the worker survives the check in the sandbox.
                    unavailable(pool.call("GET", "/api/v1/health"), "verify, system CAs")
                    time.sleep(1.1)
                    unavailable(pool.call("GET", "/api/v1/health"), "verify, system CAs")
                    pool.wait_log(r"database node 127\.0\.0\.1:%d down: TLS/SSL error: "
                                  r"[^\n]*\(2026\)" % srv.port)
                    continue
                eq(pool.call("GET", "/api/v1/health").status, 200, "/health, %r" % keys)
                before = srv.ssl_accepts()
                srv.kill_clients()
                r = pool.call("GET", "/api/v1/health")
                eq(r.status, 200, "/health after a reconnect, %r: %s" % (keys, r.where()))
                check(srv.ssl_accepts() > before, "the reconnect was not over TLS")
            finally:
                pool.stop()
        pool = tls_pool(api, srv, tls="verify", ca=srv.other_ca)
        try:
            unavailable(pool.call("GET", "/api/v1/health"), "/health, another CA")
            pool.wait_log(r"database node 127\.0\.0\.1:%d down: TLS/SSL error: [^\n]*\(2026\)"
                          % srv.port)
            check(srv.password not in pool.text(), "the password is in the log")
        finally:
            pool.stop()
    finally:
        srv.stop()
