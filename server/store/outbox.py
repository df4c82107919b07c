"""The notification outbox: rows queued in the alert event's transaction, claimed and
marked by the delivery threads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

# --- outbox ------------------------------------------------------------------------------

_OUTBOX_COLUMNS = (
    "id, alert_id, event_id, kind, channel, state, attempts, next_attempt_at, last_error,"
    " payload, created_at, sent_at"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One notification to one channel, and how its delivery stands."""

    id: int
    alert_id: int | None
    event_id: int | None
    kind: str
    channel: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    payload: str
    created_at: int
    sent_at: int | None


def enqueue(
    conn: sqlite3.Connection,
    *,
    alert_id: int | None,
    event_id: int | None,
    kind: str,
    channels: Sequence[str],
    payload: str,
    now: int,
    due: float,
    state: str = "pending",
) -> None:
    """Queue one notification per channel (in the caller's transaction)."""
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (alert_id, event_id, kind, channel, state, attempts,"
        " next_attempt_at, payload, created_at) VALUES (?,?,?,?,?,0,?,?,?)",
        [(alert_id, event_id, kind, channel, state, due, payload, now) for channel in channels],
    )


def record_delivered(
    conn: sqlite3.Connection,
    *,
    kind: str,
    channel: str,
    state: str,
    error: str | None,
    payload: str,
    now: int,
) -> None:
    """A notification sent at once (test-fire), kept in the outbox for the record."""
    conn.execute(
        "INSERT INTO outbox (alert_id, event_id, kind, channel, state, attempts, next_attempt_at,"
        " last_error, payload, created_at, sent_at) VALUES (NULL, NULL, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
        (kind, channel, state, now, error, payload, now, now if state == "sent" else None),
    )


def unblocked(now: str) -> str:
    """SQL: outbox row `o` has no earlier row of its alert and channel still to go (a reminder
    not yet due aside), so no message overtakes an earlier one of its incident, such as a
    resolution its opening still waiting for `group_wait` or for a retry. `now`: an SQL value."""
    return (
        "NOT EXISTS (SELECT 1 FROM outbox p WHERE p.alert_id = o.alert_id"
        " AND p.channel = o.channel AND p.id < o.id AND p.state IN ('pending', 'sending')"
        f" AND (p.kind != 'reminder' OR p.next_attempt_at <= {now}))"
    )


def due_notifications(
    conn: sqlite3.Connection, channel: str, now: float, limit: int = 50
) -> list[OutboxRow]:
    """Pending rows of `channel` due by `now` that nothing earlier of their alert holds up."""
    rows = conn.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox o WHERE state = 'pending' AND channel = ?"
        f" AND next_attempt_at <= ? AND {unblocked('?')} ORDER BY next_attempt_at, id LIMIT ?",
        (channel, now, now, limit),
    )
    return [OutboxRow(*row) for row in rows]


def waiting_openings(conn: sqlite3.Connection, channel: str) -> list[OutboxRow]:
    """Not-yet-due first attempts of 'opened' notifications: they join a group sent now."""
    rows = conn.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND channel = ?"
        " AND kind = 'opened' AND attempts = 0 ORDER BY id",
        (channel,),
    )
    return [OutboxRow(*row) for row in rows]


def next_due(conn: sqlite3.Connection, channel: str, now: float) -> float | None:
    """When the next row of `channel` that nothing holds up is due (see `unblocked`)."""
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM outbox o WHERE state = 'pending'"
        f" AND channel = ? AND {unblocked('?')}",
        (channel, now),
    ).fetchone()
    return row[0]


def mark_sending(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    """Record the attempt before it is made: a crash mid-send leaves the row 'sending'."""
    conn.executemany(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?",
        [(i,) for i in ids],
    )


def mark_outcome(
    conn: sqlite3.Connection,
    ids: Sequence[int],
    state: str,
    *,
    error: str | None,
    now: int,
    retry_at: float | None = None,
) -> None:
    conn.executemany(
        "UPDATE outbox SET state = ?, last_error = ?, sent_at = ?,"
        " next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?",
        [(state, error, now if state == "sent" else None, retry_at, i) for i in ids],
    )


def mark_in_flight_ambiguous(conn: sqlite3.Connection) -> int:
    """At start-up: sends that were under way when the process died may or may not have
    arrived; they are marked, never silently repeated."""
    return conn.execute(
        "UPDATE outbox SET state = 'ambiguous', last_error = 'receiver stopped during the send;"
        " delivery unknown, not retried' WHERE state = 'sending'"
    ).rowcount


def fail_unknown_channels(conn: sqlite3.Connection, known: Sequence[str]) -> int:
    marks = ",".join("?" * len(known)) or "''"
    return conn.execute(
        f"UPDATE outbox SET state = 'failed', last_error = 'channel no longer configured'"
        f" WHERE state = 'pending' AND channel NOT IN ({marks})",
        list(known),
    ).rowcount


def list_notifications(conn: sqlite3.Connection, limit: int) -> list[OutboxRow]:
    rows = conn.execute(f"SELECT {_OUTBOX_COLUMNS} FROM outbox ORDER BY id DESC LIMIT ?", (limit,))
    return [OutboxRow(*row) for row in rows]


def notification_counts(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(channel, state, count) over the whole outbox."""
    return conn.execute(
        "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state ORDER BY 1, 2"
    ).fetchall()


def cancel_reminders(conn: sqlite3.Connection, alert_id: int) -> None:
    conn.execute(
        "UPDATE outbox SET state = 'cancelled', last_error = 'acknowledged before delivery'"
        " WHERE alert_id = ? AND kind = 'reminder' AND state = 'pending'",
        (alert_id,),
    )
