"""Delivering the outbox: one thread per channel drains its due notifications.

Alert events are put in the outbox in the same transaction that records them (see
`policy.py`), so nothing queued is lost on a crash. Here each attempt is recorded *before* the
send ("sending"); after a crash such rows are marked "ambiguous" instead of being sent again,
which keeps delivery at most once per (event, channel). A slow or dead channel only delays
its own thread; ingest and the other channels go on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from server import store
from server.config import NotifyConfig
from server.detect.lifecycle import OPENED
from server.notify.base import Channel, Message, Outcome
from server.notify.policy import event_from_payload
from server.notify.render import render, render_group
from server.store import claims
from server.store.writer import Writer

log = logging.getLogger("txmon.notify")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outbox rows one message covers (several when alerts are grouped)."""

    ids: tuple[int, ...]
    message: Message
    attempts: int


class Notifier:
    """Owns one delivery thread per channel; `wake()` after new rows were committed."""

    def __init__(
        self,
        channels: list[Channel],
        policy: NotifyConfig,
        writer: Writer,
        read: Callable[[], AbstractContextManager[Any]],
        *,
        clock: Callable[[], float] = time.time,
        claim_as: str | None = None,
        claim_seconds: float = 60.0,
    ) -> None:
        self.channels = {channel.name: channel for channel in channels}
        # Several receivers deliver from one outbox: rows are claimed for a while by this
        # holder (store/claims.py) instead of being marked once and never retried.
        self.claim_as = claim_as
        self.claim_seconds = claim_seconds
        self.policy = policy
        self._writer = writer
        self._read = read
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._generation = 0
        self._threads = [
            threading.Thread(
                target=self._run, args=(c,), name=f"txmon-notify-{c.name}", daemon=True
            )
            for c in channels
        ]
        self._rng = random.Random()

    def start(self) -> None:
        names = list(self.channels)
        if self.claim_as is None:  # claims that run out are taken again instead
            self._writer.call(lambda conn: _recover(conn, names))
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def close(self, timeout: float = 5) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)

    # --- one channel -----------------------------------------------------------------------

    def _run(self, channel: Channel) -> None:
        last_send = 0.0
        while not self._stop.is_set():
            generation = self._generation
            try:
                deliveries = self._due(channel)
            except Exception:
                log.exception("reading the outbox for %s failed", channel.name)
                deliveries = []
            if not deliveries:
                self._sleep(channel, generation)
                continue
            for delivery in deliveries:
                if self._stop.is_set():
                    return
                pause = last_send + channel.min_interval - self._clock()
                if pause > 0 and self._stop.wait(pause):
                    return
                last_send = self._clock()
                self._deliver(channel, delivery)

    def _sleep(self, channel: Channel, generation: int) -> None:
        try:
            with self._read() as conn:
                due = store.next_due(conn, channel.name, self._clock())
        except Exception:
            due = None
        wait = 1.0 if due is None else max(0.0, min(1.0, due - self._clock()))
        with self._wake:
            if self._generation == generation and not self._stop.is_set():
                self._wake.wait(wait)

    def _due(self, channel: Channel) -> list[Delivery]:
        if self.claim_as is not None:
            holder, seconds = self.claim_as, self.claim_seconds
            rows = self._writer.call(
                lambda conn: claims.claim_due(conn, channel.name, holder, seconds)
            )
            # Claimed rows count their attempt already: the message is built from before it.
            rows = [dataclasses.replace(r, attempts=r.attempts - 1) for r in rows]
            return self._deliveries(
                [r for r in rows if r.kind != OPENED], [r for r in rows if r.kind == OPENED]
            )
        now = self._clock()
        with self._read() as conn:
            rows = store.due_notifications(conn, channel.name, now)
            opened = [r for r in rows if r.kind == OPENED]
            others = [r for r in rows if r.kind != OPENED]
            if opened:
                # The first due opening closes the group: every alert opened since rides along.
                seen = {r.id for r in opened}
                waiting = store.waiting_openings(conn, channel.name)
                opened += [r for r in waiting if r.id not in seen]
        return self._deliveries(others, opened)

    @staticmethod
    def _deliveries(others: list[Any], opened: list[Any]) -> list[Delivery]:
        """One message per row, except that openings go out as one group."""
        deliveries = [
            Delivery((r.id,), render(event_from_payload(r.payload)), r.attempts) for r in others
        ]
        if len(opened) == 1:
            row = opened[0]
            deliveries.append(
                Delivery((row.id,), render(event_from_payload(row.payload)), row.attempts)
            )
        elif opened:
            events = [event_from_payload(r.payload) for r in opened]
            deliveries.append(
                Delivery(
                    tuple(r.id for r in opened),
                    render_group(events),
                    max(r.attempts for r in opened),
                )
            )
        return deliveries

    def _deliver(self, channel: Channel, delivery: Delivery) -> None:
        ids = delivery.ids
        if self.claim_as is None:  # a claimed row was marked when it was claimed
            self._writer.call(lambda conn: store.mark_sending(conn, ids))
        # The same key on every attempt lets receivers drop a duplicate (webhook header,
        # e-mail Message-ID).
        message = dataclasses.replace(delivery.message, key=f"{ids[0]}/{channel.name}")
        try:
            outcome = channel.send(message)
        except Exception as exc:  # a channel bug must not kill its thread
            log.exception("channel %s raised", channel.name)
            outcome = Outcome("retry", f"internal error: {type(exc).__name__}", None)
        now = self._clock()
        attempts = delivery.attempts + 1
        if outcome.state == "sent":
            state, retry_at, error = "sent", None, None
        elif outcome.state == "retry" and attempts < self.policy.max_attempts:
            state, retry_at, error = "pending", now + self.backoff(attempts, outcome), outcome.error
        elif outcome.state == "retry":
            state, retry_at = "failed", None
            error = f"gave up after {attempts} attempts: {outcome.error}"
        else:
            state, retry_at, error = "failed", None, outcome.error
        if state != "sent":
            # One line a log search finds: which rows, which alert, why (errors name no secret).
            line = {
                "event": "notification",
                "channel": channel.name,
                "state": state,
                "attempts": attempts,
                "ids": list(ids),
                "error": error,
            }
            if state == "pending":
                line["retry_in"] = round((retry_at or now) - now, 1)
            log.warning("%s", json.dumps(line))
        if self.claim_as is not None:
            holder = self.claim_as
            self._writer.call(
                lambda conn: claims.finish(
                    conn, ids, holder, state, error=error, now=int(now), retry_at=retry_at
                )
            )
            return
        self._writer.call(
            lambda conn: store.mark_outcome(
                conn, ids, state, error=error, now=int(now), retry_at=retry_at
            )
        )

    def backoff(self, attempts: int, outcome: Outcome) -> float:
        """Exponential backoff with full jitter, never sooner than the peer asked."""
        cap = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempts - 1))
        delay = self._rng.uniform(cap / 2, cap)
        if outcome.retry_after is not None:  # honoured, within reason (a date can be far off)
            delay = max(delay, min(outcome.retry_after, self.policy.backoff_max))
        return delay


def _recover(conn: Any, channels: list[str]) -> None:
    ambiguous = store.mark_in_flight_ambiguous(conn)
    orphaned = store.fail_unknown_channels(conn, channels)
    if ambiguous or orphaned:
        log.warning(
            '{"event":"outbox_recovered","ambiguous":%d,"unconfigured":%d}', ambiguous, orphaned
        )
