"""One client connection: its socket, the bytes read but not parsed, and canned answers."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from server import __version__

REASONS = {status.value: status.phrase for status in HTTPStatus}
RECV_BYTES = 65_536
_FIRST_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


class ClientGone(Exception):
    """The peer closed, reset, or missed a deadline: drop the connection without answering."""


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


def canned(code: int, message: str) -> bytes:
    """A complete answer that closes the connection, for errors outside any request."""
    body = json.dumps({"error": message}).encode()
    return (
        f"HTTP/1.1 {code} {REASONS[code]}\r\nServer: txmon/{__version__}\r\n"
        f"Date: {http_date()}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body
