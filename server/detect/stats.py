"""Detection statistics, pure and in memory (stdlib only).

Counts are judged with a negative-binomial model: the expected count comes from a robust
baseline, the spread from Poisson noise plus measured over-dispersion plus the uncertainty of a
baseline estimated from little history. The score is the signed deviance residual, a z-like
number that stays honest for small counts (a status that is always 0 scores about 8.8 at 10).
Rolling windows and the baselines fitted on them live here too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from math import log, log1p, sqrt
from statistics import NormalDist

from server.detect.config import DetectConfig

_TINY = 1e-9


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
        xs = x + size
        log_x = log(x / mu)
        log_xs = log(xs / mu_size)
        dev = 2.0 * (x * log_x - xs * log_xs)
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


def window_relief(config: DetectConfig) -> list[float]:
    """How much lower than `high` each window's opening score lies (0 for one minute).

    Sums of W minutes overlap, so a day holds about 1440 / W independent ones: with one
    false-alarm budget per day across the windows, a W-minute sum may pass its threshold
    W**window_budget times as often as a single minute passes `high` (normal tails).
    """
    unit = NormalDist()
    p_high = unit.cdf(-config.high)  # the upper tail, exact also far out
    out = []
    for w in config.windows:
        if w == 1 or config.window_budget == 0.0 or p_high <= 0.0:
            out.append(0.0)
            continue
        p = min(0.5, p_high * w**config.window_budget)
        relief = config.high + unit.inv_cdf(p)
        out.append(relief if relief > 0.0 else 0.0)
    return out


def long_dispersion(
    sums: list[float],
    x: float,
    mu: float | None,
    keep: float,
    weight: float,
    fallback: float,
    floor: float,
    cap: float,
) -> float:
    """A view's long-memory dispersion: decay its sums [resid2, sum_mu, sum_mu2, n] by
    `keep`, add this bucket's count `x` against `mu` (None: the view has no fit yet), and
    return the moment estimate once the sums hold `weight` buckets, else `fallback`; always
    within [floor, cap]."""
    r2, s1, s2, n = sums
    if mu is not None:
        d = x - mu
        sums[0] = r2 = r2 * keep + d * d
        sums[1] = s1 = s1 * keep + mu
        sums[2] = s2 = s2 * keep + mu * mu
        sums[3] = n = n * keep + 1.0
    phi = fallback if n < weight or s2 <= 0.0 else (r2 - s1) / s2
    if phi > cap:
        return cap
    return phi if phi > floor else floor


def dispersion(resid2: float, sum_mu: float, sum_mu2: float, floor: float) -> float:
    """Method-of-moments NB over-dispersion from squared residuals, at least `floor`."""
    if sum_mu2 <= _TINY:
        return floor
    phi = (resid2 - sum_mu) / sum_mu2
    return phi if phi > floor else floor


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

    def add(self, x: float, w: float, fit: Baseline, floor: float) -> None:
        """`push(x, w)` then `refit(fit, floor)`: the engine does both for every status every
        bucket, so both are written out here, on the sums in locals (same operations, same
        order, so the same floats)."""
        ring = self.ring
        n = self.n
        if n == self.size:  # full (the usual case): the oldest pair leaves as this one enters
            ox, ow = ring.popleft()
            ring.append((x, w))
            # (sum - old) + new, as push subtracts and then adds
            self.sx = sx = self.sx - ox + x
            self.sx2 = sx2 = self.sx2 - ox * ox + x * x
            self.sw = sw = self.sw - ow + w
            self.sw2 = sw2 = self.sw2 - ow * ow + w * w
            self.sxw = sxw = self.sxw - ox * ow + x * w
        else:
            self.n = n = n + 1
            ring.append((x, w))
            self.sx = sx = self.sx + x
            self.sx2 = sx2 = self.sx2 + x * x
            self.sw = sw = self.sw + w
            self.sw2 = sw2 = self.sw2 + w * w
            self.sxw = sxw = self.sxw + x * w
        # refit(fit, floor) from here on (n > 0)
        if sw <= _TINY:
            c, phi, total = 0.0, floor, 0.0
        else:
            total = sx
            if total < 0.0:
                total = 0.0
            c = (total + 0.5) / sw
            resid2 = sx2 - 2.0 * c * sxw + c * c * sw2
            if resid2 < 0.0:
                resid2 = 0.0
            sum_mu2 = c * c * sw2
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
        fit.exposure = sw
        fit.minutes = n
        fit.nb_size = 1.0 / (phi * (1.0 + spread) + 1.0 / info)

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
        fit.exposure = sw
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
    exposure: float = 0.0  # sum(w): minutes at the mean level behind the estimate
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
