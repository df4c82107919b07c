"""`txmon-server import FILE.csv`: load a CloudWalk-format CSV into a receiver or a DB.

Rows are sorted into event-time order first (the 2025 file is grouped by status), then sent
in batches through the same ingest path as live traffic, so detection sees history in order.
Each batch's Idempotency-Key derives from the file's content: importing a file twice stores it
once.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from server.errors import TxmonError
from server.records import Record, iso
from server.tools.csvfiles import BadRow, CsvFormatError, load_sorted
from server.tools.options import whole_number
from server.tools.sender import Sender, SendError

BATCH = 5000
MAX_BATCH = 10_000  # the receiver's default max_batch_records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="FILE.csv",
        help="timestamp,status,count or time,status,"
        "f0_/count with 'HHh MM' times (then --date is required)",
    )
    parser.add_argument(
        "--date",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day of a file whose times have no date (2022 CloudWalk files)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="receiver to POST to (default http://127.0.0.1:8787)")
    target.add_argument(
        "--db",
        metavar="PATH",
        help="write straight into this database (no receiver may be running on it)",
    )
    parser.add_argument("--token", help="API token for --url (or $TXMON_TOKEN)")
    parser.add_argument(
        "--config", metavar="FILE", help="TOML config (detection settings for --db)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad row instead of skipping bad rows",
    )
    parser.add_argument(
        "--batch",
        type=whole_number(1, MAX_BATCH),
        default=BATCH,
        help=f"records per request, 1-{MAX_BATCH:,} (default {BATCH}); keep it when importing"
        " a file again",
    )


EPILOG = """examples:
  txmon-server import transactions.csv --url http://127.0.0.1:8787
  txmon-server import transactions_1.csv --date 2022-07-01 --db ./replay.db
"""


def run(args: argparse.Namespace) -> int:
    import os

    try:
        records, bad = load_sorted(args.file, args.date)
    except FileNotFoundError:
        print(f"txmon-server import: no such file: {args.file}", file=sys.stderr)
        return 2
    except (CsvFormatError, UnicodeDecodeError) as exc:
        print(f"txmon-server import: {args.file}: {exc}", file=sys.stderr)
        return 2
    for row in bad[:20]:
        print(f"{args.file}:{row.line}: {row.message}", file=sys.stderr)
    if len(bad) > 20:
        print(f"... and {len(bad) - 20} more bad rows", file=sys.stderr)
    if bad and args.strict:
        print(
            f"txmon-server import: stopped at line {bad[0].line} (--strict); nothing imported",
            file=sys.stderr,
        )
        return 1
    if not records:
        print("txmon-server import: no valid rows; nothing imported", file=sys.stderr)
        return 1
    digest = _digest(args.file, args.date)
    if args.db:
        post, close = _db_poster(args.db, args.config)
    else:
        try:
            post, close = _http_poster(
                args.url or "http://127.0.0.1:8787", args.token or os.environ.get("TXMON_TOKEN")
            )
        except ValueError as exc:  # not an http(s) URL
            print(f"txmon-server import: --url: {exc}", file=sys.stderr)
            return 2
    try:
        summary = send_batches(records, args.batch, digest, post)
    except ImportStopped as exc:
        print(f"txmon-server import: {exc}", file=sys.stderr)
        return 1
    finally:
        close()
    _print_summary(args.file, records, bad, summary)
    return 0


def _digest(path: str, day: date | None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    h.update(str(day).encode())
    return h.hexdigest()[:16]


# POST one batch under an Idempotency-Key: (the receiver's answer, whether it replays the
# answer of an earlier import, which stored the batch then).
Poster = Callable[[Sequence[Record], str], tuple[dict[str, Any], bool]]


class ImportStopped(Exception):
    """The receiver refused a batch for good: the import stops there, with this message."""


def batch_body(records: Sequence[Record]) -> bytes:
    """What a batch's Idempotency-Key stands for: its records, so a key reused for other
    records (the same file cut with another --batch) is refused, never replayed."""
    return "\n".join(f"{r.ts},{r.status},{r.count}" for r in records).encode()


def send_batches(
    records: list[Record], batch: int, digest: str, post: Poster, *, progress: bool = True
) -> dict[str, int]:
    """Send records in order, batch by batch; count what the receiver reported. Refused
    when a batch is: the key of each batch is the file's digest and the batch's number, so
    a file imported before with another `batch` is refused at its first batch (ImportStopped)."""
    opened = stored = replayed = batches = 0
    started = time.monotonic()
    for index in range(0, len(records), batch):
        chunk = records[index : index + batch]
        try:
            answer, again = post(chunk, f"import-{digest}-{index // batch}")
        except (SendError, TxmonError) as exc:  # refused, or a failure the receiver explained
            raise ImportStopped(_refusal(exc, index, len(chunk), batch)) from exc
        if again:
            replayed += int(answer.get("accepted", 0))
        else:
            stored += int(answer.get("accepted", 0))
            opened += sum(1 for a in answer.get("alerts", []) if "opened" in a.get("events", ()))
        batches += 1
        if progress and sys.stderr.isatty():
            done = index + len(chunk)
            rate = done / max(time.monotonic() - started, 1e-6)
            print(
                f"\r{done:,}/{len(records):,} records ({rate:,.0f}/s)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if progress and sys.stderr.isatty():
        print(file=sys.stderr)
    return {"stored": stored, "replayed": replayed, "alerts_opened": opened, "batches": batches}


def _refusal(exc: Exception, index: int, size: int, batch: int) -> str:
    """What to tell the user when records index..index+size were refused."""
    text = f"records {index + 1:,}-{index + size:,} were refused ({exc}); nothing after them sent"
    if "Idempotency-Key" in str(exc):
        text += (
            f". This file was imported before with another --batch: import it with the same"
            f" --batch as then to resume (this run used {batch:,}); another one would store"
            " its records twice"
        )
    return text


def _http_poster(url: str, token: str | None) -> tuple[Poster, Callable[[], None]]:
    def retrying(problem: str, delay: float) -> None:
        print(f"\n{problem}; retrying in {delay:.1f}s", file=sys.stderr)

    sender = Sender(url, token, on_retry=retrying)

    def post(records: Sequence[Record], key: str) -> tuple[dict[str, Any], bool]:
        answer = sender.post_records(records, key)
        return answer, sender.replayed

    return post, sender.close


def _db_poster(db: str, config_path: str | None) -> tuple[Poster, Callable[[], None]]:
    """Ingest through an in-process Receiver: same writer and detector, no HTTP."""
    from server.config import load
    from server.core.receiver import Receiver

    receiver = Receiver(load(flags={"db": db}, path=config_path))

    def post(records: Sequence[Record], key: str) -> tuple[dict[str, Any], bool]:
        result = receiver.ingest(list(records), idempotency_key=key, body=batch_body(records))
        return result.answer, result.replayed

    return post, receiver.close


def _print_summary(path: str, records: list[Record], bad: list[BadRow], summary: dict) -> None:
    statuses = sorted({r.status for r in records})
    print(f"imported {path}")
    if summary["replayed"]:
        rows = f"{summary['stored']:,} stored, {summary['replayed']:,} stored before"
    else:
        rows = f"{summary['stored']:,} stored"
    print(f"  rows        {rows}, {len(bad)} bad rows skipped")
    print(f"  span        {iso(records[0].ts)} .. {iso(records[-1].ts)}")
    print(f"  statuses    {', '.join(statuses)}")
    print(f"  alerts      {summary['alerts_opened']} opened")
