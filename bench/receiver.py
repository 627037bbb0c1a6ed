#!/usr/bin/env python3
"""bench/receiver.py - a webhook receiver for bench/run: an HTTP/1.1
server on 127.0.0.1:PORT that answers every POST 204 and counts it, and
answers GET /count with the count so far.  It checks no signature: the
tests do that (tests/integration/delivery_test.py); here it only has to
cost the machine little, so that the dispatcher's rate is what is
measured.

    python3 bench/receiver.py PORT
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Counter:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def add(self):
        with self.lock:
            self.n += 1


COUNT = Counter()


class Handler(BaseHTTPRequestHandler):
    # Keep-alive: the dispatcher's libcurl reuses its connections.
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        COUNT.add()
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        body = b"%d\n" % COUNT.n
        self.send_response(200 if self.path == "/count" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: receiver.py PORT")
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
