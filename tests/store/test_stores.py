"""The store's promises, proved on both stores: every test here runs on SQLite and on
PostgreSQL through the one `store_url` fixture."""

from __future__ import annotations

import httpx

from server import store
from server.config import Config, load
from tests.conftest import Live, wait_until
from tests.store.test_cli_and_store import run_cli

START = 1_752_300_000 - 1_752_300_000 % 3600  # an hour boundary in July 2025


def minute(m: int, approved: int = 120, denied: int = 7) -> list[dict]:
    ts = START + m * 60
    return [
        {"timestamp": ts, "status": "approved", "count": approved},
        {"timestamp": ts, "status": "denied", "count": denied},
    ]


def post(client: httpx.Client, body: list[dict], **headers: str) -> httpx.Response:
    return client.post("/api/v1/transactions", json=body, headers=headers)


def open_location(url: str):
    return store.open_store(load(env={}, flags={"store": url}).location)


def test_init_db_creates_then_reports_up_to_date(store_url: str) -> None:
    first = run_cli("init-db", "--store", store_url)
    assert first.returncode == 0, first.stderr
    assert f"schema version {store.SCHEMA_VERSION} (created)" in first.stdout
    second = run_cli("init-db", "--store", store_url)
    assert "(up to date)" in second.stdout, second.stderr


def test_a_migrated_store_reports_the_newest_version(store_url: str) -> None:
    conn = open_location(store_url)
    try:
        assert store.schema_version(conn) == 0
        assert store.migrate(conn) == store.SCHEMA_VERSION
        assert store.schema_version(conn) == store.SCHEMA_VERSION
        assert store.migrate(conn) == store.SCHEMA_VERSION  # a second run changes nothing
    finally:
        conn.close()


def test_records_are_stored_read_back_and_rolled_up(make_receiver, store_url: str) -> None:
    live: Live = make_receiver(store=store_url)
    first = post(live.client, minute(0) + minute(1))
    second = post(live.client, minute(1, approved=30, denied=3))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    answered = [r["id"] for r in first.json()["records"]] + [
        r["id"] for r in second.json()["records"]
    ]
    rows = live.client.get("/api/v1/transactions", params={"limit": 10}).json()["transactions"]
    assert [r["count"] for r in rows] == [3, 30, 7, 120, 7, 120]
    ids = [r["id"] for r in rows]
    assert ids == sorted(answered, reverse=True) and len(set(ids)) == 6
    series = live.client.get("/api/v1/series", params={"minutes": 2}).json()["series"]
    assert series == {"approved": [120, 150], "denied": [7, 10]}  # minute 1: 120 + 30
    assert live.receiver._read(store.records_stored) == 6


def test_an_idempotent_retry_returns_the_first_answer(make_receiver, store_url: str) -> None:
    live: Live = make_receiver(store=store_url)
    body = minute(0)
    first = post(live.client, body, **{"Idempotency-Key": "batch-1"})
    again = post(live.client, body, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert live.receiver._read(store.records_stored) == 2
    other = post(live.client, minute(1), **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 422


def test_a_spike_opens_one_alert_that_survives_a_restart(make_receiver, store_url: str) -> None:
    live: Live = make_receiver(store=store_url)
    for m in range(90):
        assert post(live.client, minute(m, 115 + m % 11, 5 + m % 4)).status_code == 201
    for m in range(90, 94):
        assert post(live.client, minute(m, denied=75)).status_code == 201
    # On PostgreSQL the lease holder's detector opens it within a step of the commit.
    alerts = wait_until(lambda: live.client.get("/api/v1/alerts").json()["alerts"])
    assert [(a["status"], a["state"], a["kind"]) for a in alerts] == [("denied", "firing", "spike")]
    timeline = live.client.get(f"/api/v1/alerts/{alerts[0]['id']}").json()
    assert timeline["timeline"][0]["type"] == "opened"
    live.receiver.close()
    again = Config(db=live.config.db, store=store_url, port=0, access_log="off")
    from server.core.receiver import Receiver

    restarted = Receiver(again)
    try:
        assert [a.status for a in restarted.engine.open_alerts()] == ["denied"]
    finally:
        restarted.close()
    live.receiver.close = lambda: None  # already closed above


def test_acks_and_silences_are_stored(make_receiver, store_url: str) -> None:
    live: Live = make_receiver(store=store_url)
    for m in range(90):
        post(live.client, minute(m, 115 + m % 11, 5 + m % 4))
    for m in range(90, 94):
        post(live.client, minute(m, denied=75))
    alert = wait_until(lambda: live.client.get("/api/v1/alerts").json()["alerts"])[0]
    acked = live.client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ana"})
    assert acked.status_code == 200, acked.text
    silence = live.client.post(
        "/api/v1/silences", json={"status": "denied", "minutes": 30, "by": "ana", "reason": "x"}
    )
    assert silence.status_code == 201, silence.text
    listed = live.client.get("/api/v1/silences").json()["silences"]
    assert [s["id"] for s in listed] == [silence.json()["id"]]
    removed = live.client.delete(f"/api/v1/silences/{silence.json()['id']}")
    assert removed.status_code == 200, removed.text
    assert live.client.get("/api/v1/silences").json()["silences"] == []


def test_healthz_names_the_store_kind(make_receiver, store_url: str) -> None:
    live: Live = make_receiver(store=store_url)
    health = live.client.get("/healthz")
    assert health.status_code == 200
    kind = "postgresql" if store_url.startswith("postgresql://") else "sqlite"
    assert health.json()["store"] == kind
    assert health.json()["db"] == "ok"
