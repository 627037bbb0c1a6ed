"""kit - what every test file and kit shares: the assertions (check, eq),
the one wait helper, the one Answer (status, headers, body) whatever
carried it (HTTP through a web server, a raw socket, FastCGI), and the
"info" lines a test leaves for the end of the run.  Standard library only.
"""

import json
import time


class Failure(AssertionError):
    """A test expectation that did not hold."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise Failure("%s: expected %s, got %s" % (what, short(expected), short(actual)))


def short(v, limit=160):
    s = v if isinstance(v, str) else repr(v)
    s = s.replace("\n", "\\n")
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def wait_for(cond, seconds, what, interval=0.05):
    """Calls cond until it returns something true, which is returned; fails
    with "what: not within N s" when seconds have passed.  what may be a
    callable, for a message that says what was last seen."""
    deadline = time.monotonic() + seconds
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise Failure("%s: not within %.1f s" % (what() if callable(what) else what,
                                                      seconds))
        time.sleep(interval)


# ---- answers ------------------------------------------------------------------

def _json_or_none(raw):
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        return None


class Answer:
    """One answer: status (None: no answer came), headers (lower-case names,
    repeated ones joined with ", "), raw (the body's bytes), body (the body
    parsed as JSON, or None).  wire: the bytes as read, when read off a
    socket."""

    def __init__(self, status, headers, raw, wire=None):
        self.status, self.headers, self.raw = status, headers, raw
        self.wire = raw if wire is None else wire
        self.body = _json_or_none(raw)

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def data(self):
        return self.body.get("data") if isinstance(self.body, dict) else None

    def where(self):
        """Context for failure messages."""
        return "%s %s" % (self.status, short(self.raw.decode("utf-8", "replace"), 300))

    @classmethod
    def parse(cls, data):
        """The answer in the bytes of an HTTP/1.x response; status None when
        data holds no whole head (the server closed without answering)."""
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not data or not sep:
            return cls(None, {}, b"", data)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        check(len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit(),
              "bad status line %r" % lines[0])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            k, v = k.strip().lower(), v.strip()
            headers[k] = headers[k] + ", " + v if k in headers else v
        if "chunked" in headers.get("transfer-encoding", "").lower():
            rest = dechunk(rest)
        elif "content-length" in headers:
            rest = rest[:int(headers["content-length"])]
        return cls(int(parts[1]), headers, rest, data)


def dechunk(data):
    """The body of a chunked transfer coding."""
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out, data = out + data[:n], data[n + 2:]
    return out


# ---- measurements ---------------------------------------------------------------

INFO = []
# Logs whose last lines the run shows when a test failed (the fixtures add
# theirs).
LOGS = []


def info(label, text):
    """A line of measurement (not asserted): printed now, and again at the
    end of the run (pytest keeps a passing test's output to itself)."""
    line = "info %s %s" % (label, text)
    print(line, flush=True)
    INFO.append(line)
