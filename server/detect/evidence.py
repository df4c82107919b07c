"""Evidence over several windows: the sums of the last few minutes against their expected
sums, and each status's own score tails, so rarity is judged against what it usually does."""

from __future__ import annotations

import math
from operator import sub


class Evidence:
    """Sums of a status's last W counts and of one or more expectations, for several W.

    O(k) per pushed minute (k expectations): the running totals of the count and of each
    expectation, as one tuple, and a ring of past totals one longer than the longest window,
    so the sum of the last W values is the total now minus the total W pushes ago. Sums are
    formed by the reader from what `push` returns, for the windows and views it looks at:
    most minutes only the recent window is.
    """

    __slots__ = ("back", "k", "pos", "pushes", "ring", "rows", "since", "total", "windows")

    def __init__(self, windows: tuple[int, ...], k: int) -> None:
        self.windows = windows
        self.ring = max(windows) + 1
        self.k = k
        self.total = (0.0,) * (k + 1)  # running totals: the count, then each expectation
        self.rows = [self.total] * self.ring  # past running totals, the newest at `pos`
        self.pos = 0
        self.pushes = 0
        self.since = 0  # minutes pushed since the last `absorb`
        # back[p][j]: ring index of the totals window j subtracts when the newest is at p
        self.back = [[(p - w) % self.ring for w in windows] for p in range(self.ring)]

    def push(
        self, totals: tuple[float, ...]
    ) -> tuple[tuple[float, ...], list[tuple[float, ...]], list[int], int]:
        """Add one minute, given the running totals with it (`total` plus its count and its
        expected count under each of the k views, element by element: the caller forms them
        from its values in locals, cheaper than a loop here). Returns (running totals now,
        the ring of past totals, the ring index each window subtracts, minutes pushed since
        the last `absorb`): window j's sum of view v (0 the count, then each expectation) is
        now[v] - rows[back[j]][v], over min(W, since) minutes held."""
        pos = self.pos + 1
        if pos == self.ring:
            pos = 0
        self.pos = pos
        self.rows[pos] = self.total = totals
        self.pushes += 1
        self.since += 1
        if self.pushes % 4096 == 0:
            self._rebase()
        return self.total, self.rows, self.back[pos], self.since

    def absorb(self) -> None:
        """Drop the minutes in the ring from every sum: an open alert has accounted for them,
        so later minutes are judged on fresh evidence only (the windows are short for a while).
        """
        self.rows[:] = [self.total] * self.ring
        self.since = 0

    def _rebase(self) -> None:
        """Subtract the running totals from the ring, so that the totals stay small and the
        differences keep their precision however long the stream."""
        total = self.total
        self.rows[:] = [tuple(map(sub, row, total)) for row in self.rows]
        self.total = (0.0,) * (self.k + 1)


class Tail:
    """How far one window's scores normally reach, for one status: a learned tail.

    Decayed counts of the scores above each of a ladder of levels (`base`, `base` + 0.5, ...)
    and the mean excess above each: the status's own exceedance curve, robust to a few huge
    scores. `limit` is the score a minute passes once in `days` days: read off the curve at
    the highest level seen at least once, then extended by an exponential tail with that
    level's mean excess (longer than the normal tail, so a bursty series is not under-rated).
    It starts from a day of a standard normal; `normal` is the limit of that prior.
    """

    __slots__ = ("base", "clock", "count", "excess", "levels", "limit", "log_p", "normal", "top")

    def __init__(self, clock: list[float], base: float, days: float) -> None:
        self.clock = clock
        self.base = base
        self.levels = [base + _STEP * k for k in range(_LEVELS)]
        self.count = [_PRIOR_MINUTES * 0.5 * math.erfc(t / math.sqrt(2.0)) for t in self.levels]
        self.excess = [
            _PRIOR_MINUTES * (math.exp(-t * t / 2.0) / math.sqrt(2.0 * math.pi)) - c * t
            for t, c in zip(self.levels, self.count, strict=True)
        ]
        self.log_p = math.log(1.0 / (days * 1440.0))
        self.top: int | None = None  # the highest level seen at least once; None: look again
        self.limit = base
        self.refresh()
        self.normal = self.limit

    def add(self, z: float, weight: float = 1.0) -> None:
        """Account one minute's score (the engine counts the minute on `clock` itself)."""
        if z > self.base:
            self.top = None
            top = self.levels[-1] + _STEP  # beyond the ladder a score says no more
            zc = z if z < top else top
            count, excess = self.count, self.excess
            for k, t in enumerate(self.levels):
                if zc <= t:
                    break
                count[k] += weight
                excess[k] += weight * (zc - t)
            self.refresh()  # as taught: the limit must not wait for the hour (see refresh)

    def decay(self, factor: float) -> None:
        """Age the counts by `factor` (the engine calls this once a day for each tail)."""
        self.count = [c * factor for c in self.count]
        self.excess = [e * factor for e in self.excess]
        self.top = None
        self.refresh()

    def refresh(self) -> None:
        """Recompute `limit` from the counts (and the clock, which moves every minute)."""
        n = self.clock[0]
        count = self.count
        k = self.top
        if k is None:  # the counts changed since the last look
            k = len(count) - 1
            while k > 0 and count[k] < 1.0:
                k -= 1
            self.top = k
        c = count[k]
        if c <= 0.0 or n <= 0.0:
            self.limit = self.base
            return
        t = self.levels[k]
        scale = self.excess[k] / c
        gap = math.log(c / n) - self.log_p
        self.limit = t + scale * gap if gap > 0 else t


def tail_clock() -> list[float]:
    """A fresh minute counter for the tails of one status, with the prior's day in it."""
    return [_PRIOR_MINUTES]


_PRIOR_MINUTES = 1440.0
# base .. base + 29.5: the sums of a burst of a sparse status score 20-40, and a status that
# keeps having such bursts must be able to learn them (a ladder to base + 9.5 never could).
_LEVELS = 60
_STEP = 0.5
