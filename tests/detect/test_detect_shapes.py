"""The incident shapes the detector must catch (and the one it must not), on generated traffic.

Traffic comes from `server.tools.traffic` with a quieter model than the demo's (approvals 15-80 a
minute outside the daytime peak, failure statuses well below one a minute), two clean days of
history, then one injection; the real engine runs it through `server.backtest.replay`.
"""

from __future__ import annotations

import pytest

from server.detect.config import DetectConfig
from server.records import Record
from server.tools.backtest import Raised, replay
from server.tools.traffic import (
    QUIET_SHOP,
    WEEK_START,
    Injection,
    TrafficModel,
    at,
    generate_records,
)

DAY = 86_400
# Cases measured to miss the bound with the default configuration (see
# docs/detection.md): kept as strict expected failures so the gap stays visible and a fix
# that closes it turns them into passes that must be promoted. An oracle that knows the true
# expectation misses them too at a threshold that keeps the synthetic weeks quiet
# (bench/shape_limits.py, tests/tools/test_shape_limits_bench.py).
GAP = pytest.mark.xfail(strict=True, reason="below the issue-11 bound; see docs/detection.md")
# A quieter shop: about 150 a minute at the lunch peak, 8 at night.
QUIET = QUIET_SHOP


def run(
    injection: Injection, seed: int, model: TrafficModel = QUIET, days: float = 3.0
) -> list[Raised]:
    records = generate_records(WEEK_START, int(days * 1440), seed, [injection], model)
    return replay(records, DetectConfig())


def share_for(rate: float, minute: int, model: TrafficModel = QUIET) -> float:
    """The share that gives `rate` a minute at this time of day."""
    return rate / model.level(minute)


def latency(alerts: list[Raised], status: str, inj: Injection) -> float | None:
    hits = [a.start for a in alerts if a.status == status and inj.start <= a.start < inj.end + 900]
    return None if not hits else (min(hits) - inj.start) / 60


def false_alerts(alerts: list[Raised], inj: Injection) -> list[Raised]:
    """Alerts after the first day that are not the injected incident's."""
    return [
        a
        for a in alerts
        if a.start >= WEEK_START + DAY
        and not (a.status == inj.status and inj.start <= a.start < inj.end + 900)
    ]


@pytest.mark.parametrize(
    ("status", "rate", "factor", "minutes", "hour", "seed"),
    [
        ("failed", 0.2, 20.0, 8, 2, 1),  # at night: 0 -> 2-4 a minute
        ("backend_reversed", 0.4, 8.0, 5, 15, 2),  # drew 1, 0, 5, 3: the 2-minute sum
        ("refunded", 0.5, 6.0, 10, 10, 3),
        ("failed", 0.3, 10.0, 12, 14, 4),
        ("failed", 0.25, 12.0, 15, 22, 5),
        ("backend_reversed", 0.3, 10.0, 8, 11, 6),
        ("refunded", 0.4, 8.0, 10, 16, 7),
    ],
)
def test_sparse_status_bursting_opens_an_alert_within_3_minutes(
    status: str, rate: float, factor: float, minutes: int, hour: int, seed: int
) -> None:
    start = at(2, hour, 7)
    shares = dict(QUIET.shares) | {status: share_for(rate, start)}
    model = TrafficModel(peak_per_minute=QUIET.peak_per_minute, shares=shares)
    inj = Injection("spike", start, minutes, status, factor)
    alerts = run(inj, seed, model)
    found = latency(alerts, status, inj)
    assert found is not None and found <= 3, (found, alerts)
    assert false_alerts(alerts, inj) == []


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=GAP), pytest.param(3, marks=GAP)])
def test_rise_of_2_2_times_for_30_minutes_at_evening_volume_within_5_minutes(seed: int) -> None:
    inj = Injection("spike", at(2, 19, 10), 30, "denied", 2.2)
    alerts = run(inj, seed)
    found = latency(alerts, "denied", inj)
    assert found is not None and found <= 5, (found, alerts)
    assert false_alerts(alerts, inj) == []


@pytest.mark.parametrize("seed", [pytest.param(1, marks=GAP), 2, 3])
def test_ramp_to_5_times_over_90_minutes_is_caught_within_35_minutes(seed: int) -> None:
    inj = Injection("ramp", at(2, 14, 0), 90, "reversed", 5.0, 30)
    alerts = run(inj, seed)
    found = latency(alerts, "reversed", inj)
    assert found is not None and found <= 35, (found, alerts)
    assert false_alerts(alerts, inj) == []


@pytest.mark.parametrize(("seed", "hour"), [(1, 12), (2, 19), (3, 9)])
def test_two_hour_proportional_surge_opens_nothing_also_when_it_ends(seed: int, hour: int) -> None:
    inj = Injection("surge", at(2, hour, 0), 120, None, 3.0)
    alerts = run(inj, seed, days=3.0)
    during_or_after = [a for a in alerts if inj.start <= a.start <= inj.end + 3 * 3600]
    assert during_or_after == []
    assert [a for a in alerts if a.start >= WEEK_START + DAY] == []


@pytest.mark.parametrize(("seed", "day", "hour"), [(1, 5, 15), (3, 6, 11), (4, 5, 15)])
def test_approvals_halving_on_the_first_weekend_opens_a_drop_within_5_minutes(
    seed: int, day: int, hour: int
) -> None:
    """Before a weekend profile of its own the level is the recent one, and the short sums
    still judge a drop (they once judged only single minutes, and missed most of these)."""
    inj = Injection("drop", at(day, hour, 0), 20, "approved", 0.5)
    alerts = run(inj, seed, days=day + 1.0)
    found = latency(alerts, "approved", inj)
    assert found is not None and found <= 5, (found, alerts)
    assert false_alerts(alerts, inj) == []


def test_four_two_two_against_a_fifth_a_minute_opens_by_the_third_minute() -> None:
    """The issue's example: 4 + 2 + 2 where 0.6 are expected over three minutes."""
    from server.detect.engine import Engine

    engine = Engine(DetectConfig())
    t0 = WEEK_START
    for i in range(600):  # ten hours: approved ~100, refunded 1 in 5 minutes (0.2 a minute)
        engine.warm(t0 + i * 60, {"approved": 100 + i % 7 - 3, "refunded": int(i % 5 == 0)})
    opened: list[int] = []
    for k, burst in enumerate((4, 2, 2)):
        m = t0 + (600 + k) * 60
        for status, count in (("approved", 100), ("refunded", burst)):
            opened += [e.at for e in engine.ingest(Record(m, status, count)).events]
        opened += [e.at for e in engine.tick(m + 60) if e.type == "opened"]
    assert opened and min(opened) <= t0 + 602 * 60


def test_an_opening_on_a_sparse_status_states_its_expectation_to_two_digits() -> None:
    """'3 against 0.0 expected' told the reader nothing: below 1 the expectation keeps two
    significant digits, in the detail as in the messages."""
    import re

    from server.detect.engine import Engine
    from server.detect.lifecycle import expected_text

    engine = Engine(DetectConfig())
    t0 = WEEK_START
    for i in range(600):  # refunded 1 in 25 minutes: 0.04 a minute
        engine.warm(t0 + i * 60, {"approved": 100 + i % 7 - 3, "refunded": int(i % 25 == 0)})
    opened = []
    for k in range(5):
        m = t0 + (600 + k) * 60
        for status, count in (("approved", 100), ("refunded", 4)):
            opened += [e for e in engine.ingest(Record(m, status, count)).events]
        opened += [e for e in engine.tick(m + 60) if e.type == "opened"]
    event = next(e for e in opened if e.alert.status == "refunded")
    shown = re.search(r"against (\S+) expected", event.detail)
    assert shown and shown.group(1) == expected_text(event.alert.expected), event.detail
    assert event.alert.expected < 1 and shown.group(1) not in ("0.0", "0")


def _warm_beside_alternating_approvals(engine, t0: int) -> None:
    """A day and an hour of history: approved 80 and 120 in turn, denied about 5."""
    for i in range(1500):
        approved = (80 if i % 2 else 120) + i % 3 - 1
        engine.warm(t0 + i * 60, {"approved": approved, "denied": 5 + (i % 3 == 0) - (i % 5 == 0)})


def _denied_openings(engine, t0: int, denied: int, approved: list[int]) -> list:
    opened = []
    for k, count in enumerate(approved):
        m = t0 + (1500 + k) * 60
        for status, n in (("approved", count), ("denied", denied)):
            if n is not None:
                opened += [e for e in engine.ingest(Record(m, status, n)).events]
        opened += engine.tick(m + 60)
    return [e for e in opened if e.type == "opened" and e.alert.status == "denied"]


def test_a_rise_beside_noisy_other_traffic_is_judged_on_the_share_of_what_came() -> None:
    """Denied at 11 a minute (5 usual) beside approvals that alternate 80 and 120 opens by
    its fifth minute. Judged against the larger of the others and their usual level, minute by
    minute, the sums expected a tenth more than the share of what came and it waited for the
    tenth minute."""
    from server.detect.engine import Engine

    engine = Engine(DetectConfig())
    t0 = WEEK_START
    _warm_beside_alternating_approvals(engine, t0)
    opened = _denied_openings(engine, t0, 11, [80 if k % 2 else 120 for k in range(10)])
    assert opened and opened[0].at <= t0 + (1500 + 5) * 60, opened


def test_a_rise_during_an_approvals_outage_states_its_usual_count_as_expected() -> None:
    """With no approvals the rate view expects nothing; the alert states the expectation of the
    view that judged it (the count view's 5), not '15 against 0.0 expected'."""
    from server.detect.engine import Engine

    engine = Engine(DetectConfig())
    t0 = WEEK_START
    _warm_beside_alternating_approvals(engine, t0)
    opened = _denied_openings(engine, t0, 15, [0] * 8)
    assert opened, "a denied rise x3 opens"
    assert 4.0 < opened[0].alert.expected < 6.5, opened[0].detail
