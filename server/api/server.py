"""The HTTP/1.1 front of the receiver: the listening socket, the event loop, the workers.

One event-loop thread owns every idle connection and reads request heads without blocking;
a fixed pool of worker threads serves a request once its head has arrived whole. A slow or
idle client therefore holds a small bounded buffer, never a thread, and every resource a
client can make the front hold has a setting: `max_connections`, `http_threads`,
`max_header_bytes`, `header_timeout`, `body_timeout`, `idle_timeout` (docs/configuration.md).
Framing follows RFC 9112 strictly (`exchange.py`). Nothing a client sends produces a 500.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import ipaddress
import logging
import queue
import selectors
import socket
import threading
import time
from typing import Any

from server.api.connection import RECV_BYTES, Connection, canned
from server.api.exchange import RequestHandler
from server.api.routes import build_router
from server.config import Config
from server.core.receiver import Receiver

log = logging.getLogger("txmon.http")

LISTEN_BACKLOG = 1024
# After an answer, a worker waits this long for the next request on the same connection
# before handing it back to the event loop: keep-alive clients that send back to back (load
# generators, batch senders) skip the hand-over, idle ones free the thread at once.
LINGER_SECONDS = 0.05
SWEEP_SECONDS = 0.25


class _Spent:
    """Stands for the reserve descriptor while none could be reopened."""

    def close(self) -> None:
        pass


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
        with contextlib.suppress(OSError):
            sock.send(canned(code, message), socket.MSG_DONTWAIT)
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
                conn.sock.send(canned(code, message), socket.MSG_DONTWAIT)
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
