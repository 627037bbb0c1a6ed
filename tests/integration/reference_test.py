"""reference_test.py - the HTML API reference builds and renders.

Builds it as `./dev docs` does (tools/apidocs.py: two linters without a
warning, then redocly build-docs), loads the page in headless Chromium
(Debian's chromium), dumps the DOM and checks that every operation of
doc/openapi.yaml is listed by its summary and the title shown, then takes a
screenshot and checks it is a real PNG of the window's size with more than a
blank page in it.  The browser's tests are skipped, saying so, where
chromium is not installed.  Once, before the set-ups, in the plain run; not
in a targeted run (the `reference` marker).
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import pytest
import yaml

from kit import Failure

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import apidocs  # noqa: E402

pytestmark = [pytest.mark.setups("before"), pytest.mark.reference,
              pytest.mark.budget(1200), pytest.mark.timeout(900)]

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


BUILT = {}


def test_reference_builds():
    try:
        BUILT["html"] = apidocs.build()
    except apidocs.Failed as e:
        raise Failure(str(e))


@pytest.fixture(scope="module")
def page():
    """(browser, the built page, doc/openapi.yaml, where the screenshot goes)."""
    if "html" not in BUILT:
        pytest.skip("the reference did not build")
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the HTML "
                    "reference was not checked in a browser")
    with open(DOC, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return browser, BUILT["html"], doc, apidocs.OUT


@pytest.fixture(scope="module")
def dom(page):
    browser, html, _, _ = page
    with tempfile.TemporaryDirectory() as profile:
        p = run(browser, ["--dump-dom", "file://" + html], profile)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def test_lists_every_operation(page, dom):
    doc = page[2]
    rc, text = dom
    summaries = [op["summary"] for item in doc["paths"].values()
                 for m, op in item.items() if isinstance(op, dict) and "summary" in op]
    missing = [s for s in summaries if s.replace("'", "&#x27;") not in text and s not in text]
    if rc != 0 or missing or len(summaries) < 10:
        raise Failure("chromium exited %d; %d of %d operations missing: %s" % (
            rc, len(missing), len(summaries), missing[:5]))


def test_shows_the_title(page, dom):
    if page[2]["info"]["title"] not in dom[1]:
        raise Failure("no title in the DOM")


def test_screenshot(page):
    browser, html, _, outdir = page
    png = os.path.join(outdir, "reference.png")
    if os.path.exists(png):
        os.unlink(png)
    with tempfile.TemporaryDirectory() as profile:
        p = run(browser, ["--screenshot=" + os.path.abspath(png),
                          "--window-size=%d,%d" % (WIDTH, HEIGHT), "file://" + html], profile)
    try:
        w, h, distinct = png_info(png)
    except (OSError, ValueError, zlib.error, struct.error) as e:
        raise Failure("no screenshot %s (chromium exited %d): %s" % (png, p.returncode, e))
    if (w, h) != (WIDTH, HEIGHT):
        raise Failure("%s: %dx%d, not %dx%d" % (png, w, h, WIDTH, HEIGHT))
    if distinct < 32 or os.path.getsize(png) < 20000:
        raise Failure("%s looks blank: %d distinct byte values, %d bytes" % (
            png, distinct, os.path.getsize(png)))
