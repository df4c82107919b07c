"""The shared detector: the leader judges the rollup every receiver writes, and a new
leader resumes from the checkpoint with the same alerts as a run without a failover."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server import store
from server.config.location import SQLITE, StoreLocation
from server.core.detector import SharedDetector
from server.core.leader import Leadership
from server.detect.config import DetectConfig
from server.records import Record
from server.store.session import Session
from tests.conftest import wait_until

DAY = 86_400
START = 1_767_225_600  # 2026-01-01T00:00Z


def _database(path: Path) -> None:
    conn = store.connect(str(path))
    store.migrate(conn)
    history = []
    for i in range(3 * 1440):
        minute = START + i * 60
        history += [(minute, "approved", 100 + (i % 7), 1), (minute, "failed", 2 + i % 3, 1)]
    conn.executemany("INSERT INTO minute_totals VALUES (?,?,?,?)", history)
    conn.close()


def _add_minute(path: Path, minute: int, failed: int) -> None:
    """What the receivers' ingest does: two of them adding to the same rollup row."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    for status, count in (("approved", 60), ("approved", 43), ("failed", failed)):
        conn.execute(
            "INSERT INTO minute_totals VALUES (?,?,?,1) ON CONFLICT (minute, status) DO UPDATE"
            " SET count = count + excluded.count, records = records + 1",
            (minute, status, count),
        )
    conn.close()


def _rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute(
            "SELECT id, state, first_seen, last_seen, peak_count, resolved_at FROM alerts"
        ).fetchall()
    finally:
        conn.close()


def _persist(conn, events, now) -> None:
    store.save_events(conn, events, now)


class Member:
    """One receiver of the group: its lease and its detector, stepped by the test."""

    def __init__(self, path: Path, name: str) -> None:
        tx = Session(StoreLocation(SQLITE, str(path))).transaction
        self.leadership = Leadership(tx, ttl=2, renew=0.5, holder=name)
        horizon = START + 10 * DAY
        self.detector = SharedDetector(
            DetectConfig(), tx, name, lambda: self.leadership.term, _persist, lambda: horizon
        )

    def step(self) -> list:
        self.leadership.step()
        return self.detector.step(now=START + 3 * DAY)


def _incident(path: Path, members: list[Member], fail_over_at: int | None) -> list[tuple]:
    """A failed spike of 6 minutes in 45 live minutes; the leader may die at one minute."""
    seen = []
    live = list(members)
    for i in range(45):
        minute = START + 3 * DAY + i * 60
        _add_minute(path, minute, 40 if 5 <= i < 11 else 3)
        if i == fail_over_at:
            live.pop(0)  # the leader is gone: it never steps again
            wait_until(lambda: (live[0].step(), live[0].leadership.term)[1] is not None, timeout=10)
        for member in live:
            seen += [(e.alert_id, e.type, e.at) for e in member.step()]
        seen.append(("rows", i, tuple(_rows(path))))  # last seen and peak, minute by minute
    return seen


@pytest.mark.parametrize("fail_over_at", [3, 6, 8, 30])
def test_failover_mid_incident_gives_the_alerts_of_a_run_without_it(
    tmp_path: Path, fail_over_at: int
) -> None:
    calm, faulty = tmp_path / "calm.db", tmp_path / "faulty.db"
    _database(calm)
    _database(faulty)
    expected = _incident(calm, [Member(calm, "a")], None)
    a, b = Member(faulty, "a"), Member(faulty, "b")
    got = _incident(faulty, [a, b], fail_over_at)
    assert [e[1] for e in expected if e[0] != "rows"] == ["opened", "resolved"]
    assert got == expected
    assert b.leadership.term == 2


@pytest.mark.parametrize("fail_over_at", [8, 30])
def test_a_new_leader_mid_incident_learns_what_the_old_one_would_have(
    tmp_path: Path, fail_over_at: int
) -> None:
    # The incident's build-up teaches the tails as its alert resolves (a blip here). The new
    # leader replays the last hour before restoring the stored alerts: restored first, the
    # open alert kept that hour from being judged, its build-up and lesson were lost, and
    # the status paged differently from the calm run from then on.
    calm, faulty = tmp_path / "calm.db", tmp_path / "faulty.db"
    _database(calm)
    _database(faulty)
    alone = Member(calm, "a")
    _incident(calm, [alone], None)
    a, b = Member(faulty, "a"), Member(faulty, "b")
    _incident(faulty, [a, b], fail_over_at)

    def limits(member: Member) -> list[float]:
        engine = member.detector.engine
        assert engine is not None
        return [tail.limit for tail in engine.statuses["failed"].rise_tails]

    assert limits(b) == limits(alone)


def _alerts(path: Path) -> list[tuple]:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT id, state, acknowledged_by FROM alerts ORDER BY id").fetchall()
    finally:
        conn.close()


def test_a_follower_judges_the_shared_totals_but_commits_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _database(path)
    a, b = Member(path, "a"), Member(path, "b")
    a.step()
    minute = START + 3 * DAY
    _add_minute(path, minute, 50)  # other receivers' records: the spike is in the rollup
    assert b.step() == [] and b.detector.engine is not None
    (verdict,) = b.detector.verdicts([Record(minute + 30, "failed", 1)])
    assert verdict.severity == "high" and verdict.expected < 10
    assert _alerts(path) == []
    assert [e.type for e in a.step()] == ["opened"]
    assert _alerts(path) == [(1, "firing", None)]


def test_an_ack_stored_by_a_follower_reaches_the_leaders_engine(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _database(path)
    a = Member(path, "a")
    a.step()
    minute = START + 3 * DAY
    for i in range(3):
        _add_minute(path, minute + i * 60, 50)
        a.step()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute(
        "UPDATE alerts SET state = 'acknowledged', acknowledged_by = 'oncall', "
        "acknowledged_at = ? WHERE id = 1",
        (minute,),
    )
    conn.close()
    _add_minute(path, minute + 180, 50)
    a.step()
    (alert,) = a.detector.engine.open_alerts()
    assert alert.state == "acknowledged" and alert.acknowledged_by == "oncall"
    assert _alerts(path) == [(1, "acknowledged", "oncall")]


def test_a_restored_engine_holds_the_after_glow_of_a_stored_resolved_rise(tmp_path: Path) -> None:
    # A restart or a new leader must keep `rearm_minutes` as the old engine would have: the
    # book is restored with the newest resolved alerts, not only the open ones.
    from server.core.detector import restore_book
    from server.detect.engine import Engine
    from server.detect.lifecycle import RESOLVED, Alert

    path = tmp_path / "txmon.db"
    _database(path)
    conn = store.connect(str(path))
    ended = START + 3 * DAY
    seen = {"first_seen": ended - 1500, "last_seen": ended - 720, "resolved_at": ended}
    spike = Alert(7, "failed", "spike", RESOLVED, "high", **seen)
    drop = Alert(8, "approved", "drop", RESOLVED, "high", **seen)
    store.save_alert(conn, spike, ended)
    store.save_alert(conn, drop, ended)
    engine = Engine(DetectConfig())
    restore_book(engine, conn, ended)
    conn.close()
    assert engine.book.rearming("failed", ended + 60)
    assert not engine.book.rearming("failed", ended + 240 * 60)
    assert not engine.book.rearming("approved", ended + 60)  # a drop holds nothing
    assert engine.book.next_id == 9
