"""What every channel shares: the rendered `Message`, the `Outcome` of one attempt, the
`Channel` protocol, and redaction. It names no channel: the factory is `build.py`.

A channel delivers one rendered `Message` to one destination and classifies what happened as
an `Outcome` (sent, retry later, or failed for good). Channels never raise and never put a
secret (token, password, webhook URL path) in an error text.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """One rendered notification: subject line, plain text, email HTML and webhook payload.

    `text` does not repeat the subject; each channel puts the subject where it belongs.
    `key` optionally identifies the delivery (e.g. outbox row) so peers can de-duplicate.
    """

    subject: str
    text: str
    html: str
    payload: dict[str, Any]
    test: bool = False
    key: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to; `error` is safe to store and show."""

    state: Literal["sent", "retry", "failed"]
    error: str | None = None
    retry_after: float | None = None

    @classmethod
    def sent(cls, note: str | None = None) -> Outcome:
        """Delivered (a note may still say e.g. which recipients were refused)."""
        return cls("sent", note, None)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None) -> Outcome:
        """Not delivered this time; worth trying again (after `retry_after` seconds if given)."""
        return cls("retry", error, retry_after)

    @classmethod
    def failed(cls, error: str) -> Outcome:
        """Not delivered and retrying will not help until someone changes something."""
        return cls("failed", error, None)


@runtime_checkable
class Channel(Protocol):
    """One destination. `send` never raises; `min_interval` is the pause between two sends."""

    name: str
    min_interval: float

    def send(self, message: Message) -> Outcome:
        """Deliver one message and classify the result."""
        ...


def redact(text: str, secrets: Sequence[str | None], mark: str = "<redacted>") -> str:
    """`text` with every occurrence of each non-empty secret replaced by `mark`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mark)
    return text


def network_outcome(reason: object, peer: str) -> Outcome:
    """What a failure below the protocol means for any channel: timeouts, refused or broken
    connections and unresolvable names retry; an untrusted TLS certificate fails for good."""
    if isinstance(reason, ssl.SSLCertVerificationError):
        return Outcome.failed(f"TLS certificate of {peer} not trusted: {reason.verify_message}")
    if isinstance(reason, socket.gaierror):
        return Outcome.retry(f"cannot resolve {peer}: {reason.strerror or reason}")
    if isinstance(reason, TimeoutError):
        return Outcome.retry(f"timed out waiting for {peer}")
    if isinstance(reason, ConnectionRefusedError):
        return Outcome.retry(f"connection to {peer} refused")
    if isinstance(reason, http.client.HTTPException):
        return Outcome.retry(f"connection to {peer} broke: {type(reason).__name__} {reason}")
    if isinstance(reason, OSError):
        detail = reason.strerror or str(reason) or type(reason).__name__
        return Outcome.retry(f"network error with {peer}: {detail}")
    return Outcome.retry(f"network error with {peer}: {reason}")


def guarded_send(
    attempt: Callable[[], Outcome], secrets: Sequence[str | None], mark: str = "<redacted>"
) -> Outcome:
    """Run one delivery attempt so nothing escapes a channel: a surprise becomes a failed
    Outcome, and no secret survives in the error text (tokens, passwords, URL paths)."""
    try:
        outcome = attempt()
    except Exception as exc:
        outcome = Outcome.failed(f"internal error: {type(exc).__name__}: {exc}")
    if outcome.error:
        kept = [s for s in secrets if s and s != "/"]
        outcome = Outcome(outcome.state, redact(outcome.error, kept, mark), outcome.retry_after)
    return outcome
