"""fcgikit - the tests' one FastCGI client: it talks to a clientsd socket
itself.

No web server in between, as kcgi's regress suite does: the tests decide
when each record goes out (the params, then the body later, or a body
shorter than CONTENT_LENGTH) and see exactly what clientsd answers, as a
kit.Answer (with .stderr: the FCGI_STDERR stream).
"""

import json
import socket
import struct

from kit import Answer, Failure, wait_for

FCGI_VERSION = 1
BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
RESPONDER = 1


class FcgiError(Exception):
    """The connection ended without a whole answer; stdout: what came."""

    def __init__(self, msg, stdout=b""):
        super().__init__(msg)
        self.stdout = stdout


def _record(rtype, content, request_id=1):
    out = b""
    # A record holds at most 65535 bytes; an empty one ends a stream.
    chunks = [content[i:i + 65535] for i in range(0, len(content), 65535)] or [b""]
    for c in chunks:
        pad = (8 - len(c) % 8) % 8
        out += struct.pack("!BBHHBB", FCGI_VERSION, rtype, request_id, len(c), pad, 0)
        out += c + b"\0" * pad
    return out


def _length(n):
    return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)


def _params(pairs):
    out = b""
    for k, v in pairs.items():
        k, v = k.encode(), v.encode()
        out += _length(len(k)) + _length(len(v)) + k + v
    return out


def _answer(out, err):
    """The Answer in a responder's stdout (CGI: headers, a blank line, the
    body; no Status header means 200)."""
    head, _, raw = out.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            k, v = k.strip().lower(), v.strip()
            headers[k] = headers[k] + ", " + v if k in headers else v
    a = Answer(int(headers.get("status", "200").split()[0]), headers, raw, out)
    a.stderr = err
    return a


class Request:
    """One FastCGI request on its own connection.

    send_params() and send_body() may be called apart, with time (and
    signals) in between; answer() reads until END_REQUEST."""

    def __init__(self, sock_path, timeout=15, source=None):
        """sock_path: a Unix socket path, or "host:port" for TCP (from the
        address source, when given)."""
        if sock_path.startswith("/"):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = sock_path
        else:
            host, _, port = sock_path.rpartition(":")
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if source:
                self.s.bind((source, 0))
            address = (host, int(port))
        self.s.settimeout(timeout)
        self.s.connect(address)
        self.s.sendall(_record(BEGIN_REQUEST, struct.pack("!HB5x", RESPONDER, 0)))

    def send_params(self, method, uri, headers=None, body_length=None, ctype=None,
                    remote_addr="127.0.0.1", params=None):
        """headers become HTTP_* parameters; params (FastCGI names) are
        sent as they are, over the ones made here."""
        path, _, query = uri.partition("?")
        env = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "SCRIPT_NAME": path,
               "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": remote_addr, "GATEWAY_INTERFACE": "CGI/1.1"}
        if body_length is not None:
            env["CONTENT_LENGTH"] = str(body_length)
        if ctype is not None:
            env["CONTENT_TYPE"] = ctype
        for k, v in (headers or {}).items():
            env["HTTP_" + k.upper().replace("-", "_")] = v
        env.update(params or {})
        self.s.sendall(_record(PARAMS, _params(env)) + _record(PARAMS, b""))

    def send_body(self, data, end=True):
        if data:
            self.s.sendall(_record(STDIN, data))
        if end:
            self.s.sendall(_record(STDIN, b""))

    def answer(self):
        out, err, buf = b"", b"", b""
        try:
            while True:
                while len(buf) >= 8:
                    _, rtype, _, clen, pad, _ = struct.unpack("!BBHHBB", buf[:8])
                    if len(buf) < 8 + clen + pad:
                        break
                    content = buf[8:8 + clen]
                    buf = buf[8 + clen + pad:]
                    if rtype == STDOUT:
                        out += content
                    elif rtype == STDERR:
                        err += content
                    elif rtype == END_REQUEST:
                        return _answer(out, err)
                try:
                    chunk = self.s.recv(65536)
                except ConnectionResetError:
                    chunk = b""     # the process holding it died: the same
                if not chunk:
                    raise FcgiError("connection closed before END_REQUEST (%d bytes of "
                                    "stdout)" % len(out), out)
                buf += chunk
        finally:
            self.s.close()


def call(sock_path, method, uri, body=None, headers=None, ctype=None, timeout=15,
         source=None):
    """One whole request; body (bytes, str or dict) sent at once."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    if body is not None and ctype is None:
        ctype = "application/json"
    r = Request(sock_path, timeout, source)
    r.send_params(method, uri, headers, len(body) if body is not None else None, ctype)
    r.send_body(body or b"")
    return r.answer()


def wait_answering(sock_path, seconds):
    """Until GET /api/v1/ping answers 200 on the socket; True when it did."""
    def pong():
        try:
            return call(sock_path, "GET", "/api/v1/ping", timeout=2).status == 200
        except (OSError, FcgiError):
            return False
    try:
        return wait_for(pong, seconds, "ping", interval=0.1)
    except Failure:
        return False
