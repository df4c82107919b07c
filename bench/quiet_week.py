"""A week shaped like the one issue 11 describes (a quiet shop, failure statuses well below one
a minute, its eight incident shapes and a 2-hour surge), replayed through the backtest's engine
at two noise levels; prints what a labelled week is judged on.

Run as `.venv/bin/python bench/quiet_week.py [--seeds 1,2,3,4]`. The traffic is our own model
(`server.tools.traffic`, never tuned on): `status_shape` 40 is the model's default noise (a
status's own factor has a CV of about 16 %), 10 twice that; `common_shape` is three times it.
Incidents fall on weekdays and on the first weekend, before the weekend has a profile of its
own. See docs/detection.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.detect.config import DetectConfig
from server.tools.backtest import Incident, evaluate, quiet_hits, replay
from server.tools.traffic import WEEK_START, Injection, TrafficModel, at, generate_records

SHARES = {
    "approved": 0.86,
    "denied": 0.06,
    "processing": 0.05,
    "reversed": 0.01,
    "refunded": 0.005,
    "failed": 0.005,
    "backend_reversed": 0.004,
}


# Day 0 is a Monday; days 5 and 6 are the first weekend.
SCHEDULE = [
    ("failed x20, 8 min, night", Injection("spike", at(1, 23, 37), 8, "failed", 20.0)),
    ("backend_reversed x8, 5 min", Injection("spike", at(2, 15, 7), 5, "backend_reversed", 8.0)),
    ("refunded x6, 10 min", Injection("spike", at(3, 10, 7), 10, "refunded", 6.0)),
    ("failed x10, 12 min, afternoon", Injection("spike", at(3, 14, 7), 12, "failed", 10.0)),
    ("denied x2.2, 30 min, evening", Injection("spike", at(4, 19, 10), 30, "denied", 2.2)),
    ("reversed ramp to x5, 90 min (Sat)", Injection("ramp", at(5, 14), 90, "reversed", 5.0, 30)),
    ("approved -50 %, 20 min (Sun)", Injection("drop", at(6, 11), 20, "approved", 0.5)),
    ("denied silent, 20 min (Sun)", Injection("silence", at(6, 16), 20, "denied", 1.0)),
]
SURGE = Injection("surge", at(4, 12), 120, None, 3.0)  # every status x3: must stay quiet


@dataclass(frozen=True, slots=True)
class Week:
    """One replayed week's figures, as the labelled-week acceptance reads them."""

    seed: int
    noise: float
    caught: int
    incidents: int
    false_per_day: float
    in_surge: int
    median: float | None
    latencies: list[float | None]


def run(seed: int, noise: float) -> Week:
    """One week: generated, replayed through the backtest's engine, scored."""
    model = TrafficModel(
        peak_per_minute=150.0, shares=SHARES, status_shape=noise, common_shape=3 * noise
    )
    injections = [inj for _label, inj in SCHEDULE] + [SURGE]
    records = generate_records(WEEK_START, 7 * 1440, seed, injections, model)
    raised = replay(records, DetectConfig())
    labels = [Incident(label, i.start, i.end - 60, (i.status or "",)) for label, i in SCHEDULE]
    report = evaluate(raised, labels, records, 15)
    quiet = [Incident("surge", SURGE.start, SURGE.end + 3600, tuple(SHARES))]
    latencies = [p.get("latency_min") for p in report["per_incident"]]
    found = [x for x in latencies if x is not None]
    return Week(
        seed,
        noise,
        report["caught"],
        report["incidents"],
        report["false_per_day_after_first_day"],
        sum(len(q["alerts"]) for q in quiet_hits(raised, quiet)),
        statistics.median(found) if found else None,
        latencies,
    )


def _job(args: tuple[int, float]) -> Week:
    return run(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    args = parser.parse_args(argv)
    jobs = [(int(s), noise) for noise in (40.0, 10.0) for s in args.seeds.split(",")]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_job, jobs))
    print("noise seed caught false/day surge median | latency (min) per incident; - = missed")
    print("   " + " | ".join(label for label, _inj in SCHEDULE))
    for r in rows:
        lat = " ".join("-" if x is None else f"{x:g}" for x in r.latencies)
        print(
            f"{r.noise:5g} {r.seed:4d} {r.caught}/{r.incidents} "
            f"{r.false_per_day:9.2f} {r.in_surge:5d} {r.median!s:>6} | {lat}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
