"""Webhook channel: POST the message's JSON payload, optionally signed with HMAC-SHA256.

The body carries a top-level `text` (so Slack-style incoming webhooks show the alert) and
`sent_at`; with a secret, `X-Txmon-Signature: sha256=<hex>` is the HMAC of the exact body bytes.
Webhook URLs often embed a credential, so error texts name the host only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from server import __version__
from server.notify.base import Message, Outcome, guarded_send
from server.notify.http import answer_snippet, http_opener, http_post, parse_retry_after


def sign(secret: str, body: bytes) -> str:
    """The `X-Txmon-Signature` value for a body: `sha256=<hex HMAC-SHA256>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether a received `X-Txmon-Signature` matches the body (constant-time compare)."""
    return hmac.compare_digest(sign(secret, body), signature.strip())


class WebhookChannel:
    """POST each message as JSON to one URL."""

    min_interval = 0.0

    def __init__(self, url: str, secret: str | None = None, timeout: float = 10.0) -> None:
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("webhook_url must be an http(s) URL")
        self.name = "webhook"
        self._url = url
        self._secret = secret
        self.timeout = timeout
        self.host = parts.hostname
        self._opener = http_opener(url)

    def __repr__(self) -> str:
        return f"WebhookChannel(host={self.host!r}, signed={bool(self._secret)})"

    def encode(self, message: Message, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The exact body bytes and headers of the POST for a message."""
        sent_at = int(time.time() if now is None else now)
        payload = dict(message.payload)
        payload.setdefault("text", f"{message.subject}\n{message.text}")
        payload.setdefault("test", message.test)
        payload["sent_at"] = sent_at
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"txmon/{__version__}",
            "X-Txmon-Timestamp": str(sent_at),
        }
        event = payload.get("event")
        if isinstance(event, str) and event.isprintable():
            headers["X-Txmon-Event"] = event
        if message.key and message.key.isprintable():
            headers["X-Txmon-Delivery"] = message.key
            headers["Idempotency-Key"] = message.key  # the same on every attempt, any receiver
        if self._secret:
            headers["X-Txmon-Signature"] = sign(self._secret, body)
        return body, headers

    def send(self, message: Message) -> Outcome:
        """POST and classify: 2xx sent; 408, 429, 5xx and network errors retry; other 4xx fail."""
        secrets = [self._url, urlsplit(self._url).path, self._secret]
        return guarded_send(lambda: self._send(message), secrets)

    def _send(self, message: Message) -> Outcome:
        body, headers = self.encode(message)
        peer = f"webhook {self.host}"
        answer = http_post(self._opener, self._url, body, headers, self.timeout, peer)
        if isinstance(answer, Outcome):
            return answer
        status, raw, answer_headers = answer
        return classify(status, raw, answer_headers, peer)


def classify(status: int, raw: bytes, headers: Mapping[str, str], peer: str) -> Outcome:
    """Map an HTTP answer from a webhook receiver to an Outcome."""
    if 200 <= status < 300:
        return Outcome.sent()
    text = f"{peer} answered HTTP {status}" + (f": {answer_snippet(raw)}" if raw else "")
    if status in (408, 425, 429) or status >= 500:
        return Outcome.retry(text, parse_retry_after(headers.get("Retry-After")))
    if 300 <= status < 400:
        return Outcome.failed(f"{peer} answered HTTP {status} (redirects are not followed)")
    return Outcome.failed(text)
