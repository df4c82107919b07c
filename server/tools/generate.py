"""`txmon-server generate`: realistic payment traffic, with incidents, sent to a receiver.

History is posted first (`--backfill`, fast, in batches, clean) so detection has baselines at
once; then minutes stream in event time at `--speed` simulated minutes per wall-clock minute,
with an anomaly injected every `--anomaly-every` of wall time (or as a `--scenario` file
says). Each injection is printed when it starts and ends. Every batch carries an
Idempotency-Key, so a receiver restart loses and duplicates nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from server.records import Record, iso
from server.tools.options import DAY, Option, add_options, add_traffic_options, parse_duration
from server.tools.sender import Sender, SendError
from server.tools.traffic import INJECTION_KINDS, Injection, generate_minutes

BATCH = 5000

EPILOG = """examples:
  txmon-server generate --url http://127.0.0.1:8787 --backfill 2d --speed 60
  txmon-server generate --backfill 7d --duration 0          # history only, then exit
  txmon-server generate --speed 1 --anomaly-every 30m       # real time, an incident each 30 min

scenario file (TOML): minutes are simulated minutes after streaming starts
  [[injection]]
  kind = "spike"        # spike, ramp, drop, surge or silence
  status = "denied"
  at = 10
  minutes = 20
  factor = 3.5
"""

# (kind, status, factor, minutes, hold, what a person sees): the demo's incident menu.
MENU: tuple[tuple[str, str | None, float, int, int, str], ...] = (
    ("spike", "denied", 3.5, 20, 0, "denied spike (6% -> ~21% of traffic)"),
    ("spike", "failed", 10.0, 15, 0, "failed burst (x10)"),
    ("ramp", "reversed", 5.0, 60, 15, "reversed slow ramp (1% -> 5% over an hour)"),
    ("spike", "backend_reversed", 8.0, 15, 0, "backend_reversed burst (x8)"),
    ("drop", "approved", 0.35, 20, 0, "approvals drop (an outage: -65%)"),
    ("surge", None, 3.0, 30, 0, "proportional surge x3 (a flash sale: NOT an incident)"),
    ("silence", "denied", 1.0, 20, 0, "denied source goes silent (no data)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of `txmon-server generate`: where to send, the shared traffic options,
    then how long to stream and how hard."""
    target = (
        Option(
            "--url",
            "receiver URL (default $TXMON_URL or http://127.0.0.1:8787)",
            default=os.environ.get("TXMON_URL", "http://127.0.0.1:8787"),
        ),
        Option("--token", "API token (or $TXMON_TOKEN)"),
    )
    add_options(parser, target)
    add_traffic_options(parser)
    add_options(parser, RUN_OPTIONS)


RUN_OPTIONS: tuple[Option, ...] = (
    Option("--scenario", "TOML file of injections instead of the random schedule", metavar="FILE"),
    Option(
        "--duration",
        "stop streaming after this wall time (default: until Ctrl-C; 0: backfill only)",
        parse_duration,
    ),
    Option(
        "--give-up",
        "keep retrying an unreachable or failing receiver this long (default %(default)s)",
        parse_duration,
        "5m",
    ),
    Option(
        "--peak", "transactions per minute at the daily peak (default %(default)s)", float, "600"
    ),
)


@dataclass(frozen=True, slots=True)
class Planned:
    """An injection with the words printed when it starts and ends."""

    injection: Injection
    what: str


def plan(start: int, minutes: int, every_sim_minutes: int, seed: int) -> list[Planned]:
    """A seeded schedule: one incident from MENU every `every_sim_minutes` (the first, a denied
    spike, within 20 simulated minutes), never overlapping."""
    if every_sim_minutes <= 0:
        return []
    rng = random.Random(seed * 7919 + 17)
    order = list(range(1, len(MENU)))
    first: int | None = (
        0  # a denied spike comes first and soon, so a new user sees an incident at once
    )
    planned: list[Planned] = []
    at = start + min(every_sim_minutes, 20) * 60
    while at < start + minutes * 60:
        if not order:
            order = list(range(len(MENU)))
        pick = first if first is not None else order.pop(rng.randrange(len(order)))
        first = None
        kind, status, factor, length, hold, what = MENU[pick]
        length = min(length, max(5, every_sim_minutes // 2))
        planned.append(Planned(Injection(kind, at, length, status, factor, hold), what))
        at += max(every_sim_minutes, (length + hold + 15)) * 60
    return planned


def load_scenario(path: str, start: int) -> list[Planned]:
    """Injections from a TOML file (`[[injection]]` tables; `at` in minutes after start)."""
    with open(path, "rb") as handle:
        doc = tomllib.load(handle)
    planned = []
    for number, item in enumerate(doc.get("injection", []), start=1):
        kind = item.get("kind")
        if kind not in INJECTION_KINDS:
            raise ValueError(f"injection {number}: kind must be one of {INJECTION_KINDS}")
        status = item.get("status")
        if kind != "surge" and not status:
            raise ValueError(f"injection {number}: {kind} needs a status")
        inj = Injection(
            kind,
            start + int(item.get("at", 0)) * 60,
            int(item.get("minutes", 15)),
            status,
            float(item.get("factor", 1.0)),
            int(item.get("hold", 0)),
        )
        planned.append(Planned(inj, item.get("name") or f"{status or 'all'} {kind}"))
    return planned


class Announcer:
    """Prints an injection's start and end as the stream crosses them."""

    def __init__(self, planned: Sequence[Planned], out: Callable[[str], None]) -> None:
        self._pending = sorted(planned, key=lambda p: p.injection.start)
        self._running: list[Planned] = []
        self._out = out

    def at(self, minute: int) -> None:
        for p in list(self._running):
            if minute >= p.injection.end:
                self._running.remove(p)
                self._out(f"[{_wall()}] END    {p.what} (event time {iso(minute)})")
        while self._pending and self._pending[0].injection.start <= minute:
            p = self._pending.pop(0)
            self._running.append(p)
            span = p.injection.minutes + p.injection.hold
            self._out(
                f"[{_wall()}] START  {p.what} for {span} simulated min (event time {iso(minute)})"
            )


def _human(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _wall() -> str:
    return time.strftime("%H:%M:%S")


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("TXMON_TOKEN")
    say = _printer()
    sender = Sender(
        args.url,
        token,
        give_up_after=args.give_up,
        on_retry=lambda p, d: say(f"{p}; retrying in {d:.1f}s"),
    )
    try:
        return stream(args, sender, say)
    except SendError as exc:
        print(f"txmon-server generate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("stopped")
        return 0
    finally:
        sender.close()


def _printer() -> Callable[[str], None]:
    def say(line: str) -> None:
        print(line, flush=True)

    return say


def stream(args: argparse.Namespace, sender: Any, say: Callable[[str], None]) -> int:
    """Backfill, then stream; returns the exit code."""
    from server.tools.traffic import TrafficModel

    now = int(time.time())
    speed = max(args.speed, 0.001)
    # Faster than real time, the stream starts at 09:00 UTC the day before, so it stays in the
    # past (the receiver refuses event times more than max_future_minutes ahead of its clock)
    # and a short demo runs through the busy hours of the daily cycle.
    if speed > 1:
        yesterday = now - DAY
        live_start = yesterday - yesterday % DAY + 9 * 3600
    else:
        live_start = now - now % 60
    backfill_minutes = args.backfill // 60
    first = live_start - backfill_minutes * 60
    horizon = 366 * 1440 if args.duration is None else int(args.duration / 60 * speed) + 1
    every = int(args.anomaly_every / 60 * speed) if args.anomaly_every else 0
    if args.scenario:
        planned = load_scenario(args.scenario, live_start)
    else:
        planned = plan(live_start, horizon, every, args.seed)
    model = TrafficModel(peak_per_minute=args.peak)
    minutes = generate_minutes(
        first, backfill_minutes + horizon, args.seed, [p.injection for p in planned], model
    )
    key = f"gen-{args.seed}-{first}"
    if backfill_minutes:
        say(f"backfilling {backfill_minutes:,} minutes from {iso(first)} ...")
        started = time.monotonic()
        batch: list[Record] = []
        sent = 0
        for _ in range(backfill_minutes):
            minute, counts = next(minutes)
            batch.extend(Record(minute, s, c) for s, c in counts.items())
            if len(batch) >= BATCH:
                sender.post_records(batch, f"{key}-b{minute}")
                sent += len(batch)
                batch = []
        if batch:
            sender.post_records(batch, f"{key}-b{live_start}")
            sent += len(batch)
        say(f"backfilled {sent:,} records in {time.monotonic() - started:.1f}s")
    if args.duration == 0:
        return 0
    say(
        f"streaming from event time {iso(live_start)} at {speed:g} simulated min per minute"
        + (f", an incident every {_human(args.anomaly_every)} of wall time" if planned else "")
    )
    announcer = Announcer(planned, say)
    began = time.monotonic()
    seconds_per_minute = 60.0 / speed
    for step in range(horizon):
        minute, counts = next(minutes)
        announcer.at(minute)
        records = [Record(minute, s, c) for s, c in counts.items()]
        if records:
            sender.post_records(records, f"{key}-m{minute}")
        due = began + (step + 1) * seconds_per_minute
        # Once the stream has caught up with the present it goes on in real time: the
        # receiver refuses records stamped ahead of its clock (max_future_minutes).
        pause = max(due - time.monotonic(), minute + 60 - time.time())
        if pause > 0:
            time.sleep(pause)
    say("done")
    return 0
