#!/usr/bin/env python3
"""docs_render.py HTML OUTDIR - the static API reference renders.

Loads the page `./dev docs` built (redocly build-docs) in headless Chromium
(Debian's chromium), dumps the DOM and checks that every operation of
doc/openapi.yaml is listed by its summary, then takes a screenshot and checks
it is a real PNG of the window's size with more than a blank page in it.
Skips, saying so, where chromium is not installed.  Prints ok/FAIL/skip lines
and "RESULT passed=N failed=M".
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.dont_write_bytecode = True
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "doc", "openapi.yaml")
WIDTH, HEIGHT = 1280, 1600
# What headless Chromium needs to run as root in a container, without a GPU,
# a network or a first-run dialogue, and to wait for the page's scripts.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=15000"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(browser, args, profile):
    return subprocess.run([browser] + FLAGS + ["--user-data-dir=" + profile] + args,
                          capture_output=True, timeout=120)


def png_info(path):
    """(width, height, distinct bytes in the decompressed pixel data)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    w = h = None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    return w, h, len(set(zlib.decompress(idat)))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: docs_render.py HTML OUTDIR")
    html, outdir = os.path.abspath(sys.argv[1]), sys.argv[2]
    results = []

    def report(name, problem):
        results.append(problem is None)
        print(("ok   docs %s" % name) if problem is None else
              ("FAIL docs %s: %s" % (name, problem)), flush=True)

    browser = chromium()
    if browser is None:
        print("skip docs render: chromium is not installed (apt-get install chromium); "
              "the HTML reference was not checked in a browser", flush=True)
        print("RESULT passed=0 failed=0")
        return 0
    if not os.path.isfile(html):
        report("render", "%s does not exist (./dev docs builds it)" % html)
        print("RESULT passed=0 failed=1")
        return 1
    with open(DOC, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    summaries = [op["summary"] for item in doc["paths"].values()
                 for m, op in item.items() if isinstance(op, dict) and "summary" in op]
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        p = run(browser, ["--dump-dom", "file://" + html], profile)
        dom = p.stdout.decode("utf-8", "replace")
        missing = [s for s in summaries if s.replace("'", "&#x27;") not in dom and s not in dom]
        report("lists_every_operation",
               None if p.returncode == 0 and not missing and len(summaries) >= 10 else
               "chromium exited %d; %d of %d operations missing: %s" % (
                   p.returncode, len(missing), len(summaries), missing[:5]))
        report("shows_the_title", None if doc["info"]["title"] in dom else "no title in the DOM")
    png = os.path.join(outdir, "reference.png")
    if os.path.exists(png):
        os.unlink(png)
    with tempfile.TemporaryDirectory() as profile:
        p = run(browser, ["--screenshot=" + os.path.abspath(png),
                          "--window-size=%d,%d" % (WIDTH, HEIGHT), "file://" + html], profile)
    try:
        w, h, distinct = png_info(png)
        problem = None
        if (w, h) != (WIDTH, HEIGHT):
            problem = "%dx%d, not %dx%d" % (w, h, WIDTH, HEIGHT)
        elif distinct < 32 or os.path.getsize(png) < 20000:
            problem = "looks blank: %d distinct byte values, %d bytes" % (
                distinct, os.path.getsize(png))
    except (OSError, ValueError, zlib.error, struct.error) as e:
        problem = "no screenshot (chromium exited %d): %s" % (p.returncode, e)
    report("screenshot %s" % png, problem)
    failed = results.count(False)
    print("RESULT passed=%d failed=%d" % (len(results) - failed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
