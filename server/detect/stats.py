"""Detection statistics and per-status baselines, pure and in memory (stdlib only).

Counts are judged with a negative-binomial model: the expected count comes from a robust
baseline, the spread from Poisson noise plus measured over-dispersion plus the uncertainty of a
baseline estimated from little history. The score is the signed deviance residual, a z-like
number that stays honest for small counts (a status that is always 0 scores about 8.8 at 10).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass, fields
from math import log, log1p, sqrt

TOTAL = "_total"  # pseudo-status: the whole minute's volume, judged for drops only
SEVERITIES = ("normal", "low", "medium", "high")
_TINY = 1e-9
_SHAPES_KEPT = 1024  # memoised HourProfile.shape values per profile


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Every threshold and window of the detector; loaded from the `[detect]` TOML table."""

    bucket_seconds: int = 60  # one judged bucket ("minute")
    settle_minutes: int = 2  # a minute enters the baselines once the watermark is this far past
    late_minutes: int = 60  # later records: verdict only, no alert or baseline change
    gap_fill_minutes: int = 30  # silent gaps up to this long are learned as zero-count minutes
    min_history: int = 10  # settled minutes before a status may open alerts
    level_window: int = 60  # minutes behind the volume level (approved, total)
    rate_window: int = 180  # minutes behind a status's share of the other traffic
    season_days: int = 14  # days of hour-of-day history kept
    weekday_min_days: int = 3  # days of one day-type needed before weekday/weekend profiles
    dispersion_floor: float = 0.002  # minimum over-dispersion (1/size of the NB)
    dispersion_days: float = 3.0  # memory of the dispersion the window sums are judged with
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
    windows: tuple[int, ...] = (1, 3, 5, 15, 60)  # sums of the last W minutes judged together
    tail_days: float = 3650.0  # a normal minute passes a window's learned limit once in this
    tail_base: float = 2.5  # scores above this one shape the learned tails
    tail_memory_days: float = 14.0  # e-folding time of the learned score distributions
    tail_alert_weight: float = 0.0  # weight, in those distributions, of a minute opening an alert
    shape_prior: float = 0.05  # count per minute added to each hour before forming shapes
    freeze_minutes: int = 120  # an open alert keeps its minutes out of the baselines this long
    open_medium_k: int = 3  # medium in k of the last n minutes opens an alert
    open_medium_n: int = 5
    resolve_minutes: int = 12  # normal minutes before an alert resolves
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
        for name in (*positive, "open_medium_k", "open_medium_n", "resolve_minutes"):
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


# ---------------------------------------------------------------- statistics


def score(x: float, mu: float, size: float) -> float:
    """Signed deviance residual of count x under a negative binomial (mean mu, size)."""
    if mu < _TINY:
        mu = _TINY
    if x <= 0:
        dev = 2.0 * size * log1p(mu / size)
    else:
        dev = 2.0 * (x * log(x / mu) - (x + size) * log((x + size) / (mu + size)))
    r = sqrt(dev) if dev > 0 else 0.0
    return r if x >= mu else -r


def surely_within(x: float, mu: float, size: float, z: float) -> bool:
    """True only if |score(x, mu, size)| < z for certain (z > 0), without computing the score.

    The NB deviance is at most the Poisson one, which is at most 2 (x - mu)^2 / mu (from
    1 - 1/t <= log t <= t - 1). The 2% margin and the term growing with the magnitudes keep the
    answer sound against the rounding of `score` itself. False means "compute the score".
    """
    if mu < _TINY:
        return False
    d = x - mu
    return 2.0 * d * d < (0.98 * z * z - 1e-12 * (x + mu + size)) * mu


def limit(mu: float, size: float, z: float) -> float:
    """The count whose score is z (z > 0: upper limit; z < 0: lower limit, at least 0)."""
    if mu < _TINY:
        mu = _TINY
    if z < 0 and score(0.0, mu, size) >= z:
        return 0.0
    sd = sqrt(mu + mu * mu / size)
    skew = (1.0 + 2.0 * mu / size) / sd
    x = mu + sd * (z + (z * z - 1.0) * skew / 6.0)  # Cornish-Fisher start, then Newton
    if z >= 0:
        lo, hi = mu, mu + (z + 2.0) * 4.0 * sd + z * z + 10.0
    else:
        lo, hi = 0.0, mu
    mu_size = mu + size
    for _ in range(40):
        if not lo < x < hi:
            x = (lo + hi) / 2.0
        # score(x, mu, size) written out (x > lo >= 0 here): its two logs also give the slope.
        log_x = log(x / mu)
        log_xs = log((x + size) / mu_size)
        dev = 2.0 * (x * log_x - (x + size) * log_xs)
        r = sqrt(dev) if dev > 0 else 0.0
        if x < mu:
            r = -r
        g = r - z
        if -1e-4 < g < 1e-4:
            break
        if g > 0:
            hi = x
        else:
            lo = x
        slope = (log_x - log_xs) / r if r else 0.0
        x = x - g / slope if slope > 0 else (lo + hi) / 2.0
        if hi - lo < 1e-9:
            break
    return x


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def severity_of(z: float, config: DetectConfig) -> int:
    """Index into SEVERITIES for a non-negative score."""
    if z >= config.high:
        return 3
    if z >= config.medium:
        return 2
    if z >= config.low:
        return 1
    return 0


def dispersion(resid2: float, sum_mu: float, sum_mu2: float, floor: float) -> float:
    """Method-of-moments NB over-dispersion from squared residuals, at least `floor`."""
    if sum_mu2 <= _TINY:
        return floor
    phi = (resid2 - sum_mu) / sum_mu2
    return phi if phi > floor else floor


# ---------------------------------------------------------------- baselines


class HourProfile:
    """Hour-of-day profile: median over past days of each hour's mean count (robust to a bad day).

    Keeps one series pooled over all days and one per day type (weekday, weekend); the typed
    one is used once it has `weekday_min_days` days, so weekly patterns appear with history.
    """

    __slots__ = (
        "_cache",
        "_cur_key",
        "_cur_n",
        "_cur_sum",
        "_min_days",
        "_own",
        "_prior",
        "_shapes",
        "epoch",
        "pooled",
        "typed",
    )

    def __init__(self, days: int, min_days: int, prior: float = 0.0) -> None:
        self._prior = prior
        self.pooled: list[deque[float]] = [deque(maxlen=days) for _ in range(24)]
        self.typed: list[list[deque[float]]] = [
            [deque(maxlen=days) for _ in range(24)] for _ in range(2)
        ]
        self._min_days = min_days
        self._cur_key = -1
        self._cur_sum = 0.0
        self._cur_n = 0
        self._cache: dict[int, tuple[list[float], float] | None] = {}
        # shape() by minute: the engine asks for the same few minutes again and again.
        self._shapes: dict[int, tuple[float, float, float, float]] = {}
        # Changes when a day type's profile appears or turns typed: shapes learned before
        # are then on another scale (the engine re-weighs its level windows).
        self.epoch = 0
        self._own = [True, True]  # _own_level by day type, updated when an hour is pushed

    def add(self, minute: int, value: float) -> None:
        """Account one settled minute (epoch seconds of its start)."""
        key = minute // 3600
        if key != self._cur_key:
            self._push()
            self._cur_key, self._cur_sum, self._cur_n = key, 0.0, 0
        self._cur_sum += value
        self._cur_n += 1

    def _push(self) -> None:
        if self._cur_key < 0 or self._cur_n < 30:
            return
        hour = self._cur_key % 24
        mean = self._cur_sum / self._cur_n
        before = self._kind()
        self.pooled[hour].append(mean)
        self.typed[_weekend(self._cur_key * 3600)][hour].append(mean)
        self._cache.clear()
        self._shapes.clear()
        self._own = [self._own_level(0), self._own_level(1)]
        if self._kind() != before:
            self.epoch += 1

    def _kind(self) -> tuple[bool, bool, bool]:
        """(pooled profile complete, weekday profile typed, weekend profile typed)."""
        need = self._min_days
        return (
            all(self.pooled),
            all(len(d) >= need for d in self.typed[0]),
            all(len(d) >= need for d in self.typed[1]),
        )

    def hour_value(self, hour: int, weekend: int | None = None) -> float | None:
        """Typical mean count per minute in this hour of day, or None without history."""
        if weekend is not None:
            typed = self.typed[weekend][hour]
            if len(typed) >= self._min_days:
                return median(list(typed))
        series = self.pooled[hour]
        return median(list(series)) if series else None

    def _own_level(self, weekend: int) -> bool:
        """Whether the profile's level is this day type's own: it has its typed profile, or
        no day of the other type was seen (a weekday-made level is no weekend's level)."""
        need = self._min_days
        if all(len(d) >= need for d in self.typed[weekend]):
            return True
        return not any(self.typed[1 - weekend])

    def _profile(self, weekend: int) -> tuple[list[float], float] | None:
        if weekend not in self._cache:
            values = [self.hour_value(h, weekend) for h in range(24)]
            if any(v is None for v in values):
                self._cache[weekend] = None
            else:
                mean = sum(values) / 24.0  # type: ignore[arg-type]
                self._cache[weekend] = (values, mean) if mean > 0 else None  # type: ignore[assignment]
        return self._cache[weekend]

    def shape(self, minute: int) -> float:
        """Relative level of this time of day (1.0 = daily average; 1.0 without a full day)."""
        return self.shapes(minute)[0]

    def shapes(self, minute: int) -> tuple[float, float, float, float]:
        """(shape, lower, upper, daily mean): the interpolated shape, the lower and higher of
        it and the shape of this hour alone, and the mean count per minute of the day type
        (0.0 without a full day). A traffic step at an hour boundary (a shop opening) is then
        not half-expected in the half hour before it: rises are judged against the upper
        shape, drops against the lower one."""
        value = self._shapes.get(minute)
        if value is None:
            if len(self._shapes) >= _SHAPES_KEPT:
                self._shapes.clear()
            value = self._shapes[minute] = self._shape(minute)
        return value

    def daily_mean(self, minute: int) -> float | None:
        """Mean count per minute over the day type of this minute, None without a full day."""
        mean = self.shapes(minute)[3]
        return mean if mean > 0.0 else None

    def _shape(self, minute: int) -> tuple[float, float, float, float]:
        prof = self._profile(_weekend(minute))
        if prof is None:
            return 1.0, 1.0, 1.0, 0.0
        values, mean = prof
        prior = self._prior  # shrinks the shapes of a sparse status towards flat
        daily = mean if self._own[_weekend(minute)] else 0.0
        mean += prior
        pos = (minute % 86400) / 3600.0 - 0.5
        h0 = math.floor(pos)
        w = pos - h0
        v = (1.0 - w) * values[h0 % 24] + w * values[(h0 + 1) % 24]
        shape = max((v + prior) / mean, 0.02)
        step = max((values[(minute % 86400) // 3600] + prior) / mean, 0.02)
        if step < shape:
            return shape, step, shape, daily
        return shape, shape, step, daily


def _weekend(epoch: int) -> int:
    return 1 if (epoch // 86400 + 3) % 7 >= 5 else 0  # 1970-01-01 was a Thursday


class Window:
    """Fixed-length ring of (value, weight) pairs with running sums, O(1) per push."""

    __slots__ = ("n", "ring", "size", "sw", "sw2", "sx", "sx2", "sxw")

    def __init__(self, size: int) -> None:
        self.size = size
        self.ring: deque[tuple[float, float]] = deque()
        self.n = 0
        self.sx = self.sx2 = self.sw = self.sw2 = self.sxw = 0.0

    def push(self, x: float, w: float) -> None:
        """Add a pair, dropping the oldest when full."""
        ring = self.ring
        sx, sx2, sw, sw2, sxw = self.sx, self.sx2, self.sw, self.sw2, self.sxw
        if self.n == self.size:
            ox, ow = ring.popleft()
            sx -= ox
            sx2 -= ox * ox
            sw -= ow
            sw2 -= ow * ow
            sxw -= ox * ow
        else:
            self.n += 1
        ring.append((x, w))
        self.sx = sx + x
        self.sx2 = sx2 + x * x
        self.sw = sw + w
        self.sw2 = sw2 + w * w
        self.sxw = sxw + x * w

    def reweigh(self, weights: list[float]) -> None:
        """Replace the weights of the kept pairs, oldest first (len(weights) == n)."""
        self.ring = deque((x, w) for (x, _old), w in zip(self.ring, weights, strict=True))
        self.sx = sum(x for x, _w in self.ring)
        self.sx2 = sum(x * x for x, _w in self.ring)
        self.sw = sum(w for _x, w in self.ring)
        self.sw2 = sum(w * w for _x, w in self.ring)
        self.sxw = sum(x * w for x, w in self.ring)

    def fit(self, floor: float) -> tuple[float, float, float]:
        """(coefficient c with x ~ c*w, dispersion phi, total count) for the window."""
        fit = Baseline()
        total = self.refit(fit, floor)
        return fit.coef, fit.phi, total

    def refit(self, fit: Baseline, floor: float) -> float:
        """Set `fit` from the window's sums (see `fit_baseline`); return the total count.

        Written out in one function because the engine calls it for every status every bucket.
        """
        sw = self.sw
        sw2 = self.sw2
        if self.n == 0 or sw <= _TINY:
            c, phi, total = 0.0, floor, 0.0
        else:
            total = self.sx
            if total < 0.0:  # max(sx, 0.0), keeping its result for -0.0
                total = 0.0
            c = (total + 0.5) / sw
            resid2 = self.sx2 - 2.0 * c * self.sxw + c * c * sw2
            if resid2 < 0.0:
                resid2 = 0.0
            sum_mu2 = c * c * sw2  # dispersion(resid2, c * sw, sum_mu2, floor), written out
            if sum_mu2 <= _TINY:
                phi = floor
            else:
                phi = (resid2 - c * sw) / sum_mu2
                if not phi > floor:
                    phi = floor
        spread = sw2 / (sw * sw) if sw > _TINY else 1.0
        info = total + 0.5
        fit.coef = c
        fit.phi = phi
        fit.info = info
        fit.spread = spread
        fit.minutes = self.n
        fit.nb_size = 1.0 / (phi * (1.0 + spread) + 1.0 / info)
        return total


@dataclass(slots=True)
class Baseline:
    """A fit used for judging: expected = coef * exposure, NB size from the fit.

    The engine refits one Baseline in place each settled bucket (`Window.refit`): it is owned
    by one status and read only between refits.
    """

    coef: float = 0.0
    phi: float = 0.002
    info: float = 0.0  # counts behind the estimate; more = less uncertain
    spread: float = 0.0  # sum(w^2)/sum(w)^2: 1/n for equal weights
    minutes: int = 0
    nb_size: float = 1.0

    def size(self) -> float:
        """NB size of a prediction: dispersion plus the estimate's own relative variance."""
        return self.nb_size


def fit_baseline(window: Window, floor: float) -> Baseline:
    """Freeze the window's current fit into a new Baseline: coef = (sum x + 0.5) / sum w, NB
    size from the dispersion plus the estimate's own uncertainty (spread, counts behind it)."""
    fit = Baseline()
    window.refit(fit, floor)
    return fit


# ---------------------------------------------------------------- evidence over windows


class Evidence:
    """Sums of a status's last W counts and of one or more expectations, for several W.

    O(len(windows)) per pushed minute: each sum gains the new value and loses the one that
    falls out of its window. The ring is as long as the longest window.
    """

    __slots__ = (
        "held",
        "k",
        "leaving",
        "mus",
        "pos",
        "pushes",
        "ring",
        "smu",
        "sx",
        "windows",
        "xs",
    )

    def __init__(self, windows: tuple[int, ...], k: int) -> None:
        self.windows = windows
        self.ring = max(windows)
        self.k = k
        self.xs = [0.0] * self.ring
        self.mus = [[0.0] * self.ring for _ in range(k)]
        self.sx = [0.0] * len(windows)
        self.smu = [[0.0] * len(windows) for _ in range(k)]
        self.pos = 0
        self.pushes = 0
        self.held = [0] * len(windows)  # minutes each window really holds (not absorbed)
        self.leaving = [[(p - w) % self.ring for w in windows] for p in range(self.ring)]

    def push(self, x: float, mus: tuple[float, ...]) -> None:
        """Add one minute: its count and its expected count under each of the k views."""
        ring, pos, xs = self.ring, self.pos, self.xs
        leaving = self.leaving[pos]  # ring index of the value each window drops now
        self.sx = [s + x - xs[i] for s, i in zip(self.sx, leaving, strict=True)]
        xs[pos] = x
        smu = self.smu
        for k, (series, mu) in enumerate(zip(self.mus, mus, strict=True)):
            smu[k] = [s + mu - series[i] for s, i in zip(smu[k], leaving, strict=True)]
            series[pos] = mu
        self.pos = pos + 1 if pos + 1 < ring else 0
        self.pushes += 1
        held = self.held
        if held[-1] < self.ring:
            self.held = [min(w, h + 1) for w, h in zip(self.windows, held, strict=True)]
        if self.pushes % 4096 == 0:
            self._resync()

    def absorb(self) -> None:
        """Drop the minutes in the ring from every sum: an open alert has accounted for them,
        so later minutes are judged on fresh evidence only (the windows are short for a while).
        """
        zero = [0.0] * self.ring
        self.xs[:] = zero
        self.sx = [0.0] * len(self.windows)
        for series in self.mus:
            series[:] = zero
        self.smu = [[0.0] * len(self.windows) for _ in self.mus]
        self.held = [0] * len(self.windows)

    def _resync(self) -> None:
        """Recompute the sums from the ring, so float rounding cannot pile up."""
        ring, pos = self.ring, self.pos
        for j, w in enumerate(self.windows):
            idx = [(pos - 1 - i) % ring for i in range(min(w, ring))]
            self.sx[j] = float(sum(self.xs[i] for i in idx))
            for sums, series in zip(self.smu, self.mus, strict=True):
                sums[j] = max(0.0, sum(series[i] for i in idx))


class Tail:
    """How far one window's scores normally reach, for one status: a learned tail.

    Scores above `base` are summarised by their decayed count and the mean of (z^2 - base^2);
    `clock` counts every judged minute (shared by the windows of one status). The tail is
    taken as P(score > t) = rate x exp(-(t^2 - base^2) / (2 s2)), which is the normal tail when
    s2 = 1 and longer when the series is bursty; `limit` is the t that a normal minute passes
    once in `days` days. It starts from a day of a standard normal, so a status with little
    history is judged on the configured thresholds alone.
    """

    __slots__ = ("base", "clock", "count", "excess", "limit", "log_p", "normal")

    def __init__(self, clock: list[float], base: float, days: float) -> None:
        self.clock = clock
        self.base = base
        rate = 0.5 * math.erfc(base / math.sqrt(2.0))
        self.count = _PRIOR_MINUTES * rate
        self.excess = self.count * 2.0  # E[z^2 - base^2 | z > base] is about 2 for a normal
        self.log_p = math.log(1.0 / (days * 1440.0))
        self.limit = base
        self.refresh()
        self.normal = self.limit  # the limit of a series the model fits (the prior's)

    def add(self, z: float, weight: float = 1.0) -> None:
        """Account one minute's score (the engine counts the minute on `clock` itself)."""
        if z > self.base:
            self.count += weight
            self.excess += weight * (z * z - self.base * self.base)
            self.refresh()

    def decay(self, factor: float) -> None:
        """Age the counts by `factor` (the engine calls this once a day for each tail)."""
        self.count *= factor
        self.excess *= factor
        self.refresh()

    def refresh(self) -> None:
        """Recompute `limit` from the counts."""
        n = self.clock[0]
        if self.count <= 0.0 or n <= 0.0:
            self.limit = self.base
            return
        s2 = 0.5 * self.excess / self.count
        gap = math.log(self.count / n) - self.log_p
        self.limit = math.sqrt(self.base * self.base + 2.0 * s2 * gap) if gap > 0 else self.base


def tail_clock() -> list[float]:
    """A fresh minute counter for the tails of one status, with the prior's day in it."""
    return [_PRIOR_MINUTES]


_PRIOR_MINUTES = 1440.0
