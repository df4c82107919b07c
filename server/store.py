"""All SQL lives here: schema and migrations, the write path used by the writer thread, and
the read queries used by the API. A different backend only has to replace this module.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from server.records import Record

# Each entry moves the schema one version forward; never edit a released entry, append one.
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
)

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, unreadable file, disk full...)."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored, with its id and the verdict detection gave it."""

    id: int
    ts: int
    status: str
    count: int
    severity: str
    score: float | None
    expected: float | None
    upper: float | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What detection said of one record; `normal` with no numbers when it had no opinion."""

    severity: str = "normal"
    score: float | None = None
    expected: float | None = None
    upper: float | None = None


def connect(path: str, *, synchronous: str = "normal") -> sqlite3.Connection:
    """Open a connection in autocommit mode with WAL and sane pragmas."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_size_limit=67108864")  # trim the WAL file after checkpoints
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION`, one transaction per step; return the version."""
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


# --- write path (writer thread only) -------------------------------------------------------


def next_record_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM transactions").fetchone()[0])


def insert_records(
    conn: sqlite3.Connection,
    first_id: int,
    records: Sequence[Record],
    verdicts: Sequence[Verdict],
    received_at: int,
) -> list[int]:
    """Insert records (ids from `first_id` on) and fold them into the minute rollup."""
    ids = list(range(first_id, first_id + len(records)))
    conn.executemany(
        "INSERT INTO transactions (id, ts, status, count, severity, score, expected, upper,"
        " received_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (i, r.ts, r.status, r.count, v.severity, v.score, v.expected, v.upper, received_at)
            for i, r, v in zip(ids, records, verdicts, strict=True)
        ],
    )
    rollup: dict[tuple[int, str], list[int]] = {}
    for r in records:
        slot = rollup.setdefault((r.ts - r.ts % 60, r.status), [0, 0])
        slot[0] += r.count
        slot[1] += 1
    conn.executemany(
        "INSERT INTO minute_totals (minute, status, count, records) VALUES (?,?,?,?)"
        " ON CONFLICT (minute, status) DO UPDATE SET count = count + excluded.count,"
        " records = records + excluded.records",
        [(m, s, c, n) for (m, s), (c, n) in rollup.items()],
    )
    return ids


def idempotent_answer(conn: sqlite3.Connection, key: str) -> tuple[str, int, str] | None:
    """(body hash, status code, answer JSON) stored for this key, if any."""
    row = conn.execute(
        "SELECT body_hash, code, answer FROM idempotency WHERE key = ?", (key,)
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def remember_answer(
    conn: sqlite3.Connection, key: str, body_hash: str, code: int, answer: str, now: int
) -> None:
    conn.execute(
        "INSERT INTO idempotency (key, body_hash, code, answer, created_at) VALUES (?,?,?,?,?)",
        (key, body_hash, code, answer, now),
    )


def forget_answers_before(conn: sqlite3.Connection, cutoff: int) -> int:
    return conn.execute("DELETE FROM idempotency WHERE created_at < ?", (cutoff,)).rowcount


# --- read path (any thread, own connection) ------------------------------------------------


class Readers:
    """One read-only connection per thread, so API reads never wait for the writer."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                f"file:{self._path}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=30,
            )
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


_RECORD_COLUMNS = "id, ts, status, count, severity, score, expected, upper"


def page_records(
    conn: sqlite3.Connection,
    *,
    limit: int,
    before_id: int | None = None,
    after_id: int | None = None,
    statuses: Iterable[str] = (),
    severities: Iterable[str] = (),
) -> list[StoredRecord]:
    """Newest first; `before_id` pages back, `after_id` returns only newer rows."""
    where, args = [], []
    if before_id is not None:
        where.append("id < ?")
        args.append(before_id)
    if after_id is not None:
        where.append("id > ?")
        args.append(after_id)
    statuses, severities = list(statuses), list(severities)
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        args.extend(statuses)
    if severities:
        where.append(f"severity IN ({','.join('?' * len(severities))})")
        args.extend(severities)
    sql = f"SELECT {_RECORD_COLUMNS} FROM transactions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [StoredRecord(*row) for row in conn.execute(sql, args)]


def newest_minute(conn: sqlite3.Connection) -> int | None:
    return conn.execute("SELECT MAX(minute) FROM minute_totals").fetchone()[0]


def minute_series(
    conn: sqlite3.Connection, first: int, last: int, status: str | None = None
) -> list[tuple[int, str, int]]:
    """(minute, status, count) rows with first <= minute <= last, in minute order."""
    sql = "SELECT minute, status, count FROM minute_totals WHERE minute BETWEEN ? AND ?"
    args: list[object] = [first, last]
    if status is not None:
        sql += " AND status = ?"
        args.append(status)
    return conn.execute(sql + " ORDER BY minute", args).fetchall()


def window_totals(conn: sqlite3.Connection, first: int, last: int) -> dict[str, tuple[int, int]]:
    """status -> (count, records) summed over first <= minute <= last."""
    rows = conn.execute(
        "SELECT status, SUM(count), SUM(records) FROM minute_totals"
        " WHERE minute BETWEEN ? AND ? GROUP BY status",
        (first, last),
    )
    return {status: (count, records) for status, count, records in rows}


def records_stored(conn: sqlite3.Connection) -> int:
    """Ids are dense and never reused (nothing is deleted), so the largest id is the count."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM transactions").fetchone()[0])


def minute_totals_since(conn: sqlite3.Connection, first: int) -> Iterable[tuple[int, str, int]]:
    """Every (minute, status, count) from `first` on, in minute order: for warming detection."""
    return conn.execute(
        "SELECT minute, status, count FROM minute_totals WHERE minute >= ? ORDER BY minute",
        (first,),
    )
