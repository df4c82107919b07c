"""The detector of a group of receivers sharing one database, run by the lease holder.

Every receiver ingests; only the leader judges, and it judges the shared per-minute rollup,
so it sees what every receiver stored. Each step, in one transaction that first checks the
term (`lease.fence`), it feeds the engine what the rollup gained since the last step (as
one record per minute and status), runs the timers, stores the alert transitions with
their outbox rows, and saves a checkpoint: the counts fed for the minutes still open to
late records. A new leader warms the engine from the history before the checkpoint,
replays the checkpoint's counts without emitting (those transitions are committed
already), and goes on from there, so a failover delays a judgement but never skips,
repeats or changes one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from server import store
from server.detect.config import DetectConfig
from server.detect.engine import Engine, Judged
from server.detect.lifecycle import ACKNOWLEDGED, FIRING, RESOLVED, Alert, AlertBook, AlertEvent
from server.records import Record
from server.store import lease

log = logging.getLogger("txmon.detector")

Fed = dict[int, dict[str, int]]


# A stream whose newest minute trails the wall clock by more than this is a replay.
REPLAY_LAG_SECONDS = 3600


def read_checkpoint(conn: Any) -> tuple[int, int | None, Fed] | None:
    """(term, watermark, fed counts) of the last committed detector step, or None."""
    row = conn.execute(
        "SELECT term, watermark, fed FROM detector_checkpoint WHERE name = ?",
        (lease.DETECTOR,),
    ).fetchone()
    if row is None:
        return None
    fed = {int(m): dict(counts) for m, counts in json.loads(row[2]).items()}
    return int(row[0]), row[1], fed


def write_checkpoint(conn: Any, term: int, watermark: int | None, fed: str) -> None:
    """Store the detector's position (the JSON of its fed counts) in its transaction."""
    conn.execute(
        "INSERT INTO detector_checkpoint (name, term, watermark, fed) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET term = excluded.term, "
        "watermark = excluded.watermark, fed = excluded.fed",
        (lease.DETECTOR, term, watermark, fed),
    )


def warm_from_rollup(engine: Engine, conn: Any, first: int, last: int) -> None:
    """Teach `engine` the stored per-minute totals from `first` to `last` (no events)."""
    current, totals = None, {}
    for minute, status, count in store.minute_totals_since(conn, first, last):
        if minute != current:
            if totals:
                engine.warm(current, totals)
            current, totals = minute, {}
        totals[status] = count
    if totals:
        engine.warm(current, totals)


def restore_book(engine: Engine, conn: Any, now: int) -> None:
    """Give `engine` a fresh alert book as the store has it (open alerts, the newest resolved
    ones, which say whose after-glow is still `rearming`, and silences)."""
    next_id = store.max_alert_id(conn) + 1
    engine.book = AlertBook(engine.config, next_id)
    engine.restore(
        store.list_alerts(conn, (RESOLVED,), engine.config.resolved_kept)[::-1]
        + store.list_alerts(conn, (FIRING, ACKNOWLEDGED), 100_000),
        store.list_silences(conn, now),
        next_id,
        store.max_silence_id(conn) + 1,
    )


def changed_alerts(saved: dict[int, Alert], engine: Engine) -> list[Alert]:
    """Open alerts whose row differs from what was last saved (last seen, peak...): the
    lifecycle emits events only for changes of state, but a firing alert's last_seen moves
    every minute and its row must follow. `saved` is updated, and kept small."""
    changed = []
    for alert in engine.open_alerts():
        if saved.get(alert.id) != alert:
            copy = dataclasses.replace(alert)
            saved[alert.id] = copy
            changed.append(copy)
    if len(saved) > 1000:
        keep = {a.id for a in engine.open_alerts()}
        for key in [k for k in saved if k not in keep]:
            del saved[key]
    return changed


class SharedDetector:
    """Judges the shared rollup while `term()` says this receiver leads."""

    def __init__(
        self,
        config: DetectConfig,
        transaction: Callable[[], contextlib.AbstractContextManager[Any]],
        holder: str,
        term: Callable[[], int | None],
        persist: Callable[[Any, list[AlertEvent], int], None],
        horizon: Callable[[], int],
        chores: Callable[[Any, int], None] | None = None,
    ) -> None:
        self.config = config
        self._chores = chores
        self._transaction = transaction
        self._holder = holder
        self._term = term
        self._persist = persist
        self._horizon = horizon
        self.engine: Engine | None = None
        self.engine_term: int | None = None
        self._fed: Fed = {}
        self._keep = (config.late_minutes + 1) * config.bucket_seconds
        self._watermark: int | None = None
        self._watermark_wall = 0.0
        self._saved: dict[int, Alert] = {}
        # (bucket, status) -> count this receiver took since the last step (for verdicts).
        self._unfed: dict[tuple[int, str], int] = {}
        # Guards the engine: the detector thread changes it, ingest threads judge with it.
        self.lock = threading.Lock()

    def step(self, now: float | None = None) -> list[AlertEvent]:
        """One round: on the leader, fenced detection whose events are committed (and
        returned); on a follower, the same feed kept as a shadow for verdicts, nothing
        written."""
        wall = time.time() if now is None else now
        term = self._term()
        with self._transaction() as conn:
            stored = None
            if term is not None:
                # Row locks first, the engine's lock after: ingest threads take the engine's
                # lock inside the writer's transactions, so the reverse order could deadlock.
                lease.fence(conn, self._holder, term)
                stored = self._lock_operator_state(conn, int(wall))
            if self.engine is None or (term is not None and self.engine_term != term):
                self._take_over(conn, term)  # builds aside, swaps in under the lock
            engine = self.engine
            assert engine is not None
            # Only this thread changes the engine and `_fed`: read the rollup without holding
            # the lock that ingest threads wait on for their verdicts.
            rows = self._rollup_rows(conn)
            with self.lock:
                if stored is not None:
                    self._sync_operator_state(*stored)
                events = self._feed(rows)
                events += engine.tick(int(wall), self._event_clock(wall))
                self._unfed.clear()
                if term is None:
                    return []
                changed = changed_alerts(self._saved, engine)
                fed = json.dumps(self._fed, separators=(",", ":"))
            if events:
                self._persist(conn, events, int(wall))
            for alert in changed:
                store.save_alert(conn, alert, int(wall))
            if self._chores is not None:
                self._chores(conn, int(wall))
            write_checkpoint(conn, term, engine.watermark, fed)
        return events

    def verdicts(self, records: list[Record]) -> list[Judged]:
        """Each record judged on its bucket's shared total so far (fed by the detector)
        plus what this receiver took since the last step; changes no detection state."""
        b = self.config.bucket_seconds
        out = []
        with self.lock:
            engine = self.engine
            if engine is None:
                return [Judged("normal", 0.0, 0.0, 0.0) for _ in records]
            unfed = self._unfed
            for rec in records:
                key = (rec.ts - rec.ts % b, rec.status)
                seen = unfed.get(key, 0)
                out.append(engine.peek(rec, seen))
                unfed[key] = seen + rec.count
        return out

    @staticmethod
    def _lock_operator_state(conn: Any, now: int) -> tuple[dict[int, Any], list[Any]]:
        """The stored open alerts (locked on PostgreSQL, so an ack elsewhere waits for this
        step) and silences in force."""
        if not lease.is_sqlite(conn):
            conn.execute(
                "SELECT id FROM alerts WHERE state IN (?, ?) FOR UPDATE", (FIRING, ACKNOWLEDGED)
            )
        alerts = {a.id: a for a in store.list_alerts(conn, (FIRING, ACKNOWLEDGED), 100_000)}
        return alerts, store.list_silences(conn, now)

    def _sync_operator_state(self, stored: dict[int, Any], silences: list[Any]) -> None:
        """Acks and silences any receiver stored since the last step, into the engine."""
        engine = self.engine
        assert engine is not None
        for alert in engine.book.by_status.values():
            row = stored.get(alert.id)
            if row is None:
                continue
            if (row.state, row.acknowledged_by, row.ack_note, row.silenced) == (
                alert.state,
                alert.acknowledged_by,
                alert.ack_note,
                alert.silenced,
            ):
                continue
            alert.state = row.state
            alert.acknowledged_by = row.acknowledged_by
            alert.acknowledged_at = row.acknowledged_at
            alert.ack_note = row.ack_note
            alert.silenced = row.silenced
            self._saved[alert.id] = dataclasses.replace(alert)
        engine.book.silences = {s.id: s for s in silences}

    # --- taking over ---------------------------------------------------------------------

    def _take_over(self, conn: Any, term: int | None) -> None:
        """Rebuild the engine as the last leader left it: history warmed, open alerts and
        silences restored, the checkpoint's fed counts replayed without emitting."""
        cfg = self.config
        now = int(time.time())
        # Not restored yet: the history and the fed minutes are replayed as they were lived,
        # through one replay book, so an alert that opened in them holds its build-up (a
        # restored open alert would have kept its minutes from ever being judged).
        engine = Engine(cfg, next_alert_id=store.max_alert_id(conn) + 1)
        checkpoint = read_checkpoint(conn)
        fed: Fed = checkpoint[2] if checkpoint else {}
        newest = store.newest_minute(conn, self._horizon())
        if checkpoint is None:
            # The group's first leader: stored history is baseline, as at a warm start.
            upto = newest
        elif fed:
            upto = min(fed) - cfg.bucket_seconds
        else:
            upto = checkpoint[1]
        if upto is not None:
            warm_from_rollup(engine, conn, upto - cfg.season_days * 86_400, upto)
        for minute in sorted(fed):
            engine.warm(minute, fed[minute])  # committed already: not emitted
        # The replays' own lifecycle is discarded: the store's rows are the truth (and
        # restoring re-points the build-ups the history's replay held for its alerts).
        restore_book(engine, conn, now)
        if checkpoint is None and newest is not None:
            fed = {}
            for minute, status, count in store.minute_totals_since(
                conn, newest - self._keep, newest
            ):
                fed.setdefault(minute, {})[status] = count
        with self.lock:
            self.engine, self.engine_term, self._fed = engine, term, fed
        # Copies, as changed_alerts keeps them: the engine changes its alerts in place.
        self._saved = {a.id: dataclasses.replace(a) for a in engine.open_alerts()}
        log.info(
            '{"event":"detector_resumed","term":%s,"watermark":%s,"minutes_replayed":%d}',
            json.dumps(term),
            json.dumps(engine.watermark),
            len(fed),
        )

    # --- each step -----------------------------------------------------------------------

    def _rollup_rows(self, conn: Any) -> list[tuple[int, str, int]]:
        """The rollup rows that may have gained counts since the last step, in order."""
        engine = self.engine
        assert engine is not None
        first = (engine.watermark or 0) - self._keep
        if self._fed:
            first = min(first, min(self._fed))
        rows = list(store.minute_totals_since(conn, first, self._horizon()))
        rows.sort()
        return rows

    def _feed(self, rows: list[tuple[int, str, int]]) -> list[AlertEvent]:
        """Feed the engine what the rollup gained since the last step, in minute order."""
        engine = self.engine
        assert engine is not None
        events: list[AlertEvent] = []
        for minute, status, count in rows:
            seen = self._fed.setdefault(minute, {})
            delta = count - seen.get(status, 0)
            if delta > 0:
                events += engine.feed(Record(minute, status, delta))  # events, no verdict
                seen[status] = count
        if engine.watermark is not None:
            if engine.watermark != self._watermark:
                self._watermark, self._watermark_wall = engine.watermark, time.time()
            cutoff = engine.watermark - self._keep
            self._fed = {m: c for m, c in self._fed.items() if m >= cutoff}
        return events

    def _event_clock(self, wall: float) -> int:
        """Event time now: the newest minute plus the wall time since it arrived (a replay
        of history stays at its watermark, so idle time never reads as missing data)."""
        if self._watermark is None:
            return int(wall)
        if self._watermark_wall - self._watermark > REPLAY_LAG_SECONDS:
            return self._watermark
        return int(self._watermark + (wall - self._watermark_wall))
