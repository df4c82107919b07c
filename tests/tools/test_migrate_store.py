"""migrate-store copies a whole store, SQLite to PostgreSQL and back, idempotently."""

from __future__ import annotations

from pathlib import Path

import httpx

from server import store
from server.config.location import resolve
from server.tools.migrate_store import TABLES
from tests.store.test_cli_and_store import run_cli
from tests.store.test_stores import minute, post


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every copied table, in key order."""
    conn = store.open_store(resolve(url, ""))
    try:
        return {
            table: [
                tuple(row)
                for row in conn.execute(
                    f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2"
                ).fetchall()
            ]
            for table, columns, _, _ in TABLES
        }
    finally:
        conn.close()


def filled_sqlite(spawn, path: Path) -> None:
    """A store with history, an acknowledged alert, a silence and outbox rows."""
    server = spawn(db=path)
    client = httpx.Client(base_url=server.url, timeout=30)
    for m in range(90):
        assert post(client, minute(m, 115 + m % 11, 5 + m % 4)).status_code == 201
    for m in range(90, 94):
        assert post(client, minute(m, denied=75), **{"Idempotency-Key": f"k{m}"}).status_code == 201
    alert = client.get("/api/v1/alerts").json()["alerts"][0]
    assert client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ana"}).status_code == 200
    silence = {"status": "failed", "minutes": 60, "by": "ana", "reason": "deploy"}
    assert client.post("/api/v1/silences", json=silence).status_code == 201
    client.close()
    assert server.stop()[0] == 0
    conn = store.connect(str(path))
    store.enqueue(
        conn,
        alert_id=alert["id"],
        event_id=1,
        kind="opened",
        channels=["telegram", "webhook"],
        payload='{"x": 1}',
        now=1_752_300_000,
        due=1_752_300_000.5,
    )
    conn.close()


def test_a_store_goes_to_postgres_and_back_unchanged(spawn, tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "txmon.db"
    filled_sqlite(spawn, source)
    original = dump(str(source))
    assert all(original[t] for t in original)  # every table has rows to copy

    up = run_cli("migrate-store", "--from", str(source), "--to", pg_url)
    assert up.returncode == 0, up.stderr
    assert "transactions" in up.stderr and "100%" in up.stderr  # the progress bar
    assert "copied" in up.stdout
    assert dump(pg_url) == original

    again = run_cli("migrate-store", "--from", str(source), "--to", pg_url)  # idempotent
    assert again.returncode == 0, again.stderr
    assert dump(pg_url) == original

    back = tmp_path / "back.db"
    down = run_cli("migrate-store", "--from", pg_url, "--to", f"sqlite://{back}")
    assert down.returncode == 0, down.stderr
    assert dump(str(back)) == original


def test_a_receiver_goes_on_from_the_copied_store(spawn, tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "txmon.db"
    filled_sqlite(spawn, source)
    assert run_cli("migrate-store", "--from", str(source), "--to", pg_url).returncode == 0
    server = spawn("--store", pg_url)
    client = httpx.Client(base_url=server.url, timeout=30)
    alerts = client.get("/api/v1/alerts").json()["alerts"]
    assert [(a["status"], a["state"]) for a in alerts] == [("denied", "acknowledged")]
    replay = post(client, minute(93, denied=75), **{"Idempotency-Key": "k93"})
    assert replay.status_code == 201  # the copied key answers as before, storing nothing
    fresh = post(client, minute(94))
    assert fresh.status_code == 201
    assert [r["id"] for r in fresh.json()["records"]] == [94 * 2 + 1, 94 * 2 + 2]
    client.close()
    server.stop()


def test_migrating_from_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("migrate-store", "--from", str(tmp_path / "nope.db"), "--to", "x.db")
    assert result.returncode == 2
    assert "no such SQLite file" in result.stderr and "Traceback" not in result.stderr
