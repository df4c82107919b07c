"""Evidence over several windows: the sums of the last few minutes against their expected
sums, and each status's own score tails, so rarity is judged against what it usually does."""

from __future__ import annotations

import math


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
        # This runs once per status and minute: a plain zip (the lengths are equal by
        # construction) is measurably cheaper than zip(strict=True); the sums are formed
        # exactly as before, (s + new) - leaving.
        ring, pos, xs = self.ring, self.pos, self.xs
        leaving = self.leaving[pos]  # ring index of the value each window drops now
        self.sx = [s + x - xs[i] for s, i in zip(self.sx, leaving)]  # noqa: B905
        xs[pos] = x
        smu, series_of = self.smu, self.mus
        for k, mu in enumerate(mus):
            series = series_of[k]
            smu[k] = [s + mu - series[i] for s, i in zip(smu[k], leaving)]  # noqa: B905
            series[pos] = mu
        self.pos = pos + 1 if pos + 1 < ring else 0
        self.pushes += 1
        held = self.held
        if held[-1] < ring:
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
