"""Every threshold and window of the detector (`[detect]`), with the domain's pseudo-status
and severities: declared once, loaded with the shared coercion helper."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

from server.records import STATUS_RE

TOTAL = "_total"  # pseudo-status: the whole minute's volume, judged for drops only
SEVERITIES = ("normal", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Every threshold and window of the detector; loaded from the `[detect]` TOML table."""

    bucket_seconds: int = 60  # one judged bucket ("minute")
    settle_minutes: int = 2  # a minute enters the baselines once the watermark is this far past
    late_minutes: int = 60  # later records: verdict only, no alert or baseline change
    gap_fill_minutes: int = 30  # silent gaps up to this long are learned as zero-count minutes
    min_history: int = 10  # settled minutes before a status may open alerts
    new_status_after_minutes: int = 1440  # a status first seen after this much traffic was 0
    level_window: int = 60  # minutes behind the volume level (approved, total)
    rate_window: int = 180  # minutes behind a status's share of the other traffic
    season_days: int = 14  # days of hour-of-day history kept
    weekday_min_days: int = 3  # days of one day-type needed before weekday/weekend profiles
    dispersion_floor: float = 0.002  # minimum over-dispersion (1/size of the NB)
    dispersion_days: float = 3.0  # memory of the dispersion the window sums are judged with
    dispersion_cap: float = 0.05  # ...and its maximum: burstiness beyond is the tails' job
    clip_score: float = 3.0  # values beyond this score enter the baselines clipped
    rise_clip_score: float = 1.0  # ...and rises of drop-judged statuses beyond this one
    low: float = 3.0  # score thresholds of the per-minute test
    medium: float = 4.0
    high: float = 4.5
    spike_min_ratio: float = 1.5  # a spike must also be this many times the expected count
    spike_min_count: int = 3  # ...and a sum of minutes must hold at least this many
    drop_min_fraction: float = 0.3  # a drop must also be this far below the expected count
    drop_statuses: tuple[str, ...] = ("approved", TOTAL)
    spike_exempt: tuple[str, ...] = ("approved",)  # statuses never judged for rises
    count_window: int = 180  # minutes behind a status's own count level (rises, count view)
    thin_level_minutes: float = 60.0  # a count level resting on less exposure is no level
    windows: tuple[int, ...] = (1, 2, 3, 5, 15, 60)  # sums of the last W minutes judged together
    seasonal_sum_minutes: int = 15  # sums this long judge rises on the seasonal level alone
    unseasoned_drop_minutes: int = 15  # ...drop sums up to this long on days without it
    window_budget: float = 0.0  # a W-minute sum may be W**this times likelier to pass than one
    tail_days: float = 10.0  # a normal minute passes a learned tail's limit once in this
    tail_base: float = 2.5  # scores above this one shape the learned tails
    tail_memory_days: float = 14.0  # e-folding time of the learned score distributions
    blip_minutes: int = 8  # an alert abnormal for at most this long was a blip: its
    blip_weight: float = 1.0  # build-up teaches the tails, with this weight
    incident_weight: float = 0.5  # ...and a longer alert's build-up with this one, once
    habit_alerts: int = 7  # ...the status has had this many longer alerts in
    habit_days: float = 7.0  # ...this many days: its bursts are a habit, not incidents
    shape_prior: float = 0.05  # count per minute added to each hour before forming shapes
    freeze_minutes: int = 120  # an open alert keeps its minutes out of the baselines this long
    open_medium_k: int = 3  # medium in k of the last n minutes opens an alert
    open_medium_n: int = 5
    resolve_minutes: int = 12  # normal minutes before an alert resolves
    hold_minutes: int = 1440  # ...and back near the level it opened against, for at most this
    rearm_minutes: int = 240  # after a rise alert resolves, only short windows reopen it
    ack_timeout_minutes: int = 60  # acknowledged and still open after this: fires again
    nodata_minutes: int = 5  # silence length before a no-data alert is considered
    nodata_min_expected: float = 20.0  # ...and only if this many were expected in that span
    nodata_min_history: int = 60  # settled minutes of a status before it can be "silent"
    resolved_kept: int = 1000  # resolved alerts kept in memory (ack on them answers 409)

    @classmethod
    def from_mapping(cls, data: dict[str, object]) -> DetectConfig:
        """Build from a TOML `[detect]` table; ValueError names any unknown key or bad value."""
        if not isinstance(data, dict):
            raise ValueError("[detect] must be a table")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(
                f"unknown [detect] key(s): {', '.join(unknown)}; known keys: {', '.join(known)}"
            )
        values: dict[str, object] = {}
        for name, value in data.items():
            values[name] = _coerce(name, known[name].default, value)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError when values are inconsistent (e.g. thresholds out of order)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and value < 0:
                raise ValueError(f"[detect] {f.name} must not be negative, got {value}")
        positive = ("bucket_seconds", "level_window", "rate_window", "count_window", "season_days")
        for name in (
            *positive,
            "open_medium_k",
            "open_medium_n",
            "resolve_minutes",
            "unseasoned_drop_minutes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"[detect] {name} must be at least 1")
        if not self.low <= self.medium <= self.high:
            raise ValueError("[detect] thresholds must satisfy low <= medium <= high")
        if self.open_medium_k > self.open_medium_n:
            raise ValueError("[detect] open_medium_k must not exceed open_medium_n")
        if not 0 <= self.drop_min_fraction < 1:
            raise ValueError("[detect] drop_min_fraction must be in [0, 1)")
        if not self.windows or any(w < 1 for w in self.windows):
            raise ValueError("[detect] windows must be a non-empty list of positive minutes")
        if list(self.windows) != sorted(set(self.windows)):
            raise ValueError("[detect] windows must be strictly increasing")
        if self.tail_days <= 0 or self.tail_memory_days <= 0:
            raise ValueError("[detect] tail_days and tail_memory_days must be greater than 0")
        if self.dispersion_floor <= 0:
            raise ValueError("[detect] dispersion_floor must be greater than 0")
        for name in ("drop_statuses", "spike_exempt"):
            for status in getattr(self, name):
                if status != TOTAL and not STATUS_RE.fullmatch(status):
                    raise ValueError(
                        f"[detect] {name}: {status!r} is not a status name"
                        " ([a-z0-9][a-z0-9_]{0,31})"
                    )
        if self.dispersion_cap < self.dispersion_floor:
            raise ValueError("[detect] dispersion_cap must not be below dispersion_floor")

    def as_dict(self) -> dict[str, object]:
        """Plain values, e.g. for documentation or `--json` output."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in _asdict(self).items()}


def _asdict(config: DetectConfig) -> dict[str, object]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _coerce(name: str, default: object, value: object) -> object:
    where = f"[detect] {name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value!r}")
        return float(value)
    if isinstance(default, tuple) and default and isinstance(default[0], int):
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ValueError(f"{where} must be a list of whole numbers, got {value!r}")
        return tuple(value)
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where} must be a list of status names, got {value!r}")
        return tuple(value)
    raise ValueError(f"{where} has an unsupported type")  # pragma: no cover
