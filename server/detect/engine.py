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
from typing import Literal, overload

from server.detect.config import SEVERITIES, TOTAL, DetectConfig
from server.detect.judging import Judging
from server.detect.lifecycle import (
    Alert,
    AlertBook,
    AlertEvent,
    Silence,
)
from server.detect.settling import Settling
from server.detect.stats import limit, window_relief
from server.detect.status import _Minute, _Status
from server.detect.timers import Timers
from server.records import Record

__all__ = ["Engine", "Judged"]


@dataclass(slots=True)
class Judged:
    """The verdict on one record and the alert events its arrival caused."""

    severity: str
    score: float
    expected: float
    upper: float
    events: list[AlertEvent] = field(default_factory=list)
    alert_id: int | None = None  # the open alert of this status when the record is abnormal


class Engine(Judging, Settling, Timers):
    """Detection and alert lifecycle over a stream of records; single-threaded, in memory."""

    def __init__(self, config: DetectConfig, next_alert_id: int = 1) -> None:
        self.config = config
        self.book = AlertBook(config, next_alert_id)
        self._warm_book: AlertBook | None = None  # the alerts of `warm`'s replay
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
        self._hold_span = config.hold_minutes * b
        self._clip = config.clip_score
        self._rise_clip = config.rise_clip_score
        self._floor = config.dispersion_floor
        self._low = config.low
        self._medium = config.medium
        self._cap = config.medium - 1e-6  # just below medium: see _evidence
        self._high = config.high
        self._spike_ratio = config.spike_min_ratio
        self._drop_keep = 1.0 - config.drop_min_fraction
        self._windows = config.windows
        self._relief = window_relief(config)
        # The "still going on" window: the shortest of at least 3 minutes (else the longest).
        self._recent = next(
            (j for j, w in enumerate(config.windows) if w >= 3), len(config.windows) - 1
        )
        self._blip_weight = config.blip_weight
        self._incident_weight = config.incident_weight
        self._habit_alerts = config.habit_alerts
        self._habit_span = config.habit_days * 86_400
        self._seasonal_sum = config.seasonal_sum_minutes
        self._unseasoned_drop = config.unseasoned_drop_minutes
        self._blip_span = config.blip_minutes * b
        self._learn_delay = max(config.windows) * b
        self._phi_keep = 1.0 - 1.0 / (config.dispersion_days * 1440)
        self._phi_weight = 360.0
        self._phi_cap = config.dispersion_cap
        self._min_count = config.spike_min_count
        self._tail_decay = math.exp(-1.0 / config.tail_memory_days)
        self._drop_others = tuple(s for s in config.drop_statuses if s != TOTAL)
        self._newcomer_after = config.new_status_after_minutes

    # ------------------------------------------------------------ ingest

    def ingest(self, rec: Record) -> Judged:
        """Judge one record (on its bucket's running total) and advance the lifecycle."""
        return self._take(rec, True)

    def feed(self, rec: Record) -> list[AlertEvent]:
        """`ingest` without the record's verdict: only the alert events it causes, the same
        as `ingest` gives. The backtest reports alerts, not verdicts, and a verdict (its
        score, and the upper limit's Newton steps) is about a quarter of a record's cost."""
        return self._take(rec, False)

    @overload
    def _take(self, rec: Record, judge: Literal[True]) -> Judged: ...

    @overload
    def _take(self, rec: Record, judge: Literal[False]) -> list[AlertEvent]: ...

    def _take(self, rec: Record, judge: bool) -> Judged | list[AlertEvent]:
        """`ingest` (judge True: the verdict) or `feed` (False: the events) of one record, in
        one method so that neither pays for a call or a tuple more per record: move the
        watermark (timers, closing and settling older buckets), add the record to its
        bucket, judge it there, then judge a late record's closed bucket or close the bucket
        once every expected status has reported."""
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
        elif m < wm - self._late:  # too late to count: a verdict only
            return self._verdict_only(rec, m) if judge else events
        st = self.statuses.get(name) or self._new_status(name)
        buf = self.minutes.get(m) or self._new_minute(m)
        counts = buf.counts
        before = counts.get(name)
        x = count if before is None else before + count
        counts[name] = x
        buf.total += count
        if m > st.last_data:
            st.last_data = m
        if count == 0:
            st.dense = True
        if judge:
            # Judged before the bucket may close: closing teaches the tails the verdict reads.
            sev, z, mu, upper, _kind = self._judge(st, m, x, buf.total - x, buf.e_total, True)
        if buf.closed:
            events += self._observe(st, m, buf, late=True)
        elif before is None and name in buf.expected:
            buf.present += 1
            if buf.present >= len(buf.expected):
                events += self._close(m, buf)
        if not judge:
            return events
        alert = self.book.by_status.get(name) if sev >= 2 else None
        return Judged(SEVERITIES[sev], z, mu, upper, events, alert.id if alert else None)

    def peek(self, rec: Record, unfed: int = 0) -> Judged:
        """The verdict `ingest` would give `rec` after `unfed` more of its status and bucket,
        without changing anything: how a receiver that shares its store with others judges
        its records while the leader's detector feeds the engine the shared totals."""
        m = rec.ts - rec.ts % self._b
        st = self.statuses.get(rec.status)
        if st is None:
            return Judged("normal", 0.0, 0.0, 0.0)
        buf = self.minutes.get(m)
        before = (buf.counts.get(rec.status, 0) if buf else 0) + unfed
        others = buf.total - buf.counts.get(rec.status, 0) if buf else 0
        e_total = buf.e_total if buf else self._e_total(m)
        sev, z, mu, upper, _ = self._judge(st, m, before + rec.count, others, e_total, True)
        return Judged(SEVERITIES[sev], z, mu, upper)

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
        if self.total.settled >= self._newcomer_after:
            self._zero_history(st)
        return st

    def _zero_history(self, st: _Status) -> None:
        """Teach a status first seen after `new_status_after_minutes` of traffic that it sent
        nothing in the minutes the total's level window holds: it was zero there, so it is
        judged from its first minute (a new failure mode at 15 a minute pages at once)
        instead of learning its burst as its baseline during `min_history`."""
        level = self.total.level
        b = self._b
        t = self.settled_upto - (level.n - 1) * b
        for total, _shape in level.ring:  # oldest first
            self._learn(st, t, 0, int(total))
            t += b

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

    # ------------------------------------------------------------ time passing

    # ------------------------------------------------------------ warm start

    def warm(self, minute: int, totals: dict[str, int]) -> None:
        """Replay one past bucket's final per-status totals (start-up, takeover) as records
        through the same judging as live ones, so baselines, profiles and the learned tails
        come out as if the engine had lived through that history; emits nothing.

        The replay opens and resolves its alerts in a book of its own (kept for the next call,
        never emitted), so an incident in the history is held out of the tails as it was
        live, and the engine's book is left as it is. Restore the store's alerts after the
        last call (`restore`): that points a build-up held for a replayed alert at the
        store's open alert of the same status, or settles it."""
        m = minute - minute % self._b
        if self.watermark is not None and m <= self.watermark:
            return  # history only goes forward, each bucket once
        live = self.book
        self.book = self._warm_book or AlertBook(self.config, live.next_id)
        try:
            for name, count in totals.items():
                self.feed(Record(m, name, count))
        finally:
            self._warm_book, self.book = self.book, live

    def restore(
        self,
        alerts: list[Alert],
        silences: list[Silence],
        next_alert_id: int,
        next_silence_id: int = 1,
    ) -> None:
        """Reload persisted alerts (open ones become current) and silences; ids continue
        after the largest the store has used."""
        self.book.restore(alerts, silences, next_alert_id, next_silence_id)
        # A build-up held for an alert of the replaced book belongs to the same incident's
        # alert in this one if that is open; if not, the store says the incident is over.
        for st in [*self.statuses.values(), self.total]:
            if st.hold is not None:  # the level held is the store's open alert's, if any
                alert = self.book.by_status.get(st.name)
                if alert is None or alert.kind != st.hold.alert.kind:
                    st.hold = None
                else:
                    st.hold.alert = alert
            if st.held:
                alert = self.book.by_status.get(st.name)
                if alert is None:
                    self._settle_held(st)
                else:
                    st.held_for = alert

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
        """Delete a silence; SilenceNotFound when none with this id is in force."""
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
