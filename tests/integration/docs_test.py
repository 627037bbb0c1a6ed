"""docs_test.py - the documents against the code: nothing a reader is told
can drift from what the code does without this test failing.

It reads files and sends no request (it runs while nginx is up, in the plain
run).  Six checks, each also run once on a copy it damages on purpose,
which must fail (so a check that cannot fail is caught): twelve tests.

config_keys
    The key table of lib/core/config.c (the entries of `keys[]`: STR(...),
    NUM(...) and the literal { "section", "key", K_... } rows) against the
    [section] key pairs of man/clientsd.conf.5 (every `.It Cm a , b Li =`
    item under a `.Ss [section]` heading) and of conf/clientsd.conf (every
    `[section]` header and every `key =` or commented `#key =` line).  Fails
    on a key config.c has that either lacks, and on a key either names that
    config.c does not know.

api_guide
    doc/api-guide.md against doc/openapi.yaml.  What it extracts, outside
    fenced code blocks:
    - operations: every "METHOD /path" (GET, HEAD, POST, PUT, PATCH,
      DELETE; /api/v1 optional; a path is matched to the document's path
      templates segment by segment, {x} matching anything).  Each must be an
      operation of the document, and each operation of the document must be
      named at least once;
    - statuses per operation: a heading (##, ### or ####) that names
      operations is followed, before the next heading, by a line starting
      "Answers:"; the 3-digit numbers on it must be exactly the explicit
      statuses (not 4XX/5XX) of every operation the heading names, and every
      operation must be named by such a heading;
    - the status table: under the heading "Status codes", the first cell
      of each table row (a 3-digit number): exactly the explicit statuses of
      all operations plus those of x-clientsd-any-request;
    - problem codes: under the heading "Problem codes", the first cell of
      each table row (`code`): exactly the enum of ProblemCode;
    - error strings: under the heading "Error strings", the first cell of
      each table row (`string`): exactly the `error` constants and enums of
      every response in the document.

no_history
    No tracked file names a path of a build machine or a document the
    repository does not have (the copy of the contract that the API guide
    replaced included), and outside NEWS and debian/changelog (the
    history) no file cites a tracker ticket ("issue" and a number):
    comments and documents give the reason instead.

links
    Every relative Markdown link of README.md, doc/*.md and bench/*.md
    points to a file of the repository.

grants
    The database users' grants of lib/db/dbsetup.c (`cm_runtime_grants[]`
    and `cm_webhook_grants[]`: table or procedure, privileges) against the
    tables of doc/admin-guide.md that follow a header row "| table |
    runtime user |" and "| table | dispatcher's user |": every backquoted
    name of a row's first cell gets the privileges of the first backquoted
    text of its second, split at commas.  Per table the same set, and the
    same tables.

galera_node
    The settings doc/admin-guide.md asks of every Galera node (the `key =
    value` lines of the ini block after "On every node") against the
    `--key=value` options tools/galera.sh starts the test nodes with (dashes
    read as underscores): every key of the guide is there with the same
    value, except where the value differs by design (an address, a path,
    the state transfer method: GALERA_DEPLOYMENT_ONLY), so the drills run
    the configuration the guide gives operators.

"""

import os
import re
import subprocess

import pytest
import yaml                                            # python3-yaml

from kit import Failure

pytestmark = [pytest.mark.setups(["nginx"]), pytest.mark.budget(120), pytest.mark.timeout(120)]

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


# ---- config_keys ------------------------------------------------------------

def config_c_keys(text):
    body = text[text.index("static const struct key keys[] = {"):]
    body = body[:body.index("\n};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    keys = set(re.findall(r'\b(?:STR|NUM)\(\s*"(\w+)",\s*"(\w+)"', body))
    keys |= set(re.findall(r'\{\s*"(\w+)",\s*"(\w+)",\s*K_\w+', body))
    return keys


def man_keys(text):
    keys, section = set(), None
    for line in text.splitlines():
        m = re.match(r"^\.Ss \[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        if line.startswith(".Sh "):
            section = None
            continue
        m = re.match(r"^\.It Cm (.+?) Li =", line)
        if m and section:
            for name in re.split(r"\s*,\s*", m.group(1).strip()):
                keys.add((section, name))
    return keys


def sample_keys(text):
    keys, section = set(), None
    for line in text.splitlines():
        m = re.match(r"^\[(\w+)\]\s*$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#?([a-z_]+) =", line)
        if m and section:
            keys.add((section, m.group(1)))
    return keys


def config_problems(code, man, sample):
    probs = []
    known = config_c_keys(code)
    if len(known) < 10:
        probs.append("lib/core/config.c: found only %d keys in keys[]" % len(known))
    for name, got in (("man/clientsd.conf.5", man_keys(man)),
                      ("conf/clientsd.conf", sample_keys(sample))):
        for s, k in sorted(known - got):
            probs.append("%s lacks [%s] %s" % (name, s, k))
        for s, k in sorted(got - known):
            probs.append("%s names [%s] %s, which lib/core/config.c does not know" % (name, s, k))
    return probs


# ---- api_guide --------------------------------------------------------------

def prose(text):
    """The guide without its fenced code blocks, as (line number, line)."""
    out, fenced = [], False
    for no, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((no, line))
    return out


OP_RE = re.compile(r"\b(%s) (?:/api/v1)?(/[A-Za-z0-9_.{}/-]*)" % "|".join(METHODS))


class Document:
    def __init__(self, doc):
        self.doc = doc
        self.ops = {}                       # "GET /clients/{id}" -> set of statuses
        for tpl, item in doc["paths"].items():
            for m in METHODS:
                op = item.get(m.lower())
                if op is not None:
                    self.ops["%s %s" % (m, tpl)] = {
                        str(s) for s in op["responses"] if re.fullmatch(r"[1-5][0-9]{2}", str(s))}
        self.any = {str(s) for s in doc["x-clientsd-any-request"]["responses"]}
        enum = doc["components"]["schemas"]["ProblemCode"]["enum"]
        self.codes = set(enum)
        self.errors = set()
        self._errors(doc.get("components", {}).get("responses", {}))
        self._errors(doc["x-clientsd-any-request"])

    def _errors(self, node):
        if isinstance(node, dict):
            err = node.get("properties", {}).get("error") if isinstance(
                node.get("properties"), dict) else None
            if isinstance(err, dict):
                if "const" in err:
                    self.errors.add(err["const"])
                self.errors.update(err.get("enum", []))
            for v in node.values():
                self._errors(v)
        elif isinstance(node, list):
            for v in node:
                self._errors(v)

    def match(self, method, path):
        path = path.rstrip(".")
        segs = path.strip("/").split("/")
        for key in self.ops:
            m, tpl = key.split(" ", 1)
            if m != method:
                continue
            tsegs = tpl.strip("/").split("/")
            if len(tsegs) == len(segs) and all(
                    t == s or (t.startswith("{") and t.endswith("}")) for t, s in zip(tsegs, segs)):
                return key
        return None


def table_first_cells(lines, heading_word):
    """First cells of the table rows under the heading that contains
    heading_word, up to the next heading; backticks removed."""
    cells, inside, prev = [], False, False
    for _, line in lines:
        if line.startswith("#"):
            inside = heading_word.lower() in line.lower()
            continue
        row = line.startswith("|")
        # The first row of a table is its header.
        if inside and row and prev and not re.match(r"^\|[\s:|-]+\|$", line):
            first = line.strip("|").split("|")[0].strip()
            cells.append(first.strip("`"))
        prev = row
    return cells


def guide_problems(guide, d):
    probs = []
    lines = prose(guide)
    named = set()
    for no, line in lines:
        for m in OP_RE.finditer(line):
            key = d.match(m.group(1), m.group(2))
            if key is None:
                probs.append("line %d: %s %s is no operation of doc/openapi.yaml" % (
                    no, m.group(1), m.group(2)))
            else:
                named.add(key)
    for key in sorted(set(d.ops) - named):
        probs.append("doc/openapi.yaml's %s is never named in the guide" % key)
    # Statuses per operation.
    answered = set()
    heading, ops_here, answers = None, [], None

    def close():
        if heading is None or not ops_here:
            return
        if answers is None:
            probs.append("line %d: heading %r has no \"Answers:\" line" % heading)
            return
        got = set(re.findall(r"\b[1-5][0-9]{2}\b", answers[1]))
        for key in ops_here:
            answered.add(key)
            want = d.ops[key]
            if got != want:
                probs.append("line %d: Answers %s for %s; doc/openapi.yaml: %s" % (
                    answers[0], ", ".join(sorted(got)), key, ", ".join(sorted(want))))

    for no, line in lines:
        if re.match(r"^#{2,4} ", line):
            close()
            heading, answers = (no, line), None
            ops_here = [k for k in (d.match(m.group(1), m.group(2))
                                    for m in OP_RE.finditer(line)) if k]
        elif line.startswith("Answers:") and answers is None and heading is not None:
            answers = (no, line)
    close()
    for key in sorted(set(d.ops) - answered):
        probs.append("%s has no heading with an \"Answers:\" line" % key)
    all_status = set().union(*d.ops.values()) | d.any
    for word, want, what in (("Status codes", all_status, "status"),
                             ("Problem codes", d.codes, "problem code"),
                             ("Error strings", d.errors, "error string")):
        got = set(table_first_cells(lines, word))
        if not got:
            probs.append("no table under a heading %r" % word)
            continue
        for x in sorted(got - want):
            probs.append("the %r table lists %s %r, which doc/openapi.yaml does not have" % (
                word, what, x))
        for x in sorted(want - got):
            probs.append("the %r table lacks %s %r of doc/openapi.yaml" % (word, what, x))
    return probs


# ---- no_history, links ---------------------------------------------------------

def tracked():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             timeout=60, check=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if x not in (".git", "var", "node_modules")
                       and not x.startswith("build")]
            files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
    return [f for f in files if os.path.isfile(os.path.join(ROOT, f))]


# Built from pieces, so that this file does not match itself.
MACHINE = [re.compile(p) for p in (
    "/" + "work/", "SHARED" + "_DIR", r"\.\./" + "shared", r"\." + "library/",
    "DECI" + "SIONS", "RUNTIME" + "-NOTES", "DESIGN" + "-NOTES", "COORDI" + "NATION",
    r"\bAPI" + r"\.md")]
TICKET = re.compile(r"\bissues? +#?[0-9]", re.I)
HISTORY = ("NEWS", "debian/changelog")


def history_problems(files, text_of):
    probs = []
    for f in files:
        if f.endswith((".png", ".gz")) or "/corpus/" in f or f.endswith("package-lock.json"):
            continue
        text = text_of(f)
        if text is None:
            continue
        for no, line in enumerate(text.splitlines(), 1):
            for p in MACHINE:
                if p.search(line):
                    probs.append("%s:%d names %r: %s" % (f, no, p.pattern, line.strip()[:100]))
            if f not in HISTORY and TICKET.search(line):
                probs.append("%s:%d cites a ticket: %s" % (f, no, line.strip()[:100]))
    return probs


def text_of(f):
    try:
        with open(os.path.join(ROOT, f), encoding="utf-8") as fh:
            return fh.read()
    except (UnicodeDecodeError, OSError):
        return None


LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def link_problems(docs):
    probs = []
    for f, text in docs.items():
        for no, line in enumerate(text.splitlines(), 1):
            for m in LINK_RE.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z]+:", target):
                    continue
                path = os.path.normpath(os.path.join(os.path.dirname(os.path.join(ROOT, f)), target))
                if not os.path.exists(path):
                    probs.append("%s:%d links to %s, which does not exist" % (f, no, target))
    return probs


# ---- grants ---------------------------------------------------------------------

def code_grants(text, array):
    body = text[text.index("const struct cm_grant %s[] = {" % array):]
    body = re.sub(r"/\*.*?\*/", "", body[:body.index("\n};")], flags=re.S)
    out = {}
    for table, privs in re.findall(r'\{\s*"(\w+)",\s*"([^"]+)",\s*(?:true|false)\s*\}', body):
        out.setdefault(table, set()).update(p.strip() for p in privs.split(","))
    return out


def guide_grants(text, header):
    lines = text.splitlines()
    start = [i for i, ln in enumerate(lines) if re.match(r"\s*\| table \| %s \|" % header, ln)]
    if len(start) != 1:
        raise Failure("doc/admin-guide.md: %d tables headed '| table | %s |'" % (len(start), header))
    out = {}
    for ln in lines[start[0] + 2:]:
        cells = ln.strip().split("|")
        if not ln.strip().startswith("|") or len(cells) < 4:
            break
        privs = re.search(r"`([^`]+)`", cells[2])
        for table in re.findall(r"`(\w+)`", cells[1]):
            out.setdefault(table, set()).update(
                p.strip() for p in (privs.group(1) if privs else "").split(","))
    return out


GRANT_TABLES = (("cm_runtime_grants", "runtime user"), ("cm_webhook_grants", "dispatcher's user"))


def grant_problems(code, guide):
    probs = []
    for array, header in GRANT_TABLES:
        want, told = code_grants(code, array), guide_grants(guide, header)
        for t in sorted(set(want) | set(told)):
            if want.get(t) != told.get(t):
                probs.append("%s: %s: lib/db/dbsetup.c grants %s, doc/admin-guide.md says %s"
                             % (header, t, sorted(want.get(t, ())), sorted(told.get(t, ()))))
    return probs


# ---- galera_node ------------------------------------------------------------

# Keys whose value is the deployment's: the test cluster's own addresses,
# its provider path, and rsync, which needs nothing installed.
GALERA_DEPLOYMENT_ONLY = {"wsrep_provider", "wsrep_cluster_address", "wsrep_sst_method"}


def guide_node_settings(guide):
    block = guide[guide.index("On every node ("):]
    block = block[block.index("```ini\n") + 7:]
    block = block[:block.index("```")]
    return dict(re.findall(r"(?m)^(\w+) *= *(\S+)", block))


def galera_sh_options(script):
    """The options of cl_node_start (the recovery run's are not a node's)."""
    body = script[script.index("\ncl_node_start()\n"):]
    body = body[:body.index("\n}\n")]
    return {k.replace("-", "_"): v
            for k, v in re.findall(r"--([a-z][a-z0-9-]*)=([^\s\\\"$]+)", body)}


def galera_problems(guide, script):
    want, have = guide_node_settings(guide), galera_sh_options(script)
    probs = []
    if not want:
        probs.append("doc/admin-guide.md: no settings found after \"On every node\"")
    for k, v in sorted(want.items()):
        if k in GALERA_DEPLOYMENT_ONLY:
            continue
        if k not in have:
            probs.append("tools/galera.sh does not set %s (the guide: %s)" % (k, v))
        elif have[k] != v:
            probs.append("%s: the guide says %s, tools/galera.sh %s" % (k, v, have[k]))
    return probs


# ---- the tests: each check, and each check on a damaged copy ---------------------

def none_of(probs):
    if probs:
        raise Failure("%d problem(s):\n  %s" % (len(probs), "\n  ".join(probs[:40])))


def fails(probs):
    """The self-check: the same check on a damaged copy must fail."""
    if not probs:
        raise Failure("a damaged copy passed: the check cannot fail")


def config_sources():
    return read("lib/core/config.c"), read("man/clientsd.conf.5"), read("conf/clientsd.conf")


def test_config_keys():
    none_of(config_problems(*config_sources()))


def test_config_keys_fails_on_a_damaged_copy():
    code, man, sample = config_sources()
    fails(config_problems(code, man.replace(".It Cm retries Li =", ".It Cm retrys Li =", 1),
                          sample))


def guide_document():
    with open(os.path.join(ROOT, "doc", "openapi.yaml"), encoding="utf-8") as f:
        return read("doc/api-guide.md"), Document(yaml.safe_load(f))


def test_api_guide():
    none_of(guide_problems(*guide_document()))


def test_api_guide_fails_on_a_damaged_copy():
    guide, d = guide_document()
    damaged = re.sub(r"(?m)^(Answers:.*?), [1-5][0-9]{2}\.?$", r"\1.", guide, count=1)
    damaged = re.sub(r"(?m)^\| `too_deep` \|.*\n", "", damaged, count=1)
    fails(damaged != guide and guide_problems(damaged, d))


def test_no_history():
    none_of(history_problems(tracked(), text_of))


def test_no_history_fails_on_a_damaged_copy():
    fails(history_problems(["README.md"], lambda f: "see issue " + "12 in /" + "work/x\n"))


def test_links():
    files = tracked()
    none_of(link_problems({f: text_of(f) for f in files if f == "README.md" or (
        f.startswith(("doc/", "bench/")) and f.endswith(".md"))}))


def test_links_fail_on_a_damaged_copy():
    fails(link_problems({"README.md": "[x](doc/no-such-file.md)\n"}))


def test_grants():
    none_of(grant_problems(read("lib/db/dbsetup.c"), read("doc/admin-guide.md")))


def test_grants_fail_on_a_damaged_copy():
    guide = read("doc/admin-guide.md")
    fails(grant_problems(read("lib/db/dbsetup.c"),
                         guide.replace("| `webhook_lease` | `SELECT, INSERT, UPDATE` |",
                                       "| `webhook_lease` | `SELECT, INSERT, UPDATE, DELETE` |", 1)))


def test_galera_node():
    none_of(galera_problems(read("doc/admin-guide.md"), read("tools/galera.sh")))


def test_galera_node_fails_on_a_damaged_copy():
    fails(galera_problems(read("doc/admin-guide.md").replace(
        "innodb_lock_wait_timeout = 5", "innodb_lock_wait_timeout = 50", 1),
        read("tools/galera.sh")))
