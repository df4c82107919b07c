"""Outbox claims shared by several receivers: a claimed row is nobody else's until its
claim runs out, an alert's messages go out in order, and a late outcome changes nothing."""

from __future__ import annotations

import time

import pytest

from server import store
from server.store import claims


@pytest.fixture
def tx(store_tx):
    return store_tx


def _queue(tx, alert_id: int, kind: str, due: float, event_id: int) -> None:
    with tx() as conn:
        store.enqueue(
            conn,
            alert_id=alert_id,
            event_id=event_id,
            kind=kind,
            channels=["hook"],
            payload="{}",
            now=int(time.time()),
            due=due,
        )


def test_a_claimed_row_is_not_claimed_by_another_receiver(tx) -> None:
    _queue(tx, 1, "opened", 0, 1)
    with tx() as conn:
        mine = claims.claim_due(conn, "hook", "a", 60)
    with tx() as conn:
        theirs = claims.claim_due(conn, "hook", "b", 60)
    assert [r.kind for r in mine] == ["opened"] and mine[0].attempts == 1
    assert theirs == []


def test_resolved_waits_for_the_opening_of_the_same_alert(tx) -> None:
    _queue(tx, 1, "opened", time.time() + 3600, 1)  # in backoff
    _queue(tx, 1, "resolved", 0, 2)
    _queue(tx, 2, "opened", 0, 3)
    with tx() as conn:
        rows = claims.claim_due(conn, "hook", "a", 60)
    assert [(r.alert_id, r.kind) for r in rows] == [(2, "opened")]


def test_an_expired_claim_is_claimed_again_and_the_late_outcome_changes_nothing(tx) -> None:
    _queue(tx, 1, "opened", 0, 1)
    with tx() as conn:
        (row,) = claims.claim_due(conn, "hook", "a", 0.05)
    deadline = time.monotonic() + 5
    again: list = []
    while not again and time.monotonic() < deadline:
        with tx() as conn:
            again = claims.claim_due(conn, "hook", "b", 60)
    assert [r.id for r in again] == [row.id] and again[0].attempts == 2
    with tx() as conn:
        assert claims.finish(conn, [row.id], "a", "sent", error=None, now=0) == 0
        assert claims.finish(conn, [row.id], "b", "sent", error=None, now=0) == 1
    with tx() as conn:
        assert claims.claim_due(conn, "hook", "c", 60) == []
        (state,) = conn.execute("SELECT state FROM outbox WHERE id = ?", (row.id,)).fetchone()
    assert state == "sent"


def test_a_retry_outcome_makes_the_row_due_again_later(tx) -> None:
    _queue(tx, 1, "opened", 0, 1)
    with tx() as conn:
        (row,) = claims.claim_due(conn, "hook", "a", 60)
        claims.finish(conn, [row.id], "a", "pending", error="HTTP 502", now=0, retry_at=0)
    with tx() as conn:
        (again,) = claims.claim_due(conn, "hook", "b", 60)
    assert again.id == row.id and again.attempts == 2
