"""Claiming outbox rows when several receivers deliver from one outbox.

A receiver claims due rows for a while (`claim_seconds`, on the database clock), sends
outside the transaction and records the outcome only while its claim stands. A claim that
runs out without an outcome (the receiver died, paused or lost the database mid-send) is
claimed again by whoever comes next: delivery is at least once, and a duplicate needs an
ambiguous send. Only the oldest undelivered row of an (alert, channel) can be claimed, so
an alert's resolved message never overtakes its opening. On PostgreSQL the claim skips
rows another receiver has locked (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.store.lease import db_now, is_sqlite
from server.store.outbox import _OUTBOX_COLUMNS, OutboxRow, unblocked


def claim_due(
    conn: Any, channel: str, holder: str, claim_seconds: float, limit: int = 50
) -> list[OutboxRow]:
    """Claim (and count an attempt for) up to `limit` due rows of `channel`, oldest first.

    Run in its own short transaction; the caller commits before sending.
    """
    now = db_now(conn)
    lock = "" if is_sqlite(conn) else " FOR UPDATE OF o SKIP LOCKED"
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT o.id FROM outbox o WHERE o.channel = ? AND ("
            f"(o.state = 'pending' AND o.next_attempt_at <= {now})"
            f" OR (o.state = 'sending' AND o.claim_expires_at <= {now}))"
            f" AND {unblocked(now)}"
            f" ORDER BY o.next_attempt_at, o.id LIMIT ?{lock}",
            (channel, limit),
        )
    ]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    conn.execute(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_by = ?,"
        f" claim_expires_at = {now} + ? WHERE id IN ({marks})",
        (holder, claim_seconds, *ids),
    )
    rows = conn.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id IN ({marks}) ORDER BY id",
        ids,
    )
    return [OutboxRow(*row) for row in rows]


def finish(
    conn: Any,
    ids: Sequence[int],
    holder: str,
    state: str,
    *,
    error: str | None,
    now: int,
    retry_at: float | None = None,
) -> int:
    """Record a send's outcome on the rows we still hold; the number of rows changed (0
    when our claim ran out and another receiver took them over)."""
    changed = 0
    for i in ids:
        changed += conn.execute(
            "UPDATE outbox SET state = ?, last_error = ?, sent_at = ?,"
            " next_attempt_at = COALESCE(?, next_attempt_at), claimed_by = NULL,"
            " claim_expires_at = NULL WHERE id = ? AND claimed_by = ? AND state = 'sending'",
            (state, error, now if state == "sent" else None, retry_at, i, holder),
        ).rowcount
    return changed
