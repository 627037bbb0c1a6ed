"""secrets_test - no secret of the run in any of its logs; logs not readable by all.

Runs after every server of `./dev test` has stopped (the "after" phase of
conftest.py).  Reads the secrets the run used: every admin key created or
sent (apikit and tools/instance append them to CM_SECRETS_FILE), every publishable_key, secret_key and
proxy_api_key seen in a request or response, and the database password;
then greps every file of the run's log directory (clientsd, nginx access
and error, Apache access and error, MariaDB, clientsctl, the sandbox
test's pools, anything a server added) for each, raw and in its
percent-encoded and JSON-escaped forms.  The suites' own output
(suite-*.log: test results, not logs of the service) is left out of the
grep, not of the mode check.

It also checks that the log directory is 0750 or tighter and every log
0640 or tighter, and starts with a self-check: a secret planted in a
scratch log must be found (in each form), and a clean log must pass, so
this test can fail.
"""

import json
import os
import stat
import subprocess
import tempfile
import urllib.parse

import pytest

import apikit
import kit
from kit import check

pytestmark = [pytest.mark.setups("after", sanitize="after"), pytest.mark.budget(200)]


@pytest.fixture(scope="module")
def cfg(stopped):
    """The run's log directory, the secrets it noted, its database password."""
    return apikit.Config("http://127.0.0.1:1", "", "secrets", "s", log_dir=stopped.log,
                         secrets_files=[stopped.secrets_file], password_file=stopped.pwfile)

# Shorter values (proxy_api_key "secret", "x") would match ordinary words.
MIN_LEN = 8


def forms(secret):
    """The ways a secret could be written into a log."""
    out = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
           json.dumps(secret)[1:-1]}
    return {f for f in out if f}


def scan(log_dir, secrets, skip=lambda name: False):
    """Returns [(file, line number, secret)] for every occurrence."""
    needles = [(s, f.encode()) for s in secrets for f in forms(s)]
    files = [os.path.join(root, name) for root, _, names in os.walk(log_dir)
             for name in sorted(names) if not skip(name)]
    hits = set()
    for path, n, line in lines_with(files, [f for _, f in needles]):
        hits.update((path, n, s) for s, f in needles if f in line)
    return sorted(hits)


def lines_with(files, needles):
    """[(file, line number, line)] of the lines of FILES holding any of
    NEEDLES (bytes): grep -F looks for them all in one pass over each file,
    where a search per needle took 55 s over a run's 4,000 secrets and
    5 MB of logs.  -a reads a binary log as text, LC_ALL=C byte by byte;
    -H names the file even when there is one."""
    if not files or not needles:
        return []
    with tempfile.NamedTemporaryFile("wb", suffix=".needles") as pat:
        pat.write(b"".join(f + b"\n" for f in needles))
        pat.flush()
        out = subprocess.run(["grep", "-F", "-a", "-n", "-H", "-f", pat.name, "--"] + files,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                             env=dict(os.environ, LC_ALL="C"))
    check(out.returncode in (0, 1), "grep failed: %s" % out.stderr.decode(errors="replace"))
    found = []
    for line in out.stdout.split(b"\n")[:-1]:
        # "file:number:line", the file's name told by the list (a name
        # may hold a colon).
        path = max((p for p in files if line.startswith(p.encode() + b":")), key=len)
        n, text = line[len(path.encode()) + 1:].split(b":", 1)
        found.append((path, int(n), text))
    return found


def load_secrets(cfg):
    secrets = set()
    for path in cfg.secrets_files:
        with open(path, encoding="utf-8", errors="replace") as f:
            secrets.update(ln.rstrip("\n") for ln in f if ln.strip())
    with open(cfg.password_file) as f:
        pw = f.read().strip()
    check(pw, "empty database password in " + cfg.password_file)
    secrets.add(pw)
    return {s for s in secrets if len(s) >= MIN_LEN}


def masked(s):
    return s[:6] + "..." + "(%d chars)" % len(s)


def test_secret_grep_self_check(api):
    """The grep finds a planted secret in every form, and nothing in a clean log."""
    planted = "ak_" + os.urandom(32).hex()
    proxy = "px/" + os.urandom(6).hex() + " &\"="
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "clean.log"), "w") as f:
            f.write("2026-01-01T00:00:00.000Z pid=1 info request id=x method=GET "
                    "path=/api/v1/clients status=200 us=10\n")
        check(scan(d, {planted, proxy}) == [], "a clean log reported as leaking")
        for i, text in enumerate((planted, urllib.parse.quote(proxy, safe=""),
                                  json.dumps(proxy)[1:-1], "GET /x?admin_key=" + planted)):
            with open(os.path.join(d, "leak%d.log" % i), "w") as f:
                f.write("noise\nsomething %s something\n" % text)
        hits = scan(d, {planted, proxy})
        found = sorted((os.path.basename(p), n) for p, n, _ in hits)
        check(found == [("leak0.log", 2), ("leak1.log", 2), ("leak2.log", 2),
                        ("leak3.log", 2)], "self-check hits: %s" % found)


def test_secrets_collected(api):
    """The run really recorded its secrets (else the grep proves nothing)."""
    secrets = load_secrets(api.cfg)
    kinds = {k: sum(1 for s in secrets if s.startswith(k)) for k in ("ak_", "pk_", "sk_")}
    check(all(kinds.values()), "secrets recorded by kind: %s" % kinds)
    check(len(secrets) >= 20, "only %d secrets recorded" % len(secrets))


@pytest.mark.timeout(120)
def test_no_secret_in_any_log(api):
    cfg = api.cfg
    secrets = load_secrets(cfg)
    logs = [n for _, _, fs in os.walk(cfg.log_dir) for n in fs]
    for want in ("clientsd.log", "nginx-access.log", "nginx-error.log", "apache-access.log",
                 "apache-error.log", "mariadb.log", "clientsctl.log"):
        check(want in logs, "%s missing from %s" % (want, cfg.log_dir))
    hits = scan(cfg.log_dir, secrets, skip=lambda n: n.startswith("suite-"))
    check(not hits, "%d secret(s) in logs, e.g. %s" % (
        len(hits), "; ".join("%s:%d %s" % (p, n, masked(s)) for p, n, s in hits[:5])))
    kit.info("secrets", "%d secrets, %d log files" % (len(secrets), len(logs)))


def test_logs_not_world_readable(api):
    d = api.cfg.log_dir
    mode = stat.S_IMODE(os.stat(d).st_mode)
    check(mode & 0o027 == 0, "%s is %04o (want 0750 or tighter)" % (d, mode))
    loose = []
    for root, _, files in os.walk(d):
        for name in files:
            p = os.path.join(root, name)
            # A link (lighttpd's logs live in its runtime directory) is
            # judged by the file it points to.
            try:
                m = stat.S_IMODE(os.stat(p).st_mode)
            except FileNotFoundError:
                continue
            if m & 0o137:
                loose.append("%s %04o" % (name, m))
    check(not loose, "logs looser than 0640: %s" % ", ".join(sorted(loose)))
