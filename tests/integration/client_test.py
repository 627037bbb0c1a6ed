"""client_test.py - a client generated from the served OpenAPI document works.

What an integrator with a code generator would do: fetch GET
/api/v1/openapi.json from the running service, generate a TypeScript client
from it with @hey-api/openapi-ts, compile it with TypeScript (--strict) and run
tests/client/scenario.ts with it against the same service: create, read,
PATCH with If-Match (and a stale one: 412), a list page and the next one by
cursor, delete.  The generator and the compiler are pinned in
tests/client/package.json and package-lock.json and installed by `npm ci`
into tests/client/node_modules the first time.

Where npm cannot reach its registry (and nothing is installed yet) the tests
cannot run: they are skipped, saying so, and count nothing; any other
failure (npm ci failing with the registry reachable, the generator, the
compiler, a step of the scenario) fails.  Four tests, one a step, each
skipped when the step before it failed; through nginx in the plain run (the
client, not clientsd's memory, is what it checks).
"""

import os
import shutil
import subprocess
import tempfile
import urllib.request

import pytest

import kit
from kit import Failure

pytestmark = [pytest.mark.setups(["nginx"]), pytest.mark.budget(300), pytest.mark.timeout(300)]

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.normpath(os.path.join(HERE, "..", "client"))
BIN = os.path.join(TOOLS, "node_modules", ".bin")


def run(cmd, cwd, timeout, env=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)


def tail(p):
    return (p.stdout + p.stderr).strip()[-600:].replace("\n", " | ")


def tools(label):
    """None when the pinned tools are there (installing them if needed), else
    ("skip" or "fail", why)."""
    if os.access(os.path.join(BIN, "openapi-ts"), os.X_OK) and \
            os.access(os.path.join(BIN, "tsc"), os.X_OK):
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "skip", "npm or node is not installed (Debian: apt-get install npm)"
    try:
        p = run([npm, "ci", "--no-audit", "--no-fund"], TOOLS, 600)
    except subprocess.TimeoutExpired:
        p = None
    if p is not None and p.returncode == 0:
        return None
    try:
        reach = run([npm, "ping"], TOOLS, 60).returncode == 0
    except subprocess.TimeoutExpired:
        reach = False
    if not reach:
        return "skip", "the npm registry is not reachable from here (npm ping failed)"
    return "fail", "npm ci in tests/client failed: " + (tail(p) if p else "timed out")


@pytest.fixture(scope="module")
def work(cfg):
    """The pinned tools (installed if need be) and a scratch directory; the
    steps passed so far."""
    why = tools(cfg.label)
    if why is not None and why[0] == "skip":
        pytest.skip("generated client: %s; the generated-client scenario did NOT run" % why[1])
    if why is not None:
        pytest.fail("tools: " + why[1], pytrace=False)
    with tempfile.TemporaryDirectory(prefix="clientsd-ts-") as tmp:
        yield {"tmp": tmp, "passed": set()}


def step(work, name, after):
    """Runs step name once the step after has passed (else it is skipped)."""
    if after and after not in work["passed"]:
        pytest.skip("the %s step did not pass" % after)
    return work["tmp"]


def passed(work, name):
    work["passed"].add(name)


def test_served_document(work, cfg):
    tmp = step(work, "served document", None)
    with urllib.request.urlopen(cfg.base_url.rstrip("/") + "/api/v1/openapi.json",
                                timeout=30) as r:
        body = r.read()
    with open(os.path.join(tmp, "openapi.json"), "wb") as f:
        f.write(body)
    kit.info(cfg.label, "client: %d bytes from GET /api/v1/openapi.json" % len(body))
    passed(work, "served document")


def test_generate(work):
    tmp = step(work, "generate", "served document")
    gen = os.path.join(tmp, "gen")
    p = run([os.path.join(BIN, "openapi-ts"), "-i", os.path.join(tmp, "openapi.json"),
             "-o", gen], tmp, 180)
    if p.returncode != 0 or not os.path.exists(os.path.join(gen, "sdk.gen.ts")):
        raise Failure("@hey-api/openapi-ts: " + tail(p))
    passed(work, "generate")


def test_compile(work):
    tmp = step(work, "compile", "generate")
    shutil.copy(os.path.join(TOOLS, "scenario.ts"), tmp)
    p = run([os.path.join(BIN, "tsc"), "--strict", "--noEmitOnError", "--target", "es2022",
             "--module", "commonjs", "--moduleResolution", "node10",
             "--ignoreDeprecations", "5.0", "--lib", "es2022,dom,dom.iterable", "--skipLibCheck",
             "--outDir", os.path.join(tmp, "js"), "scenario.ts"], tmp, 180)
    if p.returncode != 0:
        raise Failure("tsc --strict: " + tail(p))
    passed(work, "compile")


def test_scenario(work, cfg):
    tmp = step(work, "scenario", "compile")
    env = dict(os.environ, CLIENTSD_BASE_URL=cfg.base_url.rstrip("/") + "/api/v1",
               CLIENTSD_ADMIN_KEY=cfg.admin_key, CLIENTSD_RUN_ID=cfg.run_id)
    p = run(["node", os.path.join(tmp, "js", "scenario.js")], tmp, 120, env)
    steps = [ln for ln in p.stdout.splitlines() if ln.startswith(("ok", "FAIL"))]
    for ln in steps:
        kit.info(cfg.label, "client scenario: " + ln)
    bad = [ln for ln in steps if ln.startswith("FAIL")]
    if p.returncode != 0 or len(steps) < 10 or bad:
        raise Failure("%d steps, %d failed" % (len(steps), len(bad)) if steps else tail(p))
