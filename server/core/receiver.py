"""The receiver's operations, independent of HTTP: ingest, the writer's housekeeping, health.

`Receiver` owns the store, the writer thread, the engine and the read connections; its reads
live in `reads.Queries` and its operator actions in `actions.Actions`. The HTTP layer only
decodes requests into calls on it and encodes the answers.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from server import store
from server.config import Config, ConfigError
from server.config.location import redact
from server.core.actions import Actions
from server.core.answers import IngestResult, alerts_touched, ingest_answer
from server.core.detector import changed_alerts, restore_book, warm_from_rollup
from server.core.group import Group, RowBook
from server.core.metrics import Metrics, RateMeter, register_gauges
from server.core.reads import Queries
from server.detect.config import DetectConfig
from server.detect.engine import Engine, Judged
from server.detect.lifecycle import Alert, AlertEvent
from server.errors import (
    DatabaseUnreachable,
    IdempotencyConflict,
    NotFound,
    Refused,
    StorageFailing,
    TooManyStatuses,
)
from server.notify.build import build_channels
from server.notify.degraded import DegradedNotice
from server.notify.outbox import Notifier
from server.notify.policy import queue_for_events, queue_reminders
from server.records import Record, iso
from server.store.writer import Writer

log = logging.getLogger("txmon.service")

MINUTE = 60
TICK_SECONDS = 5
# A stream whose newest event time trails the wall clock by more than this is a replay of
# history: idle wall-clock time then says nothing about missing data.
REPLAY_LAG_SECONDS = 3600


def _check_claim(claim_seconds: float, channels: list[Any]) -> None:
    """ConfigError unless a claim outlasts two of the slowest channel's timeouts: a send
    still under way must not lose its claim and be repeated by another receiver."""
    slowest = max((float(getattr(c, "timeout", 0.0)) for c in channels), default=0.0)
    if claim_seconds <= 2 * slowest:
        raise ConfigError(
            f"claim_seconds ({claim_seconds:g}) must be more than twice the slowest channel "
            f"timeout ({slowest:g} s), so a send under way keeps its claim"
        )


class Receiver(Queries, Actions):
    """Opens (and migrates) the database, runs the writer, and answers API calls."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.started_at = time.time()
        try:
            self.detect_config = DetectConfig.from_mapping(dict(config.detect))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            channels = build_channels(config.notify)
        except ValueError as exc:
            raise ConfigError(f"[notify] {exc}") from None
        self.location = config.location
        self.store_kind = self.location.kind
        if self.store_kind == "postgresql":
            # A receiver stopped mid-transaction loses it after half a lease, so its row
            # locks (the lease's, the rollup's) never block the others' takeover or ingest.
            self.location = dataclasses.replace(
                self.location, idle_in_transaction=config.lease_ttl_seconds / 2
            )
        # PostgreSQL: several receivers insert at once, so ids come from a shared sequence.
        self._shared_ids = self.store_kind == "postgresql"
        self._conn = store.open_store(self.location, synchronous=config.synchronous)
        self.schema_version = store.migrate(self._conn)
        self._warn_of_future_records()
        self._statuses = store.distinct_statuses(self._conn)
        # The engine is only touched under this lock: by the writer thread for changes, by
        # API threads for baselines and profiles.
        self._engine_lock = threading.Lock()
        self._engine_dirty = False
        self._saved: dict[int, Alert] = {}
        # PostgreSQL: one of a group of receivers; the lease holder's detector judges the
        # shared rollup, and this receiver's engine is that detector's (core/group.py).
        self.group: Group | None = None
        if self.store_kind == "postgresql":
            _check_claim(config.claim_seconds, channels)
            self.group = Group(
                config,
                self.location,
                self.detect_config,
                self._persist,
                self.horizon,
                chores=self._chores,
            )
            self._engine = Engine(self.detect_config)
        else:
            self.engine = self._build_engine(self._conn)
        # The warmed baselines live as long as the process: keep them out of the cyclic
        # GC's full collections, whose pauses would otherwise show in ingest latency.
        gc.freeze()
        self._next_tick = 0.0
        self.tick_seconds = TICK_SECONDS
        self._watermark: int | None = self.engine.watermark
        self._watermark_wall = time.time()
        self.readers = store.open_readers(self.location, size=config.read_connections)
        self.rate = RateMeter()
        self.metrics = Metrics()
        register_gauges(self.metrics, self._read, self.rate, self.horizon)
        self.metrics.add_gauge(
            "txmon_leader",
            "1 while this receiver runs the alert lifecycle (the lease holder; always on SQLite).",
            (),
            lambda: [((), 1.0 if self.role == "leader" else 0.0)],
        )
        self.metrics.add_gauge(
            "txmon_store_info",
            "The store this receiver uses (label store: sqlite or postgresql); always 1.",
            ("store",),
            lambda: [((self.store_kind,), 1.0)],
        )
        self.metrics.add_gauge(
            "txmon_lease_term",
            "The detector lease's term this receiver holds or last saw (0 on SQLite).",
            (),
            lambda: [((), float(self.term))],
        )
        self._next_cleanup = 0.0
        # Writer-thread state: the id the next stored record gets, records staged for COMMIT.
        self._next_id = 0 if self._shared_ids else store.next_record_id(self._conn)
        self._stale = False  # writer state to re-read before the next write (after a failure)
        self._pending = store.PendingRecords()
        self.writer = Writer(
            self._conn,
            max_batch=config.writer_batch,
            idle=self._housekeeping,
            before_commit=self._pending.flush,
            on_commit_failure=self._on_commit_failure,
            refusals=(Refused, NotFound),
        )
        self.notifier = Notifier(
            channels,
            config.notify,
            self.writer,
            self.readers.connection,
            claim_as=self.group.holder if self.group else None,
            claim_seconds=config.claim_seconds,
        )
        self.degraded = DegradedNotice(
            channels,
            config.notify.degraded_interval,
            receiver=self.group.holder if self.group else socket.gethostname(),
        )
        self.writer.start()
        self.notifier.start()
        if self.group is not None:
            self.group.on_unreachable = self.degraded.note
            self.group.start()

    @property
    def engine(self) -> Engine:
        """The detection engine: this receiver's own, or in a group the shared detector's."""
        if self.group is not None and self.group.detector.engine is not None:
            return self.group.detector.engine
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def _baseline_lock(self) -> threading.Lock:
        """The lock to hold while reading the engine's baselines (never around SQL)."""
        return self.group.detector.lock if self.group is not None else self._engine_lock

    @property
    def role(self) -> str:
        """'leader' when this receiver runs the alert lifecycle (always, on SQLite)."""
        return self.group.role if self.group is not None else "leader"

    @property
    def term(self) -> int:
        """The lease term (0 on SQLite, which has no lease)."""
        return self.group.term if self.group is not None else 0

    def _warn_of_future_records(self) -> None:
        """Records stamped ahead of the clock (stored before they were refused) stay in the
        database, but detection and the window views start from the newest minute that is
        not in the future, so a skewed sender cannot blind detection across restarts."""
        count, newest = store.future_records(self._conn, self.horizon())
        if count:
            log.warning(
                '{"event":"future_records","records":%d,"newest":"%s","detail":"ignored by '
                'detection and /series until the clock reaches them; see docs/api.md"}',
                count,
                iso(newest) if newest is not None else "",
            )

    def _build_engine(self, conn: sqlite3.Connection) -> Engine:
        """Detection state from the store: baselines from the rollup, open alerts, silences."""
        # The history is replayed first (`Engine.warm`, with alerts of its own), then the
        # store's alerts restored: restoring re-points what the replay held for its alerts.
        engine = Engine(self.detect_config)
        newest = store.newest_minute(conn, self.horizon())
        if newest is not None:
            first = newest - self.detect_config.season_days * 86_400
            warm_from_rollup(engine, conn, first, newest)
        restore_book(engine, conn, int(time.time()))
        return engine

    def _persist(self, conn: sqlite3.Connection, events: list[AlertEvent], now: int) -> None:
        """Store lifecycle events and queue the notifications they call for (same txn)."""
        event_ids = store.save_events(conn, events, now)
        if self.notifier.channels:
            channels = list(self.notifier.channels)
            queue_for_events(conn, events, event_ids, channels, self.config.notify, now)

    def _engine_for_write(self, conn: sqlite3.Connection) -> Engine:
        """The engine, rebuilt first if an earlier failure left it ahead of the database.

        In a group, operator actions act on the stored rows instead (RowBook); the leader
        takes them into its engine at its next step."""
        if self.group is not None:
            return RowBook(conn, self.detect_config, int(time.time()))  # type: ignore[return-value]
        if self._engine_dirty:
            self.engine = self._build_engine(conn)
            self._engine_dirty = False
        return self.engine

    def close(self) -> None:
        """Hand the lease over (in a group), commit what is queued, close every connection."""
        if self.group is not None:
            self.group.close()
        self.notifier.close()
        self.writer.close()
        self.readers.close()
        self._conn.close()

    # --- writes ----------------------------------------------------------------------------

    def ingest(
        self, records: list[Record], *, idempotency_key: str | None = None, body: bytes = b""
    ) -> IngestResult:
        """Store records atomically (after judging them) and return the 201 answer."""
        body_hash = hashlib.sha256(body).hexdigest() if idempotency_key else ""
        now = int(time.time())

        def work(conn: sqlite3.Connection) -> tuple[IngestResult, int, list[Judged]]:
            if idempotency_key is not None:
                seen = store.idempotent_answer(conn, idempotency_key)
                if seen is not None:
                    if seen[0] != body_hash:
                        raise IdempotencyConflict(
                            "this Idempotency-Key was already used with a different body"
                        )
                    return IngestResult(seen[1], seen[2].encode(), [], replayed=True), 0, []
            if self._stale:
                self._reload_writer_state(conn)
            new_statuses = {r.status for r in records} - self._statuses
            if new_statuses:
                self._check_status_cap(new_statuses)
            if self.group is not None:  # judged on the shared totals; the leader alerts
                started = time.perf_counter()
                judged = self.group.detector.verdicts(records)
                self.metrics.detect_time.observe((time.perf_counter() - started) / len(records))
                watermark, changed = None, []
            else:
                with self._engine_lock:
                    engine = self._engine_for_write(conn)
                    self._engine_dirty = True  # until everything below has succeeded
                    started = time.perf_counter()
                    judged = [engine.ingest(r) for r in records]
                    self.metrics.detect_time.observe((time.perf_counter() - started) / len(records))
                    watermark = engine.watermark
                    changed = changed_alerts(self._saved, engine)
            events = [e for j in judged for e in j.events]
            if self._shared_ids:
                first_id = store.reserve_record_ids(conn, len(records))
            else:
                first_id = self._next_id
            if events:
                self._persist(conn, events, now)
            for alert in changed:
                store.save_alert(conn, alert, now)
            alerts = alerts_touched(events)
            body = b""
            if idempotency_key is not None:
                body = ingest_answer(first_id, records, judged, alerts)
                store.remember_answer(conn, idempotency_key, body_hash, 201, body.decode(), now)
            # Last, so a failure above leaves the writer's state as it was.
            self._pending.add(first_id, records, judged, now)
            self._statuses |= new_statuses
            self._next_id += len(records)
            self._count(records)  # writer thread only: its counters need no lock
            self._engine_dirty = False
            if watermark is not None and watermark != self._watermark:
                self._watermark, self._watermark_wall = watermark, time.time()
            return IngestResult(201, body, alerts), first_id, judged

        result, first_id, judged = self._write(work, weight=len(records))
        if not result.body:  # built here, outside the writer, when nothing had to store it
            result.body = ingest_answer(first_id, records, judged, result.alerts)
        if not result.replayed:
            self.rate.add(len(records))
            if self.group is not None:
                self.group.wake()
            if result.alerts:
                self.notifier.wake()
        return result

    def _check_status_cap(self, new: set[str]) -> None:
        """TooManyStatuses when `new` would take the store past `max_statuses`."""
        cap = self.config.max_statuses
        if len(self._statuses) + len(new) > cap:
            first = sorted(new)[0]
            raise TooManyStatuses(
                f"status {first!r} would be distinct status number {len(self._statuses) + 1} "
                f"(this request adds {len(new)}); the receiver keeps at most {cap} "
                "(setting max_statuses, TXMON_MAX_STATUSES); nothing was stored"
            )

    def _write(self, work: Callable[[sqlite3.Connection], Any], weight: int = 1) -> Any:
        """Run `work` in the writer and wait for its commit; a failed commit (disk full, I/O
        error) becomes StorageFailing, which the API answers with 503 and Retry-After."""
        try:
            return self.writer.call(work, weight)
        except DatabaseUnreachable as exc:
            log.warning("a commit failed: %s", exc)
            self.degraded.note(str(exc))
            raise DatabaseUnreachable(
                "the database is unreachable (see /healthz); nothing was stored, retry"
            ) from None
        except store.database_errors() as exc:
            log.warning("a commit failed: %s: %s", type(exc).__name__, exc)
            raise StorageFailing(
                "storage is failing (see /healthz); nothing was stored, retry"
            ) from None

    def _on_commit_failure(self, exc: BaseException) -> None:
        """Nothing of the batch is stored: re-read the writer state from the database."""
        self._pending.clear()
        self._engine_dirty = True
        self._saved.clear()
        try:
            self._reload_writer_state(self._conn)
        except store.database_errors():  # the database is down: re-read before the next write
            self._stale = True

    def _reload_writer_state(self, conn: sqlite3.Connection) -> None:
        """The next record id (SQLite) and the statuses stored, as the database has them."""
        if not self._shared_ids:
            self._next_id = store.next_record_id(conn)
        self._statuses = store.distinct_statuses(conn)
        self._stale = False

    def event_clock(self, wall: float | None = None) -> int:
        """Event time now: the newest event minute plus the wall time since it arrived.

        Live, this tracks the wall clock; during a replay of history (newest event far behind
        the wall clock) it stays at the watermark, so idle time never reads as missing data.
        """
        wall = time.time() if wall is None else wall
        if self._watermark is None:
            return int(wall)
        if self._watermark_wall - self._watermark > REPLAY_LAG_SECONDS:
            return self._watermark
        return int(self._watermark + (wall - self._watermark_wall))

    def _tick(self, conn: sqlite3.Connection) -> None:
        if self.group is not None:
            return  # the leader's detector runs the timers and reminders (`_chores`)
        now = int(time.time())
        with self._engine_lock:
            engine = self._engine_for_write(conn)
            events = engine.tick(now, self.event_clock())
        if events:
            self._persist(conn, events, now)
        if self.notifier.channels:
            queue_reminders(conn, list(self.notifier.channels), self.config.notify, now)

    def _chores(self, conn: Any, now: int) -> None:
        """A group leader's share of the writer's tick, in its fenced step: reminders."""
        if self.notifier.channels:
            queue_reminders(conn, list(self.notifier.channels), self.config.notify, now)

    def _count(self, records: list[Record]) -> None:
        per_status: dict[str, list[int]] = {}
        for r in records:
            slot = per_status.setdefault(r.status, [0, 0])
            slot[0] += 1
            slot[1] += r.count
        for status, (n, total) in per_status.items():
            self.metrics.records.inc(n, status)
            self.metrics.transactions.inc(total, status)

    def _housekeeping(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        if now >= self._next_tick:
            self._next_tick = now + self.tick_seconds
            self._tick(conn)
        if now >= self._next_cleanup:
            self._next_cleanup = now + 600
            store.forget_answers_before(conn, int(now) - self.config.idempotency_hours * 3600)

    # --- notifications ------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, document): the DB answers a read, the writer runs and commits succeed."""
        from server import __version__

        db = "ok"
        problem = None
        try:
            self._read(store.probe)
        except DatabaseUnreachable as exc:
            db, problem = "unreachable", str(exc)
            self.degraded.note(problem)
        except (*store.database_errors(), TimeoutError):
            db = "error"
        failing = self.writer.failing
        if db == "ok" and failing is not None:
            db = "write failing"
        healthy = db == "ok" and self.writer.alive
        document = {
            "status": "ok" if healthy else "unavailable",
            "db": db,
            "writer": "ok" if self.writer.alive else "stopped",
            "store": self.store_kind,
            "role": self.role,
            "term": self.term,
            "version": __version__,
            "schema_version": self.schema_version,
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }
        if failing is not None or problem is not None:
            document["db_error"] = redact(problem or failing or "")
        return healthy, document
