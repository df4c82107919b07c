"""Polling the receiver and telling what changed: one round of requests that asks for the
series and the alerts only when the summary says they may have changed, and what the
dashboard last knew (kept on screen, marked `as of`, when the receiver stops answering)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from txmon_tui.client import TxmonClient
from txmon_tui.format import Filter
from txmon_tui.models import Alert, Series, Summary, Transaction
from txmon_tui.widgets.transactions import ROW_LIMIT

WINDOW_MINUTES = 60
ALERTS_EVERY = 10.0  # seconds: re-read alerts even when nothing else changed (others may act)
MAX_BACKOFF = 2.0  # seconds between attempts while the receiver is unreachable
AUTH_BACKOFF = 5.0  # seconds between attempts while the token is rejected


@dataclass
class Latest:
    """The last data the receiver gave us (kept on screen, marked `as of`, when it is not)."""

    summary: Summary | None = None
    series: Series | None = None
    alerts: list[Alert] = field(default_factory=list)
    last_id: int | None = None
    alerts_at: float = 0.0
    ok_at: float | None = None  # clock time of the last successful poll
    changed_at: float | None = None  # clock time stored records were last seen to grow


def backoff(failures: int, interval: float, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait after `failures` failed polls in a row: doubling, capped at `cap`."""
    return min(cap, max(interval, 0.5) * 2 ** min(failures - 1, 8))


@dataclass(frozen=True)
class Poll:
    """One round's answers; `series` and `alerts` are None when they were not asked for."""

    summary: Summary
    rows: list[Transaction]
    series: Series | None
    alerts: list[Alert] | None
    data_changed: bool


async def _none() -> None:
    return None


async def fetch(client: TxmonClient, latest: Latest, filter: Filter, *, full: bool) -> Poll:
    """The summary and new rows always; the series when stored data changed; the alerts when
    their counts changed or every ALERTS_EVERY seconds (someone else may have acted)."""
    summary, rows = await asyncio.gather(
        client.summary(WINDOW_MINUTES),
        client.transactions(
            after_id=latest.last_id,
            limit=ROW_LIMIT,
            statuses=filter.statuses,
            severities=filter.severities,
        ),
    )
    before = latest.summary
    data_changed = (
        full
        or before is None
        or latest.series is None
        or (summary.records_stored, summary.newest_event_time, summary.total)
        != (before.records_stored, before.newest_event_time, before.total)
    )
    alerts_changed = (
        data_changed
        or (summary.firing, summary.acknowledged) != (before.firing, before.acknowledged)
        or time.monotonic() - latest.alerts_at > ALERTS_EVERY
    )
    series, alerts = await asyncio.gather(
        client.series(WINDOW_MINUTES) if data_changed else _none(),
        client.alerts("open") if alerts_changed else _none(),
    )
    return Poll(summary, rows, series, alerts, data_changed)


def remember(latest: Latest, poll: Poll, now: float, *, rows: bool) -> None:
    """Fold a round's answers into what the dashboard knows; `rows` is False when the filter
    changed while the round was under way (its rows belong to the old filter)."""
    if latest.summary is not None and poll.summary.records_stored != latest.summary.records_stored:
        latest.changed_at = now
    latest.summary = poll.summary
    latest.ok_at = now
    if poll.series is not None:
        latest.series = poll.series
    if poll.alerts is not None:
        latest.alerts = poll.alerts
        latest.alerts_at = time.monotonic()
    if rows and poll.rows:
        latest.last_id = max(latest.last_id or 0, max(r.id for r in poll.rows))


def same_records(shown: Mapping[int, Transaction], rows: Sequence[Transaction]) -> bool:
    """True when `rows` (the newest from another receiver) reach at least the newest row on
    screen and agree with the rows on screen wherever their ids meet: the receivers share
    one store, so the table can stay as it is (cursor and all) instead of being reloaded.
    A receiver behind the one left, or with other records under the same ids, has a store
    of its own: its rows replace the table, so the screen never mixes two stores."""
    met = [r for r in rows if r.id in shown]
    if not met or max(r.id for r in rows) < max(shown):
        return False
    return all(
        (r.timestamp, r.status, r.count)
        == (shown[r.id].timestamp, shown[r.id].status, shown[r.id].count)
        for r in met
    )


__all__ = ["Latest", "Poll", "backoff", "fetch", "remember", "same_records"]
