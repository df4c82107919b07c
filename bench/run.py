"""txmon benchmark: ingest and read throughput against the seed peer and a no-op baseline.

Run as `make bench` (or `.venv/bin/python bench/run.py [--records N] [--quick]`). In one run:

1. single-record POSTs with wrk (1 thread, 8 keep-alive connections) against a no-op stdlib
   server, the seed Flask peer and txmon, each on a fresh database;
2. 1,000-record JSON batch POSTs with wrk (4 connections) against txmon and the no-op server;
3. reads (`/api/v1/series`, `/api/v1/summary`) on a database of 1,000 records and on one of
   `--records` records (default 10,000,000, filled over HTTP and cached under bench/results/).

Prints a table and writes bench/results/latest.json. Traffic goes to 127.0.0.1 only; every
server started here is stopped before the run ends. This file holds the phases and the
command line; the parts live beside it: servers.py (the processes), load.py (wrk), fill.py
(the large read database) and report.py (acceptance and the printed table). See
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fill import CACHE_FROM, prepare_db
from load import (
    BATCH_CONNECTIONS,
    POST_BATCH,
    all_cpus_ceiling,
    check_stored,
    measure,
    measure_batch,
    single_env,
)
from report import acceptance, machine, report
from servers import (
    CODE_SEEN,
    PEER_POST,
    REPO,
    RESULTS,
    TXMON_POST,
    BenchError,
    noop_server,
    peer_server,
    running,
    schema_version,
    stored_records,
    txmon_server,
)

DEFAULT_PEER = REPO.parent / "shared" / "peers" / "seed_flask" / "app.py"


@dataclass
class Settings:
    """How long and how large each phase runs, derived from the command line."""

    records: int
    single_seconds: float
    batch_seconds: float
    read_seconds: float
    warmup: float
    fill_clients: int
    peer: Path
    quick: bool
    refill: bool
    rounds: int


def single_round(cfg: Settings, work: Path, problems: list[str], number: int) -> dict[str, Any]:
    """One round: the no-op server, the peer and txmon in turn, each on a fresh DB."""
    out: dict[str, Any] = {"round": number}
    env = single_env()
    kw: dict[str, Any] = {
        "mode": "single",
        "connections": 8,
        "warmup": cfg.warmup,
        "seconds": cfg.single_seconds,
        "env": env,
        "per_request": 1,
    }
    with running(noop_server(work), problems) as srv:
        out["noop"] = measure(srv, TXMON_POST, **kw)
    with running(peer_server(cfg.peer, work), problems) as srv:
        out["peer"] = measure(srv, PEER_POST, **kw)
    with running(txmon_server(work / f"single-{number}.db", work), problems) as srv:
        out["txmon"] = measure(srv, TXMON_POST, **kw)
        check_stored(out["txmon"], srv.port, 1, 8, problems)
    tx, peer, noop = out["txmon"], out["peer"], out["noop"]
    out["ratio_txmon_peer"] = round(tx["rps_2xx"] / max(peer["rps_2xx"], 1e-9), 2)
    out["ratio_txmon_peer_raw"] = round(tx["rps"] / max(peer["rps"], 1e-9), 2)
    out["fraction_of_noop"] = round(tx["rps_2xx"] / max(noop["rps_2xx"], 1e-9), 3)
    out["peer_fraction_of_noop"] = round(peer["rps_2xx"] / max(noop["rps_2xx"], 1e-9), 4)
    print(
        f"  round {number}: noop {noop['rps']:,.0f}, peer {peer['rps_2xx']:,.0f} (2xx), "
        f"txmon {tx['rps_2xx']:,.0f} req/s -> txmon/peer {out['ratio_txmon_peer']:.1f}x, "
        f"txmon p99 {tx['p99_us'] / 1000:.2f} ms",
        flush=True,
    )
    return out


def phase_single(cfg: Settings, work: Path, problems: list[str]) -> dict[str, Any]:
    """Single-record POSTs, 8 keep-alive connections, in `cfg.rounds` interleaved rounds.
    The peer's rate swings a lot from run to run, so the figures reported are those of the
    round with the median txmon/peer ratio; every round is kept in the JSON."""
    print(f"[1/3] single-record POSTs (wrk -t1 -c8), {cfg.rounds} round(s)", flush=True)
    rounds = [single_round(cfg, work, problems, n + 1) for n in range(cfg.rounds)]
    median = sorted(rounds, key=lambda r: r["ratio_txmon_peer"])[(len(rounds) - 1) // 2]
    out = {key: value for key, value in median.items() if key != "round"}
    out["median_round"] = median["round"]
    out["rounds"] = rounds
    for name in ("ratio_txmon_peer", "fraction_of_noop"):
        out[f"{name}_range"] = [min(r[name] for r in rounds), max(r[name] for r in rounds)]
    out["txmon_p99_ms_rounds"] = [round(r["txmon"]["p99_us"] / 1000, 2) for r in rounds]
    return out


def phase_batch(cfg: Settings, work: Path, problems: list[str], peer_rps: float) -> dict[str, Any]:
    """1,000-record JSON array POSTs from 4 keep-alive connections."""
    print(f"[2/3] {POST_BATCH:,}-record batch POSTs (wrk -t1 -c{BATCH_CONNECTIONS})", flush=True)
    out: dict[str, Any] = {"batch_records": POST_BATCH}
    out["txmon"] = measure_batch(
        txmon_server(work / "batch.db", work),
        problems,
        warmup=cfg.warmup,
        seconds=cfg.batch_seconds,
    )
    out["all_cpus_ceiling_records_per_s"] = all_cpus_ceiling(out["txmon"]["cpu_us_per_record"])
    out["peer_records_per_s"] = peer_rps
    out["ratio_txmon_peer"] = round(out["txmon"]["records_per_s"] / max(peer_rps, 1e-9), 1)
    print(f"  txmon    {out['txmon']['records_per_s']:>9,.0f} records/s", flush=True)
    return out


READ_PATHS = (
    ("series_60", "/api/v1/series?minutes=60"),
    ("summary_60", "/api/v1/summary?minutes=60"),
    ("series_1440", "/api/v1/series?minutes=1440"),
    ("summary_1440", "/api/v1/summary?minutes=1440"),
)


def phase_reads(cfg: Settings, work: Path, problems: list[str]) -> dict[str, Any]:
    """Read latency on a small and a large database (1 keep-alive connection)."""
    print("[3/3] reads (wrk -t1 -c1)", flush=True)
    out: dict[str, Any] = {}
    # 1,000 records do not fill a 1,440-minute window (143 minutes); 100,000 do (14,286).
    sizes = sorted({1_000, min(100_000, cfg.records), cfg.records})
    for records in sizes:
        meta = prepare_db(
            records,
            work,
            problems,
            cache=records >= CACHE_FROM,
            clients=cfg.fill_clients,
            refill=cfg.refill,
        )
        db = Path(meta["path"])
        entry: dict[str, Any] = {"db": meta, "endpoints": {}}
        with running(txmon_server(db, work, name=f"txmon-read-{records}"), problems) as srv:
            entry["startup_seconds"] = round(srv.startup_seconds, 2)
            entry["schema_version"] = schema_version(srv.port)
            entry["stored"] = stored_records(srv.port)
            if entry["stored"] != records:
                problems.append(f"read DB holds {entry['stored']:,} records, not {records:,}")
            for key, path in READ_PATHS:
                entry["endpoints"][key] = measure(
                    srv, path, mode="get", connections=1, warmup=1.0, seconds=cfg.read_seconds
                )
        out[str(records)] = entry
        p95 = {k: v["p95_us"] / 1000 for k, v in entry["endpoints"].items()}
        print(
            f"  {records:>12,} records: p95 "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in p95.items()),
            flush=True,
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line of `make bench` / `bench/run.py`."""
    parser = argparse.ArgumentParser(
        description="Benchmark txmon against the seed Flask peer and a no-op stdlib server.",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        help="records in the large read DB (default 10,000,000; 100,000 with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short run: 3 s measurements, 100,000-record read DB"
    )
    parser.add_argument(
        "--fill-clients",
        type=int,
        default=3,
        help="concurrent clients filling the read DB (default 3)",
    )
    parser.add_argument(
        "--peer",
        type=Path,
        default=Path(os.environ.get("TXMON_BENCH_PEER", DEFAULT_PEER)),
        help="the seed peer's app.py (default ../shared/peers/seed_flask/app.py)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved single-record rounds (noop, peer, txmon); the median ratio counts "
        "(default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--refill",
        action="store_true",
        help="rebuild the cached read DB even if bench/results/ has one for --records",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the JSON results",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every phase, print the table, write the JSON; 1 if a server misbehaved."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed; install it with:  apt-get install wrk", file=sys.stderr)
        return 2
    if not args.peer.is_file():
        print(f"bench: the seed peer {args.peer} is missing (pass --peer PATH)", file=sys.stderr)
        return 2
    try:
        import flask  # noqa: F401 - the peer needs it
    except ImportError:
        print(
            "bench: flask is missing: run `make bench` or pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    records = args.records or (100_000 if args.quick else 10_000_000)
    if records < 1_000:
        print("bench: --records must be at least 1,000", file=sys.stderr)
        return 2
    cfg = Settings(
        records=records,
        single_seconds=3 if args.quick else 10,
        batch_seconds=3 if args.quick else 10,
        read_seconds=2 if args.quick else 5,
        warmup=1 if args.quick else 2,
        fill_clients=max(1, args.fill_clients),
        peer=args.peer.resolve(),
        quick=args.quick,
        refill=args.refill,
        rounds=max(1, args.rounds or (1 if args.quick else 3)),
    )
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            "records": records,
            "quick": args.quick,
            "fill_clients": cfg.fill_clients,
            "single_seconds": cfg.single_seconds,
            "batch_seconds": cfg.batch_seconds,
            "read_seconds": cfg.read_seconds,
            "warmup_seconds": cfg.warmup,
            "peer": str(cfg.peer),
        },
    }
    problems: list[str] = []
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="txmon-bench-") as tmp:
        work = Path(tmp)
        try:
            results["single"] = phase_single(cfg, work, problems)
            results["batch"] = phase_batch(
                cfg, work, problems, results["single"]["peer"]["rps_2xx"]
            )
            results["reads"] = phase_reads(cfg, work, problems)
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
    checked = [(f"single round {r['round']}", r["txmon"]) for r in results["single"]["rounds"]]
    for phase, entry in [*checked, ("batch", results["batch"]["txmon"])]:
        if entry["non2xx"] or entry["connect_errors"] or entry["read_errors"]:
            problems.append(
                f"txmon {phase}: {entry['non2xx']} non-2xx answers, "
                f"{entry['connect_errors']} connect / {entry['read_errors']} read "
                "errors"
            )
    warnings: list[str] = []
    if len(CODE_SEEN) > 1:
        warnings.append(
            "server/**/*.py changed during the run, so the phases measured different code: "
            + "; ".join(f"{digest}: {', '.join(names)}" for digest, names in CODE_SEEN.items())
        )
    results["server_code"] = CODE_SEEN
    results["problems"] = problems
    results["warnings"] = warnings
    results["acceptance"] = acceptance(results, records)
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report(results, records))
    print(f"\nwall time {results['wall_seconds']:.0f} s; JSON written to {args.output}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
