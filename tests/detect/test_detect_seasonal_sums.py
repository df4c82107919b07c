"""Long sums judge rises on the seasonal level: a rise that lasts hours is not excused by the
recent level it has itself lifted (NAB's load-balancer spike density is this shape)."""

from __future__ import annotations

import random

from server.detect.config import DetectConfig
from server.records import Record
from server.tools.backtest import Raised, replay
from server.tools.traffic import WEEK_START, poisson

DAY = 86_400
DENSE = (9 * 1440 + 600, 9 * 1440 + 1320)  # minutes: day 9, 10:00 to 22:00


def bursty_lone_status(seed: int) -> list[Record]:
    """A lone status at 0.01 a minute with 8-minute bursts of 0.8 a minute: one every 3.5 to
    10.5 hours for nine days (so the learned tails know them), then one every 10 to 30 minutes
    for twelve hours, then as before."""
    rng = random.Random(seed)
    records = []
    burst_at = rng.randint(60, 600)
    for i in range(11 * 1440):
        gap = 20 if DENSE[0] <= i < DENSE[1] else 420
        if i >= burst_at + 8:
            burst_at = i + rng.randint(gap // 2, gap * 3 // 2)
        rate = 0.8 if burst_at <= i < burst_at + 8 else 0.01
        records.append(Record(WEEK_START + 60 * i, "events", poisson(rng, rate)))
    return records


def in_dense_period(alerts: list[Raised]) -> list[Raised]:
    return [a for a in alerts if DENSE[0] <= (a.start - WEEK_START) // 60 < DENSE[1]]


def after_warm_up_outside(alerts: list[Raised]) -> list[Raised]:
    return [a for a in alerts if a.start >= WEEK_START + 3 * DAY and not in_dense_period([a])]


def test_bursts_turning_twenty_times_denser_for_hours_open_an_alert() -> None:
    for seed in (1, 2, 3, 4, 5, 6):
        alerts = replay(bursty_lone_status(seed), DetectConfig())
        assert in_dense_period(alerts), (seed, alerts)
        # A lone burst judged on the seasonal level may now and then score past the learned
        # tails (2 such alerts in 64 days over seeds 1-8, as many as without).
        assert len(after_warm_up_outside(alerts)) <= 1, (seed, alerts)


def test_judged_on_the_recent_level_the_same_bursts_open_nothing() -> None:
    # The mechanism under test: with no sum long enough to be judged seasonally, the recent
    # level absorbs the denser bursts and the learned tails excuse each one.
    never = DetectConfig(seasonal_sum_minutes=10**6)
    for seed in (1, 2, 3, 4, 5, 6):
        assert in_dense_period(replay(bursty_lone_status(seed), never)) == [], seed
