"""The writer's promises: a 2xx means committed, concurrent totals are exact, restarts and
kill -9 lose nothing acknowledged, idempotent retries store nothing twice."""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import httpx

from tests.conftest import Live, ServerProcess, wait_until


def test_concurrent_posts_add_up_exactly(live: Live) -> None:
    threads, per_thread = 8, 60

    def send(worker: int) -> None:
        with httpx.Client(base_url=live.url) as client:
            for i in range(per_thread):
                body = [
                    {"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 2},
                    {"timestamp": "2025-07-12 13:45:00", "status": f"w{worker}", "count": i},
                ]
                assert client.post("/api/v1/transactions", json=body).status_code == 201

    workers = [threading.Thread(target=send, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    summary = live.client.get("/api/v1/summary", params={"minutes": 1}).json()
    assert summary["statuses"]["approved"]["count"] == threads * per_thread * 2
    assert summary["statuses"]["w3"]["count"] == sum(range(per_thread))
    assert summary["records_stored"] == threads * per_thread * 2
    ids = [
        r["id"]
        for r in live.client.get("/api/v1/transactions", params={"limit": 1000}).json()[
            "transactions"
        ]
    ]
    assert len(ids) == len(set(ids)) == 960


def test_idempotent_retry_returns_the_first_answer_and_stores_once(live: Live) -> None:
    body = [{"timestamp": "2025-07-12 13:45:00", "status": "denied", "count": 7}]
    headers = {"Idempotency-Key": "batch-0001"}
    first = live.client.post("/api/v1/transactions", json=body, headers=headers)
    again = live.client.post("/api/v1/transactions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert live.client.get("/api/v1/summary").json()["statuses"]["denied"]["count"] == 7


def test_idempotency_key_reused_with_another_body_is_422(live: Live) -> None:
    headers = {"Idempotency-Key": "k1"}
    live.client.post(
        "/api/v1/transactions", json={"timestamp": 1752327900, "status": "a"}, headers=headers
    )
    other = live.client.post(
        "/api/v1/transactions", json={"timestamp": 1752327900, "status": "b"}, headers=headers
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["error"]
    assert live.client.get("/api/v1/summary").json()["records_stored"] == 1


def test_concurrent_retries_with_one_key_store_once(live: Live) -> None:
    body = {"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 1}
    answers: list[dict] = []

    def send() -> None:
        with httpx.Client(base_url=live.url) as client:
            answers.append(
                client.post(
                    "/api/v1/transactions", json=body, headers={"Idempotency-Key": "same"}
                ).json()
            )

    workers = [threading.Thread(target=send) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len({a["records"][0]["id"] for a in answers}) == 1
    assert live.client.get("/api/v1/summary").json()["records_stored"] == 1


def test_restart_with_the_same_db_keeps_data_and_continues_ids(spawn, tmp_path: Path) -> None:
    server = spawn()
    httpx.post(
        server.url + "/api/v1/transactions",
        json=[{"timestamp": 1752327900, "status": "approved", "count": 4}] * 3,
    )
    code, _ = server.stop()
    assert code == 0
    again = spawn(db=server.db)
    rows = httpx.get(again.url + "/api/v1/transactions").json()["transactions"]
    assert [r["id"] for r in rows] == [3, 2, 1]
    new = httpx.post(
        again.url + "/api/v1/transactions", json={"timestamp": 1752327960, "status": "approved"}
    ).json()
    assert new["records"][0]["id"] == 4


def test_sigterm_commits_in_flight_writes_and_exits_cleanly(spawn) -> None:
    server = spawn()
    acked: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            while not stop.is_set():
                try:
                    answer = client.post(
                        "/api/v1/transactions", json={"timestamp": 1752327900, "status": "approved"}
                    )
                except httpx.HTTPError:
                    return
                if answer.status_code == 201:
                    acked.append(answer.json()["records"][0]["id"])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    wait_until(lambda: len(acked) > 50)
    server.proc.send_signal(signal.SIGTERM)
    code, err = server.proc.wait(15), server.proc.stderr.read()
    stop.set()
    for w in workers:
        w.join()
    assert code == 0, err
    assert "Traceback" not in err
    assert '"event":"stopped","clean":true' in err
    ids = {row[0] for row in sqlite3.connect(server.db).execute("SELECT id FROM transactions")}
    assert set(acked) <= ids


def test_kill_9_loses_no_acknowledged_record(spawn) -> None:
    server: ServerProcess = spawn()
    acked: list[tuple[int, int]] = []
    lock = threading.Lock()

    def load(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            for i in range(100_000):
                body = [{"timestamp": 1752327900 + i * 60, "status": f"w{worker}", "count": i}]
                try:
                    answer = client.post("/api/v1/transactions", json=body)
                except httpx.HTTPError:
                    return
                if answer.status_code != 201:
                    return
                with lock:
                    acked.append((answer.json()["records"][0]["id"], i))

    workers = [threading.Thread(target=load, args=(w,)) for w in range(6)]
    for w in workers:
        w.start()
    wait_until(lambda: len(acked) > 300)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    for w in workers:
        w.join()
    conn = sqlite3.connect(server.db)
    rows = dict(conn.execute("SELECT id, count FROM transactions"))
    missing = [(i, c) for i, c in acked if rows.get(i) != c]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
    # The rollup matches the records exactly, so series/summary agree with the rows.
    assert (
        conn.execute("SELECT SUM(count) FROM transactions").fetchone()
        == conn.execute("SELECT SUM(count) FROM minute_totals").fetchone()
    )
    again = spawn(db=server.db)
    assert httpx.get(again.url + "/healthz").json()["status"] == "ok"
