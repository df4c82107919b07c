"""The engine's judgement of a closed minute: multi-window evidence on the count and rate
views, against each status's own tails (a part of `Engine`)."""

from __future__ import annotations

from server.detect.config import TOTAL
from server.detect.evidence import Tail
from server.detect.lifecycle import (
    ACCEPTED,
    Alert,
    AlertEvent,
    Observation,
    expected_text,
)
from server.detect.stats import limit, score, severity_of, surely_within
from server.detect.status import _Hold, _Minute, _Status


class Judging:
    """Judges statuses; `Engine` provides the state (see engine.py)."""

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
        rated = st.rate_fit.minutes > 0
        if st.spike and (rated or st.level_fit.minutes):
            if rated:
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
                    # severity_of(z - self._offset(st.rise_tails), self.config), written out:
                    # this runs for every record
                    tail = st.rise_tails[0]
                    off = tail.limit - tail.normal
                    zo = z - off if off > 0.0 else z
                    if zo >= self._high:
                        sev = 3
                    elif zo >= self._medium:
                        sev = 2
                    else:
                        sev = 1 if zo >= self._low else 0
                    if sev > 1 and x < self._spike_ratio * mu:
                        sev = 1
            if want_upper:
                if rated:
                    # Kept for a repeated mu: within a bucket mu stays at share x expected
                    # other traffic until the running total of the others passes it.
                    if mu == st.rate_up_mu:
                        upper = st.rate_upper
                    else:
                        up = limit(mu, size, self._high)
                        ratio_up = self._spike_ratio * mu
                        upper = ratio_up if ratio_up > up else up
                        st.rate_up_mu, st.rate_upper = mu, upper
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
            if not st.spike and not st.drop:
                # Judged for neither (in spike_exempt, not in drop_statuses): only the no-data
                # timers watch it, and a minute with data ends their alert.
                return book.observe_normal(name, m, 0)
        if late or m <= st.evidence_minute:
            # Out of order: the window sums have moved on; judge the minute on its own.
            sev, z, mu, _up, kind = self._judge(st, m, x, buf.total - x, buf.e_total, False, False)
        else:
            st.evidence_minute = m
            sev, z, mu, kind = self._evidence(st, m, x, buf)
        hold = st.hold
        if hold is not None and not late:
            alert = book.by_status.get(name)
            if alert is not hold.alert:
                hold = st.hold = None  # its alert is over
            elif alert.kind != "no_data":
                away = self._away(st, hold, alert.kind, m, x, buf)
                # Frozen baselines judge the incident as it opened; once they learn, its level.
                if away and sev < 2 and (age := m - alert.first_seen) >= self._freeze_span:
                    if age < self._hold_span:
                        book.keep_open(alert, m)
                    else:
                        return book.observe_normal(name, m, sev, _accepted(alert, away))
        if sev < 2:
            events = book.observe_normal(name, m, sev)
            if events and st.held:
                for event in events:  # settled as it resolves: a takeover may follow
                    if event.type == "resolved" and event.alert is st.held_for:
                        self._settle_held(st)
            return events
        if z is None:
            z = 0.0
        events = book.observe(name, Observation(m, sev, z, kind, x, mu))
        alert = book.by_status.get(name)
        if alert is not None and hold is None:
            # The level the alert opens against is the one it must come back to.
            st.hold = _Hold(st, self.config.resolve_minutes, alert)
            if not late:
                self._away(st, st.hold, alert.kind, m, x, buf)
        if alert is not None and not late:
            st.evidence.absorb()  # the open alert has this evidence; judge what comes next
            if st.pending:
                # The build-up of an incident is not normal, unless the alert proves a blip
                # or a habit (see _settle_held): keep its scores until the alert resolves.
                if st.held_for is not alert:
                    st.held_for = alert
                    st.held.clear()
                st.held.extend(st.pending)
                st.pending.clear()
        return events

    def _away(self, st: _Status, hold: _Hold, kind: str, m: int, x: int, buf: _Minute) -> str:
        """Add minute m to the alert's hold and say how far the status's last
        `resolve_minutes` still are from the level the alert opened against ('' when back
        near it): a rise must still show on every view the status has (so a surge of all
        traffic is no reason to stay open), a drop on its level, each as the window sums
        judge them (`spike_min_ratio` or `drop_min_fraction` beyond, and a score of `low`)."""
        _shape, lower, upper, daily, pooled = st.profile.shapes(m)
        coef, lam = hold.coef, hold.lam
        if kind == "drop":
            mu_c = 0.0 if coef is None else (daily if 0.0 < daily < coef else coef) * lower
            mu_r = 0.0
        else:
            rise = st.rise_level(daily, pooled)
            mu_c = 0.0 if coef is None else (rise if rise > coef else coef) * upper
            mu_r = 0.0 if lam is None else lam * (buf.total - x)
        rows = hold.minutes
        rows.append((x, mu_c, mu_r))
        n = len(rows)
        s = sum(r[0] for r in rows)
        low = self._low
        if kind == "drop":
            m_c = sum(r[1] for r in rows)
            phi, fixed = hold.count_phi
            if coef is None or s > self._drop_keep * m_c:
                return ""
            if -score(s, m_c, 1.0 / (phi / n + fixed)) < low:
                return ""
            return f"{s} against {expected_text(m_c)} expected in its last {n} minutes"
        views = []
        if coef is not None:
            views.append((sum(r[1] for r in rows), hold.count_phi))
        if hold.rate_phi is not None:
            views.append((sum(r[2] for r in rows), hold.rate_phi))
        if not views:
            return ""
        worst = 0.0
        for m_v, (phi, fixed) in views:
            if s < self._spike_ratio * m_v or s < self._min_count:
                return ""
            if score(s, m_v, 1.0 / (phi / n + fixed)) < low:
                return ""
            worst = max(worst, m_v)
        return f"{s} against {expected_text(worst)} expected in its last {n} minutes"

    def _seasonal(
        self,
        st: _Status,
        m: int,
        x: int,
        buf: _Minute,
        rise: float,
        upper: float,
        mu_c: float,
        mu_r: float,
    ) -> tuple[float, float]:
        """(seasonal count, seasonal rate) expectations of bucket m, for the sums of at least
        `seasonal_sum_minutes`: an hours-long rise lifts the recent level and share it would
        otherwise be judged against, but not the level of the days before. The count view
        takes the seasonal level alone (not the higher of it and the recent one); the rate
        view takes it scaled by how far the other traffic is above its own seasonal level (a
        surge of everything stays quiet), and never above the rate view's own expectation.
        Without a seasonal level both are the recent views."""
        if rise <= 0.0 or not st.level_fit.minutes:
            return mu_c, mu_r
        mu_s = rise * upper
        if not st.rate_fit.minutes:
            return mu_s, mu_r
        seasonal = buf.e_seasonal
        if seasonal < 0.0:  # once per bucket: every status of it reads the same
            total = self.total
            _shape, _lower, t_upper, t_daily, t_pooled = total.profile.shapes(m)
            seasonal = buf.e_seasonal = total.rise_level(t_daily, t_pooled) * t_upper
        others = seasonal - mu_s
        if others <= 0.0:
            return mu_s, mu_r
        n_other = buf.total - x
        mu_rs = mu_s * n_other / others if n_other > others else mu_s
        return mu_s, (mu_rs if mu_rs < mu_r else mu_r)

    def _settle_held(self, st: _Status) -> None:
        """The alert that held a build-up (`held_for`) is over: its scores teach the tails,
        so bursts a series keeps having stop paging. A blip (abnormal for at most
        `blip_minutes`) teaches with `blip_weight`; a longer alert with `incident_weight`, and
        only once the status has had `habit_alerts` of them in `habit_days`: incidents a few
        times a week (or a busy first week) leave its thresholds as they were."""
        alert = st.held_for
        if alert is not None:
            if alert.last_seen - alert.first_seen <= self._blip_span:
                w = self._blip_weight
            else:
                habit = st.habit
                habit.append(alert.last_seen)
                horizon = alert.last_seen - self._habit_span
                while habit[0] < horizon:
                    habit.popleft()
                w = self._incident_weight if len(habit) >= self._habit_alerts else 0.0
            if w > 0.0:
                for _m, seen in st.held:
                    for tail, z in seen:
                        tail.add(z, w)
        st.held.clear()
        st.held_for = None

    def _evidence(self, st: _Status, m: int, x: int, buf: _Minute) -> tuple[int, float, float, str]:
        """(severity, evidence, expected count, kind) of a status's complete bucket m.

        The bucket joins the window sums (count view, rate view, their seasonal forms for the
        long sums, drop view). Each window's score is judged against its own learned tail
        (`Tail`): evidence = score minus how far that tail lifts the `high` threshold. Rises:
        where the status has other traffic beside it, both the count and the rate view must
        show it (the smaller score counts), so a proportional surge stays quiet; a lone status
        is judged on its counts. The evidence of the minute is the largest over the windows
        whose sums are also `spike_min_ratio` above (or `drop_min_fraction` below) the recent
        expectation while the shortest window of 3 minutes or more still shows the change.
        """
        windows = self._windows
        ev = st.evidence
        best, short, mu_best, kind = 0.0, 0.0, 0.0, "spike"
        # No open alert and no after-glow of one (`rearming`): the scores teach the tails.
        book = self.book
        closed = st.name not in book.by_status
        learn = closed and not book.rearming(st.name, m)
        level_fit = st.level_fit
        has_count = level_fit.minutes > 0
        spike, drop, profile = st.spike, st.drop, st.profile
        # One look at the profile for both expectations (see count_expected, drop_expected).
        _shape, lower, upper, daily, pooled = profile.shapes(m)
        seasonal = daily > 0.0
        # st.rise_level(daily, pooled), written out: this runs for every status and minute
        if not spike:
            rise = 0.0
        elif daily > 0.0:
            rise = daily
        else:
            rise = pooled if level_fit.exposure < st.thin_exposure else 0.0
        if profile.epoch != st.evidence_epoch:
            # The profile changed scale (a first full day, a day type of its own): sums of
            # expectations made before are not comparable; start the windows afresh.
            st.evidence_epoch = profile.epoch
            ev.absorb()
        # The running totals with this minute: (the count, then each view's expectation:
        # count, rate, seasonal count, seasonal rate, drop), added up here rather than in a
        # loop of `push`.
        if spike:
            has_rate = st.rate_fit.minutes > 0
            if has_count:
                coef = level_fit.coef
                mu_c = (rise if rise > coef else coef) * upper
            else:
                mu_c = float(x)
            if has_rate:
                # The share times the other traffic of the complete bucket. Not the larger of
                # it and its expectation, as a verdict within a bucket takes (`_judge`): that
                # sits above the truth by the others' own noise in every minute, and so does
                # a sum of it (beside 90 others a minute, by 5-6 %). A fall of the others is
                # then no rise because the count view must show one too; where that view does
                # not judge every window (no day of history), the larger.
                lam = st.rate_fit.coef
                n_other = buf.total - x
                if rise <= 0.0 or not has_count:
                    e_other = buf.e_total / (1.0 + lam)
                    if n_other < e_other:
                        n_other = e_other
                mu_r = lam * n_other
                # The alert states the expectation of the view that judged it, the higher
                # one (the smaller score): a rise beside an approvals outage reads against its
                # usual count, not against the share of nothing.
                mu_best = mu_r if mu_r >= mu_c or not has_count else mu_c
            else:
                mu_r = float(x)
                mu_best = mu_c
            mu_s, mu_rs = self._seasonal(st, m, x, buf, rise, upper, mu_c, mu_r)
            if drop:
                mu_d = _drop_mu(st, x, lower, daily)
                t0, t1, t2, t3, t4, t5 = ev.total
                totals: tuple[float, ...] = (
                    t0 + x,
                    t1 + mu_c,
                    t2 + mu_r,
                    t3 + mu_s,
                    t4 + mu_rs,
                    t5 + mu_d,
                )
            else:
                t0, t1, t2, t3, t4 = ev.total
                totals = (t0 + x, t1 + mu_c, t2 + mu_r, t3 + mu_s, t4 + mu_rs)
        else:
            has_rate = False
            mu_d = _drop_mu(st, x, lower, daily)
            t0, t1 = ev.total
            totals = (t0 + x, t1 + mu_d)
        r = self._recent
        high = self._high
        relief = self._relief
        cap = self._cap  # just below medium
        min_count = self._min_count
        seen: list[tuple[Tail, float]] = []  # the windows' scores, for the learned tails
        # Each window's sums are the running totals now minus those it subtracts (`push`),
        # formed only for the windows and views a test below reads.
        now, rows, back, since = ev.push(totals)
        if has_rate or (spike and has_count):
            # The views judged, rate first: index 2 of the totals is the rate view, 1 the count
            # view, 3 and 4 their seasonal forms that stand in for them in long sums (0 is the
            # count itself).
            then = rows[back[r]]
            v = 2 if has_rate else 1
            if now[0] - then[0] > now[v] - then[v]:
                ratio = self._spike_ratio
                specs = []  # (view, its view in long sums, dispersion, fixed part, no long)
                if has_rate:
                    fit, phi = st.rate_fit, st.phi_r
                    specs.append((2, 4, phi, phi * fit.spread + 1.0 / fit.info, False))
                if has_count:
                    phi = st.phi_l
                    fixed = phi * level_fit.spread + 1.0 / level_fit.info
                    specs.append((1, 3, phi, fixed, rise <= 0.0))
                seasonal_sum = self._seasonal_sum
                # The ratio is against the last view's recent expectation, in long sums too
                # (where the score reads the seasonal one): a rise the recent level has taken
                # in to two thirds is no longer paged on by the long sums alone. Reading the
                # seasonal view here gave NAB dev 88.1 / 88.5, but on the count series outside
                # it (six tweet files, nyc_taxi) Track A fell from 41.3 to 14.1 (168 -> 297
                # false onsets): the guard stays.
                last = 1 if has_count else 2
                tails = st.rise_tails
                first, first_long = specs[0][0], specs[0][1]  # the views of specs[0]
                for j, w in enumerate(windows):
                    then = rows[back[j]]
                    s_j = now[0] - then[0]
                    long_sum = w >= seasonal_sum
                    # The bound below for the first view, ahead of the loop over the views:
                    # most windows fail it, and then the score is below 2 whatever the others.
                    f = first_long if long_sum else first
                    m_j = now[f] - then[f]
                    gap = s_j - m_j
                    if gap <= 0.0 or 2.0 * gap * gap < 3.9 * m_j:
                        continue
                    held = w if w < since else since
                    z = 1e9
                    for v, v_long, phi, fixed, no_long in specs:
                        if no_long and w > 5:
                            continue  # no day of history: a daily ramp is not a rise
                        if long_sum:
                            v = v_long
                        m_j = now[v] - then[v]
                        gap = s_j - m_j
                        # surely_within(s_j, m_j, size, 2.0) of a Poisson bound, written out:
                        # the NB deviance is below it, so the score is surely below 2.
                        if gap <= 0.0 or 2.0 * gap * gap < 3.9 * m_j:
                            z = 0.0
                            break
                        zv = score(s_j, m_j, 1.0 / (phi / held + fixed))
                        if zv < z:
                            z = zv
                    if z < 2.0 or z == 1e9:
                        continue
                    tail = tails[j]
                    if learn:
                        seen.append((tail, z))
                    off = tail.limit - tail.normal
                    e = (z - off if off > 0.0 else z) + relief[j]
                    if cap < e < high and w > 1:
                        e = cap  # a sum of minutes opens at high; `medium` is per minute
                    if s_j >= ratio * (now[last] - then[last]) and s_j >= min_count:
                        if e > best:
                            best = e
                        if e > short and w <= 5:
                            short = e
            if best > 2.0:
                best, short = _combined(tails[-1], best, short, seen if learn else None)
            # Seen by the short windows (at least `low`): a spike; only by the long ones: a shift.
            kind = "spike" if short >= self._low or short >= best else "shift"
        if drop and has_count:
            d = len(now) - 1  # the drop view's index in the totals
            phi = st.phi_l
            fixed = phi * level_fit.spread + 1.0 / level_fit.info
            tails = st.drop_tails
            dbest = dtaught = 0.0
            then = rows[back[r]]
            if now[0] - then[0] < now[d] - then[d]:
                keep = self._drop_keep
                # Sums of more than one minute need the day type's own level; with shapes
                # but not that level (a first weekend) those of up to `unseasoned_drop_minutes`
                # are judged on the recent level: over an hour the day's decline is no drop.
                if seasonal:
                    longest = windows[-1]
                else:
                    longest = self._unseasoned_drop if profile.has_shape(m) else 1
                for j, w in enumerate(windows):
                    then = rows[back[j]]
                    s_j, m_j = now[0] - then[0], now[d] - then[d]
                    if s_j >= m_j or w > longest:
                        continue
                    gap = m_j - s_j
                    if 2.0 * gap * gap < 3.9 * m_j:
                        continue  # surely below 2 (as above)
                    held = w if w < since else since
                    z = -score(s_j, m_j, 1.0 / (phi / held + fixed))
                    if z < 2.0:
                        continue
                    tail = tails[j]
                    # Sums judged without the day type's own level teach their own tail
                    # but not the best-of-all one (a weekend shape lifted it on a Monday).
                    teach = learn and (seasonal or w == 1)
                    if learn:
                        seen.append((tail, z))
                    off = tail.limit - tail.normal
                    e = (z - off if off > 0.0 else z) + relief[j]
                    if cap < e < high and w > 1:
                        e = cap
                    if s_j <= keep * m_j:
                        if e > dbest:
                            dbest = e
                        if teach and e > dtaught:
                            dtaught = e
            if dbest > 2.0:
                if learn and dtaught > 2.0:
                    seen.append((tails[-1], dtaught))
                dbest, _short = _combined(tails[-1], dbest, 0.0, None)
            if dbest > best or not spike:
                best, mu_best, kind = dbest, mu_d, "drop"
        # Only the clocks of tails the status has: the other is never read.
        if spike:
            st.rise_clock[0] += 1.0
        if drop:
            st.drop_clock[0] += 1.0
        pushes = ev.pushes
        if pushes % 60 == 0:
            decay = pushes % 1440 == 0
            if decay:
                st.rise_clock[0] *= self._tail_decay
                st.drop_clock[0] *= self._tail_decay
            for tail in st.rise_tails + st.drop_tails:
                if decay:
                    tail.decay(self._tail_decay)
                else:
                    tail.refresh()
        # severity_of(best, self.config), written out: this runs for every status and minute
        if best >= high:
            sev = 3
        elif best >= self._medium:
            sev = 2
        else:
            sev = 1 if best >= self._low else 0
        # A minute's scores teach the tails once the longest window has passed it without an
        # alert opening; those of an alert's build-up wait for the alert (`_settle_held`).
        if seen:
            st.pending.append((m, seen))
        if st.held and closed:  # its alert is over (it taught as it resolved, or now)
            self._settle_held(st)
        pending = st.pending
        horizon = m - self._learn_delay
        while pending and pending[0][0] <= horizon:
            for tail, z in pending.popleft()[1]:
                tail.add(z)
        return sev, best, mu_best, kind


def _combined(
    tail: Tail, best: float, short: float, seen: list[tuple[Tail, float]] | None
) -> tuple[float, float]:
    """(best, short) lowered by how far the learned tail of the best evidence over all windows
    lifts it: each window is calibrated on its own, and this spends one false-alarm budget
    across them, since a burst shows in several windows at once."""
    if seen is not None:
        seen.append((tail, best))
    off = tail.limit - tail.normal
    if off > 0.0:
        return best - off, short - off
    return best, short


def _accepted(alert: Alert, away: str) -> str:
    """The resolution detail of an alert whose status is still away from the level it opened
    against after `hold_minutes`: what it says is not an all-clear."""
    hours = (alert.last_seen - alert.first_seen) / 3600
    return f"{ACCEPTED} after {hours:.0f} h, not recovered: {away}"


def _drop_mu(st: _Status, x: int, lower: float, daily: float) -> float:
    """`drop_expected` from shapes already looked up (x itself without a level fit)."""
    fit = st.level_fit
    if not fit.minutes:
        return float(x)
    coef = fit.coef
    if 0.0 < daily < coef:
        coef = daily
    return coef * lower
