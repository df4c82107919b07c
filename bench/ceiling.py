"""Where batch ingest tops out: the receiver as it is, against the same receiver with detection
replaced by a constant verdict, measured in turn in one run.

Run as `.venv/bin/python bench/ceiling.py [--rounds N] [--seconds S]` (needs wrk). Both servers
are the real `txmon-server serve` on a fresh database, driven by the batch phase of
bench/run.py (wrk -t1 -c4, 1,000-record JSON arrays). The second one runs with
`Engine.ingest` swapped for a function that returns one fixed "normal" verdict, so it parses,
stores, rolls up and answers exactly as usual and only the judging is free. Its rate is the
most any design that moves detection off the receiver's own core could reach, and the CPU time
per record of the real receiver, spread over every CPU, is the most any split of the same work
across processes could reach. Writes bench/results/ceiling.json. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import load
import servers

SERVE_FLAG = "--serve-without-detection"


def serve_without_detection(argv: list[str]) -> int:
    """Child mode: `txmon-server serve ARGV` with every record judged 'normal' for free."""
    sys.path.insert(0, str(servers.REPO))
    from server import cli
    from server.detect import engine

    verdict = engine.Judged("normal", 0.0, 0.0, 0.0)
    engine.Engine.ingest = lambda self, rec: verdict  # type: ignore[method-assign]
    return cli.main(["serve", *argv])


def free_detection_server(db: Path, workdir: Path) -> servers.Server:
    """The real receiver on `db`, started through this script's child mode."""
    port = servers.free_port()
    argv = [sys.executable, __file__, SERVE_FLAG, "--db", str(db), "--port", str(port)]
    argv += ["--host", servers.HOST, "--access-log", "off"]
    return servers.Server("txmon-free-detection", argv, port, "/healthz", workdir)


def main(argv: list[str] | None = None) -> int:
    """Measure both servers in turn for `--rounds` rounds; write and print the medians."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == [SERVE_FLAG]:
        return serve_without_detection(args[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "ceiling.json")
    opts = parser.parse_args(args)
    cpus = os.cpu_count() or 1
    problems: list[str] = []
    rounds = []
    with tempfile.TemporaryDirectory(prefix="txmon-ceiling-") as tmp:
        work = Path(tmp)
        for n in range(1, opts.rounds + 1):
            real = load.measure_batch(
                servers.txmon_server(work / f"real{n}.db", work),
                problems,
                warmup=2.0,
                seconds=opts.seconds,
            )
            free = load.measure_batch(
                free_detection_server(work / f"free{n}.db", work),
                problems,
                warmup=2.0,
                seconds=opts.seconds,
            )
            rounds.append({"txmon": real, "free_detection": free})
            print(
                f"round {n}: txmon {real['records_per_s']:,} records/s "
                f"({real['cpu_us_per_record']:.1f} µs CPU each); detection free "
                f"{free['records_per_s']:,} records/s ({free['cpu_us_per_record']:.1f} µs)",
                flush=True,
            )
    real_rate = statistics.median(r["txmon"]["records_per_s"] for r in rounds)
    free_rate = statistics.median(r["free_detection"]["records_per_s"] for r in rounds)
    real_cpu = statistics.median(r["txmon"]["cpu_us_per_record"] for r in rounds)
    summary = {
        "txmon_records_per_s": real_rate,
        "free_detection_records_per_s": free_rate,
        "free_over_txmon": round(free_rate / max(real_rate, 1), 2),
        "txmon_cpu_us_per_record": real_cpu,
        "all_cpus_ceiling_records_per_s": load.all_cpus_ceiling(real_cpu),
        "cpus": cpus,
    }
    print(
        f"\nmedians: txmon {real_rate:,.0f} records/s; detection free {free_rate:,.0f} "
        f"({summary['free_over_txmon']:.2f}x); txmon CPU per record {real_cpu:.1f} µs, so "
        f"{summary['all_cpus_ceiling_records_per_s']:,} records/s at most on {cpus} CPUs"
    )
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    document = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rounds": rounds}
    document.update(summary=summary, problems=problems)
    opts.output.write_text(json.dumps(document, indent=2) + "\n")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
