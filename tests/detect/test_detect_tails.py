"""Learned tails: each status is judged on rarity against its own past, so bursts a series
keeps having (a blip, or a longer burst about daily for a week) stop paging while incidents
a few times a week keep paging."""

from __future__ import annotations

import random
from collections.abc import Callable

from server.detect.config import DetectConfig
from server.detect.evidence import Tail, tail_clock
from server.records import Record
from server.tools.backtest import Raised, replay
from server.tools.traffic import WEEK_START, poisson

DAY = 86_400
MINUTES_A_DAY = 1440


def fed_tail(scores: list[float]) -> Tail:
    """A tail that has seen these scores, one a minute (the engine's own accounting)."""
    clock = tail_clock()
    config = DetectConfig()
    tail = Tail(clock, config.tail_base, config.tail_days)
    for i, z in enumerate(scores):
        clock[0] += 1.0
        tail.add(z)
        if i % 60 == 0:
            tail.refresh()
    tail.refresh()
    return tail


def normal_scores(days: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(days * MINUTES_A_DAY)]


def test_a_series_the_model_fits_keeps_the_prior_limit() -> None:
    tail = fed_tail(normal_scores(7))
    assert abs(tail.limit - tail.normal) < 0.5


def test_bursts_a_few_times_a_day_lift_the_limit_beyond_them() -> None:
    scores = normal_scores(7)
    for day in range(7):
        for k in range(3):  # three bursts a day scoring 6
            scores[day * MINUTES_A_DAY + 300 * k + 17] = 6.0
    tail = fed_tail(scores)
    assert tail.limit > 6.0
    assert tail.limit - tail.normal > 2.0


def test_one_huge_score_lifts_a_tail_only_to_the_top_of_its_ladder() -> None:
    # The normal-shaped fit this replaced took the square of every score: one incident minute
    # at 400 put the limit out of reach for weeks.
    base = normal_scores(3)
    large = fed_tail([*base, 9.0])
    huge = fed_tail([*base, 400.0])
    assert 8.5 < large.limit < 10.0
    assert huge.levels[-1] < huge.limit < huge.levels[-1] + 1.0


def test_bursts_whose_sums_score_25_can_be_learned() -> None:
    # A burst of a sparse status scores 20-40 on its 5- and 15-minute sums; a ladder that
    # ended at 12 (the one before) left a status that keeps having them paging for ever.
    scores = normal_scores(7)
    for day in range(7):
        for k in range(3):
            scores[day * MINUTES_A_DAY + 300 * k + 17] = 25.0
    tail = fed_tail(scores)
    assert tail.limit > 25.0


# --------------------------------------------------------------------- through the engine


def sparse_feed(days: int, bursts: list[tuple[int, int, int]], seed: int = 3) -> list[Record]:
    """Approvals about 100 a minute and `failed` at 0.3 a minute, plus bursts of `failed`
    given as (start minute, length in minutes, extra failed a minute)."""
    rng = random.Random(seed)
    extra: dict[int, int] = {}
    for start, length, per_minute in bursts:
        for m in range(start, start + length):
            extra[m] = per_minute
    records = []
    for m in range(days * MINUTES_A_DAY):
        ts = WEEK_START + 60 * m
        records.append(Record(ts, "approved", poisson(rng, 100.0)))
        records.append(Record(ts, "failed", poisson(rng, 0.3) + extra.get(m, 0)))
    return records


def short_bursts() -> list[tuple[int, int, int]]:
    """After two clean days, a 3-minute burst of 8 a minute four times a day for a week."""
    return [
        (day * MINUTES_A_DAY + hour * 60 + 11, 3, 8)
        for day in range(2, 9)
        for hour in (3, 9, 15, 21)
    ]


def opened_in(alerts: list[Raised], start: int, length: int) -> bool:
    t0 = WEEK_START + 60 * start
    return any(a.status == "failed" and t0 <= a.start <= t0 + 60 * (length + 5) for a in alerts)


def test_a_short_burst_that_keeps_coming_back_stops_paging() -> None:
    # Two clean days, then a 3-minute burst of 8 a minute (against 0.3) four times a day.
    bursts = short_bursts()
    alerts = replay(sparse_feed(9, bursts), DetectConfig())
    paged = [opened_in(alerts, start, length) for start, length, _ in bursts]
    assert all(paged[:2]), paged  # new to the status: they page
    assert not any(paged[-8:]), paged  # the last two days: the status's own normal


def sustained_bursts(days: int) -> list[tuple[int, int, int]]:
    """From day 2, a 30-minute rise of 8 a minute twice a day, at hours that differ from day
    to day (one at the same hour every day is a daily pattern, and learned as such)."""
    return [
        (day * MINUTES_A_DAY + (hour + 5 * day) % 24 * 60 + 11, 30, 8)
        for day in range(2, days)
        for hour in (4, 16)
    ]


def test_sustained_incidents_keep_paging_through_a_status_first_week() -> None:
    # Ten of them in five days: a status with several real incidents a day keeps its
    # thresholds (CloudWalk's denied has eight in 60 hours).
    incidents = sustained_bursts(7)
    alerts = replay(sparse_feed(7, incidents), DetectConfig())
    paged = [opened_in(alerts, start, 3) for start, _length, _ in incidents]  # within 8 min
    assert all(paged), paged


def test_sustained_incidents_three_times_a_week_keep_paging_for_a_month() -> None:
    # A partner that fails every few days is an incident every time, in the fourth week too:
    # fewer than `habit_alerts` longer alerts in `habit_days` teach the tails nothing.
    incidents = [(day * MINUTES_A_DAY + (7 * day) % 24 * 60 + 11, 30, 8) for day in range(2, 28, 2)]
    alerts = replay(sparse_feed(28, incidents), DetectConfig())
    paged = [opened_in(alerts, start, 3) for start, _length, _ in incidents]
    assert all(paged), paged


def test_a_sustained_burst_that_keeps_coming_back_for_weeks_stops_paging() -> None:
    # The same bursts twice a day for three weeks: once the status has had `habit_alerts`
    # of them in `habit_days`, each teaches the tails with `incident_weight`, so the
    # status's own habit stops paging (NAB's UPS tweets: a 30-minute bot burst about three
    # times a day for seven weeks, labelled only at first).
    incidents = sustained_bursts(21)
    alerts = replay(sparse_feed(21, incidents), DetectConfig())
    paged = [opened_in(alerts, start, 3) for start, _length, _ in incidents]
    assert all(paged[:7]), paged  # until it is a habit: every one
    assert not any(paged[-6:]), paged  # the last three days: the status's normal


def test_incident_weight_0_keeps_a_returning_sustained_burst_paging() -> None:
    incidents = sustained_bursts(21)
    alerts = replay(sparse_feed(21, incidents), DetectConfig(incident_weight=0.0))
    paged = [opened_in(alerts, start, 3) for start, _length, _ in incidents]
    assert all(paged), paged


def test_a_warm_start_keeps_what_the_tails_learned_from_the_history() -> None:
    # The bursts above, then a restart: the new engine is warmed from the stored minutes and
    # judges the last day's bursts as the engine that lived through them does (not paging).
    from server.detect.engine import Engine

    bursts = short_bursts()
    records = sparse_feed(9, bursts)
    restart = WEEK_START + 8 * DAY
    engine = Engine(DetectConfig())
    minute: dict[int, dict[str, int]] = {}
    for rec in records:
        if rec.ts < restart:
            minute.setdefault(rec.ts, {})[rec.status] = rec.count
    for ts in sorted(minute):
        engine.warm(ts, minute[ts])
    opened = []
    for rec in records:
        if rec.ts >= restart:
            opened += [e.alert for e in engine.ingest(rec).events if e.type == "opened"]
    last_day = [(start, length) for start, length, _ in bursts[-4:]]
    assert [a for a in opened if a.status == "failed"] == [], opened
    lived = replay(records, DetectConfig())
    assert not any(opened_in(lived, start, length) for start, length in last_day)


# ------------------------------------------------------------ takeover (group mode)


def _two_blips(m: int) -> list[Record]:
    """The group-fault tests' trace: denied about 6, at 75 for minutes 100-103 and 125-128."""
    denied = 75 if 100 <= m < 104 or 125 <= m < 129 else 5 + m % 4
    ts = WEEK_START + 60 * m
    return [Record(ts, "approved", 115 + m % 11), Record(ts, "denied", denied)]


def _run_with_takeover(
    at: int | None, trace: Callable[[int], list[Record]] = _two_blips, minutes: int = 150
) -> list[tuple[int, str]]:
    """Alerts of the trace (the records of each minute), with a new engine taking over after
    minute `at` as a new leader does (`SharedDetector._take_over`): stored history warmed,
    the last hour replayed through the same replay book without emitting, then the stored
    alerts restored."""
    import dataclasses

    from server.detect.engine import Engine
    from server.detect.lifecycle import AlertBook
    from server.tools.backtest import drive

    config = DetectConfig()
    stored: dict[int, object] = {}

    def commit(events: list) -> None:
        for event in events:
            stored[event.alert_id] = dataclasses.replace(event.alert)

    engine = Engine(config)
    first = 0
    if at is not None:
        drive(
            engine,
            [r for m in range(at + 1) for r in trace(m)],
            commit,
            lambda r, j: commit(j.events),
        )
        # The store also has the open alerts as they are now (`changed_alerts` each step).
        stored.update((a.id, dataclasses.replace(a)) for a in engine.open_alerts())
        next_id = max(stored, default=0) + 1
        engine = Engine(config, next_alert_id=next_id)
        for m in range(at + 1):
            engine.warm(WEEK_START + 60 * m, {r.status: r.count for r in trace(m)})
        engine.book = AlertBook(config, next_id)
        # As `restore_book` does: the open alerts after the resolved ones, oldest first.
        kept = sorted(stored.values(), key=lambda a: (a.state != "resolved", a.id))
        engine.restore(kept, [], next_id)
        first = at + 1
    drive(
        engine,
        [r for m in range(first, minutes) for r in trace(m)],
        commit,
        lambda r, j: commit(j.events),
    )
    return [((a.first_seen - WEEK_START) // 60, a.status) for a in stored.values()]


def test_a_takeover_mid_blip_or_after_it_raises_the_alerts_of_an_unbroken_run() -> None:
    # The blip's build-up is held for its alert across the book swap, and the replayed hour
    # teaches the new engine what the old one learned; limits follow each lesson at once
    # (they once waited for the hour, whose phase differs between the two engines).
    unbroken = _run_with_takeover(None)
    assert [status for _m, status in unbroken] == ["denied", "denied"]
    for at in (102, 110, 115, 120, 126):
        assert _run_with_takeover(at) == unbroken, at


def test_a_takeover_inside_a_sustained_burst_keeps_the_habit_of_an_unbroken_run() -> None:
    # The bursts that become a habit, with a new leader 15 or 31 minutes into the eighth,
    # ninth and tenth: each burst's build-up must still teach (and count) as it resolves.
    # Restoring the stored open alert before replaying the last hour (as the takeover once
    # did) kept that hour from being judged, so the build-up, its lesson and its count
    # were lost and the status paged differently from then on.
    bursts = sustained_bursts(10)
    records = sparse_feed(10, bursts)
    by_minute: dict[int, list[Record]] = {}
    for rec in records:
        by_minute.setdefault((rec.ts - WEEK_START) // 60, []).append(rec)
    minutes = 10 * MINUTES_A_DAY
    unbroken = _run_with_takeover(None, by_minute.__getitem__, minutes)
    for start, _length, _extra in bursts[7:10]:
        for into in (15, 31):
            assert _run_with_takeover(start + into, by_minute.__getitem__, minutes) == unbroken
