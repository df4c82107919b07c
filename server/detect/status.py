"""What the engine keeps per status and per open minute."""

from __future__ import annotations

from collections import deque

from server.detect.config import DetectConfig
from server.detect.evidence import Evidence, Tail, tail_clock
from server.detect.lifecycle import Alert
from server.detect.profiles import HourProfile
from server.detect.stats import Baseline, Window, limit, score


class _Status:
    """Baselines of one status (or of the total volume), plus values derived from them.

    Judging a record needs the expected count, its score and the upper limit; the baselines
    change only when a bucket settles (`_learn`), so the derived values are memoised here and
    `forget` drops them whenever a baseline changes.
    """

    __slots__ = (
        "dense",
        "drop",
        "drop_clock",
        "drop_tails",
        "evidence",
        "evidence_epoch",
        "evidence_minute",
        "gaps",
        "habit",
        "held",
        "held_for",
        "hold",
        "last_data",
        "level",
        "level_epoch",
        "level_fit",
        "level_m",
        "level_mu",
        "level_upper",
        "level_x",
        "level_z",
        "name",
        "pending",
        "phi_l",
        "phi_level",
        "phi_r",
        "phi_rate",
        "profile",
        "rate",
        "rate_fit",
        "rate_up_mu",
        "rate_upper",
        "rise_clock",
        "rise_tails",
        "settled",
        "spike",
        "thin_exposure",
    )

    @property
    def sparse(self) -> bool:
        """Its source omits zero rows, so an absent status means a zero count."""
        return self.gaps and not self.dense

    def __init__(self, name: str, cfg: DetectConfig, total: bool = False) -> None:
        self.name = name
        self.spike = not total and name not in cfg.spike_exempt
        self.thin_exposure = cfg.thin_level_minutes
        self.drop = total or name in cfg.drop_statuses
        self.profile = HourProfile(cfg.season_days, cfg.weekday_min_days, cfg.shape_prior)
        self.rate = Window(cfg.rate_window) if self.spike else None
        # Own count history (every status): the drop level of a volume status, the count view
        # of the others.
        self.level = Window(cfg.level_window if self.drop else cfg.count_window)
        self.rate_fit = Baseline(phi=cfg.dispersion_floor)
        self.level_fit = Baseline(phi=cfg.dispersion_floor)
        self.level_epoch = 0
        self.settled = 0
        self.last_data = -1
        self.dense = False  # has sent an explicit 0: its absence means no data, not zero
        self.gaps = False  # was absent from a live bucket while a zero was plausible
        # Window sums: views (count, rate, seasonal count, seasonal rate) for rises, then
        # (drop) for falls.
        self.evidence = Evidence(cfg.windows, 4 * self.spike + self.drop)
        self.evidence_minute = -1
        self.evidence_epoch = 0
        # Window scores waiting to teach the tails, (minute, [(tail, score)]): a minute is
        # learned as normal once the longest window has passed it without an alert opening.
        self.pending: deque[tuple[int, list[tuple[Tail, float]]]] = deque()
        # ...and those of an alert's build-up, until the alert shows whether it was a blip
        # or a habit.
        self.held: list[tuple[int, list[tuple[Tail, float]]]] = []
        self.held_for: Alert | None = None  # the alert the build-up waits for
        self.hold: _Hold | None = None  # the level the status's open alert opened against
        # When the status's longer alerts that held a build-up ended (event time, the last
        # `habit_days`): enough of them make its bursts a habit (see Judging._settle_held).
        self.habit: deque[int] = deque()
        # Long-memory dispersion of each view: exponentially weighted sums of the squared
        # residual, the expectation and its square, and their weight.
        self.phi_level = [0.0, 0.0, 0.0, 0.0]
        self.phi_rate = [0.0, 0.0, 0.0, 0.0]
        self.phi_l = self.phi_r = cfg.dispersion_floor  # the dispersions in use
        self.rise_clock = tail_clock()
        self.drop_clock = tail_clock()
        base, days = cfg.tail_base, cfg.tail_days
        # One tail per window, then one of the evidence over all windows (the last).
        tails = len(cfg.windows) + 1
        self.rise_tails = [Tail(self.rise_clock, base, days) for _ in range(tails)] * self.spike
        self.drop_tails = [Tail(self.drop_clock, base, days) for _ in range(tails)] * self.drop
        self.level_mu = 0.0
        self.level_upper: float | None = None
        self.level_x: int | None = None  # last count scored against level_mu, and its score
        self.level_z = 0.0
        self.rate_upper = 0.0
        self.forget()

    def forget(self) -> None:
        """Drop the memoised values: a baseline or the hour profile changed."""
        self.level_m: int | None = None  # the bucket of level_mu, level_upper, level_x
        self.rate_up_mu: float | None = None  # the expected count of rate_upper

    # Level baseline: expected = level x hour-of-day shape of the bucket.

    def level_expected(self, m: int) -> float:
        """Expected count of bucket m for judging drops, computed once per bucket: the lower
        of the recent level and the seasonal one (a fall back to normal after a surge is not
        a drop), times the lower shape (see HourProfile.shapes)."""
        if m != self.level_m:
            self.level_m = m
            self.level_mu = self.drop_expected(m)
            self.level_upper = None
            self.level_x = None
        return self.level_mu

    def drop_expected(self, m: int) -> float:
        _shape, lower, _upper, seasonal, _rise = self.profile.shapes(m)
        coef = self.level_fit.coef
        if 0.0 < seasonal < coef:
            coef = seasonal
        return coef * lower

    def count_expected(self, m: int) -> float:
        """Expected count of bucket m on the status's own count history, for rises: the
        higher of the recent level and the seasonal one (coming back after a fall, or a
        quiet night before the usual morning, is no rise), times the upper shape."""
        _shape, _lower, upper, daily, pooled = self.profile.shapes(m)
        seasonal = self.rise_level(daily, pooled)
        coef = self.level_fit.coef
        if seasonal > coef:
            coef = seasonal
        return coef * upper

    def rise_level(self, daily: float, pooled: float) -> float:
        """The seasonal level rises are judged against: the day type's own, or else the pooled
        one while the recent level rests on too little exposure to be a level (the hours
        behind it are ones the profile says are near empty, such as the night before a
        weekend's first opening); 0.0 when there is neither."""
        if daily > 0.0:
            return daily
        return pooled if self.level_fit.exposure < self.thin_exposure else 0.0

    def level_score(self, x: int) -> float:
        """score(x, level_mu, level size) for the bucket of the last `level_expected`."""
        if x != self.level_x:
            self.level_x = x
            self.level_z = score(x, self.level_mu, self.level_fit.nb_size)
        return self.level_z

    def level_limit(self, high: float) -> float:
        """Upper limit for the bucket of the last `level_expected`, computed once."""
        if self.level_upper is None:
            self.level_upper = limit(self.level_mu, self.level_fit.nb_size, high)
        return self.level_upper


class _Hold:
    """The baselines an alert opened against, and the status's last `resolve_minutes` judged
    against them: the alert resolves only once the status is back near that level, so a level
    the baselines learn while it lasts (after `freeze_minutes`) is no all-clear."""

    __slots__ = ("alert", "coef", "count_phi", "lam", "minutes", "rate_phi")

    def __init__(self, st: _Status, span: int, alert: Alert) -> None:
        self.alert = alert  # the open alert it holds
        rate, level = st.rate_fit, st.level_fit
        self.lam = rate.coef if st.spike and rate.minutes else None
        self.coef = level.coef if level.minutes else None
        # Each view's (dispersion, fixed part) as the window sums use them (see _evidence).
        self.rate_phi = (st.phi_r, st.phi_r * rate.spread + 1.0 / rate.info) if self.lam else None
        self.count_phi = (st.phi_l, st.phi_l * level.spread + 1.0 / level.info)
        # (count, expected on the count view, on the rate view): the last `span` minutes
        self.minutes: deque[tuple[int, float, float]] = deque(maxlen=span)


class _Minute:
    """Running counts of one bucket."""

    __slots__ = ("closed", "counts", "e_seasonal", "e_total", "expected", "present", "total")

    def __init__(self, expected: frozenset[str], e_total: float) -> None:
        self.counts: dict[str, int] = {}
        self.total = 0
        self.closed = False
        self.expected = expected
        self.present = 0
        self.e_total = e_total
        self.e_seasonal = -1.0  # seasonal expectation of all traffic (-1 until looked up)
