"""Alert lifecycle through the real Engine: open, update, ack, unack, refire, resolve, silence."""

from __future__ import annotations

import pytest

from server.detect.config import DetectConfig
from server.detect.engine import Engine
from server.detect.lifecycle import Alert, AlertConflict, AlertEvent, AlertNotFound
from server.errors import SilenceNotFound
from server.records import Record

T0 = 1_751_846_400  # a Monday 00:00 UTC
WARM = 240  # minutes of steady history before each test


def steady(i: int) -> dict[str, int]:
    """A calm minute: approved ~100, denied ~6, reversed 0-1, failed always 0 (sent as 0)."""
    return {
        "approved": 100 + (i * 7) % 11 - 5,
        "denied": 6 + i % 3 - 1,
        "reversed": i % 2,
        "failed": 0,
    }


def make(config: DetectConfig | None = None) -> Engine:
    engine = Engine(config or DetectConfig())
    for i in range(WARM):
        engine.warm(T0 + i * 60, steady(i))
    return engine


def minute(n: int) -> int:
    """Epoch of the n-th minute after the warm history."""
    return T0 + (WARM + n) * 60


def feed(engine: Engine, n: int, **changes: int) -> list[AlertEvent]:
    """Ingest one whole minute (steady values, with overrides) and tick like the backtest."""
    counts = steady(WARM + n) | changes
    events: list[AlertEvent] = []
    for status, count in counts.items():
        events += engine.ingest(Record(minute(n), status, count)).events
    events += engine.tick(minute(n) + 60)
    return events


def types(events: list[AlertEvent]) -> list[str]:
    return [e.type for e in events]


def test_warm_start_emits_nothing_and_learns_the_baseline() -> None:
    engine = make()
    expected, upper = engine.baseline("denied", minute(0))
    assert 5.0 < expected < 7.5
    assert upper > 2 * expected
    assert engine.open_alerts() == []
    assert feed(engine, 0) == []


def test_spike_opens_one_alert_and_later_minutes_update_it() -> None:
    engine = make()
    first = feed(engine, 0, denied=40)
    assert types(first) == ["opened"]
    alert = first[0].alert
    assert (alert.status, alert.kind, alert.state, alert.severity) == (
        "denied",
        "spike",
        "firing",
        "high",
    )
    assert alert.peak_count == 40 and 4 < alert.expected < 8
    later = feed(engine, 1, denied=60) + feed(engine, 2, denied=45)
    assert "opened" not in types(later)
    [only] = engine.open_alerts()
    assert only.id == alert.id and only.peak_count == 60 and only.last_seen == minute(2)


def test_record_verdict_reports_severity_expected_and_upper() -> None:
    engine = make()
    feed(engine, 0)
    judged = engine.ingest(Record(minute(1), "approved", 100))
    judged = engine.ingest(Record(minute(1), "denied", 40))
    assert judged.severity == "high" and judged.score > 5
    assert judged.expected < judged.upper < 40
    calm = engine.ingest(Record(minute(1), "reversed", 1))
    assert calm.severity == "normal"


def test_medium_alone_does_not_open_but_k_of_n_mediums_do() -> None:
    engine = make(DetectConfig(high=50.0))  # nothing is ever high: only the k-of-n rule opens
    assert feed(engine, 0, denied=40) == []
    assert feed(engine, 1) == []
    assert feed(engine, 2, denied=40) == []
    assert types(feed(engine, 3, denied=40)) == ["opened"]


def test_status_that_spikes_then_stays_shifted_keeps_one_alert_whose_kind_changes() -> None:
    engine = make()
    events = feed(engine, 0, denied=60)
    for n in range(1, 60):
        # About 1.6 times the usual: no single minute shows it, the long windows do.
        events += feed(engine, n, denied=9 + n % 2)
    assert types(events).count("opened") == 1
    kinds = [e.detail for e in events if e.type == "updated"]
    assert "kind spike -> shift" in kinds
    [alert] = engine.open_alerts()
    assert alert.kind == "shift"


def test_alert_resolves_after_the_configured_normal_minutes() -> None:
    engine = make()
    feed(engine, 0, denied=50)
    cfg = engine.config
    for n in range(1, cfg.resolve_minutes):
        assert "resolved" not in types(feed(engine, n))
    events = feed(engine, cfg.resolve_minutes)
    assert types(events) == ["resolved"]
    assert events[0].alert.state == "resolved"
    assert engine.open_alerts() == []


def test_ack_records_who_and_unack_returns_to_firing() -> None:
    engine = make()
    [opened] = feed(engine, 0, denied=50)
    now = minute(1)
    [acked] = engine.ack(opened.alert_id, "ana", "looking", now)
    assert acked.type == "acknowledged"
    assert (acked.alert.state, acked.alert.acknowledged_by, acked.alert.ack_note) == (
        "acknowledged",
        "ana",
        "looking",
    )
    assert acked.alert.acknowledged_at == now
    [undone] = engine.unack(opened.alert_id, now + 5)
    assert undone.type == "unacknowledged"
    assert undone.alert.state == "firing" and undone.alert.acknowledged_by is None
    with pytest.raises(AlertConflict):
        engine.unack(opened.alert_id, now + 6)


def test_acknowledged_alert_still_open_after_timeout_refires() -> None:
    engine = make(DetectConfig(ack_timeout_minutes=5))
    [opened] = feed(engine, 0, denied=50)
    engine.ack(opened.alert_id, "ana", None, minute(1))
    events: list[AlertEvent] = []
    for n in range(1, 8):
        events += feed(engine, n, denied=50)
    refired = [e for e in events if e.type == "refired"]
    assert len(refired) == 1
    assert refired[0].at == minute(1) + 5 * 60
    assert refired[0].alert.state == "firing" and refired[0].alert.acknowledged_by is None


def test_unknown_alert_is_not_found_and_resolved_alert_conflicts() -> None:
    engine = make()
    with pytest.raises(AlertNotFound):
        engine.ack(999, "ana", None, minute(0))
    [opened] = feed(engine, 0, denied=50)
    for n in range(1, engine.config.resolve_minutes + 1):
        feed(engine, n)
    with pytest.raises(AlertConflict):
        engine.ack(opened.alert_id, "ana", None, minute(20))
    assert engine.alert(opened.alert_id).state == "resolved"


def test_silenced_alert_is_recorded_but_flagged_and_the_flag_ends_with_the_silence() -> None:
    engine = make()
    silence = engine.add_silence("denied", 10, "ana", "deploy", minute(0))
    assert engine.silences(minute(0)) == [silence]
    [opened] = feed(engine, 0, denied=50)
    assert opened.type == "opened" and opened.alert.silenced
    other = feed(engine, 1, denied=50, reversed=30)
    assert [e.alert.silenced for e in other if e.type == "opened"] == [False]
    events: list[AlertEvent] = []
    for n in range(2, 12):
        events += feed(engine, n, denied=50, reversed=30)
    ended = [e for e in events if e.type == "updated" and e.detail == "silence ended"]
    assert [e.alert.status for e in ended] == ["denied"]
    assert engine.silences(minute(12)) == []


def test_silence_of_all_statuses_and_removal() -> None:
    engine = make()
    silence = engine.add_silence(None, 60, "ana", "maintenance", minute(0))
    assert feed(engine, 0, reversed=30)[0].alert.silenced
    assert engine.remove_silence(silence.id) == silence
    with pytest.raises(SilenceNotFound):
        engine.remove_silence(silence.id)


def test_silent_status_that_sends_zeros_raises_no_data_and_resolves_when_back() -> None:
    engine = make()
    events: list[AlertEvent] = []
    for n in range(8):
        counts = steady(WARM + n)
        for status in ("approved", "reversed", "failed"):  # denied stops reporting
            events += engine.ingest(Record(minute(n), status, counts[status])).events
        events += engine.tick(minute(n) + 60)
    nodata = [e for e in events if e.type == "opened"]
    assert [(e.alert.status, e.alert.kind) for e in nodata] == [("denied", "no_data")]
    back = feed(engine, 8) + feed(engine, 9)
    assert [(e.type, e.alert.status) for e in back] == [("resolved", "denied")]


def test_whole_feed_silent_raises_one_total_no_data_alert() -> None:
    engine = make()
    feed(engine, 0)
    events: list[AlertEvent] = []
    for n in range(1, 12):
        events += engine.tick(minute(n) + 60)
    opened = [e.alert for e in events if e.type == "opened"]
    assert [(a.status, a.kind) for a in opened] == [("_total", "no_data")]


def test_status_that_never_sends_zeros_is_judged_zero_when_absent_not_silent() -> None:
    engine = Engine(DetectConfig())
    for i in range(WARM):
        counts = steady(i)
        counts["failed"] = 1 if i % 5 == 0 else 0
        engine.warm(T0 + i * 60, {s: c for s, c in counts.items() if c})  # zero rows omitted
    events: list[AlertEvent] = []
    for n in range(15):
        for status, count in steady(WARM + n).items():
            if count and status != "reversed":
                events += engine.ingest(Record(minute(n), status, count)).events
        events += engine.tick(minute(n) + 60)
    assert events == []


def test_statuses_of_a_minute_can_arrive_in_any_order() -> None:
    engine = make()
    feed(engine, 0)
    surge = {s: c * 3 for s, c in steady(WARM + 1).items()}  # flash sale: all x3
    events: list[AlertEvent] = []
    for status in ("failed", "denied", "reversed", "approved"):  # failure statuses first
        events += engine.ingest(Record(minute(1), status, surge[status])).events
    events += feed(engine, 2)
    assert events == []


def test_late_record_inside_the_window_joins_its_minute_and_older_gets_a_verdict_only() -> None:
    engine = make()
    feed(engine, 0, denied=1)
    feed(engine, 1)
    late = engine.ingest(Record(minute(0), "denied", 49))  # minute 0 now holds 50 denied
    assert late.severity == "high"
    assert [e.type for e in late.events] == ["opened"]
    assert late.events[0].alert.first_seen == minute(0)
    for n in range(2, 70):
        feed(engine, n)
    ancient = engine.ingest(Record(minute(3), "reversed", 40))
    assert ancient.severity == "high" and ancient.events == []
    assert all(a.status != "reversed" for a in engine.open_alerts())


def test_restore_brings_back_open_alerts_and_continues_ids() -> None:
    engine = make()
    stored = Alert(41, "denied", "spike", "acknowledged", "high", minute(-5), minute(-1), 50)
    stored.acknowledged_by, stored.acknowledged_at = "ana", minute(-2)
    engine.restore([stored], [], next_alert_id=42)
    assert engine.open_alerts() == [stored]
    assert types(engine.unack(41, minute(0))) == ["unacknowledged"]
    opened = [e for e in feed(engine, 0, reversed=30) if e.type == "opened"]
    assert opened[0].alert_id == 42


def test_drop_in_approvals_opens_a_drop_alert() -> None:
    engine = make()
    events = feed(engine, 0, approved=20) + feed(engine, 1, approved=15)
    opened = [e.alert for e in events if e.type == "opened"]
    assert [(a.status, a.kind) for a in opened] == [("approved", "drop")]


def test_hourly_profile_has_24_hours_with_upper_above_average() -> None:
    engine = make()
    profile = engine.hourly_profile("approved")
    assert len(profile) == 24
    avg, upper = profile[1]
    assert 90 < avg < 110 and upper > avg
    assert profile[20] == (0.0, 0.0)  # no history at 20h yet
    assert engine.hourly_profile("nope") == [(0.0, 0.0)] * 24
