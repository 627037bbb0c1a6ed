#!/usr/bin/env python3
"""client_test.py - a client generated from the served OpenAPI document works.

What an integrator with a code generator would do: fetch GET
/api/v1/openapi.json from the running service, generate a TypeScript client
from it with @hey-api/openapi-ts, compile it with TypeScript (--strict) and run
tests/client/scenario.ts with it against the same service: create, read,
PATCH with If-Match (and a stale one: 412), a list page and the next one by
cursor, delete.  The generator and the compiler are pinned in
tests/client/package.json and package-lock.json and installed by `npm ci`
into tests/client/node_modules the first time.

Where npm cannot reach its registry (and nothing is installed yet) the test
cannot run: it prints one "skip" line saying so and counts nothing; any
other failure (npm ci failing with the registry reachable, the generator,
the compiler, a step of the scenario) fails.  Prints ok/FAIL lines and a
RESULT line; the options are the suite's (apikit.suite_args).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.dont_write_bytecode = True
from apikit import suite_args, suite_config, suite_exit

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


def main():
    a = suite_args("A client generated from the served OpenAPI document.", "client",
                   300).parse_args()
    cfg = suite_config(a)
    base = a.base_url.rstrip("/")
    passed = failed = 0

    def result(ok, name, detail):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
        print("%s %s %s: %s" % ("ok  " if ok else "FAIL", cfg.label, name, detail), flush=True)

    why = tools(cfg.label)
    if why is not None and why[0] == "skip":
        print("skip %s generated client: %s; the generated-client scenario did NOT run"
              % (cfg.label, why[1]), flush=True)
        suite_exit(0, 0)
    if why is not None:
        result(False, "tools", why[1])
        suite_exit(passed, failed)

    with tempfile.TemporaryDirectory(prefix="clientsd-ts-") as tmp:
        doc = os.path.join(tmp, "openapi.json")
        try:
            with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=30) as r:
                body = r.read()
            with open(doc, "wb") as f:
                f.write(body)
            result(True, "served document", "%d bytes from GET /api/v1/openapi.json" % len(body))
        except OSError as e:
            result(False, "served document", str(e))
            suite_exit(passed, failed)

        gen = os.path.join(tmp, "gen")
        p = run([os.path.join(BIN, "openapi-ts"), "-i", doc, "-o", gen], tmp, 180)
        ok = p.returncode == 0 and os.path.exists(os.path.join(gen, "sdk.gen.ts"))
        result(ok, "generate", "@hey-api/openapi-ts -> gen/sdk.gen.ts" if ok else tail(p))
        if not ok:
            suite_exit(passed, failed)

        shutil.copy(os.path.join(TOOLS, "scenario.ts"), tmp)
        p = run([os.path.join(BIN, "tsc"), "--strict", "--noEmitOnError", "--target", "es2022",
                 "--module", "commonjs", "--moduleResolution", "node10",
                 "--ignoreDeprecations", "5.0", "--lib", "es2022,dom,dom.iterable", "--skipLibCheck",
                 "--outDir", os.path.join(tmp, "js"), "scenario.ts"], tmp, 180)
        ok = p.returncode == 0
        result(ok, "compile", "tsc --strict: no error" if ok else tail(p))
        if not ok:
            suite_exit(passed, failed)

        env = dict(os.environ, CLIENTSD_BASE_URL=base + "/api/v1",
                   CLIENTSD_ADMIN_KEY=cfg.admin_key, CLIENTSD_RUN_ID=cfg.run_id)
        p = run(["node", os.path.join(tmp, "js", "scenario.js")], tmp, 120, env)
        steps = [ln for ln in p.stdout.splitlines() if ln.startswith(("ok", "FAIL"))]
        for ln in steps:
            print("     %s scenario: %s" % (cfg.label, ln), flush=True)
        bad = [ln for ln in steps if ln.startswith("FAIL")]
        ok = p.returncode == 0 and len(steps) >= 10 and not bad
        result(ok, "scenario", "%d steps, %d failed" % (len(steps), len(bad)) if steps
               else tail(p))
    suite_exit(passed, failed)


if __name__ == "__main__":
    main()
