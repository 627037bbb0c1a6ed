"""sanitizer_test.py - no AddressSanitizer, LeakSanitizer or UBSan report
in the logs of the sanitizer run: clientsd's (the pool's, mod_fcgid's in
Apache's error log, the restored instance's), clientsctl's, the unit tests'
and those of the pools the tests started themselves.  Last, with every
server stopped; one test a kind of log, in the --sanitize run only.
"""

import glob
import os
import re

import pytest

from kit import Failure

pytestmark = [pytest.mark.setups(None, sanitize="after"), pytest.mark.budget(120)]

REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
# The logs, relative to the run's log directory (or, with "build:" and
# "var:", to the build directory and var/).
LOGS = ["clientsd.log", "apache-error.log", "clientsctl.log", "build:tests/unit/*.log",
        "pool-test-*.log", "sandbox-pool-*.log", "nodes-pool-*.log",
        "var:restore/log/clientsd.log"]


@pytest.mark.parametrize("pattern", LOGS)
def test_no_sanitizer_report(stopped, pattern):
    where, _, rest = pattern.rpartition(":")
    base = {"build": stopped.build, "var": os.path.dirname(stopped.var), "": stopped.log}[where]
    found = []
    for path in sorted(glob.glob(os.path.join(base, rest))):
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            if REPORT.search(line):
                found.append("%s:%d:\n%s" % (path, i + 1, "\n".join(lines[i:i + 13])))
                break
    if found:
        raise Failure("sanitizer reports:\n" + "\n".join(found)[:6000])
