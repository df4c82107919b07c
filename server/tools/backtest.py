"""`txmon-server backtest`: replay a CSV (or the synthetic labelled week) through the detector.

Feeds the exact Engine the receiver uses, in event-time order, ticking timers with the event-time
watermark, then prints the alerts and, with labels, incidents caught, detection latency and false
alerts. `--rule seed` replays the seed's rule over the same records for comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from server.detect.config import DetectConfig
from server.detect.engine import Engine, Judged
from server.detect.lifecycle import Alert, AlertEvent
from server.records import Record, iso, parse_timestamp
from server.tools.csvfiles import _clock, load_sorted
from server.tools.options import whole_number
from server.tools.seedrule import replay as seed_replay

GRACE_MINUTES = 15


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled window: inclusive start and end (epoch s) and the statuses that misbehave."""

    id: str
    start: int
    end: int
    statuses: tuple[str, ...]


@dataclass(slots=True)
class Raised:
    """An alert as the backtest reports it (first and last abnormal bucket, peak)."""

    id: int
    status: str
    kind: str
    start: int
    end: int
    peak_count: int
    peak_score: float
    expected: float

    @classmethod
    def of(cls, alert: Alert) -> Raised:
        return cls(
            alert.id,
            alert.status,
            alert.kind,
            alert.first_seen,
            alert.last_seen,
            alert.peak_count,
            alert.peak_score,
            alert.expected,
        )


EPILOG = """examples:
  txmon-server backtest transactions.csv --labels incidents_transactions.csv
  txmon-server backtest transactions_1.csv --date 2022-07-01 --json
  txmon-server backtest --synthetic --seed 7
  txmon-server backtest transactions.csv --rule seed     # the seed's rule, for comparison
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the backtest command's arguments."""
    parser.add_argument("data", nargs="?", help="CSV of timestamp,status,count (or time,...)")
    parser.add_argument("--labels", help="CSV with start,end,statuses columns (incident windows)")
    parser.add_argument("--config", help="TOML file whose [detect] table overrides the defaults")
    parser.add_argument("--date", help="YYYY-MM-DD for files with 'HHh MM' clock times")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="replay the generated labelled week (server.tools.traffic) instead of a file",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed of --synthetic")
    parser.add_argument(
        "--rule",
        choices=("txmon", "seed"),
        default="txmon",
        help="txmon (default) or the seed's mean + 3 sigma rule, for comparison",
    )
    parser.add_argument(
        "--grace",
        type=whole_number(0, unit="minutes"),
        default=GRACE_MINUTES,
        help=f"minutes after a window still counted as that incident (default {GRACE_MINUTES})",
    )


def run(args: argparse.Namespace) -> int:
    """Run the backtest; 0 on success, 2 on bad input."""
    quiet: list[Incident] = []
    try:
        config = load_config(args.config)
        day = date.fromisoformat(args.date) if args.date else None
        if args.synthetic and (args.data or args.labels):
            print(
                "error: --synthetic replays its own week: give it no DATA.csv or --labels",
                file=sys.stderr,
            )
            return 2
        if args.synthetic:
            from server.tools.traffic import labelled_week

            week = labelled_week(seed=args.seed)
            records = week.records
            incidents = [Incident(x.id, x.start, x.end, x.statuses) for x in week.incidents]
            quiet = [Incident(x.id, x.start, x.end, x.statuses) for x in week.quiet]
            source = f"synthetic week (seed {args.seed})"
        elif args.data:
            records, bad = load_sorted(args.data, day)
            for row in bad[:5]:
                print(f"warning: line {row.line}: {row.message}", file=sys.stderr)
            incidents = load_labels(args.labels, day) if args.labels else None
            source = args.data
        else:
            print("error: give DATA.csv or --synthetic", file=sys.stderr)
            return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not records:
        print("error: no records", file=sys.stderr)
        return 2
    progress = _progress if not args.json and sys.stderr.isatty() else None  # not into logs
    raised = seed_alerts(records) if args.rule == "seed" else replay(records, config, progress)
    report = evaluate(raised, incidents, records, args.grace) if incidents is not None else None
    if report is not None and quiet:
        report["quiet_windows"] = quiet_hits(raised, quiet)
    if args.json:
        print(json.dumps(_as_json(source, args.rule, raised, report), indent=2))
    else:
        _print(source, args.rule, raised, report)
    return 0


def load_config(path: str | None) -> DetectConfig:
    """Defaults, or the `[detect]` table of a txmon config file (checked as `serve` checks
    it: bad TOML and unknown tables are errors that name the file)."""
    if not path:
        return DetectConfig()
    from server.config.receiver import read_config_file

    return DetectConfig.from_mapping(read_config_file(path).get("detect", {}))


def load_labels(path: str, day: date | None = None) -> list[Incident]:
    """Read incident windows (start,end,statuses; ';'-separated statuses; inclusive minutes)."""
    out: list[Incident] = []
    with open(path, newline="", encoding="utf-8") as handle:
        for i, row in enumerate(csv.DictReader(handle), start=1):
            try:
                start, end = _when(row["start"], day), _when(row["end"], day)
                statuses = tuple(s.strip() for s in row["statuses"].split(";") if s.strip())
            except KeyError as exc:
                raise ValueError(f"{path}: labels need start,end,statuses columns") from exc
            out.append(Incident(row.get("id") or str(i), start, end, statuses))
    return out


def _when(text: str, day: date | None) -> int:
    if "h" in text and day is not None:
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        return _clock(text, midnight)
    return parse_timestamp(text)


def bucket_ticks(current: int, m: int, b: int) -> Sequence[int]:
    """The ticks a replay gives when the stream moves from bucket `current` to `m`: one per
    bucket boundary passed (the receiver ticks every few seconds), or just the first and the
    last across a long gap."""
    if (m - current) // b <= 120:
        return range(current + b, m + b, b)
    return (current + b, m)


def drive(
    engine: Engine,
    records: Sequence[Record],
    on_tick: Callable[[list[AlertEvent]], None],
    on_record: Callable[[Record, Judged], None] | None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """The backtest's loop: every record in order, the timers at each bucket boundary the
    watermark passes (as the receiver would have run them) and once after the last bucket.
    With `on_record` None the records are fed without verdicts (`Engine.feed`) and their
    events go to `on_tick` too: the same alerts, for about a quarter less work."""
    b = engine.config.bucket_seconds
    current: int | None = None
    feed = engine.feed
    for i, rec in enumerate(records):
        m = rec.ts - rec.ts % b
        if current is None:
            current = m
        elif m > current:
            for t in bucket_ticks(current, m, b):
                on_tick(engine.tick(t))
            current = m
        if on_record is None:
            events = feed(rec)
            if events:
                on_tick(events)
        else:
            on_record(rec, engine.ingest(rec))
        if progress is not None and i % 20000 == 0:
            progress(i, len(records))
    if current is not None:
        on_tick(engine.tick(current + b))
    if progress is not None:
        progress(len(records), len(records))


def replay(
    records: list[Record],
    config: DetectConfig,
    progress: Callable[[int, int], None] | None = None,
) -> list[Raised]:
    """Feed records through a fresh Engine, ticking with the watermark; return every alert."""
    alerts: dict[int, Alert] = {}

    def keep(events: Iterable[AlertEvent]) -> None:
        for event in events:
            alerts[event.alert_id] = event.alert

    drive(Engine(config), records, keep, None, progress)
    return [Raised.of(a) for a in sorted(alerts.values(), key=lambda a: a.id)]


def seed_alerts(records: list[Record]) -> list[Raised]:
    """Each notification of the seed rule as a one-minute alert (the seed has no lifecycle)."""
    return [
        Raised(i, r.status, "spike", r.ts, r.ts, r.count, 0.0, 0.0)
        for i, r in enumerate(seed_replay(records), start=1)
    ]


def evaluate(
    raised: list[Raised], incidents: list[Incident], records: list[Record], grace: int
) -> dict[str, object]:
    """Incidents caught, latency (minutes from window start) and false alerts."""
    g = grace * 60
    per: list[dict[str, object]] = []
    latencies: list[float] = []
    for inc in incidents:
        wanted = set(inc.statuses)
        if "approved" in wanted:
            wanted.add("_total")
        hits = [
            a
            for a in raised
            if a.status in wanted and a.start <= inc.end + g and a.end >= inc.start
        ]
        first = min((a.start for a in hits), default=None)
        latency = None if first is None else max(0, first - inc.start) / 60
        if latency is not None:
            latencies.append(latency)
        per.append(
            {
                "id": inc.id,
                "start": iso(inc.start),
                "statuses": list(inc.statuses),
                "caught": first is not None,
                "latency_min": latency,
                "alerts": [a.id for a in hits],
            }
        )
    false = [a for a in raised if not any(i.start <= a.start <= i.end + g for i in incidents)]
    t0, t1 = records[0].ts, records[-1].ts + 60
    days = (t1 - t0) / 86400
    after_day1 = [a for a in false if a.start >= t0 + 86400]
    return {
        "incidents": len(incidents),
        "caught": sum(1 for p in per if p["caught"]),
        "median_latency_min": statistics.median(latencies) if latencies else None,
        "max_latency_min": max(latencies) if latencies else None,
        "alerts": len(raised),
        "false_alerts": len(false),
        "false_alert_ids": [a.id for a in false],
        "days": round(days, 3),
        "false_per_day": round(len(false) / days, 3) if days else None,
        "false_after_first_day": len(after_day1),
        "false_per_day_after_first_day": (
            round(len(after_day1) / (days - 1), 3) if days > 1 else None
        ),
        "per_incident": per,
    }


def quiet_hits(raised: list[Raised], quiet: list[Incident]) -> list[dict[str, object]]:
    """Alerts overlapping windows that must stay quiet (e.g. a proportional surge)."""
    return [
        {"id": q.id, "alerts": [a.id for a in raised if a.start <= q.end and a.end >= q.start]}
        for q in quiet
    ]


def _progress(done: int, total: int) -> None:
    print(f"\r{done:,}/{total:,} records", end="" if done < total else "\n", file=sys.stderr)


def _as_json(
    source: str, rule: str, raised: list[Raised], report: dict[str, object] | None
) -> dict[str, object]:
    alerts = [
        {
            "id": a.id,
            "status": a.status,
            "kind": a.kind,
            "start": iso(a.start),
            "end": iso(a.end),
            "peak_count": a.peak_count,
            "peak_score": a.peak_score,
            "expected": a.expected,
        }
        for a in raised
    ]
    return {"source": source, "rule": rule, "alerts": alerts, "evaluation": report}


def _print(source: str, rule: str, raised: list[Raised], report: dict[str, object] | None) -> None:
    print(f"{source}: rule {rule}, {len(raised)} alert(s)")
    if rule == "txmon" or len(raised) <= 50:
        for a in raised:
            if a.kind == "no_data":  # nothing arrived: no count, expectation or score to show
                what = "  silent"
            else:
                what = (
                    f"  peak {a.peak_count} (expected {a.expected:.1f}, score {a.peak_score:.1f})"
                )
            print(f"  #{a.id:<4} {a.status:<17} {a.kind:<8} {iso(a.start)} .. {iso(a.end)}{what}")
    if report is None:
        return
    print(
        f"incidents caught {report['caught']}/{report['incidents']}, median latency "
        f"{report['median_latency_min']} min (max {report['max_latency_min']}), "
        f"false alerts {report['false_alerts']} over {report['days']} days "
        f"({report['false_per_day']}/day; after the first day "
        f"{report['false_after_first_day']})"
    )
    for q in report.get("quiet_windows", []):  # type: ignore[union-attr]
        print(f"  quiet window {q['id']}: {len(q['alerts'])} alert(s) {q['alerts']}")
    for p in report["per_incident"]:  # type: ignore[union-attr]
        mark = "caught" if p["caught"] else "MISSED"
        lat = "" if p["latency_min"] is None else f" after {p['latency_min']:.0f} min"
        print(f"  {p['id']:<6} {p['start']} {';'.join(p['statuses']):<36} {mark}{lat}")
