"""What the receiver refuses to hold: records stamped in the future, statuses past the cap,
writes while the disk fails; and the modes of the files it creates."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from dataclasses import replace
from pathlib import Path

import httpx

from server import store
from server.config import Config
from server.core.receiver import Receiver
from server.records import Record
from tests.conftest import Live


def recent_start(minutes: int) -> int:
    """A minute boundary `minutes` before now, so the history ends at the present."""
    now = int(time.time())
    return now - now % 60 - minutes * 60


def minute(start: int, m: int, approved: int, denied: int) -> list[dict]:
    ts = start + m * 60
    return [
        {"timestamp": ts, "status": "approved", "count": approved},
        {"timestamp": ts, "status": "denied", "count": denied},
    ]


def send(client: httpx.Client, body: list[dict]) -> httpx.Response:
    return client.post("/api/v1/transactions", json=body)


def steady_history(client: httpx.Client, start: int, minutes: int) -> None:
    body = [r for m in range(minutes) for r in minute(start, m, 115 + m % 11, 5 + m % 4)]
    assert send(client, body).status_code == 201


def denied_spike_opens_an_alert(client: httpx.Client, start: int, first: int) -> bool:
    for m in range(first, first + 4):
        answer = send(client, minute(start, m, 118, 80))
        assert answer.status_code == 201, answer.text
    alerts = client.get("/api/v1/alerts").json()["alerts"]
    return any(a["status"] == "denied" for a in alerts)


def test_a_record_three_hours_ahead_is_422_and_does_not_blind_detection(live: Live) -> None:
    start = recent_start(95)
    steady_history(live.client, start, 90)
    ahead = int(time.time()) + 3 * 3600
    answer = send(
        live.client,
        [
            {"timestamp": start + 90 * 60, "status": "approved", "count": 120},
            {"timestamp": ahead, "status": "denied", "count": 3},
        ],
    )
    assert answer.status_code == 422
    detail = answer.json()["details"][0]
    assert detail["index"] == 1 and detail["field"] == "timestamp"
    assert "3 h 0 min ahead of the receiver's clock" in detail["message"]
    assert "max_future_minutes" in detail["message"]
    summary = live.client.get("/api/v1/summary").json()
    assert summary["records_stored"] == 180  # nothing of the refused request
    assert summary["newest_event_time"] < time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert denied_spike_opens_an_alert(live.client, start, 91)


def test_a_few_minutes_of_clock_skew_is_accepted(live: Live) -> None:
    soon = int(time.time()) + 4 * 60
    assert send(live.client, [{"timestamp": soon, "status": "approved", "count": 1}]).is_success


def test_future_records_left_in_a_database_do_not_move_the_watermark(tmp_path: Path) -> None:
    config = Config(db=str(tmp_path / "t.db"), port=0, access_log="off")
    start = recent_start(95)
    ahead = int(time.time()) + 3 * 3600
    conn = store.connect(config.db)
    store.migrate(conn)
    conn.close()
    receiver = Receiver(config)
    try:  # as an older receiver did: history, then one record stamped 3 h ahead, stored
        history = [
            Record(start + m * 60, status, count)
            for m in range(90)
            for status, count in (("approved", 115 + m % 11), ("denied", 5 + m % 4))
        ]
        receiver.ingest([*history, Record(ahead, "denied", 3)])
    finally:
        receiver.close()
    restarted = Receiver(config)
    try:
        assert restarted.engine.watermark is not None
        assert restarted.engine.watermark <= restarted.horizon()
        series = restarted.series(5, None)
        assert series["end"] < time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        spike = [
            Record(start + m * 60, status, count)
            for m in range(91, 95)
            for status, count in (("approved", 118), ("denied", 80))
        ]
        opened = restarted.ingest(spike).alerts
        # (the stray record, stored as an older receiver did, had also made the whole feed look
        # silent for 3 h: that no-data alert resolves now, which is right)
        assert ("denied", "spike", "opened") in [
            (a["status"], a["kind"], a["event"]) for a in opened
        ]
    finally:
        restarted.close()


def test_statuses_past_the_cap_are_422_naming_the_setting(make_receiver) -> None:
    live = make_receiver(max_statuses=3)
    ts = "2025-07-12 13:45:00"
    first = [{"timestamp": ts, "status": s, "count": 1} for s in ("a", "b", "c")]
    assert send(live.client, first).status_code == 201
    again = send(live.client, [{"timestamp": ts, "status": "a", "count": 2}])
    assert again.status_code == 201  # known statuses never count twice
    answer = send(
        live.client,
        [
            {"timestamp": ts, "status": "a", "count": 1},
            {"timestamp": ts, "status": "d", "count": 1},
        ],
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert "'d'" in error and "at most 3" in error and "max_statuses" in error
    assert live.client.get("/api/v1/summary").json()["records_stored"] == 4


def test_the_status_cap_holds_across_restarts(tmp_path: Path) -> None:
    config = Config(db=str(tmp_path / "t.db"), port=0, access_log="off", max_statuses=2)
    receiver = Receiver(config)
    receiver.ingest([Record(1_752_327_900, "a", 1), Record(1_752_327_900, "b", 1)])
    receiver.close()
    again = Receiver(config)
    try:
        assert again._statuses == {"a", "b"}
    finally:
        again.close()


def fail_every_write(live: Live, failing: bool) -> None:
    """Make every write of the writer's connection fail, as on a full disk (SQLite's
    authorizer refuses the statements; the receiver sees a sqlite3 error at commit time)."""
    writes = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}

    def authorize(action: int, *args: object) -> int:
        return sqlite3.SQLITE_DENY if action in writes else sqlite3.SQLITE_OK

    live.receiver._conn.set_authorizer(authorize if failing else None)


def test_while_writes_fail_health_says_so_and_writes_are_503_with_retry_after(
    live: Live,
) -> None:
    start = recent_start(95)
    steady_history(live.client, start, 90)
    assert denied_spike_opens_an_alert(live.client, start, 90)
    alert_id = live.client.get("/api/v1/alerts").json()["alerts"][0]["id"]
    stored = live.client.get("/api/v1/summary").json()["records_stored"]
    fail_every_write(live, True)
    ingest = send(live.client, minute(start, 94, 118, 9))
    assert ingest.status_code == 503 and ingest.headers["Retry-After"]
    health = live.client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["db"] == "write failing"
    silence = live.client.post("/api/v1/silences", json={"status": "denied", "minutes": 15})
    assert silence.status_code == 503 and silence.headers["Retry-After"]
    assert "storage is failing" in silence.json()["error"]
    ack = live.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "ana"})
    assert ack.status_code == 503 and ack.headers["Retry-After"]
    fail_every_write(live, False)
    assert send(live.client, minute(start, 94, 118, 9)).status_code == 201
    assert live.client.get("/healthz").json()["db"] == "ok"
    assert live.client.get("/api/v1/summary").json()["records_stored"] == stored + 2
    assert live.client.get(f"/api/v1/alerts/{alert_id}").json()["state"] == "firing"


def test_new_database_is_0600_in_folders_of_0700_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "txmon.db"
    old = os.umask(0)
    try:
        receiver = Receiver(replace(Config(), db=str(db), port=0, access_log="off"))
        receiver.ingest([Record(1_752_327_900, "approved", 1)])
        receiver.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.parent.parent.stat().st_mode) == 0o700
    for extra in ("txmon.db-wal", "txmon.db-shm"):
        path = db.parent / extra
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
