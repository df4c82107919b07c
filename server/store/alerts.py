"""Alerts, their timeline and silences: the lifecycle's rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from server.detect.lifecycle import Alert, AlertEvent, Silence

# The columns that mirror an Alert's fields (the table adds updated_at and notified_at).
ALERT_FIELDS = (
    "id",
    "status",
    "kind",
    "state",
    "severity",
    "first_seen",
    "last_seen",
    "peak_count",
    "peak_score",
    "expected",
    "acknowledged_by",
    "acknowledged_at",
    "ack_note",
    "resolved_at",
    "silenced",
)
_ALERT_COLUMNS = ", ".join(ALERT_FIELDS)


def save_events(conn: sqlite3.Connection, events: Sequence[AlertEvent], now: int) -> list[int]:
    """Bring each alert's row to its latest state, record the events; return their ids."""
    latest = {event.alert_id: event.alert for event in events}
    for alert in latest.values():
        save_alert(conn, alert, now)
    ids = []
    sql = (
        "INSERT INTO alert_events (alert_id, type, at, detail, snapshot, recorded_at)"
        " VALUES (?,?,?,?,?,?)"
    )
    returning = getattr(conn, "dialect", None) == "postgresql"  # no lastrowid there
    for e in events:
        cursor = conn.execute(
            sql + " RETURNING id" if returning else sql,
            (e.alert_id, e.type, e.at, e.detail, json.dumps(e.alert.as_dict()), now),
        )
        ids.append(int(cursor.fetchone()[0] if returning else cursor.lastrowid or 0))
    return ids


def save_alert(conn: sqlite3.Connection, alert: Alert, now: int) -> None:
    values = [getattr(alert, name) for name in ALERT_FIELDS]
    conn.execute(
        f"INSERT INTO alerts ({_ALERT_COLUMNS}, updated_at)"
        f" VALUES ({','.join('?' * (len(ALERT_FIELDS) + 1))})"
        " ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in ALERT_FIELDS[1:])
        + ", updated_at = excluded.updated_at",
        [*values, now],
    )


def save_silence(conn: sqlite3.Connection, silence: Silence) -> None:
    conn.execute(
        "INSERT INTO silences (id, status, created_by, reason, created_at, expires_at)"
        " VALUES (?,?,?,?,?,?)",
        (
            silence.id,
            silence.status,
            silence.created_by,
            silence.reason,
            silence.created_at,
            silence.expires_at,
        ),
    )


def remove_silence(conn: sqlite3.Connection, silence_id: int, now: int) -> None:
    conn.execute("UPDATE silences SET removed_at = ? WHERE id = ?", (now, silence_id))


def _alert(row: Sequence[object]) -> Alert:
    values = dict(zip(ALERT_FIELDS, row, strict=True))
    values["silenced"] = bool(values["silenced"])
    return Alert(**values)  # type: ignore[arg-type]


def list_alerts(conn: sqlite3.Connection, states: Sequence[str], limit: int) -> list[Alert]:
    """Alerts in the given states, newest first."""
    marks = ",".join("?" * len(states))
    rows = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state IN ({marks}) ORDER BY id DESC LIMIT ?",
        [*states, limit],
    )
    return [_alert(row) for row in rows]


def get_alert(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return _alert(row) if row else None


def alert_timeline(conn: sqlite3.Connection, alert_id: int) -> list[dict[str, object]]:
    rows = conn.execute(
        "SELECT type, at, detail, recorded_at FROM alert_events WHERE alert_id = ? ORDER BY id",
        (alert_id,),
    )
    return [{"type": t, "at": at, "detail": d, "recorded_at": r} for t, at, d, r in rows]


def open_alert_counts(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT state, COUNT(*) FROM alerts WHERE state != 'resolved' GROUP BY state"
    )
    return dict(rows.fetchall())


def max_alert_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0])


def max_silence_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM silences").fetchone()[0])


def list_silences(conn: sqlite3.Connection, now: int) -> list[Silence]:
    """Silences in force: not removed and not yet expired."""
    rows = conn.execute(
        "SELECT id, status, created_by, reason, created_at, expires_at FROM silences"
        " WHERE removed_at IS NULL AND expires_at > ? ORDER BY id",
        (now,),
    )
    return [Silence(*row) for row in rows]


def get_silence(conn: sqlite3.Connection, silence_id: int) -> Silence | None:
    row = conn.execute(
        "SELECT id, status, created_by, reason, created_at, expires_at FROM silences"
        " WHERE id = ? AND removed_at IS NULL",
        (silence_id,),
    ).fetchone()
    return Silence(*row) if row else None


def notified_at(conn: sqlite3.Connection, alert_id: int) -> int | None:
    row = conn.execute("SELECT notified_at FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return row[0] if row else None


def set_notified(conn: sqlite3.Connection, alert_ids: Sequence[int], now: int) -> None:
    conn.executemany(
        "UPDATE alerts SET notified_at = ? WHERE id = ?", [(now, i) for i in alert_ids]
    )


def reminders_due(conn: sqlite3.Connection, before: int) -> list[Alert]:
    """Firing, unsilenced alerts not notified since `before`."""
    rows = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state = 'firing' AND silenced = 0"
        " AND notified_at IS NOT NULL AND notified_at < ? ORDER BY id",
        (before,),
    )
    return [_alert(row) for row in rows]
