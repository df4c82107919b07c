"""The receiver's operations, independent of HTTP: ingest, queries and health.

`Receiver` owns the store, the writer thread and the read connections; the HTTP layer only
decodes requests into calls on it and encodes the answers.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import hashlib
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from server import store
from server.config import Config, ConfigError
from server.core.metrics import Metrics
from server.detect.engine import Engine, Judged
from server.detect.lifecycle import Alert, AlertEvent, Silence
from server.detect.stats import DetectConfig
from server.errors import (
    AlertConflict,
    AlertNotFound,
    ChannelNotFound,
    IdempotencyConflict,
    NoChannels,
    NotFound,
    Refused,
    SilenceNotFound,
    StorageFailing,
    TooManyStatuses,
)
from server.notify.base import Channel, Outcome, build_channels
from server.notify.outbox import Notifier, event_payload, wants_notification
from server.notify.render import render_test
from server.records import ISO_TEXT, Record, iso
from server.store import StoredRecord, Verdict
from server.store.writer import Writer

log = logging.getLogger("txmon.service")

MINUTE = 60
TICK_SECONDS = 5
# A stream whose newest event time trails the wall clock by more than this is a replay of
# history: idle wall-clock time then says nothing about missing data.
REPLAY_LAG_SECONDS = 3600


@dataclass(slots=True)
class IngestResult:
    """What a POST of records answers: HTTP code and the JSON body (built once, as bytes)."""

    code: int
    body: bytes
    alerts: list[dict[str, Any]]
    replayed: bool = False

    @property
    def answer(self) -> dict[str, Any]:
        """The body decoded, for in-process callers (import --db, tests)."""
        result: dict[str, Any] = json.loads(self.body)
        return result


def _number(value: float) -> str:
    """Three decimals, as stored; `null` for a value that is not finite."""
    return f"{value:.3f}" if value - value == 0 else "null"


_ANSWER_RECORD = (
    '{"id":%d,"timestamp":"%s","status":"%s","count":%d,'
    '"severity":"%s","score":%.3f,"expected":%.3f,"upper":%.3f}'
)
# What "%.3f" makes of an infinite or NaN verdict number; never valid JSON. The slow path then
# formats those numbers itself, as `null` where they are not finite.
_NOT_FINITE = (":nan", ":inf", ":-inf")
_ANSWER_RECORD_CHECKED = _ANSWER_RECORD.replace("%.3f", "%s")


def ingest_answer(
    first_id: int,
    records: Sequence[Record],
    verdicts: Sequence[Verdict],
    alerts: list[dict[str, Any]],
) -> bytes:
    """The 201 body. Written by hand rather than json.dumps: with thousands of records per
    request it is the second-largest cost of ingest, and every field is already safe (ids and
    counts are ints, statuses match [a-z0-9_]+, ISO times and severities are fixed forms)."""
    if len(records) != len(verdicts):
        raise ValueError(f"{len(records)} records but {len(verdicts)} verdicts")
    isos = ISO_TEXT
    fmt = _ANSWER_RECORD
    text = ",".join(
        [
            fmt
            % (i, isos.get(r[0]) or iso(r[0]), r[1], r[2], v.severity, v.score, v.expected, v.upper)
            for i, r, v in zip(itertools.count(first_id), records, verdicts)
        ]
    )
    if any(bad in text for bad in _NOT_FINITE):  # rare: redo with `null` for those numbers
        checked = _ANSWER_RECORD_CHECKED
        text = ",".join(
            checked
            % (i, iso(r[0]), r[1], r[2], v.severity, *map(_number, (v.score, v.expected, v.upper)))
            for i, r, v in zip(itertools.count(first_id), records, verdicts)
        )
    alerts_json = json.dumps(alerts, separators=(",", ":"))
    return f'{{"accepted":{len(records)},"records":[{text}],"alerts":{alerts_json}}}'.encode()


def record_json(rec: StoredRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "timestamp": iso(rec.ts),
        "status": rec.status,
        "count": rec.count,
        "severity": rec.severity,
        "score": rec.score,
        "expected": rec.expected,
        "upper": rec.upper,
    }


def _iso_or_none(epoch: int | None) -> str | None:
    return None if epoch is None else iso(epoch)


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as the API shows it: times as ISO 8601 UTC."""
    doc = alert.as_dict()
    for name in ("first_seen", "last_seen", "acknowledged_at", "resolved_at"):
        doc[name] = _iso_or_none(doc[name])  # type: ignore[arg-type]
    doc["peak_score"] = round(alert.peak_score, 3)
    doc["expected"] = round(alert.expected, 3)
    return doc


def silence_json(silence: Silence) -> dict[str, Any]:
    doc = silence.as_dict()
    doc["created_at"] = iso(silence.created_at)
    doc["expires_at"] = iso(silence.expires_at)
    return doc


class _RateMeter:
    """Records ingested per second over the last minute of wall-clock time."""

    def __init__(self, window: int = 60) -> None:
        self._window = window
        self._buckets: collections.deque[list[int]] = collections.deque()
        self._lock = threading.Lock()

    def add(self, n: int, now: float | None = None) -> None:
        second = int(now if now is not None else time.time())
        with self._lock:
            if self._buckets and self._buckets[-1][0] == second:
                self._buckets[-1][1] += n
            else:
                self._buckets.append([second, n])
            self._trim(second)

    def rate(self, now: float | None = None) -> float:
        second = int(now if now is not None else time.time())
        with self._lock:
            self._trim(second)
            return sum(n for _, n in self._buckets) / self._window

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self._window:
            self._buckets.popleft()


class Receiver:
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
        self._conn = store.connect(config.db, synchronous=config.synchronous)
        self.schema_version = store.migrate(self._conn)
        self._warn_of_future_records()
        self._statuses = store.distinct_statuses(self._conn)
        # The engine is only touched under this lock: by the writer thread for changes, by
        # API threads for baselines and profiles.
        self._engine_lock = threading.Lock()
        self._engine_dirty = False
        self._saved: dict[int, Alert] = {}
        self.engine = self._build_engine(self._conn)
        # The warmed baselines live as long as the process: keep them out of the cyclic
        # GC's full collections, whose pauses would otherwise show in ingest latency.
        gc.freeze()
        self._next_tick = 0.0
        self.tick_seconds = TICK_SECONDS
        self._watermark: int | None = self.engine.watermark
        self._watermark_wall = time.time()
        self.readers = store.Readers(config.db, size=config.read_connections)
        self.rate = _RateMeter()
        self.metrics = Metrics()
        self._register_gauges()
        self._next_cleanup = 0.0
        # Writer-thread state: the id the next stored record gets, records staged for COMMIT.
        self._next_id = store.next_record_id(self._conn)
        self._pending = store.PendingRecords()
        self.writer = Writer(
            self._conn,
            max_batch=config.writer_batch,
            idle=self._housekeeping,
            before_commit=self._pending.flush,
            on_commit_failure=self._on_commit_failure,
            refusals=(Refused, NotFound),
        )
        self.notifier = Notifier(channels, config.notify, self.writer, self.readers.connection)
        self.writer.start()
        self.notifier.start()

    def horizon(self, now: float | None = None) -> int:
        """The latest event time accepted now: the clock plus `max_future_minutes`."""
        return int(time.time() if now is None else now) + self.config.max_future_minutes * 60

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
        engine = Engine(self.detect_config, next_alert_id=store.max_alert_id(conn) + 1)
        # Open alerts first: their incident minutes then stay out of the rebuilt baselines.
        engine.restore(
            store.list_alerts(conn, ("firing", "acknowledged"), 100_000),
            store.list_silences(conn, int(time.time())),
            store.max_alert_id(conn) + 1,
        )
        engine.book.next_silence_id = max(
            engine.book.next_silence_id, store.max_silence_id(conn) + 1
        )
        newest = store.newest_minute(conn, self.horizon())
        if newest is not None:
            first = newest - self.detect_config.season_days * 86_400
            current, totals = None, {}
            for minute, status, count in store.minute_totals_since(conn, first, newest):
                if minute != current:
                    if totals:
                        engine.warm(current, totals)
                    current, totals = minute, {}
                totals[status] = count
            if totals:
                engine.warm(current, totals)
        return engine

    def _persist(self, conn: sqlite3.Connection, events: list[AlertEvent], now: int) -> None:
        """Store lifecycle events and queue the notifications they call for (same txn)."""
        event_ids = store.save_events(conn, events, now)
        if not self.notifier.channels:
            return
        policy = self.config.notify
        channels = list(self.notifier.channels)
        for event, event_id in zip(events, event_ids, strict=True):
            alert = event.alert
            if event.type == "acknowledged":
                store.cancel_reminders(conn, alert.id)
            before = store.notified_at(conn, alert.id) is not None
            if not wants_notification(event.type, alert, before, policy):
                continue
            due = now + (policy.group_wait if event.type == "opened" else 0)
            store.enqueue(
                conn,
                alert_id=alert.id,
                event_id=event_id,
                kind=event.type,
                channels=channels,
                payload=event_payload(event.type, alert, event.detail, event.at),
                now=now,
                due=due,
            )
            store.set_notified(conn, [alert.id], now)

    def _queue_reminders(self, conn: sqlite3.Connection, now: int) -> None:
        """Firing, unacknowledged alerts are re-sent every repeat_interval."""
        if not self.notifier.channels:
            return
        for alert in store.reminders_due(conn, now - self.config.notify.repeat_interval):
            detail = f"still firing since {iso(alert.first_seen)}"
            store.enqueue(
                conn,
                alert_id=alert.id,
                event_id=None,
                kind="reminder",
                channels=list(self.notifier.channels),
                payload=event_payload("reminder", alert, detail, now),
                now=now,
                due=now,
            )
            store.set_notified(conn, [alert.id], now)

    def _changed_alerts(self, engine: Engine) -> list[Alert]:
        """Open alerts whose row differs from what was last saved (last seen, peak...).

        The lifecycle emits events only for real changes of state; a still-firing alert's
        last_seen moves every minute without one, and its row must follow.
        """
        changed = []
        for alert in engine.open_alerts():
            if self._saved.get(alert.id) != alert:
                copy = dataclasses.replace(alert)
                self._saved[alert.id] = copy
                changed.append(copy)
        if len(self._saved) > 1000:
            keep = {a.id for a in engine.open_alerts()}
            self._saved = {k: v for k, v in self._saved.items() if k in keep}
        return changed

    def _engine_for_write(self, conn: sqlite3.Connection) -> Engine:
        """The engine, rebuilt first if an earlier failure left it ahead of the database."""
        if self._engine_dirty:
            self.engine = self._build_engine(conn)
            self._engine_dirty = False
        return self.engine

    def close(self) -> None:
        """Commit what is queued, then close every connection."""
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
            new_statuses = {r.status for r in records} - self._statuses
            if new_statuses:
                self._check_status_cap(new_statuses)
            with self._engine_lock:
                engine = self._engine_for_write(conn)
                self._engine_dirty = True  # until everything below has succeeded
                started = time.perf_counter()
                judged = [engine.ingest(r) for r in records]
                self.metrics.detect_time.observe((time.perf_counter() - started) / len(records))
                watermark = engine.watermark
                changed = self._changed_alerts(engine)
            events = [e for j in judged for e in j.events]
            first_id = self._next_id
            if events:
                self._persist(conn, events, now)
            for alert in changed:
                store.save_alert(conn, alert, now)
            alerts = _alerts_touched(events)
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
        except sqlite3.Error as exc:
            log.warning("a commit failed: %s: %s", type(exc).__name__, exc)
            raise StorageFailing(
                "storage is failing (see /healthz); nothing was stored, retry"
            ) from None

    def _on_commit_failure(self, exc: BaseException) -> None:
        """Nothing of the batch is stored: re-read the writer state from the database."""
        self._pending.clear()
        self._next_id = store.next_record_id(self._conn)
        self._statuses = store.distinct_statuses(self._conn)
        self._engine_dirty = True
        self._saved.clear()

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
        now = int(time.time())
        with self._engine_lock:
            engine = self._engine_for_write(conn)
            events = engine.tick(now, self.event_clock())
        if events:
            self._persist(conn, events, now)
        self._queue_reminders(conn, now)

    def _count(self, records: list[Record]) -> None:
        per_status: dict[str, list[int]] = {}
        for r in records:
            slot = per_status.setdefault(r.status, [0, 0])
            slot[0] += 1
            slot[1] += r.count
        for status, (n, total) in per_status.items():
            self.metrics.records.inc(n, status)
            self.metrics.transactions.inc(total, status)

    def _register_gauges(self) -> None:
        m = self.metrics

        def last_event() -> list[tuple[tuple[str, ...], float]]:
            newest = self._read(store.newest_minute, self.horizon())
            return [] if newest is None else [((), float(newest))]

        def alerts() -> list[tuple[tuple[str, ...], float]]:
            counts = {"firing": 0, "acknowledged": 0}
            counts.update(self._read(store.open_alert_counts))
            return [((state,), float(n)) for state, n in sorted(counts.items())]

        def notifications() -> list[tuple[tuple[str, ...], float]]:
            return [((c, s), float(n)) for c, s, n in self._read(store.notification_counts)]

        m.add_gauge(
            "txmon_last_event_timestamp_seconds",
            "Event time (epoch s) of the newest stored minute.",
            (),
            last_event,
        )
        m.add_gauge(
            "txmon_records_stored",
            "Records in the database.",
            (),
            lambda: [((), float(self._read(store.records_stored)))],
        )
        m.add_gauge("txmon_alerts_open", "Open alerts by state.", ("state",), alerts)
        m.add_gauge(
            "txmon_notifications",
            "Outbox rows by channel and state.",
            ("channel", "state"),
            notifications,
        )
        m.add_gauge(
            "txmon_ingest_rate_records_per_second",
            "Records stored per second over the last minute.",
            (),
            lambda: [((), self.rate.rate())],
        )

    def _housekeeping(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        if now >= self._next_tick:
            self._next_tick = now + self.tick_seconds
            self._tick(conn)
        if now >= self._next_cleanup:
            self._next_cleanup = now + 600
            store.forget_answers_before(conn, int(now) - self.config.idempotency_hours * 3600)

    # --- reads -----------------------------------------------------------------------------

    def _read(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One store query on a pooled read connection."""
        with self.readers.connection() as conn:
            return query(conn, *args, **kwargs)

    def transactions(
        self,
        *,
        limit: int,
        before_id: int | None,
        after_id: int | None,
        statuses: list[str],
        severities: list[str],
    ) -> dict[str, Any]:
        rows = self._read(
            store.page_records,
            limit=limit,
            before_id=before_id,
            after_id=after_id,
            statuses=statuses,
            severities=severities,
        )
        return {"transactions": [record_json(r) for r in rows]}

    def series(self, minutes: int, status: str | None) -> dict[str, Any]:
        with self.readers.connection() as conn:
            newest = store.newest_minute(conn, self.horizon())
            if newest is None:
                return {"start": None, "end": None, "minutes": [], "series": {}}
            first = newest - (minutes - 1) * MINUTE
            rows = store.minute_series(conn, first, newest, status)
        series: dict[str, list[int]] = {}
        if status is not None:
            series[status] = [0] * minutes
        for minute, name, count in rows:
            row = series.get(name)
            if row is None:  # not setdefault: it would build a zero row for every minute
                row = series[name] = [0] * minutes
            row[(minute - first) // MINUTE] = count
        return {
            "start": iso(first),
            "end": iso(newest),
            "minutes": [iso(first + i * MINUTE) for i in range(minutes)],
            "series": dict(sorted(series.items())),
        }

    def summary(self, minutes: int) -> dict[str, Any]:
        with self.readers.connection() as conn:
            newest = store.newest_minute(conn, self.horizon())
            first = None if newest is None else newest - (minutes - 1) * MINUTE
            totals = {} if first is None else store.window_totals(conn, first, newest)
            records_stored = store.records_stored(conn)
            open_alerts = store.open_alert_counts(conn)
        statuses: dict[str, Any] = {}
        total = sum(count for count, _ in totals.values())
        for name, (count, records) in sorted(totals.items()):
            statuses[name] = {
                "count": count,
                "records": records,
                "share": count / total if total else 0.0,
            }
        baselines: dict[str, Any] = {}
        profiles: dict[str, Any] = {}
        if newest is not None:
            with self._engine_lock:
                for name in statuses:
                    expected, upper = self.engine.baseline(name, newest)
                    baselines[name] = {"expected": round(expected, 3), "upper": round(upper, 3)}
                    profiles[name] = [
                        {"hour": hour, "average": round(avg, 3), "upper": round(up, 3)}
                        for hour, (avg, up) in enumerate(self.engine.hourly_profile(name))
                    ]
        for name, doc in statuses.items():
            doc["baseline"] = baselines.get(name)
        return {
            "minutes": minutes,
            "start": _iso_or_none(first),
            "newest_event_time": _iso_or_none(newest),
            "total": total,
            "statuses": statuses,
            "records_stored": records_stored,
            "ingest_rate": round(self.rate.rate(), 3),
            "alerts": {"firing": 0, "acknowledged": 0, **open_alerts},
            "hourly_profile": profiles,
        }

    # --- alerts and silences -----------------------------------------------------------------

    def alerts(self, states: tuple[str, ...], limit: int) -> dict[str, Any]:
        rows = self._read(store.list_alerts, states, limit)
        if "firing" in states and "acknowledged" in states:
            rows.sort(key=lambda a: (a.state != "firing", -a.id))  # firing first
        return {"alerts": [alert_json(a) for a in rows]}

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        with self.readers.connection() as conn:
            found = store.get_alert(conn, alert_id)
            if found is None:
                return None
            timeline = store.alert_timeline(conn, alert_id)
        for entry in timeline:
            entry["at"] = iso(entry["at"])  # type: ignore[arg-type]
            entry["recorded_at"] = iso(entry["recorded_at"])  # type: ignore[arg-type]
        return {**alert_json(found), "timeline": timeline}

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
            if current.state == "acknowledged":
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
        if found.state == "resolved":
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

    def silences(self) -> dict[str, Any]:
        rows = self._read(store.list_silences, int(time.time()))
        return {"silences": [silence_json(s) for s in rows]}

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

    # --- notifications ------------------------------------------------------------------------

    def notifications(self, limit: int) -> dict[str, Any]:
        rows = self._read(store.list_notifications, limit)
        return {
            "channels": [c["name"] for c in self.config.notify.describe()],
            "notifications": [
                {
                    "id": r.id,
                    "alert_id": r.alert_id,
                    "event": r.kind,
                    "channel": r.channel,
                    "state": r.state,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                    "created_at": iso(r.created_at),
                    "sent_at": _iso_or_none(r.sent_at),
                    "next_attempt_at": iso(int(r.next_attempt_at))
                    if r.state == "pending"
                    else None,
                }
                for r in rows
            ],
        }

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

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, document): the DB answers a read, the writer runs and commits succeed."""
        from server import __version__

        db = "ok"
        try:
            self._read(store.probe)
        except (sqlite3.Error, TimeoutError):
            db = "error"
        failing = self.writer.failing
        if db == "ok" and failing is not None:
            db = "write failing"
        healthy = db == "ok" and self.writer.alive
        document = {
            "status": "ok" if healthy else "unavailable",
            "db": db,
            "writer": "ok" if self.writer.alive else "stopped",
            "version": __version__,
            "schema_version": self.schema_version,
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }
        if failing is not None:
            document["db_error"] = failing
        return healthy, document


def _alerts_touched(events: list[AlertEvent]) -> list[dict[str, Any]]:
    """Each alert an ingest opened or changed, as it stands after the request."""
    latest: dict[int, AlertEvent] = {}
    for event in events:
        latest[event.alert_id] = event
    types: dict[int, list[str]] = {}
    for event in events:
        types.setdefault(event.alert_id, []).append(event.type)
    return [
        {**alert_json(e.alert), "event": e.type, "events": types[e.alert_id]}
        for e in latest.values()
    ]
