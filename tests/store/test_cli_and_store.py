"""init-db, migrations, config precedence and the serve command's refusals."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from server import store
from server.config import ConfigError, load
from tests.conftest import REPO


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_db_creates_then_reports_up_to_date(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "dir" / "txmon.db"
    first = run_cli("init-db", "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert f"{db}: schema version {store.SCHEMA_VERSION} (created)" in first.stdout
    second = run_cli("init-db", "--db", str(db))
    assert "(up to date)" in second.stdout


def test_migrating_an_empty_file_builds_every_table(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    conn = store.connect(str(db))
    assert store.migrate(conn) == store.SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"transactions", "minute_totals", "idempotency"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={store.SCHEMA_VERSION + 5}")
    conn.close()
    result = run_cli("init-db", "--db", str(db))
    assert result.returncode == 1
    assert "newer than this txmon" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not a database" * 100)
    result = run_cli("init-db", "--db", str(db))
    assert result.returncode == 1
    assert "database error" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["init-db", "serve"])
def test_a_database_path_that_cannot_be_created_is_a_clear_error(
    tmp_path: Path, command: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(
        command, "--db", str(blocker / "txmon.db"), *(["--port", "0"] * (command == "serve"))
    )
    assert result.returncode == 1
    assert f"database error: cannot create {blocker / 'txmon.db'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "a.db"))
    assert result.returncode == 2
    assert "without a token" in result.stderr and "TXMON_TOKEN" in result.stderr


def test_flags_beat_env_beat_file_beat_defaults(tmp_path: Path) -> None:
    path = tmp_path / "txmon.toml"
    path.write_text('[server]\nport = 1111\nhost = "127.0.0.2"\nmax_body_bytes = 4096\n')
    config = load(
        flags={"port": 3333}, env={"TXMON_PORT": "2222", "TXMON_HOST": "::1"}, path=str(path)
    )
    assert (config.port, config.host, config.max_body_bytes) == (3333, "::1", 4096)
    assert load(env={}, path=str(path)).port == 1111
    assert load(env={}).port == 8787


def test_config_names_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"server\.prot"):
        load(env={}, path=str(path))
    with pytest.raises(ConfigError, match="port"):
        load(env={"TXMON_PORT": "eighty"})


def test_config_repr_hides_the_token() -> None:
    config = load(env={"TXMON_TOKEN": "hunter2-secret"})
    assert config.token == "hunter2-secret"
    assert "hunter2" not in repr(config)


def test_token_never_reaches_the_log(spawn) -> None:
    import httpx

    token = "tok-9f8e7d6c5b4a"
    server = spawn("--access-log", "all", env={"TXMON_TOKEN": token})
    httpx.get(server.url + "/api/v1/summary", headers={"Authorization": f"Bearer {token}x"})
    httpx.get(server.url + "/api/v1/summary", headers={"Authorization": f"Bearer {token}"})
    _, err = server.stop()
    assert '"code":401' in err and '"code":200' in err
    assert token not in err


def test_help_of_every_command_has_an_example() -> None:
    for command in ("serve", "init-db", "backtest", "import", "generate", "migrate-store"):
        result = run_cli(command, "--help")
        assert result.returncode == 0
        assert "example" in result.stdout


@pytest.mark.parametrize(
    "query",
    [
        {"severities": ["high"]},
        {"severities": ["high", "medium"], "statuses": ["denied"]},
        {"statuses": ["failed"]},
        {"statuses": ["failed"], "before_id": 10},
        {"after_id": 5},
    ],
)
def test_transaction_pages_use_an_index_not_a_scan(tmp_path: Path, query: dict) -> None:
    conn = store.connect(str(tmp_path / "plan.db"))
    store.migrate(conn)
    sql, args = store.page_query(limit=100, **query)
    plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
    assert plan.startswith("SEARCH transactions"), plan  # an index seek, never a full scan


def test_store_urls_choose_the_store_and_hide_the_password(tmp_path: Path) -> None:
    from server.config.location import redact

    assert load(env={}, flags={"db": str(tmp_path / "a.db")}).location.kind == "sqlite"
    assert load(env={"TXMON_STORE": "sqlite:///x/t.db"}).location.target == "/x/t.db"
    assert load(env={"TXMON_STORE": str(tmp_path / "b.db")}).location.kind == "sqlite"
    path = tmp_path / "txmon.toml"
    path.write_text('[store]\nstore = "postgresql://txmon:s3cr3t@db:5432/txmon"\n')
    config = load(env={}, path=str(path))
    assert config.location.kind == "postgresql"
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in config.location.shown
    assert redact("host=db password='a b' user=x") == "host=db password=*** user=x"
    assert redact("postgresql://u@h/d?password=pw&sslmode=require").endswith("***&sslmode=require")
    with pytest.raises(ConfigError, match="mysql"):
        load(env={"TXMON_STORE": "mysql://u@h/d"})
