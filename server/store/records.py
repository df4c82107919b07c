"""Transactions, the per-minute rollup and idempotency keys: writes (writer thread) and reads."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from server.records import Record


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


def is_postgres(conn: object) -> bool:
    """True for a PostgreSQL connection (the adapter in `store.postgres`), False for sqlite3."""
    return getattr(conn, "dialect", None) == "postgresql"


def next_record_id(conn: sqlite3.Connection) -> int:
    """SQLite: the id after the largest (one writer assigns them in order). PostgreSQL's are
    reserved per request from a shared sequence instead (`reserve_record_ids`)."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM transactions").fetchone()[0])


def reserve_record_ids(conn: sqlite3.Connection, n: int) -> int:
    """PostgreSQL only: the first of `n` consecutive ids no other receiver will use."""
    import server.store.postgres as postgres

    return postgres.reserve_ids(conn, n)  # type: ignore[arg-type]


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
        if self.rows and is_postgres(conn):
            import server.store.postgres as postgres

            postgres.insert_records(conn, self.rows)  # type: ignore[arg-type]
        elif self.rows:
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
    """SQLite: ids are dense and never reused (nothing is deleted), so the largest id is the
    count. PostgreSQL's sequence leaves gaps (rolled-back reservations): sum the rollup."""
    if is_postgres(conn):
        return int(
            conn.execute("SELECT COALESCE(SUM(records), 0) FROM minute_totals").fetchone()[0]
        )
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
