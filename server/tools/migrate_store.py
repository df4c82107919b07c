"""`txmon-server migrate-store`: copy a whole store to another, SQLite to PostgreSQL or back.

History (records and the minute rollup), Idempotency-Key answers, alerts with their timeline,
silences and the notification outbox are copied table by table, with COPY on the PostgreSQL
side for the bulk and a progress bar on stderr. Stop the receivers first. Idempotent: a run
interrupted or repeated ends with the destination holding every source row once (records
and timeline rows are kept as they are, rows that change, such as alerts, take the source's
values), so running it again after a failure simply finishes the job.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from server import store
from server.config.location import POSTGRESQL, SQLITE, StoreLocation, resolve
from server.errors import ConfigError, StoreError
from server.store.alerts import ALERT_FIELDS

EPILOG = """examples:
  txmon-server migrate-store --from ./txmon.db --to postgresql://txmon@db.internal:5432/txmon
  txmon-server migrate-store --from postgresql://txmon@db.internal/txmon --to ./txmon.db
"""

# (table, columns, key, replace): in foreign-key order; `replace` for rows that change.
TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    (
        "transactions",
        ("id", "ts", "status", "count", "severity", "score", "expected", "upper", "received_at"),
        ("id",),
        False,
    ),
    ("minute_totals", ("minute", "status", "count", "records"), ("minute", "status"), True),
    ("idempotency", ("key", "body_hash", "code", "answer", "created_at"), ("key",), True),
    (
        "alerts",
        (*ALERT_FIELDS, "updated_at", "notified_at"),
        ("id",),
        True,
    ),
    (
        "alert_events",
        ("id", "alert_id", "type", "at", "detail", "snapshot", "recorded_at"),
        ("id",),
        False,
    ),
    (
        "silences",
        ("id", "status", "created_by", "reason", "created_at", "expires_at", "removed_at"),
        ("id",),
        True,
    ),
    (
        "outbox",
        (
            "id",
            "alert_id",
            "event_id",
            "kind",
            "channel",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "payload",
            "created_at",
            "sent_at",
        ),
        ("id",),
        True,
    ),
)
CHUNK = 5000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--from and --to, each a SQLite path or sqlite: URL, or a postgresql:// URL."""
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="STORE",
        help="the store to copy: a SQLite path or a postgresql:// URL (its password best in"
        " $PGPASSWORD or ~/.pgpass, not in the URL)",
    )
    parser.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="STORE",
        help="the store to fill, of the same forms; its tables are made if missing",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class Progress:
    """A one-line progress bar per table on stderr (only redrawn a few times a second)."""

    def __init__(self, out: TextIO, enabled: bool = True) -> None:
        self.out = out
        self.enabled = enabled
        self._drawn = 0.0

    def show(self, table: str, done: int, total: int, final: bool = False) -> None:
        if not self.enabled or (not final and time.monotonic() - self._drawn < 0.2):
            return
        self._drawn = time.monotonic()
        share = 1.0 if total == 0 else min(1.0, done / total)
        bar = "#" * int(share * 30)
        self.out.write(f"\r{table:<14} [{bar:<30}] {share:4.0%} {done:>10,}/{total:,}")
        if final:
            self.out.write("\n")
        self.out.flush()


def _open(location: StoreLocation, *, must_exist: bool) -> Any:
    if location.kind == SQLITE and must_exist and not os.path.exists(location.target):
        raise ConfigError(f"--from {location.target}: no such SQLite file")
    return store.open_store(location)


def _rows(conn: Any, table: str, columns: Sequence[str], progress: Any) -> Iterator[Sequence[Any]]:
    if getattr(conn, "dialect", None) == POSTGRESQL:
        from server.store.postgres import copy_out

        source: Any = copy_out(conn, table, columns)
    else:
        source = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1")
    for done, row in enumerate(source, 1):
        yield row
        progress(done)


def _write_sqlite(
    conn: Any,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: Iterator[Sequence[Any]],
    *,
    replace: bool,
) -> None:
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    if replace:
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
        conflict = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    else:
        conflict = f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}){conflict}"
    conn.execute("BEGIN IMMEDIATE")
    try:
        chunk: list[Sequence[Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                conn.executemany(sql, chunk)
                chunk = []
        if chunk:
            conn.executemany(sql, chunk)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def migrate_store(
    source: StoreLocation, target: StoreLocation, out: TextIO, quiet: bool = False
) -> dict[str, int]:
    """Copy every table of `source` into `target` (created or migrated first); rows per table."""
    if source == target:
        raise ConfigError("--from and --to name the same store")
    src = _open(source, must_exist=True)
    dst = _open(target, must_exist=False)
    try:
        version = store.schema_version(src)
        if version != store.SCHEMA_VERSION:
            raise StoreError(
                f"{source.shown} has schema version {version}, this txmon has "
                f"{store.SCHEMA_VERSION}: run init-db on it first"
            )
        store.migrate(dst)
        progress = Progress(out, enabled=not quiet)
        copied: dict[str, int] = {}
        for table, columns, key, replace in TABLES:
            total = int(src.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

            def tick(done: int, table: str = table, total: int = total) -> None:
                progress.show(table, done, total)

            rows = _rows(src, table, columns, tick)
            if target.kind == POSTGRESQL:
                from server.store.postgres import copy_in

                copied[table] = copy_in(dst, table, columns, key, rows, replace=replace)
            else:
                _write_sqlite(dst, table, columns, key, rows, replace=replace)
                copied[table] = total
            progress.show(table, total, total, final=True)
        return copied
    finally:
        src.close()
        dst.close()


def run(args: argparse.Namespace) -> int:
    source = resolve(args.source, "")
    target = resolve(args.target, "")
    copied = migrate_store(source, target, sys.stderr, quiet=args.quiet)
    print(
        f"copied {source.shown} -> {target.shown}: "
        + ", ".join(f"{table} {n:,}" for table, n in copied.items())
    )
    return 0
