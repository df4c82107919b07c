"""The engine's timers on event time: acknowledgement timeouts, silences, no-data, judged
when the watermark passes them as well as on the receiver's tick (a part of `Engine`)."""

from __future__ import annotations

from server.detect.config import TOTAL
from server.detect.lifecycle import (
    AlertEvent,
)


class Timers:
    """Runs the lifecycle timers; `Engine` provides the state (see engine.py)."""

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
        if now < self._nodata_due:
            return events  # no status can have been silent long enough yet (most calls)
        cfg = self.config
        b = self._b
        span = cfg.nodata_minutes * b
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
