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
from dataclasses import dataclass, field

from server.alerts import (
    Alert,
    AlertBook,
    AlertConflict,
    AlertEvent,
    AlertNotFound,
    Observation,
    Silence,
)
from server.detect import (
    SEVERITIES,
    TOTAL,
    Baseline,
    DetectConfig,
    HourProfile,
    Window,
    fit_baseline,
    limit,
    score,
    severity_of,
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
    """Baselines of one status (or of the total volume)."""

    __slots__ = (
        "cusum",
        "cusum_minute",
        "dense",
        "drop",
        "gaps",
        "last_data",
        "level",
        "level_fit",
        "name",
        "profile",
        "rate",
        "rate_fit",
        "settled",
        "spike",
    )

    @property
    def sparse(self) -> bool:
        """Its source omits zero rows, so an absent status means a zero count."""
        return self.gaps and not self.dense

    def __init__(self, name: str, cfg: DetectConfig, total: bool = False) -> None:
        self.name = name
        self.spike = not total and name not in cfg.spike_exempt
        self.drop = total or name in cfg.drop_statuses
        self.profile = HourProfile(cfg.season_days, cfg.weekday_min_days)
        self.rate = Window(cfg.rate_window) if self.spike else None
        self.level = Window(cfg.level_window) if self.drop else None
        self.rate_fit = Baseline(phi=cfg.dispersion_floor)
        self.level_fit = Baseline(phi=cfg.dispersion_floor)
        self.settled = 0
        self.last_data = -1
        self.dense = False  # has sent an explicit 0: its absence means no data, not zero
        self.gaps = False  # was absent from a live bucket while a zero was plausible
        self.cusum = 0.0
        self.cusum_minute = -1


def size_of(st: _Status) -> float:
    """NB size of a spike status's rate baseline."""
    return st.rate_fit.size()


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
        self.watermark: int | None = None
        self.settled_upto = 0
        self.last_data_minute = 0
        self.expected_set: frozenset[str] = frozenset()
        self.feed_back = -1  # first bucket after the last feed-wide silence
        b = config.bucket_seconds
        self._b = b
        self._late = config.late_minutes * b
        self._log_rho = math.log(config.cusum_ratio)

    # ------------------------------------------------------------ ingest

    def ingest(self, rec: Record) -> Judged:
        """Judge one record (on its bucket's running total) and advance the lifecycle."""
        b = self._b
        m = rec.ts - rec.ts % b
        events: list[AlertEvent] = []
        wm = self.watermark
        if wm is None:
            self.watermark = m
            self.settled_upto = self.last_data_minute = m - b
        elif m > wm:
            if m - wm > self.config.nodata_minutes * b:
                self.feed_back = m  # the whole feed was silent: per-status silences restart
            events = self._advance(m)
        elif m < wm - self._late:
            return self._verdict_only(rec, m)
        st = self.statuses.get(rec.status) or self._new_status(rec.status)
        buf = self.minutes.get(m)
        if buf is None:
            buf = self._new_minute(m)
            if m < (self.watermark or m):
                buf.closed = True
        first = rec.status not in buf.counts
        x = buf.counts.get(rec.status, 0) + rec.count
        buf.counts[rec.status] = x
        buf.total += rec.count
        if m > st.last_data:
            st.last_data = m
        if rec.count == 0:
            st.dense = True
        sev, z, mu, upper, _kind = self._judge(st, m, x, buf.total - x, buf.e_total, True)
        if buf.closed:
            events += self._observe(st, m, buf, late=True)
        elif first and rec.status in buf.expected:
            buf.present += 1
            if buf.present >= len(buf.expected):
                events += self._close(m, buf)
        alert = self.book.by_status.get(rec.status) if sev >= 2 else None
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
        buf = _Minute(self.expected_set, self._e_total(m))
        self.minutes[m] = buf
        return buf

    def _e_total(self, m: int) -> float:
        fit = self.total.level_fit
        return fit.coef * self.total.profile.shape(m) if fit.minutes else 0.0

    # ------------------------------------------------------------ judging

    def _judge(
        self, st: _Status, m: int, x: int, n_other: int, e_total: float, want_upper: bool
    ) -> tuple[int, float, float, float, str]:
        """(severity index, score, expected, upper, kind) of count x of a status in bucket m."""
        cfg = self.config
        sev, z, mu, upper, kind = 0, 0.0, 0.0, 0.0, "spike"
        if st.spike and st.rate_fit.minutes:
            fit = st.rate_fit
            lam = fit.coef
            e_other = e_total / (1.0 + lam)
            mu = lam * (n_other if n_other > e_other else e_other)
            size = fit.size()
            z = score(x, mu, size)
            if z > 0:
                sev = severity_of(z, cfg)
                if sev > 1 and x < cfg.spike_min_ratio * mu:
                    sev = 1
            if want_upper:
                upper = max(limit(mu, size, cfg.high), cfg.spike_min_ratio * mu)
        if st.drop and st.level_fit.minutes:
            fit = st.level_fit
            dmu = fit.coef * st.profile.shape(m)
            size = fit.size()
            dz = score(x, dmu, size)
            dsev = severity_of(-dz, cfg) if dz < 0 else 0
            if dsev > 1 and x > (1.0 - cfg.drop_min_fraction) * dmu:
                dsev = 1
            if not st.spike or dsev > sev:
                sev, z, mu, kind = dsev, -dz, dmu, "drop"
                if want_upper:
                    upper = limit(dmu, size, cfg.high)
        return sev, z, mu, upper, kind

    def _observe(self, st: _Status, m: int, buf: _Minute, late: bool = False) -> list[AlertEvent]:
        """Judge a status on a complete bucket and feed the lifecycle."""
        cfg = self.config
        if st.settled < cfg.min_history:
            return []
        name = st.name
        if st is self.total:
            x = buf.total
            alert = self.book.by_status.get(TOTAL)
            if alert is not None and alert.kind == "no_data":  # the feed is back
                return self.book.observe(TOTAL, Observation(m, 0, 0.0, "drop", x, 0.0))
            if not self.total_judged or buf.present < len(buf.expected):
                return []
            if any(self.book.by_status.get(s) for s in cfg.drop_statuses if s != TOTAL):
                return []
        else:
            if name not in buf.counts and not st.sparse:
                # Absent but not from a zero-omitting source: a no-data question for a volume
                # status; zero for a failure status unless it is already flagged as silent.
                alert = self.book.by_status.get(name)
                if not st.spike or (alert is not None and alert.kind == "no_data"):
                    return []
            x = buf.counts.get(name, 0)
        sev, z, mu, _upper, kind = self._judge(st, m, x, buf.total - x, buf.e_total, False)
        if st.spike and not late and m > st.cusum_minute:
            st.cusum_minute = m
            if mu >= cfg.cusum_min_expected and sev < 2:
                inc = (x * self._log_rho - mu * (cfg.cusum_ratio - 1.0)) / (1.0 + mu / size_of(st))
                st.cusum = min(max(0.0, st.cusum + inc), 1.5 * cfg.cusum_limit)
            else:
                st.cusum = 0.0  # off for tiny rates; reset when the minute test already fires
        if st.spike and st.cusum >= cfg.cusum_limit and x > mu and sev < 2:
            sev, kind = 2, "shift"
        obs = Observation(m, sev, z, kind, x, mu)
        return self.book.observe(name, obs)

    def _close(self, m: int, buf: _Minute) -> list[AlertEvent]:
        buf.closed = True
        self.expected_set = frozenset(buf.counts)
        events: list[AlertEvent] = []
        for st in self.statuses.values():
            events += self._observe(st, m, buf)
        events += self._observe(self.total, m, buf)
        return events

    # ------------------------------------------------------------ time passing

    def _advance(self, m: int) -> list[AlertEvent]:
        """A newer bucket arrived: close older ones, settle old enough ones, prune."""
        events: list[AlertEvent] = []
        for key in sorted(k for k, buf in self.minutes.items() if not buf.closed and k < m):
            events += self._close(key, self.minutes[key])
        self.watermark = m
        self._settle_until(m - self.config.settle_minutes * self._b)
        horizon = m - self._late
        for key in [k for k in self.minutes if k < horizon]:
            del self.minutes[key]
        return events

    def _settle_until(self, target: int) -> None:
        """Feed every bucket up to `target` into the baselines, zero-filling short gaps."""
        b = self._b
        fill = self.config.gap_fill_minutes * b
        t = self.settled_upto + b
        for key in sorted(k for k in self.minutes if t <= k <= target):
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
        cfg = self.config
        xf = float(x)
        warm = st.settled >= cfg.min_history
        alert = self.book.by_status.get(st.name) if warm else None
        frozen = alert is not None and t - alert.first_seen < cfg.freeze_minutes * self._b
        clip = cfg.clip_score
        if st.rate is not None and n_other > 0:
            fit = st.rate_fit
            if warm and xf > (mu := fit.coef * n_other):
                if frozen:
                    xf = mu
                elif score(xf, mu, size := fit.size()) > clip:
                    xf = limit(mu, size, clip)
            st.rate.push(xf, float(n_other))
            st.rate_fit = fit_baseline(st.rate, cfg.dispersion_floor)
        if st.level is not None:
            fit = st.level_fit
            shape = st.profile.shape(t)
            if warm:
                mu, size = fit.coef * shape, fit.size()
                if frozen:
                    xf = mu
                elif abs(z := score(xf, mu, size)) > clip:
                    xf = limit(mu, size, clip if z > 0 else -clip)
            st.level.push(xf, shape)
            st.level_fit = fit_baseline(st.level, cfg.dispersion_floor)
        st.profile.add(t, xf)
        st.settled += 1

    def tick(self, now: int, event_now: int | None = None) -> list[AlertEvent]:
        """Timers. Wall clock `now`: silences, ack timeouts. Event time `event_now` (defaults to
        `now`; the backtest passes its watermark as both): quiet alerts and no-data.

        No data: when the whole feed is silent, one alert on `_total`; otherwise an alert for
        each silent status, except statuses whose source omits zero rows (seen absent when a
        zero was plausible and never sent an explicit 0): their absence is judged as zero.
        """
        events = self.book.tick(now, event_now)
        now = now if event_now is None else event_now
        cfg = self.config
        b = self._b
        span = cfg.nodata_minutes * b
        latest = max((st.last_data for st in self.statuses.values()), default=-1)
        if latest < 0:
            return events
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
        return 0.0

    def _upper(self, st: _Status, mu: float) -> float:
        fit = st.rate_fit if st.spike else st.level_fit
        if not fit.minutes:
            return 0.0
        up = limit(mu, fit.size(), self.config.high)
        return max(up, self.config.spike_min_ratio * mu) if st.spike else up
