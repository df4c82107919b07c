"""A status seen for the first time: judged against the zeros it sent before, once the feed
has a day of history (`new_status_after_minutes`), so a new failure mode is not a blind spot."""

from __future__ import annotations

import random

from server.detect.config import DetectConfig
from server.records import Record
from server.tools.backtest import Raised, replay

START = 1_741_046_400  # 2025-03-04 00:00 UTC, a Tuesday
DAY = 1440


def feed(minutes: int, extra: dict[int, dict[str, int]], seed: int = 1) -> list[Record]:
    """approved about 100 and denied about 8 a minute, plus `extra` counts by minute index."""
    rng = random.Random(seed)
    records = []
    for i in range(minutes):
        ts = START + i * 60
        records.append(Record(ts, "approved", max(0, round(rng.gauss(100, 10)))))
        records.append(Record(ts, "denied", max(0, round(rng.gauss(8, 2.8)))))
        for status, count in extra.get(i, {}).items():
            records.append(Record(ts, status, count))
    return records


def alerts_of(alerts: list[Raised], status: str) -> list[Raised]:
    return [a for a in alerts if a.status == status]


def test_a_status_first_seen_after_two_days_at_15_a_minute_pages_in_its_first_minute() -> None:
    burst = {2 * DAY + 60 + k: {"failed": 15} for k in range(20)}
    raised = alerts_of(replay(feed(2 * DAY + 120, burst), DetectConfig()), "failed")
    assert len(raised) == 1, raised
    first = START + (2 * DAY + 60) * 60
    assert raised[0].start == first
    assert raised[0].end >= first + 19 * 60  # it stays abnormal for the whole burst


def test_a_status_first_seen_after_a_day_with_a_count_or_two_opens_nothing() -> None:
    extra = {DAY + 300: {"chargeback": 1}, DAY + 900: {"refunded": 2}}
    raised = replay(feed(2 * DAY, extra), DetectConfig())
    assert not [a for a in raised if a.status in ("chargeback", "refunded")]


def test_a_status_first_seen_in_the_first_day_learns_its_level_as_before() -> None:
    # a feed that starts sending a status an hour in is still being set up: no page
    extra = {i: {"refunded": 3 + i % 3} for i in range(60, DAY)}
    raised = replay(feed(DAY, extra), DetectConfig())
    assert not alerts_of(raised, "refunded")


def test_zero_history_can_be_turned_off() -> None:
    burst = {2 * DAY + 60 + k: {"failed": 15} for k in range(20)}
    config = DetectConfig.from_mapping({"new_status_after_minutes": 10**9})
    assert not alerts_of(replay(feed(2 * DAY + 120, burst), config), "failed")
