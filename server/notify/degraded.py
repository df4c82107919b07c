"""The "database unreachable" warning each receiver sends straight through its channels.

The outbox cannot carry it (it lives in the unreachable database), so each receiver that
sees the failure sends its own, at most once per `interval`: during an outage of a group's
database every receiver may send one (duplicates accepted for this one message).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from server.notify.base import Channel, Message
from server.notify.render import render_degraded

log = logging.getLogger("txmon.notify")


class DegradedNotice:
    """Sends the warning on a thread of its own, rate-limited; `note()` is cheap to call."""

    def __init__(
        self,
        channels: list[Channel],
        interval: float,
        *,
        receiver: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.channels = channels
        self.interval = interval
        self.receiver = receiver or socket.gethostname()
        self._clock = clock
        self._last = -float("inf")
        self._lock = threading.Lock()
        self.sent = 0

    def note(self, reason: str) -> bool:
        """The database could not be reached; True when a warning goes out for it."""
        if not self.channels:
            return False
        now = self._clock()
        with self._lock:
            if now - self._last < self.interval:
                return False
            self._last = now
            self.sent += 1
        message = render_degraded(int(now), self.receiver, reason)
        threading.Thread(
            target=self._send, args=(message,), name="txmon-degraded", daemon=True
        ).start()
        return True

    def _send(self, message: Message) -> None:
        for channel in self.channels:
            try:
                outcome = channel.send(message)
            except Exception as exc:  # a channel bug must not hide the warning elsewhere
                log.warning('{"event":"degraded_notice","channel":"%s","error":"%s"}',
                            channel.name, type(exc).__name__)  # fmt: skip
                continue
            log.warning(
                '{"event":"degraded_notice","channel":"%s","state":"%s"}',
                channel.name,
                outcome.state,
            )
