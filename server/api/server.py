"""The HTTP/1.1 front of the receiver: connections, framing, routing, auth, JSON errors.

One event-loop thread owns every idle connection and reads request heads without blocking;
a fixed pool of worker threads serves a request once its head has arrived whole. A slow or
idle client therefore holds a small bounded buffer, never a thread, and every resource a
client can make the front hold has a setting: `max_connections`, `http_threads`,
`max_header_bytes`, `header_timeout`, `body_timeout`, `idle_timeout` (docs/configuration.md).
Framing follows RFC 9112 strictly. Nothing a client sends produces a 500 or a traceback.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hmac
import ipaddress
import json
import logging
import queue
import re
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from server import __version__
from server.config import Config
from server.core.receiver import Receiver

log = logging.getLogger("txmon.http")

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_HEADERS = 100
REASONS = {status.value: status.phrase for status in HTTPStatus}
LISTEN_BACKLOG = 1024
RECV_BYTES = 65_536
# After an answer, a worker waits this long for the next request on the same connection
# before handing it back to the event loop: keep-alive clients that send back to back (load
# generators, batch senders) skip the hand-over, idle ones free the thread at once.
LINGER_SECONDS = 0.05
SWEEP_SECONDS = 0.25
SLOW_REQUEST_SECONDS = 1.0

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([!-~]+) (HTTP/\d\.\d)")
# Header fields: a token, a colon, a value without CR, LF or NUL, CRLF; nothing else.
_FIELDS = re.compile(rb"(?:" + _TOKEN + rb":[^\r\n\0]*\r\n)*")
_DIGITS = re.compile(rb"[0-9]+")
_FIRST_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


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


class ApiError(Exception):
    """An answer other than success: HTTP code, message and optional extra fields."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class ClientGone(Exception):
    """The peer closed, reset, or missed a deadline: drop the connection without answering."""


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


# --- one connection -------------------------------------------------------------------------


class Connection:
    """A client socket and the bytes read from it but not yet parsed.

    The socket stays in blocking mode with kernel timeouts (SO_RCVTIMEO, SO_SNDTIMEO), so a
    worker's read or write is one system call; the event loop reads it with MSG_DONTWAIT.
    """

    __slots__ = ("address", "buffer", "head_started", "parked_at", "read_timeout", "sock")

    def __init__(self, sock: socket.socket, address: Any, send_timeout: float) -> None:
        self.sock = sock
        self.address = address
        self.buffer = bytearray()
        self.parked_at = time.monotonic()
        self.head_started: float | None = None  # when the first byte of a request arrived
        self.read_timeout = 0.0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(send_timeout))

    def set_read_timeout(self, seconds: float) -> None:
        """How long one blocking recv may wait (set only when it changes: a system call)."""
        if seconds != self.read_timeout:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
            self.read_timeout = seconds

    def receive(self, deadline: float) -> None:
        """Append at least one chunk to the buffer; ClientGone on EOF, error or deadline."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientGone("deadline passed")
            self.set_read_timeout(remaining)
            try:
                chunk = self.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                continue  # the kernel timeout ran out (or a signal): look at the deadline
            except OSError as exc:
                raise ClientGone(str(exc)) from None
            if not chunk:
                raise ClientGone("closed by the peer")
            self.buffer += chunk
            return

    def receive_within(self, seconds: float) -> bool | None:
        """Wait up to `seconds` for more bytes: True if some came, False if none, None if
        the peer closed."""
        self.set_read_timeout(seconds)
        try:
            chunk = self.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return None
        if not chunk:
            return None
        self.buffer += chunk
        return True

    def send(self, data: bytes) -> None:
        """Write all of `data` within the send timeout; ClientGone otherwise."""
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ClientGone(str(exc)) from None

    def head_state(self, limit: int) -> int | str:
        """Where the buffered head ends (its length), 0 if it is still incomplete, or the
        reason the buffer cannot be an HTTP request."""
        buffer = self.buffer
        while buffer[:2] == b"\r\n":  # RFC 9112 2.2: ignore empty lines before a request
            del buffer[:2]
        if not buffer:
            return 0
        if buffer[0] not in _FIRST_BYTES:
            return "not an HTTP/1.1 request"
        end = buffer.find(b"\r\n\r\n", 0, limit + 4)
        if end >= 0:
            return end + 4
        if len(buffer) > limit:
            return "header section too large"
        return 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _timeval(seconds: float) -> bytes:
    """A struct timeval for SO_RCVTIMEO / SO_SNDTIMEO (at least 1 ms: 0 means forever)."""
    micros = max(1000, int(seconds * 1_000_000))
    return struct.pack("ll", micros // 1_000_000, micros % 1_000_000)


class _Spent:
    """Stands for the reserve descriptor while none could be reopened."""

    def close(self) -> None:
        pass


def _canned(code: int, message: str) -> bytes:
    """A complete answer that closes the connection, for errors outside any request."""
    body = json.dumps({"error": message}).encode()
    return (
        f"HTTP/1.1 {code} {REASONS[code]}\r\nServer: txmon/{__version__}\r\n"
        f"Date: {http_date()}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body


# --- one request ----------------------------------------------------------------------------


class RequestHandler:
    """One request on a connection: its head, its body on demand, and the answer."""

    def __init__(self, server: TxmonHTTPServer, conn: Connection) -> None:
        self.server = server
        self.conn = conn
        self.client_address = conn.address
        self.command = ""
        self.path = ""
        self.request_version = "HTTP/1.1"
        self.headers = Headers()
        self.close_connection = False
        self._length = 0
        self._body_read = True
        self._continue_pending = False

    # --- parsing (RFC 9112) ------------------------------------------------------------------

    def parse_head(self, head: bytes) -> None:
        """Request line and header fields, strictly; ApiError (connection closed) if bad."""
        self.close_connection = True  # until the head is understood
        line, _, fields = head[:-2].partition(b"\r\n")
        found = _REQUEST_LINE.fullmatch(line)
        if found is None:
            raise ApiError(400, "malformed request line")
        method, target, version = (part.decode("latin-1") for part in found.groups())
        self.command, self.path, self.request_version = method, target, version
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise ApiError(505, f"{version} is not supported; use HTTP/1.1")
        if _FIELDS.fullmatch(fields) is None:  # one pass: names, NUL, bare CR/LF, obs-fold
            raise ApiError(400, "malformed header field: 'Name: value' lines ending in CRLF")
        raw_fields = fields.split(b"\r\n")
        if len(raw_fields) - 1 > MAX_HEADERS:
            raise ApiError(431, f"more than {MAX_HEADERS} header fields")
        headers = self.headers
        lengths: list[bytes] = []
        for raw in raw_fields[:-1]:
            name, _, value = raw.partition(b":")
            key = name.decode("latin-1").lower()
            value = value.strip(b" \t")
            if key == "content-length":
                lengths.append(value)
            headers[key] = value.decode("latin-1")
        if "transfer-encoding" in headers:
            raise ApiError(411, "send a Content-Length; chunked bodies are not accepted")
        if lengths:
            if len(set(lengths)) > 1 or _DIGITS.fullmatch(lengths[0]) is None:
                raise ApiError(400, "Content-Length must be one decimal number of bytes")
            if len(lengths[0]) > 18:
                raise ApiError(413, "the declared body is over the size limit")
            self._length = int(lengths[0])
        expect = headers.get("expect")
        if expect is not None:
            if expect.lower() != "100-continue":
                raise ApiError(417, "only 'Expect: 100-continue' is understood")
            self._continue_pending = version == "HTTP/1.1"
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.close_connection = "keep-alive" not in connection
        else:
            self.close_connection = "close" in connection
        self._body_read = self._length == 0

    # --- dispatch --------------------------------------------------------------------------

    def handle(self, head: bytes) -> None:
        """Parse, route, authorize, run the endpoint and answer."""
        started = time.perf_counter()
        method = "-"
        code = 500
        server = self.server
        server.enter()
        try:
            self.parse_head(head)
            method = self.command
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
                hint = " (methods are case-sensitive)" if method.upper() in methods else ""
                raise ApiError(
                    405, f"{method} is not allowed here{hint}; use {allowed}", allow=allowed
                )
            if path != "/healthz":
                self._authorize()
            code, document = handler(self, parse_qs(query) if query else {}, params)
            self._send(code, document, head=method == "HEAD")
        except ApiError as exc:
            code = exc.code
            self._send_error(exc)
        except ClientGone:
            code = 499  # logged only; nobody is there to answer
            self.close_connection = True
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
        """The body, bounded by max_body_bytes and body_timeout (413 past the size).

        No Content-Length means no body (RFC 9112 6.3), so `curl -X POST` without `-d` works.
        `100 Continue` is sent only here, after routing and auth have passed.
        """
        length = self._length
        limit = self.server.config.max_body_bytes
        if length > limit:
            self.close_connection = True
            raise ApiError(413, f"body of {length:,} bytes is over the {limit:,}-byte limit")
        conn = self.conn
        deadline = time.monotonic() + self.server.config.body_timeout
        if self._continue_pending and length > len(conn.buffer):
            self._continue_pending = False
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            while len(conn.buffer) < length:
                conn.receive(deadline)
        except ClientGone:
            self.close_connection = True
            if time.monotonic() >= deadline:
                raise ApiError(
                    408, f"the body did not arrive within {self.server.config.body_timeout:g} s"
                ) from None
            raise
        body = bytes(conn.buffer[:length])
        del conn.buffer[:length]
        self._body_read = True
        return body

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
        if not self._body_read:
            # An unread body would be parsed as the next request: close instead.
            self.close_connection = True
        self._write(code, b"" if head else payload, content_type, extra or {}, len(payload))

    def _write(
        self,
        code: int,
        payload: bytes,
        content_type: str,
        extra: dict[str, str],
        length: int,
    ) -> None:
        """Status line, headers and body in one write (one packet for small answers)."""
        lines = [
            f"HTTP/1.1 {code} {REASONS.get(code, 'Unknown')}",
            f"Server: txmon/{__version__}",
            f"Date: {http_date()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
        ]
        lines.extend(f"{name}: {value}" for name, value in extra.items())
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
        try:
            self.conn.send(data)
        except ClientGone:
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
        if exc.code >= 500 or exc.code in (408, 413, 431):
            self.close_connection = True
        self._send(exc.code, document, extra=headers)

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


class TxmonHTTPServer:
    """Listening socket, event loop over idle connections, and a fixed pool of workers."""

    def __init__(self, config: Config, receiver: Receiver) -> None:
        self.config = config
        self.receiver = receiver
        from server.api.routes import build_router

        self.router = build_router()
        self.idle_timeout = float(config.idle_timeout)
        self.header_timeout = float(config.header_timeout)
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((config.host, config.port))
            self.socket.listen(LISTEN_BACKLOG)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._returned: collections.deque[Connection] = collections.deque()
        self._parked: dict[Connection, None] = {}  # insertion order = oldest first
        self._open = 0  # connections accepted and not yet closed (any thread)
        self._open_lock = threading.Lock()
        self._work: queue.SimpleQueue[Connection | None] = queue.SimpleQueue()
        self._in_flight = 0
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._reserve: Any = open("/dev/null", "rb")  # noqa: SIM115 (freed on EMFILE)
        self.refused = 0
        self._workers = [
            threading.Thread(target=self._work_loop, name=f"txmon-http-{i}", daemon=True)
            for i in range(config.http_threads)
        ]
        for worker in self._workers:
            worker.start()
        receiver.metrics.add_gauge(
            "txmon_http_connections",
            "Client connections open, against the max_connections setting.",
            ("kind",),
            lambda: [(("open",), float(self._open)), (("limit",), float(config.max_connections))],
        )

    @property
    def open_connections(self) -> int:
        """Client connections accepted and not yet closed."""
        return self._open

    @property
    def in_flight(self) -> int:
        """Requests being handled now."""
        return self._in_flight

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    # --- event loop ----------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.25) -> None:
        """Accept and watch connections until `shutdown()`."""
        self._stopped.clear()
        selector = self._selector
        selector.register(self.socket, selectors.EVENT_READ, None)
        selector.register(self._wake_r, selectors.EVENT_READ, self._wake_r)
        next_sweep = time.monotonic() + SWEEP_SECONDS
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(min(poll_interval, SWEEP_SECONDS)):
                    if key.data is None:
                        self._accept()
                    elif key.data is self._wake_r:
                        self._adopt_returned()
                    else:
                        self._on_readable(key.data)
                now = time.monotonic()
                if now >= next_sweep:
                    next_sweep = now + SWEEP_SECONDS
                    self._sweep(now)
        finally:
            for conn in list(self._parked):
                self._close(conn)
            selector.close()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop the event loop and wait until it has (callable from any thread)."""
        self._stop.set()
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket and let the workers end after their current request."""
        self._stop.set()
        self.socket.close()
        for _ in self._workers:
            self._work.put(None)
        self._reserve.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe already wakes the loop
            self._wake_w.send(b"\0")

    def _accept(self) -> None:
        for _ in range(64):  # then let the loop serve the connections it already has
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._out_of_files()
                return
            if self._open >= self.config.max_connections and not self._evict_oldest():
                self._refuse(sock, 503, "too many connections; retry shortly")
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._open_lock:
                self._open += 1
            self._park(Connection(sock, address, self.config.body_timeout))

    def _refuse(self, sock: socket.socket, code: int, message: str) -> None:
        self.refused += 1
        with contextlib.suppress(OSError):
            sock.send(_canned(code, message), socket.MSG_DONTWAIT)
        sock.close()

    def _out_of_files(self) -> None:
        """The process hit its open-file limit: free the reserve descriptor to take one
        connection off the backlog and close it, so the loop never spins on it."""
        self._evict_oldest()
        self._reserve.close()
        try:
            sock, _ = self.socket.accept()
            self._refuse(sock, 503, "the receiver is out of file descriptors; retry shortly")
        except OSError:
            pass
        try:
            self._reserve = open("/dev/null", "rb")  # noqa: SIM115
        except OSError:  # still none free: the next shortage tries again
            self._reserve = _Spent()

    def _evict_oldest(self) -> bool:
        """Close the connection that has waited longest for a request, to make room."""
        for conn in self._parked:
            self._close(conn)
            return True
        return False

    def _park(self, conn: Connection) -> None:
        conn.parked_at = time.monotonic()
        self._parked[conn] = None
        try:
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        except (OSError, ValueError):
            self._close(conn)

    def _unpark(self, conn: Connection) -> None:
        self._parked.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(conn.sock)

    def _adopt_returned(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while self._returned:
            conn = self._returned.popleft()
            if self._stop.is_set():
                self._close(conn)
            else:
                self._park(conn)

    def _on_readable(self, conn: Connection) -> None:
        try:
            chunk = conn.sock.recv(RECV_BYTES, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(conn)
            return
        if conn.head_started is None:
            conn.head_started = time.monotonic()
        conn.buffer += chunk
        state = conn.head_state(self.config.max_header_bytes)
        if isinstance(state, str):
            self._close(conn, 431 if state.startswith("header") else 400, state)
        elif state:
            self._unpark(conn)
            self._work.put(conn)

    def _sweep(self, now: float) -> None:
        """Close connections idle past idle_timeout, or mid-head past header_timeout."""
        idle_cutoff = now - self.idle_timeout
        head_cutoff = now - self.header_timeout
        for conn in list(self._parked):
            if conn.head_started is not None:
                if conn.head_started < head_cutoff:
                    self._close(conn, 408, "the request head did not arrive in time")
            elif conn.parked_at < idle_cutoff:
                self._close(conn)

    def _close(self, conn: Connection, code: int | None = None, message: str = "") -> None:
        """Close a connection the event loop holds, with a last error answer if given."""
        self._unpark(conn)
        self._release(conn, code, message)

    def _release(self, conn: Connection, code: int | None = None, message: str = "") -> None:
        """Close a connection no one else holds, with a last error answer if given."""
        if code is not None:
            with contextlib.suppress(OSError):
                conn.sock.send(_canned(code, message), socket.MSG_DONTWAIT)
        conn.close()
        with self._open_lock:
            self._open -= 1

    # --- workers ---------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            conn = self._work.get()
            if conn is None:
                return
            try:
                self._serve(conn)
            except Exception:
                log.exception("connection from %s failed", conn.address[0])
                self._release(conn)

    def _serve(self, conn: Connection) -> None:
        """Serve requests on `conn` while they come back to back, then hand it back."""
        limit = self.config.max_header_bytes
        while True:
            state = conn.head_state(limit)
            if isinstance(state, str):
                self._release(conn, 431 if state.startswith("header") else 400, state)
                return
            if state == 0:
                if conn.buffer:
                    break
                waited = self._linger(conn)
                if waited is None:
                    return
                if not waited:
                    break
                continue
            head = bytes(conn.buffer[:state])
            del conn.buffer[:state]
            handler = RequestHandler(self, conn)
            handler.handle(head)
            conn.head_started = None
            if handler.close_connection or self._stop.is_set():
                self._release(conn)
                return
        if conn.buffer and conn.head_started is None:
            conn.head_started = time.monotonic()
        self._returned.append(conn)
        self._wake()

    def _linger(self, conn: Connection) -> bool | None:
        """Wait briefly for the next request when no other connection is waiting: True if
        bytes came, False if not, None if the peer closed (the connection is released)."""
        if not self._work.empty():
            return False
        came = conn.receive_within(LINGER_SECONDS)
        if came is None:
            self._release(conn)
        elif came:
            conn.head_started = time.monotonic()
        return came

    # --- requests in flight ------------------------------------------------------------------

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
