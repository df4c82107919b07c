"""One request on a connection, parsed strictly (RFC 9112): head, body on demand, answer."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from server import __version__
from server.api.connection import REASONS, ClientGone, Connection, http_date
from server.api.routing import ApiError, JsonBytes, api_error
from server.errors import TxmonError

if TYPE_CHECKING:
    from server.api.server import TxmonHTTPServer

log = logging.getLogger("txmon.http")

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_HEADERS = 100
SLOW_REQUEST_SECONDS = 1.0

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([!-~]+) (HTTP/\d\.\d)")
# Header fields: a token, a colon, a value without CR, LF or NUL, CRLF; nothing else.
_FIELDS = re.compile(rb"(?:" + _TOKEN + rb":[^\r\n\0]*\r\n)*")
_DIGITS = re.compile(rb"[0-9]+")


class Headers(dict[str, str]):
    """Request headers by lower-cased name (the last of repeated headers wins)."""


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
            extra = document.headers if isinstance(document, JsonBytes) else None
            self._send(code, document, head=method == "HEAD", extra=extra)
        except ApiError as exc:
            code = exc.code
            self._send_error(exc)
        except TxmonError as exc:
            answer = api_error(exc)
            if answer is None:
                answer = ApiError(500, "internal error; see the receiver's log")
                log.error("unmapped %s on %s: %s", type(exc).__name__, method, exc)
            elif answer.code >= 500:
                log.warning("%s on %s %s: %s", type(exc).__name__, method, self.path, exc)
            code = answer.code
            self._send_error(answer)
        except ClientGone:
            code = 499  # logged only; nobody is there to answer
            self.close_connection = True
        except Exception:
            code = 500
            log.exception("unexpected error on %s %s", method, self.path.split("?", 1)[0])
            self._send_error(ApiError(500, "internal error; see the receiver's log"))
        finally:
            server.leave()
            method = self.command or method  # known once the request line parsed, even if
            # a header field was then refused (a chunked or oversized POST is still a POST)
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
