"""The direct 'database unreachable' warning: sent through every channel, at most once per
interval, and it names the receiver and the error without anything else of the store."""

from __future__ import annotations

import threading

from server.notify.base import Message, Outcome
from server.notify.degraded import DegradedNotice


class Recording:
    min_interval = 0.0

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[Message] = []
        self.arrived = threading.Semaphore(0)

    def send(self, message: Message) -> Outcome:
        self.messages.append(message)
        self.arrived.release()
        return Outcome.sent()


def test_warning_goes_through_every_channel_once_per_interval() -> None:
    now = [1000.0]
    channels = [Recording("telegram"), Recording("webhook")]
    notice = DegradedNotice(channels, 900, receiver="rx-a", clock=lambda: now[0])
    assert notice.note("PostgreSQL unreachable: connection refused")
    assert not notice.note("PostgreSQL unreachable: connection refused")
    now[0] += 899
    assert not notice.note("still down")
    now[0] += 2
    assert notice.note("still down")
    for channel in channels:
        assert channel.arrived.acquire(timeout=5) and channel.arrived.acquire(timeout=5)
        first = channel.messages[0]
        assert first.subject == "[txmon DEGRADED] txmon degraded: database unreachable"
        assert "rx-a" in first.text and "connection refused" in first.text
        assert first.payload["event"] == "degraded" and not first.test
    assert notice.sent == 2


def test_no_channels_means_nothing_to_send() -> None:
    assert not DegradedNotice([], 900).note("down")
