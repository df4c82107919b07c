"""An alert resolves only once its status is back near the level it opened against.

After `freeze_minutes` the baselines learn a level that still goes on; without the hold the
alert then resolved on minutes that were only normal for the new level: a false all-clear
while failures were still 20 times what they had been. Traffic comes from the same quieter
model as test_detect_shapes, run through the backtest's loop with a fresh Engine.
"""

from __future__ import annotations

from dataclasses import replace

from server.detect.config import DetectConfig
from server.detect.engine import Engine
from server.detect.lifecycle import AlertEvent
from server.tools.backtest import drive
from server.tools.traffic import (
    QUIET_SHOP,
    WEEK_START,
    Injection,
    at,
    generate_records,
)

QUIET = QUIET_SHOP


def events_of(injection: Injection, seed: int, config: DetectConfig | None = None) -> list:
    """Every alert event of three days of QUIET traffic with this injection on day 3."""
    records = generate_records(WEEK_START, 3 * 1440, seed, [injection], QUIET)
    events: list[AlertEvent] = []
    drive(Engine(config or DetectConfig()), records, events.extend, None)
    return events


def incident(events: list[AlertEvent], status: str, inj: Injection) -> list[AlertEvent]:
    """The events of the alerts of `status` that opened during the injection."""
    ids = {
        e.alert_id
        for e in events
        if e.type == "opened" and e.alert.status == status and inj.start <= e.at < inj.end
    }
    return [e for e in events if e.alert_id in ids]


def test_failures_20_times_for_six_hours_stay_one_alert_until_they_end() -> None:
    inj = Injection("spike", at(2, 10, 0), 360, "failed", 20.0)
    events = incident(events_of(inj, 1), "failed", inj)
    opened = [e for e in events if e.type == "opened"]
    resolved = [e for e in events if e.type == "resolved"]
    assert len(opened) == 1, events
    assert DetectConfig().freeze_minutes < inj.minutes  # the baselines learn it meanwhile
    assert len(resolved) == 1 and resolved[0].at >= inj.end, (resolved, inj.end)
    assert resolved[0].at <= inj.end + 30 * 60
    assert "normal minutes" in resolved[0].detail


def test_approvals_down_to_40_percent_for_six_hours_stay_open_until_they_recover() -> None:
    inj = Injection("drop", at(2, 10, 0), 360, "approved", 0.4)
    events = incident(events_of(inj, 2), "approved", inj)
    resolved = [e for e in events if e.type == "resolved"]
    assert len([e for e in events if e.type == "opened"]) == 1, events
    assert len(resolved) == 1 and inj.end <= resolved[0].at <= inj.end + 30 * 60, resolved


def test_a_short_burst_still_resolves_after_resolve_minutes() -> None:
    """The hold only matters once the baselines moved: a ten-minute burst ends as before."""
    inj = Injection("spike", at(2, 11, 0), 10, "failed", 20.0)
    events = incident(events_of(inj, 3), "failed", inj)
    resolved = [e for e in events if e.type == "resolved"]
    cfg = DetectConfig()
    assert len(resolved) == 1, events
    assert resolved[0].at <= inj.end + (cfg.resolve_minutes + 5) * 60


def test_level_held_past_hold_minutes_resolves_as_accepted_not_recovered() -> None:
    """A level that never comes back is taken as the new one after `hold_minutes`, and the
    resolution says so instead of claiming an all-clear."""
    cfg = replace(DetectConfig(), hold_minutes=240)
    inj = Injection("spike", at(2, 8, 0), 600, "failed", 20.0)
    events = incident(events_of(inj, 1, cfg), "failed", inj)
    resolved = [e for e in events if e.type == "resolved"]
    assert len(resolved) == 1, events
    opened_at = next(e.at for e in events if e.type == "opened")
    assert resolved[0].at < inj.end  # the failures still go on
    assert resolved[0].at - opened_at >= cfg.hold_minutes * 60
    assert resolved[0].detail.startswith("accepted as the new level after 4 h, not recovered")
