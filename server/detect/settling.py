"""The engine's bookkeeping of minutes: closing them, letting them settle into the
baselines, and forgetting old ones (a part of `Engine`)."""

from __future__ import annotations

import math

from server.detect.lifecycle import (
    AlertEvent,
)
from server.detect.stats import _TINY, limit, long_dispersion, score
from server.detect.status import _Minute, _Status


class Settling:
    """Closes and settles minutes; `Engine` provides the state (see engine.py)."""

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
        oldest = self.oldest_minute
        if horizon <= oldest:
            return
        b = self._b
        if horizon - oldest <= b and oldest % b == 0:
            # One bucket, the step of every minute of a live feed: its key is the only one.
            if self.minutes.pop(oldest, None) is not None:
                self.open_minutes.discard(oldest)
        else:
            for key in self._keys_between(oldest, horizon - 1):
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
        clip2 = 0.98 * clip * clip  # surely_within's bound for `clip`, as it forms it
        floor = self._floor
        keep, weight, cap = self._phi_keep, self._phi_weight, self._phi_cap
        rate = st.rate
        if rate is not None and n_other > 0:
            fit = st.rate_fit
            if warm and xf > (mu := fit.coef * n_other):
                size = fit.nb_size
                if frozen:
                    xf = mu
                else:
                    # not surely_within(xf, mu, size, clip), written out (as below)
                    d = xf - mu
                    if (
                        mu < _TINY or not 2.0 * d * d < (clip2 - 1e-12 * (xf + mu + size)) * mu
                    ) and score(xf, mu, size) > clip:
                        xf = limit(mu, size, clip)
            mu = fit.coef * n_other if fit.minutes else None  # before the refit below
            rate.add(xf, float(n_other), fit, floor)
            st.phi_r = long_dispersion(st.phi_rate, xf, mu, keep, weight, fit.phi, floor, cap)
        level = st.level
        if level is not None:
            xf = float(x)  # the rate view above clips on its own terms
            fit = st.level_fit
            profile = st.profile
            if profile.epoch != st.level_epoch:  # the profile changed scale: re-weigh
                st.level_epoch = profile.epoch
                b = self._b
                level.reweigh([profile.shape(t - (level.n - i) * b) for i in range(level.n)])
                level.refit(fit, floor)
            shape = profile.shapes(t)[0]
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
                elif (
                    mu >= _TINY
                    and 2.0 * (xf - mu) * (xf - mu) < (clip2 - 1e-12 * (xf + mu + size)) * mu
                ):
                    # surely_within(xf, mu, size, clip), written out: this runs for every
                    # status and bucket. Well inside the clip limits: enters as it is.
                    pass
                elif abs(z := score(xf, mu, size)) > clip:
                    xf = limit(mu, size, clip if z > 0 else -clip)
            mu = fit.coef * shape if fit.minutes else None
            level.add(xf, shape, fit, floor)
            st.phi_l = long_dispersion(st.phi_level, xf, mu, keep, weight, fit.phi, floor, cap)
        # The profile takes the count as it is: it keeps medians over days, so one bad day does
        # not shape it, while a pattern that repeats every day (a shop opening) is learned
        # even when it first opened an alert.
        st.profile.add(t, x)
        st.settled += 1
        st.level_m = st.rate_up_mu = None  # st.forget(), written out: this runs very often
