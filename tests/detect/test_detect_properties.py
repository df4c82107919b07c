"""Invariants of the detector, checked with hypothesis over many inputs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.detect.config import DetectConfig
from server.detect.engine import Engine
from server.detect.lifecycle import AlertEvent
from server.detect.stats import limit, score
from server.records import Record

T0 = 1_751_846_400
STATUSES = ("approved", "denied", "failed", "reversed", "refunded")


def base(i: int, volume: int) -> dict[str, int]:
    """A calm minute at `volume` approvals with fixed shares and a little jitter."""
    jitter = (i * 7) % 5 - 2
    return {
        "approved": volume + jitter,
        "denied": max(1, volume * 6 // 100 + jitter // 2),
        "failed": 0,
        "reversed": volume // 100,
        "refunded": (i % 3) * volume // 200,
    }


def warmed(volume: int, minutes: int = 200) -> Engine:
    engine = Engine(DetectConfig())
    for i in range(minutes):
        engine.warm(T0 + i * 60, base(i, volume))
    return engine


def feed(engine: Engine, m: int, counts: dict[str, int], order: list[str]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for status in order:
        events += engine.ingest(Record(m, status, counts[status])).events
    return events


@settings(max_examples=40, deadline=None)
@given(
    volume=st.integers(40, 2000),
    factor=st.floats(1.0, 8.0),
    order=st.permutations(STATUSES),
)
def test_scaling_all_statuses_together_never_raises_an_alert(
    volume: int, factor: float, order: list[str]
) -> None:
    engine = warmed(volume)
    m = T0 + 200 * 60
    events: list[AlertEvent] = []
    for k in range(3):  # three surge minutes, statuses in any order
        counts = {s: round(c * factor) for s, c in base(200 + k, volume).items()}
        events += feed(engine, m + k * 60, counts, list(order))
    events += feed(engine, m + 180, base(203, volume), list(STATUSES))
    assert [e for e in events if e.type == "opened"] == []


@settings(max_examples=40, deadline=None)
@given(
    volume=st.integers(20, 3000),
    history=st.integers(30, 400),
    jump=st.integers(10, 10_000),
)
def test_status_that_is_always_zero_jumping_to_ten_or_more_is_high(
    volume: int, history: int, jump: int
) -> None:
    engine = warmed(volume, history)
    m = T0 + history * 60
    counts = base(history, volume) | {"failed": jump}
    judged = [engine.ingest(Record(m, s, counts[s])) for s in STATUSES]
    failed = judged[STATUSES.index("failed")]
    assert failed.severity == "high"
    opened = [e.alert.status for j in judged for e in j.events if e.type == "opened"]
    assert "failed" in opened


@settings(max_examples=200, deadline=None)
@given(
    mu=st.floats(0.001, 1e5),
    size=st.floats(0.3, 1e4),
    x=st.integers(0, 200_000),
)
def test_score_grows_with_the_count_above_the_expectation(mu: float, size: float, x: int) -> None:
    if x >= mu:
        assert score(x + 1, mu, size) > score(x, mu, size)
    else:
        assert score(x, mu, size) <= 0


@settings(max_examples=200, deadline=None)
@given(
    mu=st.floats(0.001, 1e5),
    size=st.floats(0.3, 1e4),
    z=st.sampled_from([-5.0, -4.0, -3.0, 3.0, 4.0, 5.0]),
)
def test_limit_is_the_count_at_that_score(mu: float, size: float, z: float) -> None:
    x = limit(mu, size, z)
    if z < 0 and x == 0.0:
        assert score(0, mu, size) >= z
    else:
        assert abs(score(x, mu, size) - z) < 1e-3
