"""What every channel shares: the rendered `Message`, the `Outcome` of one attempt, the
`Channel` protocol, and redaction. It names no channel: the factory is `build.py`.

A channel delivers one rendered `Message` to one destination and classifies what happened as
an `Outcome` (sent, retry later, or failed for good). Channels never raise and never put a
secret (token, password, webhook URL path) in an error text.
"""

from __future__ import annotations

from collections.abc import Sequence
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
