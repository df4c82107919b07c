"""The HTTP/1.1 front of the receiver: routing, auth, body limits, JSON errors, access log.

Built on `http.server.ThreadingHTTPServer` (one thread per keep-alive connection); handlers
decode the request, call `Receiver`, and encode the answer. Nothing a client sends may
produce a 500 or a traceback: every failure becomes a JSON error with a 4xx code.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from server import __version__
from server.config import Config
from server.service import Receiver

log = logging.getLogger("txmon.http")

MAX_LINE = 65_536
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_HEADERS = 100
REASONS = {status.value: status.phrase for status in HTTPStatus}


class JsonBytes(bytes):
    """An answer already encoded as JSON (sent as is)."""


class Headers(dict[str, str]):
    """Request headers by lower-cased name (the last of repeated headers wins)."""


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


SLOW_REQUEST_SECONDS = 1.0


class ApiError(Exception):
    """An answer other than success: HTTP code, message and optional extra fields."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


Handler = Callable[["RequestHandler", dict[str, list[str]], tuple[str, ...]], tuple[int, Any]]


class Router:
    """Maps (method, path pattern) to handlers; knows which methods a path allows."""

    def __init__(self) -> None:
        self._exact: dict[str, dict[str, Handler]] = {}
        self._patterns: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        self._templates: dict[str, set[str]] = {}

    def paths(self) -> dict[str, set[str]]:
        """Every path template with its methods (for the OpenAPI consistency test)."""
        return {path: set(methods) for path, methods in self._templates.items()}

    def add(self, method: str, path: str, handler: Handler) -> None:
        self._templates.setdefault(path, set()).add(method)
        if "{" in path:
            regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"([^/]+)", path) + "$")
            for pattern, methods in self._patterns:
                if pattern.pattern == regex.pattern:
                    methods[method] = handler
                    return
            self._patterns.append((regex, {method: handler}))
        else:
            self._exact.setdefault(path, {})[method] = handler

    def match(self, path: str) -> tuple[dict[str, Handler], tuple[str, ...]] | None:
        methods = self._exact.get(path)
        if methods is not None:
            return methods, ()
        for pattern, methods in self._patterns:
            found = pattern.match(path)
            if found:
                return methods, found.groups()
        return None


class RequestHandler(BaseHTTPRequestHandler):
    """One instance per connection; keep-alive, so it serves many requests in turn."""

    protocol_version = "HTTP/1.1"
    server_version = f"txmon/{__version__}"
    sys_version = ""
    disable_nagle_algorithm = True
    # No socket timeout: with one, every recv and send costs an extra poll() (about 10% of
    # a small POST). Idle and stalled connections are closed by the server's reaper instead.
    timeout = None

    def setup(self) -> None:
        super().setup()
        self.server.track(self)

    def finish(self) -> None:
        self.server.untrack(self)
        super().finish()

    server: TxmonHTTPServer

    def version_string(self) -> str:
        return self.server_version

    # --- request parsing -------------------------------------------------------------------
    # http.server parses headers with the email package, which costs more than everything
    # else a small POST needs; this lean parser keeps its limits and error behaviour.

    def handle_one_request(self) -> None:
        try:
            self._handle_one()
        except OSError:  # resets, broken pipes, a reaped connection: the peer is gone
            self.close_connection = True
        self.server.touch(self)

    def _handle_one(self) -> None:
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            self.close_connection = True
            return
        self._body_read = True  # until a request is understood, never trust what follows
        self.command, self.path, self.request_version = "", "", "HTTP/1.1"
        self.headers = Headers()
        if len(line) > MAX_LINE:
            self._protocol_error(414, "request line too long")
            return
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._protocol_error(400, "malformed request line")
            return
        method, path, version = parts
        self.command, self.path, self.request_version = method, path, version
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            self._protocol_error(505, f"{version} is not supported; use HTTP/1.1")
            return
        headers = self.headers
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            if len(raw) > MAX_LINE:
                self._protocol_error(431, "header line too long")
                return
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or not name.strip():
                self._protocol_error(400, "malformed header line")
                return
            headers[name.strip().lower()] = value.strip()
        else:
            self._protocol_error(431, f"more than {MAX_HEADERS} headers")
            return
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.close_connection = "keep-alive" not in connection
        else:
            self.close_connection = "close" in connection
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._dispatch(method.upper())

    def _protocol_error(self, code: int, message: str) -> None:
        self.close_connection = True
        self._write(code, json.dumps({"error": message}).encode(), "application/json", {})
        self._access_log(self.command or "-", code, 0.0)

    # --- dispatch --------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        self._body_read = False
        server = self.server
        server.enter()
        code = 500
        try:
            if self.path.startswith("/"):  # origin-form, as every client but a proxy sends
                path, _, query = self.path.partition("?")
            else:
                url = urlsplit(self.path)
                path, query = url.path, url.query
            found = server.router.match(path)
            if found is None:
                raise ApiError(404, f"no such endpoint: {path}")
            methods, params = found
            handler = methods.get("GET" if method == "HEAD" else method)
            if handler is None:
                allowed = ", ".join(sorted(methods))
                raise ApiError(405, f"{method} is not allowed here; use {allowed}", allow=allowed)
            if path != "/healthz":
                self._authorize()
            code, document = handler(self, parse_qs(query) if query else {}, params)
            self._send(code, document, head=method == "HEAD")
        except ApiError as exc:
            code = exc.code
            self._send_error(exc)
        except Exception:
            code = 500
            log.exception("unexpected error on %s %s", method, self.path.split("?", 1)[0])
            self._send_error(ApiError(500, "internal error; see the receiver's log"))
        finally:
            server.leave()
            label = method if method in KNOWN_METHODS else "OTHER"
            server.receiver.metrics.requests.inc(1, label, str(code))
            self._access_log(method, code, time.perf_counter() - started)

    def _authorize(self) -> None:
        token = self.server.config.token
        if token is None:
            return
        given = self.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            raise ApiError(401, "missing or wrong API token: send 'Authorization: Bearer <token>'")

    # --- bodies ----------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """The request body, bounded by max_body_bytes; 411/413/400 otherwise."""
        if self.headers.get("transfer-encoding", "").lower() not in ("", "identity"):
            self.close_connection = True
            raise ApiError(411, "send a Content-Length; chunked bodies are not accepted")
        length_header = self.headers.get("content-length")
        if length_header is None:
            self.close_connection = True
            raise ApiError(411, "Content-Length header is required")
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "Content-Length must be a non-negative integer") from None
        limit = self.server.config.max_body_bytes
        if length > limit:
            self.close_connection = True
            raise ApiError(413, f"body of {length:,} bytes is over the {limit:,}-byte limit")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            raise ApiError(400, "body ended before Content-Length bytes arrived")
        self._body_read = True
        return body

    def read_json(self) -> dict[str, Any]:
        """A JSON object body (empty body = empty object)."""
        body = self.read_body()
        if not body.strip():
            return {}
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ApiError(400, "malformed JSON body") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "JSON body must be an object")
        return doc

    # --- answers ---------------------------------------------------------------------------

    def _send(
        self, code: int, document: Any, *, head: bool = False, extra: dict | None = None
    ) -> None:
        if isinstance(document, JsonBytes):
            payload, content_type = document, "application/json"
        elif isinstance(document, bytes | str):
            payload = document.encode() if isinstance(document, str) else document
            content_type = "text/plain; version=0.0.4; charset=utf-8"
        else:
            payload = json.dumps(document, separators=(",", ":")).encode()
            content_type = "application/json"
        if not self._body_read and self.headers.get("content-length") not in (None, "0"):
            # An unread body would be parsed as the next request: close instead.
            self.close_connection = True
        self._write(code, b"" if head else payload, content_type, extra or {}, len(payload))

    def _write(
        self,
        code: int,
        payload: bytes,
        content_type: str,
        extra: dict[str, str],
        length: int | None = None,
    ) -> None:
        """Status line, headers and body in one write (one packet for small answers)."""
        self._status = code
        lines = [
            f"HTTP/1.1 {code} {REASONS.get(code, 'Unknown')}",
            f"Server: {self.server_version}",
            f"Date: {http_date()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(payload) if length is None else length}",
        ]
        lines.extend(f"{name}: {value}" for name, value in extra.items())
        if self.close_connection:
            lines.append("Connection: close")
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        except OSError:
            self.close_connection = True

    def _send_error(self, exc: ApiError) -> None:
        document: dict[str, Any] = {"error": exc.message}
        headers: dict[str, str] = {}
        for key, value in exc.extra.items():
            if key == "allow":
                headers["Allow"] = value
            elif key == "retry_after":
                headers["Retry-After"] = str(value)
            else:
                document[key] = value
        if exc.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="txmon"'
        self._send(exc.code, document, extra=headers)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's own stderr lines; `_access_log` writes structured ones."""

    def _access_log(self, method: str, code: int, seconds: float) -> None:
        mode = self.server.config.access_log
        if mode == "off":
            return
        if mode == "errors" and code < 400 and seconds < SLOW_REQUEST_SECONDS:
            return
        log.info(
            json.dumps(
                {
                    "ts": round(time.time(), 3),
                    "client": self.client_address[0],
                    "method": method,
                    "path": self.path.split("?", 1)[0],
                    "code": code,
                    "ms": round(seconds * 1000, 2),
                },
                separators=(",", ":"),
            )
        )


# --- server --------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TxmonHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its Receiver and counts requests in flight."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, config: Config, receiver: Receiver) -> None:
        self.config = config
        self.receiver = receiver
        from server.routes import build_router

        self.router = build_router()
        self._in_flight = 0
        self._idle = threading.Condition()
        if ":" in config.host:
            self.address_family = socket.AF_INET6
        self._connections: dict[RequestHandler, float] = {}
        self._connections_lock = threading.Lock()
        super().__init__((config.host, config.port), RequestHandler)
        self._reaper = threading.Thread(target=self._reap, name="txmon-reaper", daemon=True)
        self._reaper.start()

    idle_timeout = 300.0  # seconds a connection may sit without finishing a request
    reap_every = 1.0

    def track(self, handler: RequestHandler) -> None:
        with self._connections_lock:
            self._connections[handler] = time.monotonic()

    def untrack(self, handler: RequestHandler) -> None:
        with self._connections_lock:
            self._connections.pop(handler, None)

    def touch(self, handler: RequestHandler) -> None:
        """A request was finished on this connection (a single dict store: no lock)."""
        if handler in self._connections:
            self._connections[handler] = time.monotonic()

    def _reap(self) -> None:
        """Close connections idle (or stuck mid-request) for longer than idle_timeout."""
        while True:
            time.sleep(min(self.reap_every, 1.0))
            cutoff = time.monotonic() - self.idle_timeout
            with self._connections_lock:
                stale = [h for h, seen in self._connections.items() if seen < cutoff]
            for handler in stale:
                with contextlib.suppress(OSError):  # already closed by the peer
                    handler.connection.shutdown(socket.SHUT_RDWR)

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled (for a graceful stop)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log unexpected connection-level failures as one line, not a traceback on stderr."""
        log.exception("connection from %s failed", client_address[0])

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"
