#!/usr/bin/env python3
"""apidocs.py - the HTML API reference (./dev docs, and the first test of
tests/integration/reference_test.py).

Lints doc/openapi.yaml twice (Redocly's recommended ruleset, Spectral's
spectral:oas: no error and no warning from either; generators and
validating proxies read the document as these two do), then builds
build/docs/index.html with redocly build-docs.  The tools are
@redocly/cli and @stoplight/spectral-cli as pinned in doc/package-lock.json,
installed into doc/node_modules by npm (dev-only; the service never needs
them).
"""

import os
import re
import shutil
import subprocess
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOC = os.path.join(REPO, "doc")
OUT = os.path.join(REPO, "build", "docs")
BIN = os.path.join(DOC, "node_modules", ".bin")


class Failed(Exception):
    """A step failed; the message says which and shows its output."""


def say(text):
    print("docs: %s" % text, flush=True)


def run(name, args, log):
    """The pinned tool name with args, in doc/; its output (without the
    Node.js banner's box and blank lines) in OUT/log; (exit status, output)."""
    p = subprocess.run([os.path.join(BIN, name)] + args, cwd=DOC, capture_output=True,
                       text=True, timeout=600)
    out = "\n".join(ln for ln in (p.stdout + p.stderr).splitlines()
                    if ln.strip() and not any(c in ln for c in "║╔╚"))
    with open(os.path.join(OUT, log), "w", encoding="utf-8") as f:
        f.write(out + "\n")
    return p.returncode, out


def tools():
    """npm ci in doc/ unless the pinned tools are there."""
    if all(os.access(os.path.join(BIN, t), os.X_OK) for t in ("redocly", "spectral")):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise Failed("npm is missing: it installs @redocly/cli and @stoplight/spectral-cli "
                     "(doc/package.json)")
    say("npm ci (doc/: @redocly/cli, @stoplight/spectral-cli)")
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DOC, capture_output=True,
                       text=True, timeout=900)
    if p.returncode != 0:
        raise Failed("npm ci failed in doc/ (is the npm registry reachable?): %s"
                     % (p.stdout + p.stderr).strip()[-1500:])


def build():
    """Lint twice, then build OUT/index.html; raises Failed."""
    tools()
    os.makedirs(OUT, exist_ok=True)
    say("redocly lint doc/openapi.yaml")
    rc, out = run("redocly", ["lint", "openapi.yaml"], "lint.log")
    if rc != 0 or re.search(r"You have [0-9]+ warning", out):
        raise Failed("redocly lint: doc/openapi.yaml has errors or warnings:\n" + out)
    say(out.splitlines()[-1] if out else "(no output)")
    say("spectral lint doc/openapi.yaml (spectral:oas)")
    rc, out = run("spectral", ["lint", "--ruleset", "spectral.yaml", "--fail-severity=warn",
                               "openapi.yaml"], "spectral.log")
    if rc != 0:
        raise Failed("spectral lint: doc/openapi.yaml has errors or warnings:\n" + out)
    say(out.splitlines()[-1] if out else "(no output)")
    say("redocly build-docs -> build/docs/index.html")
    rc, out = run("redocly", ["build-docs", "openapi.yaml", "-o",
                              os.path.join(OUT, "index.html")], "build.log")
    if rc != 0:
        raise Failed("redocly build-docs failed:\n" + out[-1500:])
    return os.path.join(OUT, "index.html")


def main():
    try:
        say("the API reference: %s" % os.path.relpath(build(), REPO))
    except Failed as e:
        print("docs: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
