"""A seeded synthetic payment-traffic model with injectable incidents (stdlib `random` only).

Per-minute counts by status follow a daily cycle (quiet night, lunch and evening peaks), a
weekend level, and over-dispersed noise (a gamma-mixed Poisson: a common traffic factor per
minute plus a factor per status). Injections change one minute range: spikes, bursts, slow
ramps, approval drops, silent sources, and proportional surges (which are NOT incidents).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from server.records import Record

SHARES: dict[str, float] = {
    "approved": 0.90,
    "denied": 0.06,
    "reversed": 0.010,
    "refunded": 0.008,
    "failed": 0.006,
    "backend_reversed": 0.004,
    "processing": 0.012,
}
INJECTION_KINDS = ("spike", "ramp", "drop", "surge", "silence")


@dataclass(frozen=True, slots=True)
class TrafficModel:
    """Shape of normal traffic: peak volume, status shares, daily cycle, weekend, noise."""

    peak_per_minute: float = 600.0
    shares: dict[str, float] = field(default_factory=lambda: dict(SHARES))
    night_floor: float = 0.05  # share of the peak at the quietest hour
    weekend_factor: float = 0.7
    common_shape: float = 150.0  # gamma shape of the per-minute traffic factor (CV ~8%)
    status_shape: float = 40.0  # gamma shape of each status's own factor (CV ~16%)

    def level(self, minute: int) -> float:
        """Expected transactions per minute at this time (all statuses)."""
        hour = (minute % 86400) / 3600.0
        weekend = (minute // 86400 + 3) % 7 >= 5
        shift = 1.5 if weekend else 0.0
        f = (
            self.night_floor
            + 0.30 * _bump(hour, 9.5 + shift, 1.5)
            + 0.65 * _bump(hour, 12.75, 2.3)
            + 0.55 * _bump(hour, 19.5, 2.0)
        )
        return self.peak_per_minute * f * (self.weekend_factor if weekend else 1.0)


# The quieter shop of the incident-shape tests and `bench/shape_limits.py`: about 150 a minute
# at the lunch peak and 8 at night, failure statuses well below one a minute; the default
# shares without processing.
QUIET_SHOP = TrafficModel(
    peak_per_minute=150.0,
    shares={status: share for status, share in SHARES.items() if status != "processing"},
)


def _bump(hour: float, center: float, width: float) -> float:
    d = (hour - center + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (d / width) ** 2)


@dataclass(frozen=True, slots=True)
class Injection:
    """A change of traffic over [start, start + minutes): see INJECTION_KINDS.

    spike: status share x factor; ramp: share grows linearly from x1 to x factor over
    `minutes`, then holds for `hold`; drop: status count x factor (e.g. approvals 0.35);
    surge: every status x factor (a flash sale, not an incident); silence: status sends nothing.
    """

    kind: str
    start: int
    minutes: int
    status: str | None = None
    factor: float = 1.0
    hold: int = 0

    @property
    def end(self) -> int:
        """First minute after the injection (epoch seconds)."""
        return self.start + (self.minutes + self.hold) * 60

    def multiplier(self, minute: int, status: str) -> float:
        """Factor applied to this status's rate in this minute."""
        if not self.start <= minute < self.end:
            return 1.0
        if self.kind == "surge":
            return self.factor
        if status != self.status:
            return 1.0
        if self.kind in ("spike", "drop"):
            return self.factor
        if self.kind == "ramp":
            done = min(1.0, (minute - self.start) / 60 / max(self.minutes, 1))
            return 1.0 + (self.factor - 1.0) * done
        return 1.0


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (multiplication method when small, rounded normal when large)."""
    if lam <= 0:
        return 0
    if lam < 40:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def generate_minutes(
    start: int,
    minutes: int,
    seed: int,
    injections: Sequence[Injection] = (),
    model: TrafficModel | None = None,
) -> Iterator[tuple[int, dict[str, int]]]:
    """Yield (minute start, {status: count}) for each minute; zeros included, silences absent."""
    model = model or TrafficModel()
    rng = random.Random(seed)
    first = start - start % 60
    # Only injections in force are looked at: a long run may plan thousands of them.
    upcoming = deque(sorted(injections, key=lambda inj: inj.start))
    active: list[Injection] = []
    for i in range(minutes):
        minute = first + i * 60
        while upcoming and upcoming[0].start <= minute:
            active.append(upcoming.popleft())
        if active:
            active = [inj for inj in active if minute < inj.end]
        base = model.level(minute) * rng.gammavariate(model.common_shape, 1 / model.common_shape)
        counts: dict[str, int] = {}
        bulk = max(model.shares, key=model.shares.__getitem__)
        for status, share in model.shares.items():
            # Minor statuses' shares wander; the bulk status (approved) is the traffic itself.
            wander = rng.gammavariate(model.status_shape, 1 / model.status_shape)
            lam = base * share * (1.0 if status == bulk else wander)
            silent = False
            for inj in active:
                if inj.kind == "silence" and inj.status == status:
                    silent = silent or inj.start <= minute < inj.end
                else:
                    lam *= inj.multiplier(minute, status)
            draw = poisson(rng, lam)
            if not silent:
                counts[status] = draw
        yield minute, counts


@dataclass(frozen=True, slots=True)
class Label:
    """An incident window in the labels CSV format (inclusive start and end minutes)."""

    id: str
    start: int
    end: int
    statuses: tuple[str, ...]
    kind: str
    signature: str


@dataclass(slots=True)
class LabelledWeek:
    """Generated records, the incidents to catch, and the windows that must stay quiet."""

    records: list[Record]
    incidents: list[Label]
    quiet: list[Label]


WEEK_START = 1751846400  # 2025-07-07 00:00 UTC, a Monday


def at(day: int, hh: int, mm: int = 0, start: int = WEEK_START) -> int:
    """Epoch seconds of hh:mm on day `day` after `start` (day 0 of WEEK_START is a Monday)."""
    return start + day * 86400 + hh * 3600 + mm * 60


def generate_records(
    start: int,
    minutes: int,
    seed: int,
    injections: Sequence[Injection] = (),
    model: TrafficModel | None = None,
) -> list[Record]:
    """`generate_minutes` as records, one per status and minute, in time order."""
    records: list[Record] = []
    for minute, counts in generate_minutes(start, minutes, seed, injections, model):
        records.extend(Record(minute, s, c) for s, c in counts.items())
    return records


def week_injections(start: int = WEEK_START) -> list[tuple[str, Injection, str]]:
    """The default schedule: (label id, injection, description); day 0 is clean history."""
    s = start
    return [
        ("S1", Injection("spike", at(1, 11, 20, s), 20, "denied", 3.5), "denied 6% -> 21%"),
        ("S2", Injection("spike", at(1, 19, 0, s), 12, "failed", 10.0), "failed burst x10"),
        ("S3", Injection("spike", at(2, 2, 30, s), 30, "denied", 3.5), "denied spike at night"),
        ("Q1", Injection("surge", at(2, 13, 0, s), 40, None, 3.0), "flash sale x3 (no incident)"),
        ("S4", Injection("ramp", at(3, 15, 0, s), 60, "reversed", 5.0, 20), "reversed 1% -> 5%"),
        ("S5", Injection("drop", at(4, 10, 15, s), 25, "approved", 0.35), "approvals -65%"),
        ("S6", Injection("spike", at(4, 21, 0, s), 15, "backend_reversed", 8.0), "backend burst"),
        ("S7", Injection("silence", at(5, 16, 0, s), 20, "denied"), "denied source silent"),
        ("Q2", Injection("surge", at(5, 20, 0, s), 30, None, 2.5), "weekend surge (no incident)"),
        ("S8", Injection("spike", at(6, 18, 0, s), 15, "denied", 2.5), "denied 6% -> 15%"),
    ]


def labelled_week(seed: int = 7, start: int = WEEK_START) -> LabelledWeek:
    """Seven days of traffic with the default injections, as records plus label windows."""
    schedule = week_injections(start)
    injections = [inj for _id, inj, _d in schedule]
    records = generate_records(start, 7 * 1440, seed, injections)
    incidents: list[Label] = []
    quiet: list[Label] = []
    for label_id, inj, desc in schedule:
        statuses = tuple(sorted(SHARES)) if inj.status is None else (inj.status,)
        kind = {"silence": "no_data", "ramp": "shift"}.get(inj.kind, inj.kind)
        label = Label(label_id, inj.start, inj.end - 60, statuses, kind, desc)
        (quiet if inj.kind == "surge" else incidents).append(label)
    return LabelledWeek(records, incidents, quiet)
