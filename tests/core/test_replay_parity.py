"""A replay posted to the receiver as fast as it answers raises the backtest's alerts.

The receiver's timers run on the wall clock, which stands still during a fast replay; the
engine judges silences when the watermark moves past them, so a silent status and a stop of the
whole feed in the middle of a file give the same no-data alerts as `txmon-server backtest`.
"""

from __future__ import annotations

from server.detect.config import DetectConfig
from server.records import Record, iso
from server.tools.backtest import replay
from server.tools.traffic import WEEK_START, Injection, generate_minutes
from tests.conftest import Live

START = WEEK_START + 8 * 3600  # a Monday, 08:00 UTC: busy hours


def feed_with_two_silences() -> list[Record]:
    """Six hours of traffic: denied silent for 15 minutes at 11:00, nothing at all 12:30-12:45."""
    silence = Injection("silence", START + 3 * 3600, 15, "denied")
    gap = range(START + 4 * 3600 + 1800, START + 4 * 3600 + 2700)
    records: list[Record] = []
    for minute, counts in generate_minutes(START, 6 * 60, seed=3, injections=[silence]):
        if minute not in gap:
            records.extend(Record(minute, s, c) for s, c in counts.items())
    return records


def test_fast_replay_through_the_receiver_gives_the_backtests_alerts_no_data_included(
    live: Live,
) -> None:
    records = feed_with_two_silences()
    for i in range(0, len(records), 1000):
        batch = [
            {"timestamp": iso(r.ts), "status": r.status, "count": r.count}
            for r in records[i : i + 1000]
        ]
        assert live.client.post("/api/v1/transactions", json=batch).status_code == 201
    backtest = {(a.status, a.kind, iso(a.start)) for a in replay(records, DetectConfig())}
    assert ("denied", "no_data", iso(START + 3 * 3600 + 5 * 60)) in backtest
    assert ("_total", "no_data", iso(START + 4 * 3600 + 1800 + 5 * 60)) in backtest
    answer = live.client.get("/api/v1/alerts", params={"state": "all", "limit": 1000}).json()
    received = {(a["status"], a["kind"], a["first_seen"]) for a in answer["alerts"]}
    assert received == backtest
