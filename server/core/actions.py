"""Operator actions on alerts and silences, and test-fire: each runs in the writer and
persists the lifecycle events it causes in the same transaction.

A mixin of `Receiver`, which provides the writer call, the engine and persistence.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from server import store
from server.core.answers import alert_json, silence_json
from server.detect.engine import Engine
from server.detect.lifecycle import ACKNOWLEDGED, RESOLVED, AlertEvent, Silence
from server.errors import (
    AlertConflict,
    AlertNotFound,
    ChannelNotFound,
    NoChannels,
    SilenceNotFound,
)
from server.notify.base import Channel, Outcome
from server.notify.render import render_test

if TYPE_CHECKING:
    from server.notify.outbox import Notifier


class Actions:
    """Acknowledge, silence, test-fire. `Receiver` provides the writer call (`_write`), the
    engine (`_engine_for_write`), persistence (`_persist`), `_read` and `event_clock`."""

    notifier: Notifier
    _engine_lock: threading.Lock

    def _operate(self, change: Callable[[Engine, int], list[AlertEvent]]) -> list[AlertEvent]:
        """Run an operator action on the engine in the writer and persist its events."""
        now = int(time.time())

        def work(conn: sqlite3.Connection) -> list[AlertEvent]:
            with self._engine_lock:
                events = change(self._engine_for_write(conn), now)
            if events:
                self._persist(conn, events, now)
            return events

        result: list[AlertEvent] = self._write(work)
        self.notifier.wake()
        return result

    def ack(self, alert_id: int, by: str, note: str | None) -> dict[str, Any]:
        """Acknowledge; AlertNotFound (404) or AlertConflict (409: resolved, or already)."""
        self._check_open(alert_id)

        def change(engine: Engine, now: int) -> list[AlertEvent]:
            current = engine.alert(alert_id)
            if current.state == ACKNOWLEDGED:
                raise AlertConflict(
                    f"alert {alert_id} is already acknowledged by {current.acknowledged_by}"
                )
            return engine.ack(alert_id, by, note, now)

        events = self._operate(change)
        return alert_json(events[-1].alert)

    def unack(self, alert_id: int) -> dict[str, Any]:
        """Undo an acknowledgement; AlertConflict when the alert is not acknowledged."""
        self._check_open(alert_id)
        events = self._operate(lambda engine, now: engine.unack(alert_id, now))
        return alert_json(events[-1].alert)

    def _check_open(self, alert_id: int) -> None:
        """The store's word on alerts the engine no longer holds (old or resolved)."""
        found = self._read(store.get_alert, alert_id)
        if found is None:
            raise AlertNotFound(f"no alert with id {alert_id}")
        if found.state == RESOLVED:
            raise AlertConflict(f"alert {alert_id} is resolved; nothing to acknowledge")

    def add_silence(self, status: str | None, minutes: int, by: str, reason: str) -> dict[str, Any]:
        now = int(time.time())

        def work(conn: sqlite3.Connection) -> Silence:
            with self._engine_lock:
                engine = self._engine_for_write(conn)
                silence = engine.add_silence(status, minutes, by, reason, now)
                changed = [a for a in engine.open_alerts() if a.silenced]
            store.save_silence(conn, silence)
            for alert in changed:
                store.save_alert(conn, alert, now)
            return silence

        silence: Silence = self._write(work)
        return silence_json(silence)

    def remove_silence(self, silence_id: int) -> None:
        """End a silence now; SilenceNotFound when none with this id is in force."""
        now = int(time.time())

        def work(conn: sqlite3.Connection) -> None:
            if store.get_silence(conn, silence_id) is None:
                raise SilenceNotFound(f"no silence in force with id {silence_id}")
            with self._engine_lock:
                engine = self._engine_for_write(conn)
                # Already expired in the engine is fine: the store still closes it.
                with contextlib.suppress(SilenceNotFound):
                    engine.remove_silence(silence_id)
                # Run the timers now, so alerts it covered lose their flag at once.
                events = engine.tick(now, self.event_clock())
            store.remove_silence(conn, silence_id, now)
            if events:
                self._persist(conn, events, now)

        self._write(work)

    def test_fire(self, channel: str | None) -> list[dict[str, Any]]:
        """Send a marked test message now through every channel (or one); each one's result.

        NoChannels when nothing is configured; ChannelNotFound for an unknown channel name.
        """
        channels = self.notifier.channels
        if not channels:
            raise NoChannels(
                "no notification channel is configured: set TXMON_TELEGRAM_TOKEN and "
                "TXMON_TELEGRAM_CHAT_ID, TXMON_SMTP_HOST/EMAIL_FROM/EMAIL_TO, or "
                "TXMON_WEBHOOK_URL (see docs/alerts.md)"
            )
        if channel is not None and channel not in channels:
            raise ChannelNotFound(
                f"no channel named {channel!r}; configured: {', '.join(channels)}"
            )
        targets = [channels[channel]] if channel else list(channels.values())
        now = int(time.time())
        message = render_test(now)

        def attempt(target: Channel) -> Outcome:
            try:
                return target.send(message)
            except Exception as exc:  # report, never crash the request
                return Outcome("failed", f"internal error: {type(exc).__name__}", None)

        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            outcomes = list(pool.map(attempt, targets))
        payload = json.dumps({"type": "test", "at": now}, separators=(",", ":"))

        def work(conn: sqlite3.Connection) -> None:
            for target, outcome in zip(targets, outcomes, strict=True):
                store.record_delivered(
                    conn,
                    kind="test",
                    channel=target.name,
                    state="sent" if outcome.state == "sent" else "failed",
                    error=outcome.error,
                    payload=payload,
                    now=now,
                )

        self._write(work)
        return [
            {
                "channel": target.name,
                "result": "sent" if outcome.state == "sent" else (outcome.error or outcome.state),
                "ok": outcome.state == "sent",
            }
            for target, outcome in zip(targets, outcomes, strict=True)
        ]
