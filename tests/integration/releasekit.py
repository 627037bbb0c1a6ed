"""releasekit - a previous release of clientsd, built from its git tag, for
the tests and drills that run it beside this tree's build (the upgrade
drill, tests/upgrade/drill.py; the cluster suite's schema step under
load).  Built once per commit under var/upgrade-build/ (git archive,
autoreconf, configure, make), never from a tarball.  A release is found by
its git tag or, where the repository came without tags (a mirror or a
copy that carries branches only), by the commit it was made from,
recorded below and checked against the version its configure.ac names.
Standard library only.
"""

import os
import re
import shutil
import subprocess
import time

from kit import Failure, check

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PREVIOUS = "0.1.0"
# The commit each release was tagged at.
RELEASED_AT = {"0.1.0": "50e9a315e37a9430aab1e5082607fbf5b57cdc2d"}


class Release:
    """tag, commit, src (its source tree: conf/, db/), build (its build
    directory: app/clientsd, app/clientsctl), version (its -V)."""

    def __init__(self, tag, commit, src, build):
        self.tag, self.commit, self.src, self.build = tag, commit, src, build
        self.clientsd = os.path.join(build, "app", "clientsd")
        self.clientsctl = os.path.join(build, "app", "clientsctl")
        self.version = version_of(self.clientsd)


def version_of(binary):
    """"0.2.0" from `clientsd -V`."""
    p = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    m = re.match(r"clientsd (\S+)", p.stdout)
    check(p.returncode == 0 and m, "%s -V: exit %d, %r" % (binary, p.returncode, p.stdout))
    return m.group(1)


def git(*args):
    return subprocess.run(["git", "-C", REPO] + list(args), capture_output=True, text=True,
                          timeout=30)


def release_commit(tag):
    """The commit of release `tag`: its git tag's, else the one recorded in
    RELEASED_AT if this repository holds it and its configure.ac says that
    version."""
    p = git("rev-parse", "--verify", "-q", tag + "^{commit}")
    if p.returncode == 0:
        return p.stdout.strip()
    commit = RELEASED_AT.get(tag)
    check(commit is not None, "no git tag %s in %s and no commit recorded for it" % (tag, REPO))
    p = git("show", commit + ":configure.ac")
    check(p.returncode == 0, "no git tag %s in %s, nor its commit %s (git fetch --tags)"
          % (tag, REPO, commit[:12]))
    check("AC_INIT([clientsd], [%s]" % tag in p.stdout,
          "commit %s, recorded for %s, is not that version" % (commit[:12], tag))
    return commit


def build(tag=PREVIOUS, say=print):
    """The release of git tag `tag`, built unless it already is."""
    commit = release_commit(tag)
    top = os.path.join(REPO, "var", "upgrade-build", "%s-%s" % (tag, commit[:12]))
    src, bld = os.path.join(top, "src"), os.path.join(top, "src", "build")
    stamp = os.path.join(top, "built")
    if os.path.exists(stamp):
        return Release(tag, commit, src, bld)
    say("building %s (%s) in %s" % (tag, commit[:12], os.path.relpath(bld, REPO)))
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(bld)
    t0 = time.monotonic()
    log = os.path.join(top, "build.log")
    with open(log, "w") as f:
        archive = subprocess.Popen(["git", "-C", REPO, "archive", "--format=tar", commit],
                                   stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, stdout=f,
                               stderr=subprocess.STDOUT, timeout=120)
        archive.stdout.close()
        check(archive.wait(60) == 0 and untar.returncode == 0,
              "git archive %s | tar failed (log %s)" % (commit, log))
    # Its own build as it was released (no -Werror: a newer compiler may
    # warn where that release's did not).
    for what, cmd, cwd in (("autoreconf", ["autoreconf", "-fi"], src),
                           ("configure", ["../configure"], bld),
                           ("make", ["make", "-j2"], bld)):
        with open(log, "a") as f:
            rc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                timeout=900).returncode
        if rc != 0:
            with open(log, errors="replace") as f:
                tail = f.read()[-2000:]
            raise Failure("building %s: %s failed (log %s):\n%s" % (tag, what, log, tail))
    open(stamp, "w").close()
    say("built %s in %.0f s" % (tag, time.monotonic() - t0))
    return Release(tag, commit, src, bld)
