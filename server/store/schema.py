"""The SQLite schema, its migrations, and opening a database file safely."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from server.config.location import POSTGRESQL, StoreLocation
from server.errors import DatabaseUnreachable, StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: records with their verdicts, per-minute rollup, idempotent answers.
    """
    CREATE TABLE transactions (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        status TEXT NOT NULL,
        count INTEGER NOT NULL,
        severity TEXT NOT NULL DEFAULT 'normal',
        score REAL,
        expected REAL,
        upper REAL,
        received_at INTEGER NOT NULL
    );
    CREATE INDEX transactions_status_id ON transactions (status, id);
    CREATE INDEX transactions_severity_id ON transactions (severity, id)
        WHERE severity != 'normal';
    CREATE TABLE minute_totals (
        minute INTEGER NOT NULL,
        status TEXT NOT NULL,
        count INTEGER NOT NULL,
        records INTEGER NOT NULL,
        PRIMARY KEY (minute, status)
    ) WITHOUT ROWID;
    CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,
        body_hash TEXT NOT NULL,
        code INTEGER NOT NULL,
        answer TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX idempotency_created ON idempotency (created_at);
    """,
    # 2: alerts (one row per incident, kept current), their timeline, and silences.
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        severity TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        peak_count INTEGER NOT NULL,
        peak_score REAL NOT NULL,
        expected REAL NOT NULL,
        acknowledged_by TEXT,
        acknowledged_at INTEGER,
        ack_note TEXT,
        resolved_at INTEGER,
        silenced INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX alerts_state_id ON alerts (state, id);
    CREATE TABLE alert_events (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        type TEXT NOT NULL,
        at INTEGER NOT NULL,
        detail TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
    );
    CREATE INDEX alert_events_alert_id ON alert_events (alert_id, id);
    CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        status TEXT,
        created_by TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        removed_at INTEGER
    );
    """,
    # 3: the notification outbox, filled in the same transaction as the alert events.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER,
        event_id INTEGER,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at INTEGER
    );
    CREATE UNIQUE INDEX outbox_event_channel ON outbox (event_id, channel)
        WHERE event_id IS NOT NULL;
    CREATE INDEX outbox_due ON outbox (state, channel, next_attempt_at);
    ALTER TABLE alerts ADD COLUMN notified_at INTEGER;
    """,
    # 4: several receivers on one database: the detector's lease and checkpoint, outbox claims.
    """
    CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        term INTEGER NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS detector_checkpoint (
        name TEXT PRIMARY KEY,
        term INTEGER NOT NULL,
        watermark INTEGER,
        fed TEXT NOT NULL
    );
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claim_expires_at REAL;
    CREATE INDEX outbox_alert_channel ON outbox (alert_id, channel, id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def create_private(path: str) -> None:
    """Make the database file (0600) and any missing folders above it (0700), whatever the
    umask: the store holds the operators' notes and the outbox. SQLite gives its -wal and
    -shm files the database file's mode. Existing files and folders keep theirs. StoreError
    when the file or a folder cannot be made (a read-only or virtual file system...)."""
    try:
        folder = Path(path).parent
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            created.mkdir(mode=0o700, exist_ok=True)
            os.chmod(created, 0o700)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from exc


def connect(path: str, *, synchronous: str = "normal") -> sqlite3.Connection:
    """Open a connection in autocommit mode with WAL and sane pragmas."""
    if path != ":memory:":
        create_private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_size_limit=67108864")  # trim the WAL file after checkpoints
    # A checkpoint fsyncs and stalls the commit that runs it; small ones (250 pages, about 1 MB
    # of WAL, instead of the default 1,000) keep each stall short: measured in 2ac4e0a.
    conn.execute("PRAGMA wal_autocheckpoint=250")
    return conn


def open_store(location: StoreLocation, *, synchronous: str = "normal") -> sqlite3.Connection:
    """The writer's (or a command's) connection to the store `location` names."""
    if location.kind == POSTGRESQL:
        import server.store.postgres as postgres

        options = postgres.session_options(location.idle_in_transaction)
        return postgres.connect(location.target, options)  # type: ignore[return-value]
    return connect(location.target, synchronous=synchronous)


def open_readers(location: StoreLocation, size: int) -> Any:
    """The pool of read connections for the API (SQLite: read-only files; PostgreSQL: a
    checked psycopg pool)."""
    if location.kind == POSTGRESQL:
        import server.store.postgres as postgres

        options = postgres.session_options(location.idle_in_transaction)
        return postgres.PgReaders(location.target, size=size, options=options)
    from server.store.readers import Readers

    return Readers(location.target, size=size)


def database_errors() -> tuple[type[BaseException], ...]:
    """Every error a statement on either store raises when the database fails."""
    found: list[type[BaseException]] = [sqlite3.Error, DatabaseUnreachable]
    import sys

    postgres = sys.modules.get("server.store.postgres")
    if postgres is not None:
        found.append(postgres.DatabaseError)
    return tuple(found)


def _is_postgres(conn: object) -> bool:
    return getattr(conn, "dialect", None) == POSTGRESQL


def schema_version(conn: sqlite3.Connection) -> int:
    if _is_postgres(conn):
        import server.store.postgres as postgres

        return postgres.schema_version(conn)  # type: ignore[arg-type]
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate_from(conn: sqlite3.Connection) -> tuple[int, int]:
    """(version before, version after) of a migration; on PostgreSQL the first is read under
    the migration lock, so of receivers migrating at once only one reports it created."""
    if _is_postgres(conn):
        import server.store.postgres as postgres

        return postgres.migrate_from(conn)  # type: ignore[arg-type]
    before = schema_version(conn)
    return before, migrate(conn)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION`, one transaction per step; return the version."""
    if _is_postgres(conn):
        import server.store.postgres as postgres

        return postgres.migrate(conn)  # type: ignore[arg-type]
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema is version {version}, newer than this txmon ({SCHEMA_VERSION}); "
            "upgrade txmon"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        script = MIGRATIONS[number - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def probe(conn: sqlite3.Connection) -> None:
    """A cheap read that fails when the database cannot be read."""
    conn.execute("SELECT 1 FROM minute_totals LIMIT 1").fetchone()
