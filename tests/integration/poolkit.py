"""poolkit - the clientsd pools the suites start themselves.

The suites that run a clientsd of their own (pool, nodes, sandbox,
store, cluster) start from the run's configuration and change a few
keys (conf_with); nodes and sandbox run a whole private pool
(PrivatePool). Standard library only.
"""

import os
import signal
import subprocess
import tempfile


def conf_with(base, sets):
    """The INI text of the file base with {(section, key): value} applied.

    A key already there, commented out or not, is replaced in place (its
    first line; later ones are dropped); a key not there is added at the end
    of its section, and a missing section at the end of the text. A value
    of None drops the key: clientsd's default applies."""
    out, section, done = [], None, set()

    def flush(sec):
        for (s, k), v in sets.items():
            if s == sec and (s, k) not in done and v is not None:
                out.append("%s = %s" % (k, v))
                done.add((s, k))

    with open(base) as f:
        for line in f.read().splitlines():
            st = line.strip()
            if st.startswith("[") and st.endswith("]"):
                flush(section)
                section = st[1:-1].strip()
                out.append(line)
                continue
            name = st.lstrip("#;").strip().split("=", 1)[0].strip() if "=" in st else None
            if name and (section, name) in sets:
                if (section, name) not in done and sets[(section, name)] is not None:
                    out.append("%s = %s" % (name, sets[(section, name)]))
                    done.add((section, name))
                continue
            out.append(line)
    flush(section)
    missing = {}
    for (s, k), v in sets.items():
        if (s, k) not in done and v is not None:
            missing.setdefault(s, []).append("%s = %s" % (k, v))
    for s, lines in missing.items():
        out.append("[%s]" % s)
        out += lines
    return "\n".join(out) + "\n"


class PrivatePool:
    """A clientsd master with its own temporary directory (socket, pid
    file, configuration: the run's base_conf with sets applied) and its
    log in log_dir (so that secrets_test greps it with the run's logs),
    named NAME-pool-PID-N.log.  env: the environment's changes.  The
    subclass waits until the pool is ready its own way."""
    count = 0

    def __init__(self, binary, base_conf, sets, name, log_dir=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="clientsd-%s-" % name)
        os.chmod(self.dir, 0o1777)      # the workers (nobody) may create files in it
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
        with open(conf, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(conf_with(base_conf, all_sets))
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
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def stop(self):
        self.end()
        subprocess.run(["rm", "-rf", self.dir])
