"""The receiver's reads: pages of records, series, summary, alerts, silences, notifications.

A mixin of `Receiver`: every query runs on a pooled read connection and never waits for
the writer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from server import store
from server.core.answers import alert_json, iso_or_none, record_json, silence_json
from server.detect.engine import Engine
from server.detect.lifecycle import ACKNOWLEDGED, FIRING
from server.records import iso

if TYPE_CHECKING:
    from server.config import Config
    from server.core.metrics import RateMeter

MINUTE = 60


class Queries:
    """Reads for `Receiver`; it provides the readers, the engine and its lock."""

    config: Config
    readers: store.Readers
    engine: Engine
    rate: RateMeter
    _engine_lock: threading.Lock
    _baseline_lock: threading.Lock

    def horizon(self, now: float | None = None) -> int:
        """The latest event time accepted now: the clock plus `max_future_minutes`."""
        return int(time.time() if now is None else now) + self.config.max_future_minutes * 60

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
            with self._baseline_lock:
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
            "start": iso_or_none(first),
            "newest_event_time": iso_or_none(newest),
            "total": total,
            "statuses": statuses,
            "records_stored": records_stored,
            "ingest_rate": round(self.rate.rate(), 3),
            "alerts": {FIRING: 0, ACKNOWLEDGED: 0, **open_alerts},
            "hourly_profile": profiles,
        }

    def alerts(self, states: tuple[str, ...], limit: int) -> dict[str, Any]:
        rows = self._read(store.list_alerts, states, limit)
        if FIRING in states and ACKNOWLEDGED in states:
            rows.sort(key=lambda a: (a.state != FIRING, -a.id))  # firing first
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

    def silences(self) -> dict[str, Any]:
        rows = self._read(store.list_silences, int(time.time()))
        return {"silences": [silence_json(s) for s in rows]}

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
                    "sent_at": iso_or_none(r.sent_at),
                    "next_attempt_at": iso(int(r.next_attempt_at))
                    if r.state == "pending"
                    else None,
                }
                for r in rows
            ],
        }
