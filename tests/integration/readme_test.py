#!/usr/bin/env python3
"""readme_test.py - the examples of README.md and doc/api-guide.md, run
against a live stack, and what the README promises about itself.

Every ```sh block of those files that holds a line starting with `curl` is
run as one shell script (its variables carry over from line to line), with
`http://127.0.0.1:8080` replaced by --base-url and `var/admin-key` by
--admin-key-file.  Each command line starting with `curl` is expected to get
the status written after "→" in the comment line just above it (a 2xx when
that comment names none); its answer is also checked against
doc/openapi.yaml like every other answer the suite receives.  So the
examples cannot rot.  A file with no such block fails.

The README is the way in, so its promises about itself are checked too: at
most 250 lines; its first shell block starts with the two commands, `./dev
up` and `./dev test`; CI (.ci/run) runs `./dev test`; and each headline
figure links to the results file.  Prints "ok"/"FAIL" per check and a
RESULT line.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
from apikit import Failure, openapi_summary, validate_raw
from openapi_check import ContractError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
README = os.path.join(ROOT, "README.md")
# The files whose examples run, relative to the repository.
EXAMPLES = ("README.md", os.path.join("doc", "api-guide.md"))
README_MAX_LINES = 250
EXPECT_RE = re.compile(r"→\s*(\d{3})\b")

# rcurl runs one example: the answer's headers and body go to files named
# after the example's number, then one line says what it got.
PRELUDE = r"""
n=0
rcurl() {
	n=$((n + 1))
	code=$(curl -sS -D "$RT/$n.head" -o "$RT/$n.body" \
	    -w '%{method} %{url_effective}' "$@") || code="curl-failed $?"
	echo "@@ $n $code"
}
"""


def blocks(text):
    """The ```sh blocks of the text that run curl: lists of (line number, line)."""
    out, cur, lang = [], None, None
    for no, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if cur is None:
                cur, lang = [], line[3:].strip()
            else:
                if lang in ("sh", "shell", "bash") and any(
                        l.lstrip().startswith("curl ") for _, l in cur):
                    out.append(cur)
                cur = None
            continue
        if cur is not None:
            cur.append((no, line))
    return out


def commands(block):
    """[(line number, expected status or None, the command as written)] and the
    script with each top-level curl turned into rcurl."""
    cmds, script, comment, in_comment = [], [], "", False
    lines = list(block)
    i = 0
    while i < len(lines):
        no, line = lines[i]
        full = line
        while full.endswith("\\") and i + 1 < len(lines):
            i += 1
            full = full[:-1] + " " + lines[i][1].strip()
        i += 1
        stripped = full.strip()
        if stripped.startswith("#"):
            # Consecutive comment lines are one comment; it stays in force
            # until the next comment (other commands may stand between).
            comment = comment + " " + stripped if in_comment else stripped
            in_comment = True
            continue
        in_comment = False
        if stripped.startswith("curl "):
            m = EXPECT_RE.search(comment)
            cmds.append((no, int(m.group(1)) if m else None, stripped))
            full = full.replace("curl ", "rcurl ", 1)
        script.append(full)
    return cmds, "\n".join(script)


def localise(text, base_url, key_file):
    return text.replace("http://127.0.0.1:8080", base_url).replace("var/admin-key", key_file)


def read_head(path):
    """(status, {lower-case name: value}) of the last response in a -D file."""
    status, headers = None, {}
    with open(path, "rb") as f:
        for raw in f.read().decode("latin-1").splitlines():
            if raw.startswith("HTTP/"):
                status, headers = int(raw.split()[1]), {}
            elif ":" in raw:
                k, v = raw.split(":", 1)
                k = k.strip().lower()
                headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
    return status, headers


def main():
    ap = argparse.ArgumentParser(description="Runs the README's and the API guide's examples.")
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--admin-key-file", required=True)
    ap.add_argument("--label", default="readme")
    for opt in ("--ctl", "--pool-pidfile", "--db-control", "--sql", "-k", "--budget"):
        ap.add_argument(opt, help="accepted for the suite runner; unused")
    a = ap.parse_args()
    passed = failed = 0
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    for name, problem in front_door(readme):
        if problem:
            failed += 1
            print("FAIL %s README.md %s: %s" % (a.label, name, problem), flush=True)
        else:
            passed += 1
            print("ok   %s README.md %s" % (a.label, name), flush=True)
    for rel in EXAMPLES:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            text = f.read()
        p, f_ = run_examples(a, rel, text)
        passed += p
        failed += f_
    openapi_summary(a.label)
    print("RESULT passed=%d failed=%d" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


def front_door(readme):
    """(check name, problem or None) for what the README says of itself."""
    lines = readme.splitlines()
    out = [("is at most %d lines" % README_MAX_LINES,
            None if len(lines) <= README_MAX_LINES else "%d lines" % len(lines))]
    first = None
    cur = None
    for line in lines:
        if line.startswith("```"):
            if cur is None:
                cur = []
                continue
            if first is None and cur:
                first = cur
            cur = None
            continue
        if cur is not None:
            cur.append(line)
    cmds = [l.split("#")[0].strip() for l in (first or []) if l.strip() and
            not l.lstrip().startswith("#")]
    out.append(("starts with ./dev up, then ./dev test",
                None if cmds[:2] == ["./dev up", "./dev test"] else
                "the first block's commands are %r" % cmds[:2]))
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    out.append(("CI runs ./dev test",
                None if re.search(r"(?m)^[^#]*\./dev test\b", ci) else
                ".ci/run never runs ./dev test"))
    figures, inside = [], False
    for line in lines:
        if line.startswith("#"):
            inside = "headline" in line.lower()
        elif inside and line.startswith("|") and not re.match(r"^\|[\s:|-]+\|$", line):
            figures.append(line)
    rows = figures[1:]          # the header row names the columns
    unlinked = [r for r in rows if "](bench/RESULTS.md" not in r and "same run" not in r]
    out.append(("headline figures link to bench/RESULTS.md",
                "no headline figures" if not rows else
                ("rows without a link: %s" % unlinked if unlinked else None)))
    return out


def run_examples(a, rel, text):
    """Runs the curl blocks of one file: (passed, failed)."""
    passed = failed = 0
    found = blocks(text)
    if not found:
        print("FAIL %s %s: no ```sh block with curl" % (a.label, rel), flush=True)
        failed += 1
    for block in found:
        cmds, script = commands(block)
        script = localise(script, a.base_url.rstrip("/"), os.path.abspath(a.admin_key_file))
        with tempfile.TemporaryDirectory() as rt:
            p = subprocess.run(["sh", "-c", PRELUDE + script], capture_output=True, text=True,
                               timeout=120, env=dict(os.environ, RT=rt))
            got = {}
            for ln in p.stdout.splitlines():
                if ln.startswith("@@ "):
                    _, n, rest = ln.split(" ", 2)
                    got[int(n)] = rest
            for n, (no, want, cmd) in enumerate(cmds, 1):
                name = "%s:%d %s" % (rel, no, cmd[:70])
                try:
                    if n not in got:
                        raise Failure("not run (the block stopped: %s)" % p.stderr.strip()[-200:])
                    if got[n].startswith("curl-failed"):
                        raise Failure(got[n])
                    method, url = got[n].split(" ", 1)
                    status, headers = read_head(os.path.join(rt, "%d.head" % n))
                    try:
                        with open(os.path.join(rt, "%d.body" % n), "rb") as f:
                            body = f.read()
                    except FileNotFoundError:
                        body = b""          # curl writes no file for an empty body
                    while body.startswith(b"HTTP/") and b"\r\n\r\n" in body:
                        body = body.split(b"\r\n\r\n", 1)[1]     # curl -i
                    ok = status == want if want is not None else 200 <= status < 300
                    if not ok:
                        raise Failure("got %d, the example says %s: %s" % (
                            status, want or "2xx", body[:200].decode("utf-8", "replace")))
                    target = url[len(a.base_url.rstrip("/")):] if url.startswith(
                        a.base_url.rstrip("/")) else url
                    validate_raw(method, target, None, None, status, headers, body)
                except (Failure, ContractError, ValueError, OSError) as e:
                    failed += 1
                    print("FAIL %s %s: %s" % (a.label, name, str(e).replace("\n", " ")),
                          flush=True)
                    continue
                passed += 1
                print("ok   %s %s -> %d" % (a.label, name, status), flush=True)
    return passed, failed


if __name__ == "__main__":
    main()
