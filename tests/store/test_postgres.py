"""What only the PostgreSQL store has to get right: several receivers on one database,
migrations that serialise, a password that never shows, and a database that goes away and
comes back under a running receiver."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from server import store
from server.config import load
from server.store import postgres
from tests.conftest import REPO, Live, free_port, wait_until
from tests.notify.fake_telegram import fake_telegram_fixture  # noqa: F401
from tests.store.test_stores import minute, post


def test_two_receivers_on_one_database_never_share_an_id(make_receiver, pg_url: str) -> None:
    a: Live = make_receiver(store=pg_url)
    b: Live = make_receiver(store=pg_url)
    answers: list[dict] = []
    lock = threading.Lock()

    def send(live: Live, first: int) -> None:
        for m in range(first, first + 20):
            reply = post(live.client, minute(m % 10))
            assert reply.status_code == 201, reply.text
            with lock:
                answers.append(reply.json())

    threads = [threading.Thread(target=send, args=(live, i * 20)) for i, live in enumerate((a, b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = [r["id"] for answer in answers for r in answer["records"]]
    assert len(ids) == len(set(ids)) == 80
    for answer in answers:  # each request's records got consecutive ids
        got = [r["id"] for r in answer["records"]]
        assert got == list(range(got[0], got[0] + len(got)))
    assert a.receiver._read(store.records_stored) == 80
    series = a.client.get("/api/v1/series", params={"minutes": 10}).json()["series"]
    assert series == {"approved": [4 * 120] * 10, "denied": [4 * 7] * 10}  # every add summed


def test_a_retry_against_another_receiver_returns_the_first_answer(
    make_receiver, pg_url: str
) -> None:
    a: Live = make_receiver(store=pg_url)
    b: Live = make_receiver(store=pg_url)
    first = post(a.client, minute(0), **{"Idempotency-Key": "shared-1"})
    again = post(b.client, minute(0), **{"Idempotency-Key": "shared-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert b.receiver._read(store.records_stored) == 2


def test_receivers_migrating_at_once_all_succeed(pg_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "server", "init-db", "--store", pg_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outcomes
    created = [out for out, _ in outcomes if "(created)" in out]
    assert len(created) == 1, outcomes  # the others waited on the lock, then found it done


def test_one_open_alert_per_status_is_a_constraint(pg_url: str) -> None:
    conn = store.open_store(load(env={}, flags={"store": pg_url}).location)
    store.migrate(conn)
    insert = (
        "INSERT INTO alerts (status, kind, state, severity, first_seen, last_seen, peak_count,"
        " peak_score, expected, updated_at) VALUES (?, 'spike', ?, 'high', 0, 0, 1, 1, 1, 0)"
    )
    conn.execute(insert, ("denied", "firing"))
    conn.execute(insert, ("denied", "resolved"))  # resolved ones may pile up
    with pytest.raises(postgres.IntegrityError):
        conn.execute(insert, ("denied", "acknowledged"))
    conn.close()


def test_the_password_never_reaches_logs_health_metrics_or_errors(spawn, pg_cluster) -> None:
    secret = "pw-7c1e9d3a"
    url = pg_cluster.create_database().replace("postgres@", f"postgres:{secret}@")
    server = spawn("--store", url, "--access-log", "all")  # trust auth ignores the password
    health = httpx.get(server.url + "/healthz")
    metrics = httpx.get(server.url + "/metrics")
    assert health.json()["store"] == "postgresql"
    assert secret not in health.text and secret not in metrics.text
    _, err = server.stop()
    assert "postgres:***@" in err and secret not in err
    nowhere = f"postgresql://postgres:{secret}@127.0.0.1:{free_port()}/none"
    failed = subprocess.run(
        [sys.executable, "-m", "server", "init-db", "--store", nowhere],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "unreachable" in failed.stderr and secret not in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr


def test_ingest_is_503_while_postgres_is_down_and_recovers_without_restart(
    spawn, pg_cluster, fake_telegram
) -> None:
    server = spawn("--store", pg_cluster.create_database(), env=fake_telegram.env("42"))
    url = server.url + "/api/v1/transactions"
    assert httpx.post(url, json=minute(0)).status_code == 201
    pg_cluster.stop("fast")
    try:
        down = httpx.post(url, json=minute(1), timeout=30)
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) >= 1
        assert "unreachable" in down.json()["error"]
        health = httpx.get(server.url + "/healthz", timeout=30)
        assert health.status_code == 503
        assert health.json()["db"] == "unreachable" and health.json()["store"] == "postgresql"
        ack = httpx.post(server.url + "/api/v1/alerts/1/ack", json={"by": "ana"}, timeout=30)
        silence = httpx.post(
            server.url + "/api/v1/silences", json={"minutes": 5, "by": "ana"}, timeout=30
        )
        assert ack.status_code == silence.status_code == 503, (ack.text, silence.text)
        assert "Retry-After" in ack.headers and "Retry-After" in silence.headers
        # The outbox is in the database that is down: the warning goes out directly, once.
        (warning,) = fake_telegram.wait_for(1, timeout=10)
        assert "txmon degraded: database unreachable" in warning["text"]
    finally:
        pg_cluster.start()
    back = time.monotonic()
    wait_until(lambda: httpx.post(url, json=minute(2), timeout=5).status_code == 201, 10, 0.05)
    assert time.monotonic() - back < 2.0
    assert server.proc.poll() is None  # the same process, never restarted
    assert len(fake_telegram.messages) == 1  # at most one per degraded_interval
    wait_until(lambda: httpx.get(server.url + "/healthz").status_code == 200, 10)
    rows = httpx.get(server.url + "/api/v1/transactions").json()["transactions"]
    assert sorted({r["timestamp"] for r in rows}) == [
        "2025-07-12T06:00:00Z",
        "2025-07-12T06:02:00Z",
    ]


def test_the_real_receiver_on_postgres_stores_alerts_and_replays_answers(spawn, pg_cluster) -> None:
    server = spawn("--store", pg_cluster.create_database())
    client = httpx.Client(base_url=server.url, timeout=30)
    for m in range(90):
        assert post(client, minute(m, 115 + m % 11, 5 + m % 4)).status_code == 201
    spike = post(client, minute(90, denied=75), **{"Idempotency-Key": "spike-90"})
    for m in range(91, 94):
        assert post(client, minute(m, denied=75)).status_code == 201
    retry = post(client, minute(90, denied=75), **{"Idempotency-Key": "spike-90"})
    assert spike.status_code == retry.status_code == 201
    assert retry.json() == spike.json()
    rows = client.get("/api/v1/transactions", params={"limit": 1000}).json()["transactions"]
    assert len(rows) == 94 * 2  # the retry stored nothing
    # The lease holder's detector opens it within a step of the commit.
    alerts = wait_until(lambda: client.get("/api/v1/alerts").json()["alerts"])
    assert [(a["status"], a["state"]) for a in alerts] == [("denied", "firing")]
    health = client.get("/healthz").json()
    assert (health["store"], health["db"]) == ("postgresql", "ok")
    client.close()
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
