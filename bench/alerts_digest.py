"""A digest of everything the detector says, to prove that an engine change alters nothing.

Run as `.venv/bin/python bench/alerts_digest.py [--sets NAME...] [--dump DIR]` from the
repository root. It replays, through a fresh `Engine` with the default configuration and the
loop of `server.tools.backtest.replay` (ingest, a timer tick per bucket passed, a last tick):

- the CloudWalk 2025 transactions (`../shared/datasets/cloudwalk/transactions.csv`);
- the synthetic labelled weeks of `server.tools.traffic`, seeds 1 to 7;
- the NAB development files of `bench/nab.py`, Track A and Track B (both of its replays).

For each replay it prints three SHA-256 digests (first 16 hex digits):

- `events`: every alert event (ingest and tick), with the alert's snapshot, scores to 4 places;
- `verdicts`: every record's verdict: status, severity, score to 4 places, expected and upper
  to 6 significant digits, the alert id;
- `exact`: both of the above with every float in full (`repr`).

Each replay is also run through the backtest's own loop (`Engine.feed`, no verdicts); its
events must equal `events`, or the line says so and the script exits 1.

An optimisation must leave `events` and `verdicts` identical; `exact` may differ only when a
reordered floating-point sum moves the last digits, which the two others then show harmless.
`--dump DIR` writes the lines behind the digests, one file per replay, to compare with `diff`.
Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nab  # noqa: E402

from server.detect.config import DetectConfig  # noqa: E402
from server.detect.engine import Engine, Judged  # noqa: E402
from server.detect.lifecycle import AlertEvent  # noqa: E402
from server.records import Record  # noqa: E402
from server.tools.backtest import drive  # noqa: E402
from server.tools.csvfiles import load_sorted  # noqa: E402
from server.tools.traffic import labelled_week  # noqa: E402

CLOUDWALK = ROOT.parent / "shared" / "datasets" / "cloudwalk" / "transactions.csv"


def replays() -> Iterator[tuple[str, list[Record]]]:
    """(name, records) of every replay the digest covers, in a fixed order."""
    if CLOUDWALK.exists():
        yield "cloudwalk", load_sorted(str(CLOUDWALK))[0]
    else:
        print(f"warning: {CLOUDWALK} not found, skipped", file=sys.stderr)
    for seed in range(1, 8):
        yield f"week-{seed}", labelled_week(seed=seed).records
    for name in nab.DEV_FILES:
        short = name.split("/")[-1].removesuffix(".csv")
        f = nab.load(name)
        minutes = nab.minute_counts(f)
        yield f"nab-a-{short}", [Record(m, "events", c) for m, c, _r in minutes]
        approved = nab.approved_series(f, minutes)
        both: list[Record] = []
        for (m, c, _r), a in zip(minutes, approved, strict=True):
            both.append(Record(m, "approved", a))
            both.append(Record(m, "failed", c))
        yield f"nab-b-{short}", both
        yield f"nab-b-falls-{short}", [Record(m, "approved", c) for m, c, _r in minutes]


def _event_lines(events: list[AlertEvent], exact: bool) -> Iterator[str]:
    for e in events:
        a = e.alert
        score = repr(a.peak_score) if exact else f"{a.peak_score:.4f}"
        expected = repr(a.expected) if exact else f"{a.expected:.6g}"
        yield (
            f"E {e.alert_id} {e.type} {e.at} {a.status} {a.kind} {a.state} {a.severity}"
            f" {a.first_seen} {a.last_seen} {a.peak_count} {score} {expected} {e.detail}"
        )


def digest(records: list[Record]) -> tuple[dict[str, str], dict[str, list[str]], int]:
    """(digests, lines by digest, alert count) of one replay."""
    engine = Engine(DetectConfig())
    lines: dict[str, list[str]] = {"events": [], "verdicts": [], "exact": []}
    ev, vd, ex = lines["events"], lines["verdicts"], lines["exact"]
    alerts: set[int] = set()

    def keep(events: list[AlertEvent]) -> None:
        ev.extend(_event_lines(events, False))
        ex.extend(_event_lines(events, True))
        alerts.update(e.alert_id for e in events)

    def judged(rec: Record, j: Judged) -> None:
        vd.append(
            f"V {rec.ts} {rec.status} {j.severity} {j.score:.4f} {j.expected:.6g}"
            f" {j.upper:.6g} {j.alert_id}"
        )
        ex.append(
            f"V {rec.ts} {rec.status} {j.severity} {j.score!r} {j.expected!r}"
            f" {j.upper!r} {j.alert_id}"
        )
        keep(j.events)

    drive(engine, records, keep, judged)
    fed = lines["fed"] = []  # the backtest's own loop: no verdicts, the same events
    drive(
        Engine(DetectConfig()),
        records,
        lambda events: fed.extend(_event_lines(events, False)),
        None,
    )
    sums = {
        key: hashlib.sha256("\n".join(value).encode()).hexdigest()[:16]
        for key, value in lines.items()
    }
    return sums, lines, len(alerts)


def main(argv: list[str] | None = None) -> int:
    """Print one line of digests per replay, then one digest over all of them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", help="only replays whose name contains one of these")
    parser.add_argument("--dump", type=Path, help="write the lines behind the digests here")
    args = parser.parse_args(argv)
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
    overall = {"events": hashlib.sha256(), "verdicts": hashlib.sha256(), "exact": hashlib.sha256()}
    print(f"{'replay':<42} {'records':>8} {'alerts':>6}  {'events':<16} {'verdicts':<16} exact")
    t0 = time.perf_counter()
    mismatched = 0
    for name, records in replays():
        if args.sets and not any(s in name for s in args.sets):
            continue
        sums, lines, n_alerts = digest(records)
        for key, value in overall.items():
            value.update(sums[key].encode())
        fed = "" if sums["fed"] == sums["events"] else "  FED EVENTS DIFFER"
        print(
            f"{name:<42} {len(records):>8} {n_alerts:>6}  {sums['events']} {sums['verdicts']}"
            f" {sums['exact']}{fed}",
            flush=True,
        )
        mismatched += bool(fed)
        if args.dump:
            for key in ("events", "verdicts"):
                (args.dump / f"{name}.{key}").write_text("\n".join(lines[key]) + "\n")
    all_sums = " ".join(h.hexdigest()[:16] for h in overall.values())
    print(f"{'ALL':<42} {'':>8} {'':>6}  {all_sums}   ({time.perf_counter() - t0:.0f} s)")
    if mismatched:
        print(f"{mismatched} replay(s): Engine.feed gave other events than Engine.ingest")
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
