"""The large read database: records made up deterministically, POSTed over HTTP, cached.

A database of N records is filled through a real txmon (so it holds exactly what the
receiver would have stored) and, from CACHE_FROM records up, kept under bench/results/ with a
JSON note of how the fill went, so later runs reuse it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servers import (
    HOST,
    RESULTS,
    TXMON_POST,
    BenchError,
    running,
    schema_version,
    sources_digest,
    stored_records,
    txmon_server,
)

# Seven statuses for the filled databases; the first four are the ones the seed peer knows.
STATUSES = ("approved", "denied", "failed", "reversed", "refunded", "pending", "chargeback")
BASE_COUNT = {
    "approved": 180,
    "denied": 25,
    "failed": 12,
    "reversed": 4,
    "refunded": 3,
    "pending": 9,
    "chargeback": 1,
}
FILL_BATCH = 10_000  # the receiver's per-POST limit
CACHE_FROM = 1_000_000  # read DBs this large are kept in bench/results/ between runs


def record_rows(start: int, stop: int, first_minute: int) -> list[tuple[str, str, int]]:
    """Records number start..stop-1: record i is status i % 7 at minute i // 7 from
    `first_minute`, with a deterministic count around that status's usual level."""
    rows: list[tuple[str, str, int]] = []
    stamp_minute, stamp = -1, ""
    for i in range(start, stop):
        minute = first_minute + (i // len(STATUSES)) * 60
        if minute != stamp_minute:
            stamp_minute = minute
            stamp = time.strftime("%Y-%m-%d %H:%M:00", time.gmtime(minute))
        status = STATUSES[i % len(STATUSES)]
        usual = BASE_COUNT[status]  # the same formula as bench/wrk.lua's record()
        rows.append((stamp, status, usual + (i * 7919) % (usual // 2 + 2) - usual // 4))
    return rows


def json_body(rows: list[tuple[str, str, int]]) -> bytes:
    """Rows as the compact JSON array of records that txmon accepts in one POST."""
    parts = [f'{{"timestamp":"{t}","status":"{s}","count":{c}}}' for t, s, c in rows]
    return ("[" + ",".join(parts) + "]").encode()


def first_minute_for(records: int) -> int:
    """Spread `records` so that the newest minute is the last full minute before now."""
    now_minute = int(time.time()) // 60 * 60
    minutes = -(-records // len(STATUSES))
    return now_minute - minutes * 60


def fill(port: int, records: int, clients: int, *, progress: bool) -> float:
    """POST `records` records in batches of FILL_BATCH with `clients` keep-alive clients;
    return the wall-clock seconds it took. Raises BenchError on any answer but 201."""
    first_minute = first_minute_for(records)
    batches: queue.SimpleQueue[int] = queue.SimpleQueue()
    for start in range(0, records, FILL_BATCH):
        batches.put(start)
    total_batches = -(-records // FILL_BATCH)
    failures: list[str] = []
    sent = [0]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        try:
            while not failures:
                try:
                    start = batches.get_nowait()
                except queue.Empty:
                    return
                body = json_body(record_rows(start, min(start + FILL_BATCH, records), first_minute))
                conn.request("POST", TXMON_POST, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                if response.status != 201:
                    failures.append(f"HTTP {response.status}: {answer[:300]!r}")
                    return
                with lock:
                    sent[0] += 1
                    if progress and sent[0] % max(1, total_batches // 10) == 0:
                        print(f"  fill: {sent[0] * FILL_BATCH:,} records", flush=True)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise BenchError(f"filling the database failed: {failures[0]}")
    return elapsed


def cached_db(records: int) -> tuple[Path, Path]:
    """Where the cached database of `records` records and its note live."""
    return RESULTS / f"db-{records}.sqlite", RESULTS / f"db-{records}.json"


def prepare_db(
    records: int,
    work: Path,
    problems: list[str],
    *,
    cache: bool,
    clients: int,
    refill: bool,
) -> dict[str, Any]:
    """A database of `records` records filled over HTTP by `clients` clients (cached under
    bench/results/ when `cache`, and then rebuilt only with `refill`); returns its note."""
    if cache:
        db, meta_path = cached_db(records)
        if db.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("records") == records and not refill:
                meta.update(cached=True, path=str(db))
                return meta
            db.unlink()
        db.parent.mkdir(parents=True, exist_ok=True)
    else:
        db, meta_path = work / f"db-{records}.sqlite", None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    partial = Path(f"{db}.partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    print(
        f"  filling {records:,} records over HTTP ({clients} clients, batches of {FILL_BATCH:,})",
        flush=True,
    )
    with running(txmon_server(partial, work, name=f"txmon-fill-{records}"), problems) as srv:
        seconds = fill(srv.port, records, clients, progress=records >= 1_000_000)
        stored = stored_records(srv.port)
        schema = schema_version(srv.port)
    if stored != records:
        raise BenchError(f"filled {records:,} records but the receiver reports {stored:,}")
    with contextlib.closing(sqlite3.connect(partial)) as conn:  # fold the WAL into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    partial.rename(db)
    meta = {
        "records": records,
        "path": str(db),
        "fill_seconds": round(seconds, 1),
        "fill_records_per_s": round(records / seconds),
        "filled_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "db_bytes": db.stat().st_size,
        "schema_version": schema,
        "server_sources_sha256": sources_digest(),
        "statuses": len(STATUSES),
        "minutes_spanned": -(-records // len(STATUSES)),
        "cached": False,
    }
    if meta_path is not None:
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"  filled in {seconds:.1f} s ({records / seconds:,.0f} records/s)", flush=True)
    return meta
