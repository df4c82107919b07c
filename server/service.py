"""The receiver's operations, independent of HTTP: ingest, queries and health.

`Receiver` owns the store, the writer thread and the read connections; the HTTP layer only
decodes requests into calls on it and encodes the answers.
"""

from __future__ import annotations

import collections
import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from server import store
from server.config import Config
from server.records import Record, iso
from server.store import StoredRecord, Verdict
from server.writer import Writer

MINUTE = 60


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What a POST of records answers: HTTP code and the JSON document."""

    code: int
    answer: dict[str, Any]
    replayed: bool = False


class IdempotencyConflict(ValueError):
    """An Idempotency-Key was reused with a different body."""


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
        self._conn = store.connect(config.db, synchronous=config.synchronous)
        self.schema_version = store.migrate(self._conn)
        self.readers = store.Readers(config.db)
        self.rate = _RateMeter()
        self._next_cleanup = 0.0
        # Writer-thread state: the id the next stored record gets.
        self._next_id = store.next_record_id(self._conn)
        self.writer = Writer(
            self._conn,
            max_batch=config.writer_batch,
            idle=self._housekeeping,
            on_commit_failure=self._on_commit_failure,
        )
        self.writer.start()

    def close(self) -> None:
        """Commit what is queued, then close every connection."""
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

        def work(conn: sqlite3.Connection) -> IngestResult:
            if idempotency_key is not None:
                seen = store.idempotent_answer(conn, idempotency_key)
                if seen is not None:
                    if seen[0] != body_hash:
                        raise IdempotencyConflict(
                            "this Idempotency-Key was already used with a different body"
                        )
                    return IngestResult(seen[1], json.loads(seen[2]), replayed=True)
            verdicts = [Verdict() for _ in records]
            ids = store.insert_records(conn, self._next_id, records, verdicts, now)
            answer = {
                "accepted": len(records),
                "records": [
                    record_json(
                        StoredRecord(
                            i, r.ts, r.status, r.count, v.severity, v.score, v.expected, v.upper
                        )
                    )
                    for i, r, v in zip(ids, records, verdicts, strict=True)
                ],
                "alerts": [],
            }
            if idempotency_key is not None:
                store.remember_answer(
                    conn, idempotency_key, body_hash, 201, json.dumps(answer), now
                )
            # Last, so a failure above leaves the writer's state as it was.
            self._next_id += len(records)
            return IngestResult(201, answer)

        result: IngestResult = self.writer.call(work, weight=len(records))
        if not result.replayed:
            self.rate.add(len(records))
        return result

    def _on_commit_failure(self, exc: BaseException) -> None:
        """Nothing of the batch is stored: re-read the writer state from the database."""
        self._next_id = store.next_record_id(self._conn)

    def _housekeeping(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        if now >= self._next_cleanup:
            self._next_cleanup = now + 600
            store.forget_answers_before(conn, int(now) - self.config.idempotency_hours * 3600)

    # --- reads -----------------------------------------------------------------------------

    def transactions(
        self,
        *,
        limit: int,
        before_id: int | None,
        after_id: int | None,
        statuses: list[str],
        severities: list[str],
    ) -> dict[str, Any]:
        rows = store.page_records(
            self.readers.get(),
            limit=limit,
            before_id=before_id,
            after_id=after_id,
            statuses=statuses,
            severities=severities,
        )
        return {"transactions": [record_json(r) for r in rows]}

    def series(self, minutes: int, status: str | None) -> dict[str, Any]:
        conn = self.readers.get()
        newest = store.newest_minute(conn)
        if newest is None:
            return {"start": None, "end": None, "minutes": [], "series": {}}
        first = newest - (minutes - 1) * MINUTE
        series: dict[str, list[int]] = {}
        if status is not None:
            series[status] = [0] * minutes
        for minute, name, count in store.minute_series(conn, first, newest, status):
            row = series.setdefault(name, [0] * minutes)
            row[(minute - first) // MINUTE] = count
        return {
            "start": iso(first),
            "end": iso(newest),
            "minutes": [iso(first + i * MINUTE) for i in range(minutes)],
            "series": dict(sorted(series.items())),
        }

    def summary(self, minutes: int) -> dict[str, Any]:
        conn = self.readers.get()
        newest = store.newest_minute(conn)
        statuses: dict[str, Any] = {}
        total = 0
        if newest is not None:
            first = newest - (minutes - 1) * MINUTE
            totals = store.window_totals(conn, first, newest)
            total = sum(count for count, _ in totals.values())
            for name, (count, records) in sorted(totals.items()):
                statuses[name] = {
                    "count": count,
                    "records": records,
                    "share": count / total if total else 0.0,
                }
        return {
            "minutes": minutes,
            "start": iso(newest - (minutes - 1) * MINUTE) if newest is not None else None,
            "newest_event_time": iso(newest) if newest is not None else None,
            "total": total,
            "statuses": statuses,
            "records_stored": store.records_stored(conn),
            "ingest_rate": round(self.rate.rate(), 3),
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, document): the DB answers a read and the writer thread is alive."""
        from server import __version__

        db_ok = True
        try:
            self.readers.get().execute("SELECT 1 FROM minute_totals LIMIT 1").fetchone()
        except sqlite3.Error:
            db_ok = False
        healthy = db_ok and self.writer.alive
        return healthy, {
            "status": "ok" if healthy else "unavailable",
            "db": "ok" if db_ok else "error",
            "writer": "ok" if self.writer.alive else "stopped",
            "version": __version__,
            "schema_version": self.schema_version,
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }
