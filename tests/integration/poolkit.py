"""poolkit - the clientsd processes the tests start themselves, and the
process table read the ways they need it.

The tests that run a clientsd of their own (pool, nodes, sandbox, store,
idempotency, cluster) start from the run's configuration and change a few
keys (conf_with: tools/ini.py, the project's one INI editor); nodes and
sandbox run a whole private pool (PrivatePool). Standard library only.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
from ini import conf_with, value as conf_value  # noqa: E402,F401 - the INI editor
from kit import check, short  # noqa: E402


def preload_env(so, asan=""):
    """The environment a process needs to preload so: LD_PRELOAD, and ASan's
    options (the run's, and asan) told that a library ahead of its runtime
    is fine (under --sanitize)."""
    return {"LD_PRELOAD": so,
            "ASAN_OPTIONS": ":".join(x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                                 "verify_asan_link_order=0", asan) if x)}


def cut_migration_env(so, path, line, err, port=None):
    """The environment of a clientsctl migrate whose script of the migration
    file path is cut before its line starting with `line` ("": after its
    end), that statement answered with error err, on a connection to port
    only if given (shim_commit.c's SHIM_CUT)."""
    with open(path) as f:
        first = f.readline().rstrip("\n")
    env = dict(os.environ, SHIM_CUT_IN=first, SHIM_CUT=line, SHIM_CUT_ERR=str(err),
               **preload_env(so))
    if port is not None:
        env["SHIM_CUT_PORT"] = str(port)
    return env


def applied_names(out):
    """The migrations `clientsctl migrate` says it applied, from its output."""
    return [ln.split()[1] for ln in out.splitlines() if ln.startswith("applied ")]


def build_shim(tmp):
    """tests/integration/shim_commit.c built into tmp: the path of the .so
    to preload (its header says what each SHIM_* variable makes fail)."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim_commit.c")
    so = os.path.join(tmp, "shim_commit.so")
    cflags = subprocess.run(["pkg-config", "--cflags", "libmariadb"], capture_output=True,
                            text=True).stdout.split()
    p = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-o", so, src]
                       + cflags + ["-ldl"], capture_output=True, text=True)
    check(p.returncode == 0, "building the shim: " + short(p.stderr, 400))
    return so


# ---- processes ------------------------------------------------------------------

def _stat(pid):
    """The fields of /proc/PID/stat after the command name (state first)."""
    with open("/proc/%s/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        return _stat(pid)[0] not in ("Z", "X")
    except OSError:
        return False


def children(pid):
    """The live children of pid, in pid order."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = _stat(d)
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(d))
    return sorted(out)


def processes_of(exe):
    """The live processes running the program exe, in pid order."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink("/proc/%s/exe" % d) in (exe, exe + " (deleted)") and alive(int(d)):
                    out.append(int(d))
            except OSError:
                pass
    return sorted(out)


def terminate(proc, seconds, group=False):
    """SIGTERM to a process of ours, then SIGKILL (to its whole process
    group: a pool's workers too) when it has not gone after seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait()


def write_private(path, text):
    """text into path, mode 0600 (a configuration holds passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class PrivatePool:
    """A clientsd master with its own temporary directory (socket, pid
    file, configuration: the run's base_conf with sets applied) and its
    log in log_dir (so that secrets_test greps it with the run's logs),
    named NAME-pool-PID-N.log.  env: the environment's changes.  The
    subclass waits until the pool is ready its own way."""
    count = 0

    def __init__(self, binary, base_conf, sets, name, log_dir=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="clientsd-%s-" % name)
        os.chmod(self.dir, 0o1777)      # the workers (another user) may create files in it
        self.sock = os.path.join(self.dir, "sock")
        self.pidfile = os.path.join(self.dir, "pid")
        PrivatePool.count += 1
        self.log = os.path.join(log_dir or self.dir, "%s-pool-%s-%d.log"
                                % (name, os.getpid(), PrivatePool.count))
        conf = os.path.join(self.dir, "clientsd.conf")
        # The pool's own socket and pid file, whatever sets says of them.
        all_sets = dict(sets)
        all_sets.update({("server", "listen"): self.sock, ("server", "pid_file"): self.pidfile,
                         ("server", "listen_mode"): "0600"})
        write_private(conf, conf_with(base_conf, all_sets))
        penv = dict(os.environ, **(env or {}))
        penv.pop("CLIENTSD_CONFIG", None)
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        with os.fdopen(fd, "ab") as logf:
            self.proc = subprocess.Popen([binary, "-c", conf], stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, env=penv,
                                         start_new_session=True)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def end(self):
        """SIGTERM, then SIGKILL to the whole group after 30 s."""
        terminate(self.proc, 30, group=True)

    def stop(self):
        self.end()
        subprocess.run(["rm", "-rf", self.dir])


# ---- clientsd in spawned mode ------------------------------------------------------

def spawned(binary, conf, sock, errpath, env=None):
    """A clientsd in spawned mode (as mod_fcgid runs it: its listening
    socket, a new one at sock, on stdin), its stderr in errpath; returns
    the process."""
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(sock)
    lsock.listen(8)
    with open(errpath, "w") as err:
        proc = subprocess.Popen([binary, "-c", conf], stdin=lsock.fileno(),
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
    lsock.close()
    return proc


def stop_spawned(proc, errpath):
    """SIGTERM, then (exit status, what it wrote on stderr)."""
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(30)
    with open(errpath) as f:
        return rc, f.read()


# ---- the shell library's command line (tools/instance) ----------------------------

TOOL = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     "tools", "instance"))


def tool(*args, env=None, check=True, timeout=600):
    """tools/instance ARGS (its stderr goes to ours); its stdout.  Raises
    RuntimeError when it fails and check is true."""
    p = subprocess.run([TOOL] + list(args), stdout=subprocess.PIPE, text=True,
                       timeout=timeout, env=dict(os.environ, **(env or {})))
    if check and p.returncode != 0:
        raise RuntimeError("tools/instance %s exited %d" % (" ".join(args), p.returncode))
    return p.stdout


def instance_env(name):
    """{H_VAR: ..., H_LOG: ..., ...}: the paths of instance name."""
    return dict(line.split("=", 1) for line in tool("env", name).splitlines() if "=" in line)
