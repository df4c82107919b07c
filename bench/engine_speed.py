"""Micro-benchmark of the detection engine: microseconds per record of `Engine.ingest`.

Run as `.venv/bin/python bench/engine_speed.py [--runs N] [--cloudwalk CSV]` from the repository
root. For each data set (the CloudWalk replay `../shared/datasets/cloudwalk/transactions.csv` and
the synthetic labelled week of `server.tools.traffic`) it feeds every record, in order,
through a fresh `Engine` with the default configuration and keeps the best of N runs (default
5). Timer ticks are left out: the receiver ticks every few seconds, not per record.

`--against COMMIT` also times a backtest (the loop of `server.backtest.replay`: each record
plus a timer tick per bucket) of the same records with the engine of that commit, extracted
with `git show` into a temporary package, and with the current engine, alternating in one run,
and prints the ratio (the acceptance check of issue 11 uses `--against bdb4fdc`). Each engine
is driven as its own commit's backtest drives it: `Engine.feed` (no verdicts, which the
backtest does not report) where it exists, `ingest` before. A third column drives the current
engine through `ingest` too: the like-for-like cost with every record's verdict.

Times are CPU time of this process (`time.process_time`), so waiting for a core that others use
does not count; the garbage collector is off while timing. They still vary between machines and
with load, so each figure is also given as a ratio against a pure-Python no-op loop over the same
records (a call of a function that reads the record's fields), measured in the same run, best of
N as well. Standard library only.

`--against COMMIT --once LOOP [--data NAME]` runs one loop once and prints nothing, for an
instruction counter, whose counts do not move with the machine's load: e.g. `PYTHONHASHSEED=0
valgrind --tool=cachegrind --cache-sim=no .venv/bin/python bench/engine_speed.py --against
bdb4fdc --once current`, minus the same with `--once none`, is the current backtest loop's own.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.detect.config import DetectConfig  # noqa: E402
from server.detect.engine import Engine  # noqa: E402
from server.records import Record  # noqa: E402
from server.tools.backtest import bucket_ticks  # noqa: E402
from server.tools.csvfiles import load_sorted  # noqa: E402
from server.tools.traffic import labelled_week  # noqa: E402

CLOUDWALK = ROOT.parent / "shared" / "datasets" / "cloudwalk" / "transactions.csv"


def _noop(rec: Record) -> tuple[int, str, int]:
    return rec.ts, rec.status, rec.count


NOOP_PASSES = 20  # the no-op loop is short: time several passes so the clock's grain is small


def time_noop(records: list[Record]) -> float:
    """Seconds per pass of a loop that calls a trivial function on each record."""
    fn = _noop
    t0 = time.process_time()
    for _ in range(NOOP_PASSES):
        for rec in records:
            fn(rec)
    return (time.process_time() - t0) / NOOP_PASSES


def time_ingest(records: list[Record]) -> float:
    """Seconds to ingest every record into a fresh engine (construction not timed)."""
    ingest = Engine(DetectConfig()).ingest
    t0 = time.process_time()
    for rec in records:
        ingest(rec)
    return time.process_time() - t0


def best_times(runs: int, records: list[Record]) -> tuple[float, float]:
    """(best ingest seconds, best no-op seconds per pass) over `runs` rounds; the two loops
    alternate so that both see the same machine load. The garbage collector is off while timing.
    """
    ingest = noop = float("inf")
    for _ in range(runs):
        for fn in (time_noop, time_ingest):
            gc.collect()
            gc.disable()
            try:
                took = fn(records)
            finally:
                gc.enable()
            if fn is time_noop:
                noop = min(noop, took)
            else:
                ingest = min(ingest, took)
    return ingest, noop


OLD_MODULES = ("alerts", "detect", "engine", "records")  # the engine before server/detect/


def old_engine(commit: str, where: Path) -> tuple[Any, Any]:
    """(Engine class, DetectConfig class) of `commit`, from a package written under `where`.

    A commit with `server/detect/` gets that package (plus `records.py` and `errors.py`); an
    older one the flat modules of OLD_MODULES. Imports of `server.` are renamed to the copy.
    """
    name = "server_" + re.sub(r"\W", "_", commit)
    package = where / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", commit, "server/"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if "server/detect/engine.py" in listed:
        paths = [p for p in listed if p.startswith("server/detect/") and p.endswith(".py")]
        paths += [p for p in ("server/records.py", "server/errors.py") if p in listed]
        engine_module, config_module = "detect.engine", "detect.config"
    else:
        paths = [f"server/{name}.py" for name in OLD_MODULES]
        engine_module, config_module = "engine", "detect"
    for path in paths:
        text = subprocess.run(
            ["git", "show", f"{commit}:{path}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        target = package / path.removeprefix("server/")
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / "__init__.py").touch()
        target.write_text(text.replace("from server.", f"from {name}."))
    sys.path.insert(0, str(where))
    engine = importlib.import_module(f"{name}.{engine_module}")
    config = importlib.import_module(f"{name}.{config_module}")
    return engine.Engine, config.DetectConfig


def time_backtest(
    engine_class: Any, config_class: Any, records: list[Record], verdicts: bool = False
) -> float:
    """Seconds of `server.backtest.replay`'s loop (each record, a tick per bucket) with this
    engine: records fed as that commit's backtest feeds them (`Engine.feed`, no verdicts,
    where the engine has it; `ingest` before), or with `verdicts` always through `ingest`."""
    engine = engine_class(config_class())
    take = engine.ingest if verdicts or not hasattr(engine, "feed") else engine.feed
    b = 60
    current: int | None = None
    t0 = time.process_time()
    for rec in records:
        m = rec.ts - rec.ts % b
        if current is None:
            current = m
        elif m > current:
            for t in bucket_ticks(current, m, b):
                engine.tick(t)
            current = m
        take(rec)
    return time.process_time() - t0


def best_of(runs: int, fns: list[Callable[[], float]]) -> list[float]:
    """Best time of each function over `runs` rounds, alternating, garbage collector off."""
    best = [float("inf")] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            gc.collect()
            gc.disable()
            try:
                best[i] = min(best[i], fn())
            finally:
                gc.enable()
    return best


def datasets(cloudwalk: Path) -> dict[str, list[Record]]:
    """The record streams to measure, by name."""
    out: dict[str, list[Record]] = {}
    if cloudwalk.exists():
        out["cloudwalk"] = load_sorted(str(cloudwalk))[0]
    else:
        print(f"skipping cloudwalk: {cloudwalk} not found", file=sys.stderr)
    out["synthetic week"] = labelled_week(seed=7).records
    return out


def main(argv: list[str] | None = None) -> int:
    """Print one line per data set: us/record of ingest, of the no-op loop, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the best is kept")
    parser.add_argument("--cloudwalk", type=Path, default=CLOUDWALK, help="CloudWalk CSV to replay")
    parser.add_argument("--against", help="also time a backtest with this commit's engine")
    parser.add_argument(
        "--once",
        choices=LOOPS,
        help="with --against: run only this loop, once, on --data, and print nothing (for an"
        " instruction counter such as valgrind; 'none' loads the same and runs no loop)",
    )
    parser.add_argument("--data", choices=("cloudwalk", "synthetic week"), default="cloudwalk")
    args = parser.parse_args(argv)
    if args.once and not args.against:
        parser.error("--once needs --against COMMIT")
    if args.against and args.once:
        data = datasets(args.cloudwalk)
        if args.data not in data:
            parser.error(f"--data {args.data!r} is not available (see the message above)")
        return run_once(args.against, args.once, data[args.data])
    if args.against:
        return compare(args.against, args.runs, datasets(args.cloudwalk))
    header = ("data set", "records", "ingest us/rec", "no-op us/rec", "ratio")
    print("{:<16} {:>8} {:>14} {:>13} {:>7}".format(*header))
    for name, records in datasets(args.cloudwalk).items():
        n = len(records)
        ingest, noop = best_times(args.runs, records)
        print(
            f"{name:<16} {n:>8,} {ingest / n * 1e6:>14.2f} {noop / n * 1e6:>13.3f}"
            f" {ingest / noop:>7.1f}"
        )
    return 0


LOOPS = ("none", "against", "current", "verdicts")


def run_once(commit: str, loop: str, records: list[Record]) -> int:
    """One backtest loop with the old engine, the current one (`feed`) or the current one with
    every verdict, or none: instruction counts of two such runs subtract to the loop's own."""
    with tempfile.TemporaryDirectory() as where:
        old, old_config = old_engine(commit, Path(where))
        gc.disable()
        if loop == "against":
            time_backtest(old, old_config, records)
        elif loop != "none":
            time_backtest(Engine, DetectConfig, records, verdicts=loop == "verdicts")
    return 0


def compare(commit: str, runs: int, data: dict[str, list[Record]]) -> int:
    """Print backtest seconds with the old and the current engine, and their ratio."""
    with tempfile.TemporaryDirectory() as where:
        old, old_config = old_engine(commit, Path(where))
        print(
            f"{'data set':<16} {'records':>8} {commit + ' s':>12} {'current s':>10} {'ratio':>6}"
            f"   {'with verdicts s':>15} {'ratio':>6}"
        )
        for name, records in data.items():
            was, now, judged = best_of(
                runs,
                [
                    lambda r=records: time_backtest(old, old_config, r),
                    lambda r=records: time_backtest(Engine, DetectConfig, r),
                    lambda r=records: time_backtest(Engine, DetectConfig, r, verdicts=True),
                ],
            )
            print(
                f"{name:<16} {len(records):>8,} {was:>12.3f} {now:>10.3f} {now / was:>6.2f}"
                f"   {judged:>15.3f} {judged / was:>6.2f}"
            )
    print(
        "current: the backtest's loop (Engine.feed, no verdicts); with verdicts: every record"
        " through Engine.ingest, like for like with the old engine's loop"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
