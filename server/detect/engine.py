"""The detection engine the receiver and the backtest both drive, from one thread, in event time.

Records are bucketed by their own timestamp. Each record gets a verdict at once (on the bucket's
running total); the alert lifecycle judges a bucket when it is complete (every status of the
previous bucket has reported) or when a later bucket starts, so the order of statuses inside a
bucket does not matter. A bucket enters the baselines `settle_minutes` after it. Late records:
up to `late_minutes` behind the newest bucket they count (verdict, running total, alerts) but do
not change baselines already fed; older ones get a verdict only.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from server.detect.lifecycle import (
    Alert,
    AlertBook,
    AlertConflict,
    AlertEvent,
    AlertNotFound,
    Observation,
    Silence,
)
from server.detect.stats import (
    SEVERITIES,
    TOTAL,
    Baseline,
    DetectConfig,
    Evidence,
    HourProfile,
    Tail,
    Window,
    limit,
    score,
    severity_of,
    surely_within,
    tail_clock,
)
from server.records import Record

__all__ = ["AlertConflict", "AlertNotFound", "Engine", "Judged"]


@dataclass(slots=True)
class Judged:
    """The verdict on one record and the alert events its arrival caused."""

    severity: str
    score: float
    expected: float
    upper: float
    events: list[AlertEvent] = field(default_factory=list)
    alert_id: int | None = None  # the open alert of this status when the record is abnormal


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
        "spike_ratio",
    )

    @property
    def sparse(self) -> bool:
        """Its source omits zero rows, so an absent status means a zero count."""
        return self.gaps and not self.dense

    def __init__(self, name: str, cfg: DetectConfig, total: bool = False) -> None:
        self.name = name
        self.spike = not total and name not in cfg.spike_exempt
        self.spike_ratio = cfg.spike_min_ratio
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
        # Window sums: views (count, rate) for rises, then (drop) for falls.
        self.evidence = Evidence(cfg.windows, 2 * self.spike + self.drop)
        self.evidence_minute = -1
        self.evidence_epoch = 0
        # Window scores waiting to teach the tails, (minute, [(tail, score)]): a minute is
        # learned as normal once the longest window has passed it without an alert opening.
        self.pending: deque[tuple[int, list[tuple[Tail, float]]]] = deque()
        # Long-memory dispersion of each view: exponentially weighted sums of the squared
        # residual, the expectation and its square, and their weight.
        self.phi_level = [0.0, 0.0, 0.0, 0.0]
        self.phi_rate = [0.0, 0.0, 0.0, 0.0]
        self.phi_l = self.phi_r = cfg.dispersion_floor  # the dispersions in use
        self.rise_clock = tail_clock()
        self.drop_clock = tail_clock()
        base, days = cfg.tail_base, cfg.tail_days
        self.rise_tails = [Tail(self.rise_clock, base, days) for _ in cfg.windows] * self.spike
        self.drop_tails = [Tail(self.drop_clock, base, days) for _ in cfg.windows] * self.drop
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

    # Rate baseline (spike statuses): expected = share x the other statuses' traffic.

    def rate_limit(self, mu: float, high: float) -> float:
        """Upper limit of a spike status at expected count mu, kept for a repeated mu.

        Within one bucket mu stays at share x expected other traffic until the running total
        of the others passes it, so consecutive records of a status mostly repeat it.
        """
        up = limit(mu, self.rate_fit.nb_size, high)
        ratio_up = self.spike_ratio * mu
        self.rate_up_mu = mu
        self.rate_upper = ratio_up if ratio_up > up else up  # exactly max(up, ratio_up)
        return self.rate_upper

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
        _shape, lower, _upper, seasonal = self.profile.shapes(m)
        coef = self.level_fit.coef
        if 0.0 < seasonal < coef:
            coef = seasonal
        return coef * lower

    def count_expected(self, m: int) -> float:
        """Expected count of bucket m on the status's own count history, for rises: the
        higher of the recent level and the seasonal one (coming back after a fall, or a
        quiet night before the usual morning, is no rise), times the upper shape."""
        _shape, _lower, upper, seasonal = self.profile.shapes(m)
        coef = self.level_fit.coef
        if seasonal > coef:
            coef = seasonal
        return coef * upper

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


class _Minute:
    """Running counts of one bucket."""

    __slots__ = ("closed", "counts", "e_total", "expected", "present", "total")

    def __init__(self, expected: frozenset[str], e_total: float) -> None:
        self.counts: dict[str, int] = {}
        self.total = 0
        self.closed = False
        self.expected = expected
        self.present = 0
        self.e_total = e_total


class Engine:
    """Detection and alert lifecycle over a stream of records; single-threaded, in memory."""

    def __init__(self, config: DetectConfig, next_alert_id: int = 1) -> None:
        self.config = config
        self.book = AlertBook(config, next_alert_id)
        self.statuses: dict[str, _Status] = {}
        self.total = _Status(TOTAL, config, total=True)
        self.total_judged = TOTAL in config.drop_statuses
        self.minutes: dict[int, _Minute] = {}
        self.open_minutes: set[int] = set()  # keys of `minutes` not judged complete yet
        self.oldest_minute = 0  # no key of `minutes` is older (a bound, not always a key)
        self.watermark: int | None = None
        self.settled_upto = 0
        self.last_data_minute = 0
        self.expected_set: frozenset[str] = frozenset()
        self.feed_back = -1  # first bucket after the last feed-wide silence
        self._nodata_due = -1  # before this event time no silence can count (see _nodata)
        b = config.bucket_seconds
        self._b = b
        self._late = config.late_minutes * b
        # Hot-path copies of config values (attribute reads add up at 100k records/s).
        self._min_history = config.min_history
        self._freeze_span = config.freeze_minutes * b
        self._clip = config.clip_score
        self._rise_clip = config.rise_clip_score
        self._floor = config.dispersion_floor
        self._low = config.low
        self._medium = config.medium
        self._high = config.high
        self._spike_ratio = config.spike_min_ratio
        self._drop_keep = 1.0 - config.drop_min_fraction
        self._windows = config.windows
        # The "still going on" window: the shortest of at least 3 minutes (else the longest).
        self._recent = next(
            (j for j, w in enumerate(config.windows) if w >= 3), len(config.windows) - 1
        )
        self._alert_weight = config.tail_alert_weight
        self._learn_delay = max(config.windows) * b
        self._phi_keep = 1.0 - 1.0 / (config.dispersion_days * 1440)
        self._phi_weight = 360.0
        self._min_count = config.spike_min_count
        self._tail_decay = math.exp(-1.0 / config.tail_memory_days)
        self._drop_others = tuple(s for s in config.drop_statuses if s != TOTAL)

    # ------------------------------------------------------------ ingest

    def ingest(self, rec: Record) -> Judged:
        """Judge one record (on its bucket's running total) and advance the lifecycle."""
        b = self._b
        ts, name, count = rec.ts, rec.status, rec.count
        m = ts - ts % b
        events: list[AlertEvent] = []
        wm = self.watermark
        if wm is None:
            self.watermark = m
            self.settled_upto = self.last_data_minute = m - b
        elif m > wm:
            events = self._event_timers(wm + b, m)
            if m - wm > self.config.nodata_minutes * b:
                self.feed_back = m  # the whole feed was silent: per-status silences restart
            events += self._advance(m)
        elif m < wm - self._late:
            return self._verdict_only(rec, m)
        st = self.statuses.get(name) or self._new_status(name)
        buf = self.minutes.get(m) or self._new_minute(m)
        counts = buf.counts
        before = counts.get(name)
        x = count if before is None else before + count
        counts[name] = x
        total = buf.total = buf.total + count
        if m > st.last_data:
            st.last_data = m
        if count == 0:
            st.dense = True
        sev, z, mu, upper, _kind = self._judge(st, m, x, total - x, buf.e_total, True)
        if buf.closed:
            events += self._observe(st, m, buf, late=True)
        elif before is None and name in buf.expected:
            buf.present += 1
            if buf.present >= len(buf.expected):
                events += self._close(m, buf)
        alert = self.book.by_status.get(name) if sev >= 2 else None
        return Judged(SEVERITIES[sev], z, mu, upper, events, alert.id if alert else None)

    def _verdict_only(self, rec: Record, m: int) -> Judged:
        st = self.statuses.get(rec.status)
        if st is None:
            return Judged("normal", 0.0, 0.0, 0.0)
        e_total = self._e_total(m)
        sev, z, mu, upper, _ = self._judge(st, m, rec.count, -1, e_total, True)
        return Judged(SEVERITIES[sev], z, mu, upper)

    def _new_status(self, name: str) -> _Status:
        st = _Status(name, self.config)
        self.statuses[name] = st
        return st

    def _new_minute(self, m: int) -> _Minute:
        """The buffer of bucket m; already closed when the watermark is past it (late)."""
        buf = _Minute(self.expected_set, self._e_total(m))
        self.minutes[m] = buf
        if m < self.oldest_minute:
            self.oldest_minute = m
        if m < (self.watermark or m):
            buf.closed = True
        else:
            self.open_minutes.add(m)
        return buf

    def _e_total(self, m: int) -> float:
        fit = self.total.level_fit
        return fit.coef * self.total.profile.shape(m) if fit.minutes else 0.0

    # ------------------------------------------------------------ judging

    def _judge(
        self,
        st: _Status,
        m: int,
        x: int,
        n_other: int,
        e_total: float,
        want_upper: bool,
        want_score: bool = True,
    ) -> tuple[int, float | None, float, float, str]:
        """(severity index, score, expected, upper, kind) of count x of a status in bucket m.

        With want_score False a test whose score is surely below `low` is not computed; the
        score is then None when that test is the one reported (its severity is 0 either way).
        """
        sev, z, mu, upper, kind = 0, 0.0, 0.0, 0.0, "spike"
        if st.spike and (st.rate_fit.minutes or st.level_fit.minutes):
            if st.rate_fit.minutes:
                fit = st.rate_fit
                lam = fit.coef
                e_other = e_total / (1.0 + lam)
                mu = lam * (n_other if n_other > e_other else e_other)
            else:  # a lone status: its own count history
                fit = st.level_fit
                mu = st.count_expected(m)
            size = fit.nb_size
            if not want_score and surely_within(x, mu, size, self._low):
                z = None
            else:
                z = score(x, mu, size)
                if z > 0:
                    sev = severity_of(z - self._offset(st.rise_tails), self.config)
                    if sev > 1 and x < self._spike_ratio * mu:
                        sev = 1
            if want_upper:
                if st.rate_fit.minutes:
                    upper = st.rate_upper if mu == st.rate_up_mu else st.rate_limit(mu, self._high)
                else:
                    upper = max(limit(mu, size, self._high), self._spike_ratio * mu)
        if st.drop and st.level_fit.minutes:
            dmu = st.level_expected(m)
            if x == st.level_x:
                dz = st.level_z
            elif not want_score and surely_within(x, dmu, st.level_fit.nb_size, self._low):
                dz = None
            else:
                dz = st.level_score(x)
            dsev = (
                severity_of(-dz - self._offset(st.drop_tails), self.config)
                if dz is not None and dz < 0
                else 0
            )
            if dsev > 1 and x > self._drop_keep * dmu:
                dsev = 1
            if not st.spike or dsev > sev:
                sev, z, mu, kind = dsev, None if dz is None else -dz, dmu, "drop"
                if want_upper:
                    upper = st.level_limit(self._high)
        return sev, z, mu, upper, kind

    def _offset(self, tails: list[Tail]) -> float:
        """How far the learned tail of window 1 lifts the per-minute thresholds."""
        if not tails:
            return 0.0
        off = tails[0].limit - tails[0].normal
        return off if off > 0.0 else 0.0

    def _observe(self, st: _Status, m: int, buf: _Minute, late: bool = False) -> list[AlertEvent]:
        """Judge a status on a complete bucket and feed the lifecycle."""
        if st.settled < self._min_history:
            return []
        name = st.name
        book = self.book
        if st is self.total:
            x = buf.total
            alert = book.by_status.get(TOTAL)
            if alert is not None and alert.kind == "no_data":  # the feed is back
                return book.observe(TOTAL, Observation(m, 0, 0.0, "drop", x, 0.0))
            if not self.total_judged or buf.present < len(buf.expected):
                return []
            for other in self._drop_others:
                if book.by_status.get(other):
                    return []
        else:
            counts = buf.counts
            if name not in counts and not st.sparse:
                # Absent but not from a zero-omitting source: a no-data question for a volume
                # status; zero for a failure status unless it is already flagged as silent.
                alert = book.by_status.get(name)
                if not st.spike or (alert is not None and alert.kind == "no_data"):
                    return []
            x = counts.get(name, 0)
        if late or m <= st.evidence_minute:
            # Out of order: the window sums have moved on; judge the minute on its own.
            sev, z, mu, _up, kind = self._judge(st, m, x, buf.total - x, buf.e_total, False, False)
        else:
            st.evidence_minute = m
            sev, z, mu, kind = self._evidence(st, m, x, buf)
        if sev < 2:
            return book.observe_normal(name, m, sev)
        if z is None:
            z = 0.0
        events = book.observe(name, Observation(m, sev, z, kind, x, mu))
        if name in book.by_status and not late:
            st.evidence.absorb()  # the open alert has this evidence; judge what comes next
            st.pending.clear()  # the build-up of an incident is not normal
        return events

    def _evidence(self, st: _Status, m: int, x: int, buf: _Minute) -> tuple[int, float, float, str]:
        """(severity, evidence, expected count, kind) of a status's complete bucket m.

        The bucket joins the window sums (count view, rate view, drop view). Each window's
        score is judged against its own learned tail (`Tail`): evidence = score minus how far
        that tail lifts the `high` threshold. Rises: where the status has other traffic beside
        it, both the count and the rate view must show it (the smaller score counts), so a
        proportional surge stays quiet; a lone status is judged on its counts. The evidence of
        the minute is the largest over the windows whose sums are also `spike_min_ratio` above
        (or `drop_min_fraction` below) expectation while the shortest window of 3 minutes or
        more still shows the change.
        """
        windows = self._windows
        ev = st.evidence
        best, short, mu_best, kind = 0.0, 0.0, 0.0, "spike"
        alert = self.book.by_status.get(st.name)
        learn = alert is None
        mus: list[float] = []
        rise_fits: list[Baseline] = []
        rise_phis: list[float] = []
        if st.spike:
            has_count = st.level_fit.minutes > 0
            has_rate = st.rate_fit.minutes > 0
            mu_c = st.count_expected(m) if has_count else float(x)
            if has_rate:
                lam = st.rate_fit.coef
                e_other = buf.e_total / (1.0 + lam)
                n_other = buf.total - x
                mu_r = lam * (n_other if n_other > e_other else e_other)
            else:
                mu_r = float(x)
            mus += (mu_c, mu_r)
            if has_rate:
                rise_fits.append(st.rate_fit)
                rise_phis.append(st.phi_r)
            if has_count:
                rise_fits.append(st.level_fit)
                rise_phis.append(st.phi_l)
            mu_best = mu_r if has_rate else mu_c
        if st.drop:
            mu_d = st.drop_expected(m) if st.level_fit.minutes else float(x)
            mus.append(mu_d)
        if st.profile.epoch != st.evidence_epoch:
            # The profile changed scale (a first full day, a day type of its own): sums of
            # expectations made before are not comparable; start the windows afresh.
            st.evidence_epoch = st.profile.epoch
            ev.absorb()
        ev.push(float(x), tuple(mus))
        seasonal = st.profile.shapes(m)[3] > 0.0
        sx = ev.sx
        held = ev.held
        r = self._recent
        high = self._high
        cap = self._medium - 1e-6  # just below medium
        min_count = self._min_count
        seen: list[tuple[Tail, float]] = []  # the windows' scores, for the learned tails
        if rise_fits:
            views = [1, 0] if len(rise_fits) == 2 else ([1] if st.rate_fit.minutes else [0])
            tails = st.rise_tails
            if sx[r] > ev.smu[views[0]][r]:
                ratio = self._spike_ratio
                specs = [
                    (ev.smu[v], phi, phi * fit.spread + 1.0 / fit.info, v == 0 and not seasonal)
                    for v, fit, phi in zip(views, rise_fits, rise_phis, strict=True)
                ]
                for j in range(len(windows)):
                    s_j = sx[j]
                    z = 1e9
                    for sums, phi, fixed, no_long in specs:
                        if no_long and windows[j] > 5:
                            continue  # no day of history: a daily ramp is not a rise
                        m_j = sums[j]
                        gap = s_j - m_j
                        # surely_within(s_j, m_j, size, 2.0) of a Poisson bound, written out:
                        # the NB deviance is below it, so the score is surely below 2.
                        if gap <= 0.0 or 2.0 * gap * gap < 3.9 * m_j:
                            z = 0.0
                            break
                        zv = score(s_j, m_j, 1.0 / (phi / held[j] + fixed))
                        if zv < z:
                            z = zv
                    if z < 2.0 or z == 1e9:
                        continue
                    tail = tails[j]
                    if learn:
                        seen.append((tail, z))
                    off = tail.limit - tail.normal
                    e = z - off if off > 0.0 else z
                    if cap < e < high and windows[j] > 1:
                        e = cap  # a sum of minutes opens at high; `medium` is per minute
                    if s_j >= ratio * ev.smu[views[-1]][j] and s_j >= min_count:
                        if e > best:
                            best = e
                        if e > short and windows[j] <= 5:
                            short = e
            # Seen by the short windows (at least `low`): a spike; only by the long ones: a shift.
            kind = "spike" if short >= self._low or short >= best else "shift"
        if st.drop and st.level_fit.minutes:
            d = len(mus) - 1
            sd = ev.smu[d]
            fit = st.level_fit
            phi = st.phi_l
            fixed = phi * fit.spread + 1.0 / fit.info
            tails = st.drop_tails
            dbest = 0.0
            if sx[r] < sd[r]:
                keep = self._drop_keep
                for j in range(len(windows)):
                    s_j, m_j = sx[j], sd[j]
                    if s_j >= m_j or (windows[j] > 1 and not seasonal):
                        continue  # (before a day of history a daily decline is no drop)
                    gap = m_j - s_j
                    if 2.0 * gap * gap < 3.9 * m_j:
                        continue  # surely below 2 (as above)
                    z = -score(s_j, m_j, 1.0 / (phi / held[j] + fixed))
                    if z < 2.0:
                        continue
                    tail = tails[j]
                    if learn:
                        seen.append((tail, z))
                    off = tail.limit - tail.normal
                    e = z - off if off > 0.0 else z
                    if cap < e < high and windows[j] > 1:
                        e = cap
                    if e > dbest and s_j <= keep * m_j:
                        dbest = e
            if dbest > best or not st.spike:
                best, mu_best, kind = dbest, mus[d], "drop"
        st.rise_clock[0] += 1.0
        st.drop_clock[0] += 1.0
        if ev.pushes % 60 == 0:
            decay = ev.pushes % 1440 == 0
            if decay:
                st.rise_clock[0] *= self._tail_decay
                st.drop_clock[0] *= self._tail_decay
            for tail in st.rise_tails + st.drop_tails:
                if decay:
                    tail.decay(self._tail_decay)
                else:
                    tail.refresh()
        sev = severity_of(best, self.config)
        # Normal minutes teach the tails what this status does; a minute that may open an
        # alert teaches them too, with less weight, so a pattern that keeps coming back
        # (bursts of a bursty series) stops paging while a few real incidents do not.
        if seen:
            if sev < 2:
                st.pending.append((m, seen))
            elif self._alert_weight > 0.0:
                for tail, z in seen:
                    tail.add(z, self._alert_weight)
        pending = st.pending
        horizon = m - self._learn_delay
        while pending and pending[0][0] <= horizon:
            for tail, z in pending.popleft()[1]:
                tail.add(z)
        return sev, best, mu_best, kind

    def _phi(self, sums: list[float], fit: Baseline) -> float:
        """The view's long-memory dispersion once it has a day of weight, else the fit's."""
        r2, s1, s2, n = sums
        if n < self._phi_weight or s2 <= 0.0:
            return fit.phi
        phi = (r2 - s1) / s2
        return phi if phi > self._floor else self._floor

    def _close(self, m: int, buf: _Minute) -> list[AlertEvent]:
        buf.closed = True
        self.open_minutes.discard(m)
        self.expected_set = frozenset(buf.counts)
        events: list[AlertEvent] = []
        observe = self._observe
        for st in self.statuses.values():
            found = observe(st, m, buf)
            if found:
                events += found
        events += observe(self.total, m, buf)
        return events

    # ------------------------------------------------------------ time passing

    def _advance(self, m: int) -> list[AlertEvent]:
        """A newer bucket arrived: close older ones, settle old enough ones, prune."""
        events: list[AlertEvent] = []
        if self.open_minutes:  # usually empty: a bucket closes once all its statuses reported
            for key in sorted(k for k in self.open_minutes if k < m):
                events += self._close(key, self.minutes[key])
        self.watermark = m
        self._settle_until(m - self.config.settle_minutes * self._b)
        self._prune(m - self._late)
        return events

    def _keys_between(self, first: int, last: int) -> list[int]:
        """Sorted keys of `minutes` in [first, last]; bucket keys are multiples of the bucket,
        so a short span is probed key by key instead of scanning every buffer kept."""
        b = self._b
        minutes = self.minutes
        if last < first:
            return []
        if first == last and first % b == 0:  # one bucket: the usual step of a live feed
            return [first] if first in minutes else []
        if (last - first) // b < len(minutes):
            return [k for k in range(first - first % b, last + 1, b) if k >= first and k in minutes]
        return sorted(k for k in minutes if first <= k <= last)

    def _prune(self, horizon: int) -> None:
        """Forget buffers older than `horizon` (late records before it get a verdict only)."""
        if horizon <= self.oldest_minute:
            return
        for key in self._keys_between(self.oldest_minute, horizon - 1):
            del self.minutes[key]
            self.open_minutes.discard(key)
        self.oldest_minute = horizon

    def _settle_until(self, target: int) -> None:
        """Feed every bucket up to `target` into the baselines, zero-filling short gaps."""
        b = self._b
        fill = self.config.gap_fill_minutes * b
        t = self.settled_upto + b
        for key in self._keys_between(t, target):
            while t < key and t <= self.last_data_minute + fill:
                self._settle(t, None)
                t += b
            self._settle(key, self.minutes[key])
            t = key + b
        while t <= target and t <= self.last_data_minute + fill:
            self._settle(t, None)
            t += b
        if target > self.settled_upto:
            self.settled_upto = target

    def _settle(self, t: int, buf: _Minute | None) -> None:
        counts = buf.counts if buf is not None else {}
        total = buf.total if buf is not None else 0
        if buf is not None:
            self.last_data_minute = t
        for st in self.statuses.values():
            x = counts.get(st.name, -1)
            if x < 0:
                x = 0
                if buf is not None and not st.gaps and self._expected(st, t) < 2.0:
                    st.gaps = True
            self._learn(st, t, x, total - x)
        self._learn(self.total, t, total, 0)

    def _learn(self, st: _Status, t: int, x: int, n_other: int) -> None:
        """Feed one settled bucket to a status's baselines (clipped, so spikes cannot poison).

        While the status has an open alert (for at most `freeze_minutes`) its minutes enter
        as the expected value instead: an incident does not teach the baseline; a shift that
        lasts longer is then learned gradually, so the alert can resolve on the new level.
        """
        xf = float(x)
        warm = st.settled >= self._min_history
        alert = self.book.by_status.get(st.name) if warm else None
        frozen = alert is not None and t - alert.first_seen < self._freeze_span
        clip = self._clip
        rate = st.rate
        if rate is not None and n_other > 0:
            fit = st.rate_fit
            if warm and xf > (mu := fit.coef * n_other):
                size = fit.nb_size
                if frozen:
                    xf = mu
                elif not surely_within(xf, mu, size, clip) and score(xf, mu, size) > clip:
                    xf = limit(mu, size, clip)
            if fit.minutes:
                sums, keep = st.phi_rate, self._phi_keep
                mu = fit.coef * n_other
                d = xf - mu
                sums[0] = sums[0] * keep + d * d
                sums[1] = sums[1] * keep + mu
                sums[2] = sums[2] * keep + mu * mu
                sums[3] = sums[3] * keep + 1.0
            rate.push(xf, float(n_other))
            rate.refit(fit, self._floor)
            st.phi_r = self._phi(st.phi_rate, fit)
        level = st.level
        if level is not None:
            xf = float(x)  # the rate view above clips on its own terms
            fit = st.level_fit
            profile = st.profile
            if profile.epoch != st.level_epoch:  # the profile changed scale: re-weigh
                st.level_epoch = profile.epoch
                b = self._b
                level.reweigh([profile.shape(t - (level.n - i) * b) for i in range(level.n)])
                level.refit(fit, self._floor)
            shape = profile.shape(t)
            if warm:
                mu, size = fit.coef * shape, fit.nb_size
                # A volume status learns rises slowly (`rise_clip_score`): after a surge its
                # level is still near where it was, so the fall back is no drop.
                if frozen:
                    xf = mu
                elif st.drop and xf > mu:
                    # (a normal approximation is close enough for clipping)
                    top = mu + self._rise_clip * math.sqrt(mu + mu * mu / size)
                    if xf > top:
                        xf = top
                elif surely_within(xf, mu, size, clip):
                    pass  # well inside the clip limits: enters as it is
                elif abs(z := score(xf, mu, size)) > clip:
                    xf = limit(mu, size, clip if z > 0 else -clip)
            if fit.minutes:
                sums, keep = st.phi_level, self._phi_keep
                mu = fit.coef * shape
                d = xf - mu
                sums[0] = sums[0] * keep + d * d
                sums[1] = sums[1] * keep + mu
                sums[2] = sums[2] * keep + mu * mu
                sums[3] = sums[3] * keep + 1.0
            level.push(xf, shape)
            level.refit(fit, self._floor)
            st.phi_l = self._phi(st.phi_level, fit)
        # The profile takes the count as it is: it keeps medians over days, so one bad day does
        # not shape it, while a pattern that repeats every day (a shop opening) is learned
        # even when it first opened an alert.
        st.profile.add(t, x)
        st.settled += 1
        st.level_m = st.rate_up_mu = None  # st.forget(), written out: this runs very often

    def tick(self, now: int, event_now: int | None = None) -> list[AlertEvent]:
        """Timers. Wall clock `now`: silences, ack timeouts. Event time `event_now` (defaults to
        `now`; the backtest passes its watermark as both): quiet alerts and no-data.

        No data: when the whole feed is silent, one alert on `_total`; otherwise an alert for
        each silent status, except statuses whose source omits zero rows (seen absent when a
        zero was plausible and never sent an explicit 0): their absence is judged as zero.
        """
        events = self.book.tick(now, event_now)
        return events + self._nodata(now if event_now is None else event_now)

    def _event_timers(self, first: int, last: int) -> list[AlertEvent]:
        """The event-time timers (quiet alerts, no-data) at each bucket boundary from `first`
        to `last` (only the two ends when the span is long), as the receiver's timer would
        have run them: the watermark moving past a silence judges it, so an import, a fast
        replay or a backfill raises what a live feed would."""
        b = self._b
        if last < first:
            return []
        ticks = range(first, last + b, b) if (last - first) // b <= 120 else (first, last)
        events: list[AlertEvent] = []
        for t in ticks:
            events += self.book.resolve_quiet(t)
            events += self._nodata(t)
        return events

    def _nodata(self, now: int) -> list[AlertEvent]:
        """No-data judgement at event time `now` (see `tick`)."""
        events: list[AlertEvent] = []
        cfg = self.config
        b = self._b
        span = cfg.nodata_minutes * b
        if now < self._nodata_due:
            return events  # no status can have been silent long enough yet
        latest = max((st.last_data for st in self.statuses.values()), default=-1)
        if latest < 0:
            return events
        # The earliest time any silence can count (a bound: data only moves it later).
        due = latest + b + span
        for st in self.statuses.values():
            t = max(st.last_data, self.feed_back - b) + b + span
            if t < due:
                due = t
        self._nodata_due = due
        minute = now - now % b
        if now - (latest + b) >= span:
            silent = now - (latest + b)
            expected = self._expected(self.total, minute) * silent / b
            if self.total.settled >= cfg.min_history and expected >= cfg.nodata_min_expected:
                detail = f"no data at all for {silent // b} min, about {expected:.0f} expected"
                events += self.book.no_data(TOTAL, now, detail)
            return events
        for st in self.statuses.values():
            if st.sparse or st.settled < cfg.nodata_min_history:
                continue
            silent = now - (max(st.last_data, self.feed_back - b) + b)
            if silent < span:
                continue
            expected = self._expected(st, minute) * silent / b
            if expected >= cfg.nodata_min_expected:
                detail = f"no data for {silent // b} min, about {expected:.0f} expected"
                events += self.book.no_data(st.name, now, detail)
        return events

    # ------------------------------------------------------------ warm start

    def warm(self, minute: int, totals: dict[str, int]) -> None:
        """Learn one past bucket's final per-status totals (start-up replay); emits no events."""
        b = self._b
        m = minute - minute % b
        if self.watermark is None:
            self.watermark = m
            self.settled_upto = self.last_data_minute = m - b
        if m <= self.settled_upto:
            return
        buf = _Minute(frozenset(), 0.0)
        buf.closed = True
        for name, count in totals.items():
            st = self.statuses.get(name) or self._new_status(name)
            buf.counts[name] = count
            buf.total += count
            if count == 0:
                st.dense = True
            if m > st.last_data:
                st.last_data = m
        self.minutes[m] = buf
        self._settle_until(m)
        del self.minutes[m]
        self.watermark = max(self.watermark, m)
        self.expected_set = frozenset(totals)

    def restore(self, alerts: list[Alert], silences: list[Silence], next_alert_id: int) -> None:
        """Reload persisted alerts (open ones become current) and silences."""
        self.book.restore(alerts, silences, next_alert_id)

    # ------------------------------------------------------------ operator actions

    def ack(self, alert_id: int, by: str, note: str | None, now: int) -> list[AlertEvent]:
        """Acknowledge; AlertNotFound (404) or AlertConflict when resolved (409)."""
        return self.book.ack(alert_id, by, note, now)

    def unack(self, alert_id: int, now: int) -> list[AlertEvent]:
        """Undo an acknowledgement; AlertNotFound or AlertConflict when not acknowledged."""
        return self.book.unack(alert_id, now)

    def add_silence(
        self, status: str | None, minutes: int, by: str, reason: str, now: int
    ) -> Silence:
        """Mute notifications for a status (None: all) for `minutes`."""
        return self.book.add_silence(status, minutes, by, reason, now)

    def remove_silence(self, silence_id: int) -> Silence:
        """Delete a silence; KeyError when unknown (HTTP 404)."""
        return self.book.remove_silence(silence_id)

    def silences(self, now: int) -> list[Silence]:
        """Silences in force at `now`."""
        return self.book.active_silences(now)

    # ------------------------------------------------------------ queries

    def alert(self, alert_id: int) -> Alert:
        """An open or recently resolved alert; AlertNotFound otherwise."""
        return self.book.get(alert_id)

    def open_alerts(self) -> list[Alert]:
        """Firing and acknowledged alerts, oldest first."""
        return sorted(self.book.by_status.values(), key=lambda a: a.id)

    def baseline(self, status: str, minute: int) -> tuple[float, float]:
        """(expected count, upper limit) of a status in the bucket starting at `minute`."""
        st = self.total if status == TOTAL else self.statuses.get(status)
        if st is None:
            return 0.0, 0.0
        mu = self._expected(st, minute)
        return mu, self._upper(st, mu)

    def hourly_profile(self, status: str) -> list[tuple[float, float]]:
        """24 (typical count per minute, upper limit) pairs by hour of day (0, 0: no history)."""
        st = self.total if status == TOTAL else self.statuses.get(status)
        out: list[tuple[float, float]] = []
        for hour in range(24):
            value = st.profile.hour_value(hour) if st else None
            out.append((0.0, 0.0) if value is None else (value, self._upper(st, value)))
        return out

    def _expected(self, st: _Status, m: int) -> float:
        if st.drop and st.level_fit.minutes:
            return st.level_fit.coef * st.profile.shape(m)
        if st.spike and st.rate_fit.minutes:
            lam = st.rate_fit.coef
            return lam * self._e_total(m) / (1.0 + lam)
        if st.level_fit.minutes:  # a lone status: its own counts
            return st.count_expected(m)
        return 0.0

    def _upper(self, st: _Status, mu: float) -> float:
        fit = st.rate_fit if st.spike and st.rate_fit.minutes else st.level_fit
        if not fit.minutes:
            return 0.0
        up = limit(mu, fit.size(), self.config.high)
        return max(up, self.config.spike_min_ratio * mu) if st.spike else up
