"""A small stdlib client that POSTs record batches to a receiver and survives its restarts.

Used by `import` and `generate`: every batch carries an Idempotency-Key, so retrying after a
connection error or a 5xx can never store a batch twice.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from server.records import Record, iso

RETRYABLE = {429, 500, 502, 503, 504}


class SendError(RuntimeError):
    """The receiver refused a batch for good (4xx), or stayed unreachable too long."""


def records_json(records: Sequence[Record]) -> bytes:
    return json.dumps(
        [{"timestamp": iso(r.ts), "status": r.status, "count": r.count} for r in records],
        separators=(",", ":"),
    ).encode()


class Sender:
    """Keep-alive HTTP/1.1 connection to one receiver, with retry and backoff."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        give_up_after: float = 300.0,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._give_up_after = give_up_after
        self._on_retry = on_retry
        self.replayed = False  # whether the last answer replayed an earlier one
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post_records(self, records: Sequence[Record], key: str) -> dict[str, Any]:
        """POST one batch; retried until stored (the same key makes retries safe)."""
        return self.request("POST", "/api/v1/transactions", records_json(records), key=key)

    def request(
        self, method: str, path: str, body: bytes | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        headers = dict(self._headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + self._give_up_after
        attempt = 0
        while True:
            attempt += 1
            try:
                conn = self._connection()
                conn.request(method, self._base + path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                code = answer.status
                retry_after = answer.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                problem, wait_hint = f"connection problem: {exc.__class__.__name__}", None
            else:
                if 200 <= code < 300:
                    self.replayed = answer.getheader("Idempotent-Replayed") == "true"
                    return json.loads(data) if data else {}
                message = _error_text(data) or f"HTTP {code}"
                if code not in RETRYABLE:
                    raise SendError(f"receiver answered {code}: {message}")
                problem = f"receiver answered {code}: {message}"
                wait_hint = float(retry_after) if retry_after and retry_after.isdigit() else None
            delay = min(30.0, 0.25 * 2 ** min(attempt, 7)) * random.uniform(0.5, 1.0)
            delay = max(delay, wait_hint or 0.0)
            if time.monotonic() + delay > deadline:
                raise SendError(f"gave up after {attempt} attempts: {problem}")
            if self._on_retry is not None:
                self._on_retry(problem, delay)
            time.sleep(delay)


def _error_text(data: bytes) -> str | None:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc.get("error") if isinstance(doc, dict) else None
