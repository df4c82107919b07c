"""Two receivers delivering from one outbox by claims: every message once, each alert's
messages in order, and after a sender dies mid-send exactly one repeat with the same key."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from server import store
from server.config import NotifyConfig
from server.notify.base import Message, Outcome
from server.notify.outbox import Notifier
from server.notify.policy import event_payload
from server.notify.webhook import WebhookChannel
from server.store.writer import Writer
from tests.conftest import wait_until
from tests.notify.test_channel_webhook import Receiver, receiver_fixture  # noqa: F401
from tests.notify.test_messages import make_event


class Sender:
    """One receiver's delivery side: its own connection, writer and claiming notifier."""

    def __init__(self, path: str, holder: str, channel, claim_seconds: float = 30) -> None:
        self.conn = store.connect(path)
        self.writer = Writer(self.conn)
        self.writer.start()
        self.reads = store.Readers(path, size=2)
        policy = NotifyConfig(group_wait=0)
        self.notifier = Notifier(
            [channel],
            policy,
            self.writer,
            self.reads.connection,
            claim_as=holder,
            claim_seconds=claim_seconds,
        )

    def start(self) -> None:
        self.notifier.start()

    def close(self) -> None:
        self.notifier.close(timeout=1)
        self.writer.close()
        self.reads.close()
        self.conn.close()


def _queue(path: str, alerts: int) -> None:
    conn = store.connect(path)
    store.migrate(conn)
    now = int(time.time())
    for alert_id in range(1, alerts + 1):
        for n, kind in enumerate(("opened", "resolved")):
            event = make_event(kind, id=alert_id, state="resolved" if n else "firing")
            store.enqueue(
                conn,
                alert_id=alert_id,
                event_id=alert_id * 10 + n,
                kind=kind,
                channels=["webhook"],
                payload=event_payload(kind, event.alert, event.detail, event.at),
                now=now,
                due=0,
            )
    conn.close()


def _keys(hook: Receiver) -> list[str]:
    return [r.headers["Idempotency-Key"] for r in hook.received]


def _rows(path: str) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT state, attempts FROM outbox ORDER BY id").fetchall()
    finally:
        conn.close()


def _opened_and_resolved(hook: Receiver) -> list[tuple[str, int]]:
    """(event, alert id) in arrival order, groups of openings unpacked."""
    out = []
    for request in hook.received:
        body = json.loads(request.body)
        if body["event"] == "grouped":
            out += [("opened", e["alert_id"]) for e in body["events"]]
        else:
            out.append((body["event"], body["alert"]["id"]))
    return out


def test_two_receivers_send_every_message_once_and_in_order_per_alert(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = str(tmp_path / "shared.db")
    _queue(path, alerts=15)
    senders = [Sender(path, name, WebhookChannel(receiver.url)) for name in ("a", "b")]
    try:
        for sender in senders:
            sender.start()
        wait_until(lambda: all(state == "sent" for state, _ in _rows(path)), timeout=20)
    finally:
        for sender in senders:
            sender.close()
    assert [attempts for _, attempts in _rows(path)] == [1] * 30
    keys = _keys(receiver)
    assert len(keys) == len(set(keys))
    events = _opened_and_resolved(receiver)
    assert sorted(events) == sorted((k, i) for i in range(1, 16) for k in ("opened", "resolved"))
    for alert_id in range(1, 16):
        assert events.index(("opened", alert_id)) < events.index(("resolved", alert_id))


class DiesAfterSending:
    """A channel whose receiver process stops right after the message left: the send
    happened, its outcome is never recorded (an ambiguous send)."""

    name = "webhook"
    min_interval = 0.0

    def __init__(self, inner: WebhookChannel) -> None:
        self.inner = inner
        self.sent = threading.Event()
        self.wake = threading.Event()

    def send(self, message: Message) -> Outcome:
        self.inner.send(message)
        self.sent.set()
        self.wake.wait(30)  # stopped mid-send (SIGSTOP) until the test wakes it
        return Outcome.sent()


def test_a_send_whose_sender_died_is_repeated_once_with_the_same_key(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = str(tmp_path / "shared.db")
    _queue(path, alerts=1)
    dying = DiesAfterSending(WebhookChannel(receiver.url))
    a = Sender(path, "a", dying, claim_seconds=0.5)
    a.start()
    assert dying.sent.wait(10)
    b = Sender(path, "b", WebhookChannel(receiver.url), claim_seconds=0.5)
    try:
        b.start()
        wait_until(lambda: all(state == "sent" for state, _ in _rows(path)), timeout=20)
        a.notifier.close(timeout=0)
        dying.wake.set()  # it wakes and reports its old send: its claim is gone
        a.notifier.close(timeout=5)
    finally:
        b.close()
        dying.wake.set()
        a.close()
    keys = _keys(receiver)
    # The opening went out, its sender died; after the claim ran out it went once more,
    # with the same key, and only then the resolution.
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]
    assert _opened_and_resolved(receiver) == [("opened", 1), ("opened", 1), ("resolved", 1)]
    assert _rows(path) == [("sent", 2), ("sent", 1)]
