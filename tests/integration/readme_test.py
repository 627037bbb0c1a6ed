"""readme_test.py - the examples of README.md and doc/api-guide.md, run
against a live stack, and what the README promises about itself.

Every ```sh block of those files that holds a line starting with `curl` is
run as one shell script (its variables carry over from line to line), with
`http://127.0.0.1:8080` replaced by the set-up's address and `var/admin-key`
by its admin key's file.  Each command line starting with `curl` is expected to get
the status written after "→" in the comment line just above it (a 2xx when
that comment names none); its answer is also checked against
doc/openapi.yaml like every other answer the suite receives.  So the
examples cannot rot.  A file with no such block fails.

The README is the way in, so its promises about itself are checked too: at
most 250 lines; its first shell block starts with the two commands, `./dev
up` and `./dev test`; CI (.ci/run) runs `./dev test`; and each headline
figure links to the results file.  One test a promise and one a curl
command line; through every set-up in the plain run, nginx in the sanitizer
run.
"""

import os
import re
import subprocess
import tempfile

import pytest

from apikit import Failure, validate_raw
from openapi_check import ContractError

pytestmark = [pytest.mark.setups("all", sanitize=["nginx"]), pytest.mark.budget(900)]

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


def examples():
    """[(file, block number, command number, line, expected status, command)]
    of every file; a file with no block gives one case (file, None, ...)."""
    out = []
    for rel in EXAMPLES:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            found = blocks(f.read())
        if not found:
            out.append((rel, None, None, 0, None, "no ```sh block with curl"))
        for b, block in enumerate(found):
            for n, (no, want, cmd) in enumerate(commands(block)[0], 1):
                out.append((rel, b, n, no, want, cmd))
    return out


def run_block(cfg, rel, b, rt):
    """Runs block b of rel in a shell, its answers' files in rt: (the shell's
    result, {command number: its "@@" line})."""
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        _, script = commands(blocks(f.read())[b])
    script = localise(script, cfg.base_url.rstrip("/"), os.path.abspath(cfg.keyfile))
    p = subprocess.run(["sh", "-c", PRELUDE + script], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, RT=rt))
    got = {}
    for ln in p.stdout.splitlines():
        if ln.startswith("@@ "):
            _, n, rest = ln.split(" ", 2)
            got[int(n)] = rest
    return p, got


@pytest.fixture(scope="module")
def ran(cfg):
    """Each block, run once on first use: {(file, block): (rt, p, got)}."""
    done = {}
    with tempfile.TemporaryDirectory() as tmp:
        def get(rel, b):
            if (rel, b) not in done:
                rt = os.path.join(tmp, "%s-%d" % (rel.replace("/", "-"), b))
                os.mkdir(rt)
                done[(rel, b)] = (rt,) + run_block(cfg, rel, b, rt)
            return done[(rel, b)]
        yield get


with open(README, encoding="utf-8") as f:
    PROMISES = front_door(f.read())


@pytest.mark.parametrize("name,problem", PROMISES, ids=[n for n, _ in PROMISES])
def test_readme_promise(name, problem):
    if problem:
        raise Failure("README.md %s: %s" % (name, problem))


@pytest.mark.parametrize("rel,b,n,no,want,cmd", examples(),
                         ids=["%s:%d" % (e[0], e[3]) for e in examples()])
def test_example(ran, cfg, rel, b, n, no, want, cmd):
    if b is None:
        raise Failure("%s: %s" % (rel, cmd))
    rt, p, got = ran(rel, b)
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
        raise Failure("%s: got %d, the example says %s: %s" % (
            cmd[:70], status, want or "2xx", body[:200].decode("utf-8", "replace")))
    base = cfg.base_url.rstrip("/")
    target = url[len(base):] if url.startswith(base) else url
    try:
        validate_raw(method, target, None, None, status, headers, body)
    except ContractError as e:
        raise Failure(str(e))
