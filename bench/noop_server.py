"""No-op baseline for bench/run.py: the bare stdlib HTTP/1.1 ceiling on this machine.

A `ThreadingHTTPServer` with keep-alive that reads each request body and answers
201 `{}` without parsing or storing anything, so the benchmark can show what fraction of
"stdlib http.server doing nothing" txmon reaches. Run: python noop_server.py PORT
"""

from __future__ import annotations

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = b"{}"


class NoopHandler(BaseHTTPRequestHandler):
    """Answers every POST 201 `{}` and every GET 200 `{}`, over keep-alive connections."""

    protocol_version = "HTTP/1.1"
    # end_headers() flushes the headers before the body is written: without TCP_NODELAY,
    # Nagle's algorithm and delayed ACKs would stall each answer by up to 40 ms.
    disable_nagle_algorithm = True

    def _answer(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(201)

    def do_GET(self) -> None:
        self._answer(200)

    def log_message(self, format: str, *args: object) -> None:
        """No access log (txmon runs with --access-log off too)."""


class NoopServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-answer (wrk stopping) is not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else 8799
    httpd = NoopServer(("127.0.0.1", port), NoopHandler)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever(poll_interval=0.25)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
