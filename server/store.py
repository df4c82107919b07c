"""All SQL lives here: schema and migrations, the write path used by the writer thread, and
the read queries used by the API. A different backend only has to replace this module.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from server.alerts import Alert, AlertEvent, Silence
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


class Verdict(Protocol):
    """What detection said of one record (the engine's `Judged` is one)."""

    severity: str
    score: float
    expected: float
    upper: float


def create_private(path: str) -> None:
    """Make the database file (0600) and any missing folders above it (0700), whatever the
    umask: the store holds the operators' notes and the outbox. SQLite gives its -wal and
    -shm files the database file's mode. Existing files and folders keep theirs."""
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
    # A checkpoint fsyncs and stalls the commit that runs it; every 10,000 pages (~40 MB of
    # WAL) instead of 1,000 keeps those stalls out of the 99th percentile.
    conn.execute("PRAGMA wal_autocheckpoint=250")
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


class PendingRecords:
    """Records judged by jobs of the current write batch, inserted together just before
    COMMIT: one INSERT and one rollup UPSERT per transaction instead of per request."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def add(
        self,
        first_id: int,
        records: Sequence[Record],
        verdicts: Sequence[Verdict],
        received_at: int,
    ) -> None:
        """Stage records (ids from `first_id` on, consecutive across calls) with verdicts."""
        if len(records) != len(verdicts):
            raise ValueError(f"{len(records)} records but {len(verdicts)} verdicts")
        self.rows.extend(
            (i, r[0], r[1], r[2], v.severity, v.score, v.expected, v.upper, received_at)
            for i, r, v in zip(itertools.count(first_id), records, verdicts)
        )

    def flush(self, conn: sqlite3.Connection) -> None:
        """Insert everything staged (in the open transaction) and start empty.

        Verdict numbers are stored unrounded (reads round them) and the rollup is summed by
        SQLite from the rows just inserted: both cost Python nothing per record.
        """
        if self.rows:
            conn.executemany(
                "INSERT INTO transactions (id, ts, status, count, severity, score, expected,"
                " upper, received_at) VALUES (?,?,?,?,?,?,?,?,?)",
                self.rows,
            )
            conn.execute(
                "INSERT INTO minute_totals (minute, status, count, records)"
                " SELECT ts - ts % 60, status, SUM(count), COUNT(*) FROM transactions"
                " WHERE id >= ? GROUP BY 1, 2"
                " ON CONFLICT (minute, status) DO UPDATE SET count = count + excluded.count,"
                " records = records + excluded.records",
                (self.rows[0][0],),  # the first id staged: every row from it on is new
            )
        self.clear()

    def clear(self) -> None:
        self.rows = []


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


_ALERT_FIELDS = (
    "id",
    "status",
    "kind",
    "state",
    "severity",
    "first_seen",
    "last_seen",
    "peak_count",
    "peak_score",
    "expected",
    "acknowledged_by",
    "acknowledged_at",
    "ack_note",
    "resolved_at",
    "silenced",
)
_ALERT_COLUMNS = ", ".join(_ALERT_FIELDS)


def save_events(conn: sqlite3.Connection, events: Sequence[AlertEvent], now: int) -> list[int]:
    """Bring each alert's row to its latest state, record the events; return their ids."""
    latest = {event.alert_id: event.alert for event in events}
    for alert in latest.values():
        save_alert(conn, alert, now)
    ids = []
    for e in events:
        cursor = conn.execute(
            "INSERT INTO alert_events (alert_id, type, at, detail, snapshot, recorded_at)"
            " VALUES (?,?,?,?,?,?)",
            (e.alert_id, e.type, e.at, e.detail, json.dumps(e.alert.as_dict()), now),
        )
        ids.append(int(cursor.lastrowid or 0))
    return ids


def save_alert(conn: sqlite3.Connection, alert: Alert, now: int) -> None:
    values = [getattr(alert, name) for name in _ALERT_FIELDS]
    conn.execute(
        f"INSERT INTO alerts ({_ALERT_COLUMNS}, updated_at)"
        f" VALUES ({','.join('?' * (len(_ALERT_FIELDS) + 1))})"
        " ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in _ALERT_FIELDS[1:])
        + ", updated_at = excluded.updated_at",
        [*values, now],
    )


def save_silence(conn: sqlite3.Connection, silence: Silence) -> None:
    conn.execute(
        "INSERT INTO silences (id, status, created_by, reason, created_at, expires_at)"
        " VALUES (?,?,?,?,?,?)",
        (
            silence.id,
            silence.status,
            silence.created_by,
            silence.reason,
            silence.created_at,
            silence.expires_at,
        ),
    )


def remove_silence(conn: sqlite3.Connection, silence_id: int, now: int) -> None:
    conn.execute("UPDATE silences SET removed_at = ? WHERE id = ?", (now, silence_id))


# --- read path (any thread, own connection) ------------------------------------------------


def probe(conn: sqlite3.Connection) -> None:
    """A cheap read that fails when the database cannot be read."""
    conn.execute("SELECT 1 FROM minute_totals LIMIT 1").fetchone()


class ReadersBusy(TimeoutError):
    """Every read connection stayed in use for the whole wait."""


class Readers:
    """A fixed pool of read-only connections, so API reads never wait for the writer and
    the receiver never holds more than `size` of them whatever its clients do."""

    def __init__(self, path: str, size: int = 8, wait: float = 10.0) -> None:
        self._path = path
        self._size = size
        self._wait = wait
        self._free: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._made: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def opened(self) -> int:
        """Connections made so far (at most `size`)."""
        return len(self._made)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            f"file:{self._path}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=30,
        )
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection for one read; ReadersBusy if none comes free in time."""
        try:
            conn = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                conn = self._open() if len(self._made) < self._size else None
                if conn is not None:
                    self._made.append(conn)
            if conn is None:
                try:
                    conn = self._free.get(timeout=self._wait)
                except queue.Empty:
                    raise ReadersBusy(
                        f"all {self._size} read connections stayed busy for {self._wait:g} s"
                    ) from None
        try:
            yield conn
        finally:
            if conn.in_transaction:  # a read interrupted mid-statement
                conn.rollback()
            self._free.put(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._made:
                conn.close()
            self._made.clear()


_RECORD_COLUMNS = (
    "id, ts, status, count, severity, round(score, 3), round(expected, 3), round(upper, 3)"
)


def page_query(
    *,
    limit: int,
    before_id: int | None = None,
    after_id: int | None = None,
    statuses: Iterable[str] = (),
    severities: Iterable[str] = (),
) -> tuple[str, list[object]]:
    """The SQL and arguments of a page of records (apart so its plan can be tested)."""
    where: list[str] = []
    args: list[object] = []
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
    sql = f"SELECT {_RECORD_COLUMNS} FROM transactions"
    if severities:
        where.append(f"severity IN ({','.join('?' * len(severities))})")
        args.extend(severities)
        if "normal" not in severities:
            # Abnormal records are few: use their partial index, spelling out its condition
            # so SQLite accepts it (otherwise a filter on `high` scans every record: 26 s at
            # 10M rows) and preferring it to the status index SQLite would pick.
            where.append("severity != 'normal'")
            sql += " INDEXED BY transactions_severity_id"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return sql, args


def page_records(conn: sqlite3.Connection, **query: Any) -> list[StoredRecord]:
    """Newest first; `before_id` pages back, `after_id` returns only newer rows."""
    sql, args = page_query(**query)
    return [StoredRecord(*row) for row in conn.execute(sql, args)]


def newest_minute(conn: sqlite3.Connection, not_after: int | None = None) -> int | None:
    """The newest stored minute, ignoring any later than `not_after` (see `future_records`)."""
    if not_after is None:
        return conn.execute("SELECT MAX(minute) FROM minute_totals").fetchone()[0]
    return conn.execute(
        "SELECT MAX(minute) FROM minute_totals WHERE minute <= ?", (not_after,)
    ).fetchone()[0]


def future_records(conn: sqlite3.Connection, after: int) -> tuple[int, int | None]:
    """(records, newest minute) stored with event times after `after`: left by a sender with
    a skewed clock before the receiver refused such records."""
    count, newest = conn.execute(
        "SELECT COALESCE(SUM(records), 0), MAX(minute) FROM minute_totals WHERE minute > ?",
        (after,),
    ).fetchone()
    return int(count), newest


def distinct_statuses(conn: sqlite3.Connection) -> set[str]:
    """Every status ever stored, by seeking through the (status, id) index: O(statuses)."""
    found: set[str] = set()
    after = ""
    while True:
        row = conn.execute(
            "SELECT status FROM transactions WHERE status > ? ORDER BY status LIMIT 1", (after,)
        ).fetchone()
        if row is None:
            return found
        after = row[0]
        found.add(after)


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


def minute_totals_since(
    conn: sqlite3.Connection, first: int, last: int
) -> Iterable[tuple[int, str, int]]:
    """Every (minute, status, count) from `first` to `last`, in minute order: for warming."""
    return conn.execute(
        "SELECT minute, status, count FROM minute_totals WHERE minute BETWEEN ? AND ?"
        " ORDER BY minute",
        (first, last),
    )


def _alert(row: Sequence[object]) -> Alert:
    values = dict(zip(_ALERT_FIELDS, row, strict=True))
    values["silenced"] = bool(values["silenced"])
    return Alert(**values)  # type: ignore[arg-type]


def list_alerts(conn: sqlite3.Connection, states: Sequence[str], limit: int) -> list[Alert]:
    """Alerts in the given states, newest first."""
    marks = ",".join("?" * len(states))
    rows = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state IN ({marks}) ORDER BY id DESC LIMIT ?",
        [*states, limit],
    )
    return [_alert(row) for row in rows]


def get_alert(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return _alert(row) if row else None


def alert_timeline(conn: sqlite3.Connection, alert_id: int) -> list[dict[str, object]]:
    rows = conn.execute(
        "SELECT type, at, detail, recorded_at FROM alert_events WHERE alert_id = ? ORDER BY id",
        (alert_id,),
    )
    return [{"type": t, "at": at, "detail": d, "recorded_at": r} for t, at, d, r in rows]


def open_alert_counts(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT state, COUNT(*) FROM alerts WHERE state != 'resolved' GROUP BY state"
    )
    return dict(rows.fetchall())


def max_alert_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0])


def max_silence_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM silences").fetchone()[0])


def list_silences(conn: sqlite3.Connection, now: int) -> list[Silence]:
    """Silences in force: not removed and not yet expired."""
    rows = conn.execute(
        "SELECT id, status, created_by, reason, created_at, expires_at FROM silences"
        " WHERE removed_at IS NULL AND expires_at > ? ORDER BY id",
        (now,),
    )
    return [Silence(*row) for row in rows]


def get_silence(conn: sqlite3.Connection, silence_id: int) -> Silence | None:
    row = conn.execute(
        "SELECT id, status, created_by, reason, created_at, expires_at FROM silences"
        " WHERE id = ? AND removed_at IS NULL",
        (silence_id,),
    ).fetchone()
    return Silence(*row) if row else None


# --- outbox ------------------------------------------------------------------------------

_OUTBOX_COLUMNS = (
    "id, alert_id, event_id, kind, channel, state, attempts, next_attempt_at, last_error,"
    " payload, created_at, sent_at"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One notification to one channel, and how its delivery stands."""

    id: int
    alert_id: int | None
    event_id: int | None
    kind: str
    channel: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    payload: str
    created_at: int
    sent_at: int | None


def enqueue(
    conn: sqlite3.Connection,
    *,
    alert_id: int | None,
    event_id: int | None,
    kind: str,
    channels: Sequence[str],
    payload: str,
    now: int,
    due: float,
    state: str = "pending",
) -> None:
    """Queue one notification per channel (in the caller's transaction)."""
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (alert_id, event_id, kind, channel, state, attempts,"
        " next_attempt_at, payload, created_at) VALUES (?,?,?,?,?,0,?,?,?)",
        [(alert_id, event_id, kind, channel, state, due, payload, now) for channel in channels],
    )


def record_delivered(
    conn: sqlite3.Connection,
    *,
    kind: str,
    channel: str,
    state: str,
    error: str | None,
    payload: str,
    now: int,
) -> None:
    """A notification sent at once (test-fire), kept in the outbox for the record."""
    conn.execute(
        "INSERT INTO outbox (alert_id, event_id, kind, channel, state, attempts, next_attempt_at,"
        " last_error, payload, created_at, sent_at) VALUES (NULL, NULL, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
        (kind, channel, state, now, error, payload, now, now if state == "sent" else None),
    )


def due_notifications(
    conn: sqlite3.Connection, channel: str, now: float, limit: int = 50
) -> list[OutboxRow]:
    rows = conn.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND channel = ?"
        " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        (channel, now, limit),
    )
    return [OutboxRow(*row) for row in rows]


def waiting_openings(conn: sqlite3.Connection, channel: str) -> list[OutboxRow]:
    """Not-yet-due first attempts of 'opened' notifications: they join a group sent now."""
    rows = conn.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND channel = ?"
        " AND kind = 'opened' AND attempts = 0 ORDER BY id",
        (channel,),
    )
    return [OutboxRow(*row) for row in rows]


def next_due(conn: sqlite3.Connection, channel: str) -> float | None:
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending' AND channel = ?",
        (channel,),
    ).fetchone()
    return row[0]


def mark_sending(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    """Record the attempt before it is made: a crash mid-send leaves the row 'sending'."""
    conn.executemany(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?",
        [(i,) for i in ids],
    )


def mark_outcome(
    conn: sqlite3.Connection,
    ids: Sequence[int],
    state: str,
    *,
    error: str | None,
    now: int,
    retry_at: float | None = None,
) -> None:
    conn.executemany(
        "UPDATE outbox SET state = ?, last_error = ?, sent_at = ?,"
        " next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?",
        [(state, error, now if state == "sent" else None, retry_at, i) for i in ids],
    )


def mark_in_flight_ambiguous(conn: sqlite3.Connection) -> int:
    """At start-up: sends that were under way when the process died may or may not have
    arrived; they are marked, never silently repeated."""
    return conn.execute(
        "UPDATE outbox SET state = 'ambiguous', last_error = 'receiver stopped during the send;"
        " delivery unknown, not retried' WHERE state = 'sending'"
    ).rowcount


def fail_unknown_channels(conn: sqlite3.Connection, known: Sequence[str]) -> int:
    marks = ",".join("?" * len(known)) or "''"
    return conn.execute(
        f"UPDATE outbox SET state = 'failed', last_error = 'channel no longer configured'"
        f" WHERE state = 'pending' AND channel NOT IN ({marks})",
        list(known),
    ).rowcount


def list_notifications(conn: sqlite3.Connection, limit: int) -> list[OutboxRow]:
    rows = conn.execute(f"SELECT {_OUTBOX_COLUMNS} FROM outbox ORDER BY id DESC LIMIT ?", (limit,))
    return [OutboxRow(*row) for row in rows]


def notification_counts(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(channel, state, count) over the whole outbox."""
    return conn.execute(
        "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state ORDER BY 1, 2"
    ).fetchall()


def notified_at(conn: sqlite3.Connection, alert_id: int) -> int | None:
    row = conn.execute("SELECT notified_at FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return row[0] if row else None


def cancel_reminders(conn: sqlite3.Connection, alert_id: int) -> None:
    conn.execute(
        "UPDATE outbox SET state = 'cancelled', last_error = 'acknowledged before delivery'"
        " WHERE alert_id = ? AND kind = 'reminder' AND state = 'pending'",
        (alert_id,),
    )


def set_notified(conn: sqlite3.Connection, alert_ids: Sequence[int], now: int) -> None:
    conn.executemany(
        "UPDATE alerts SET notified_at = ? WHERE id = ?", [(now, i) for i in alert_ids]
    )


def reminders_due(conn: sqlite3.Connection, before: int) -> list[Alert]:
    """Firing, unsilenced alerts not notified since `before`."""
    rows = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state = 'firing' AND silenced = 0"
        " AND notified_at IS NOT NULL AND notified_at < ? ORDER BY id",
        (before,),
    )
    return [_alert(row) for row in rows]
