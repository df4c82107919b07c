"""Snapshot tests of the dashboard: fixed JSON documents through a local fake, fixed clock.

The receiver's answers here are plain documents shaped like docs/api.md (the Pilot tests in
test_tui_app.py run against the real receiver); nothing depends on the wall clock.
Update the pictures with `pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot

from txmon_tui import severity
from txmon_tui.app import TxmonApp
from txmon_tui.client import TxmonClient
from txmon_tui.config import Settings
from txmon_tui.receivers import Receivers
from txmon_tui.widgets.transactions import TransactionsTable

NEWEST = 1_752_305_580  # 2025-07-12T07:33:00Z
CLOCK = NEWEST + 95.0
STATUSES = {"approved": 118, "denied": 6, "failed": 3, "refunded": 2, "reversed": 1}


def iso(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def count(status: str, m: int) -> int:
    """Deterministic per-minute counts: a wobble around the level, denied spiking at the end."""
    level = STATUSES[status]
    if status == "denied" and m >= 56:
        return 70 + m % 3
    return max(0, round(level + level * 0.08 * math.sin(m / 3) + (m % 3 == 0)))


def series_doc() -> dict[str, Any]:
    first = NEWEST - 59 * 60
    return {
        "start": iso(first),
        "end": iso(NEWEST),
        "minutes": [iso(first + i * 60) for i in range(60)],
        "series": {s: [count(s, m) for m in range(60)] for s in sorted(STATUSES)},
    }


def baseline(status: str) -> dict[str, float]:
    level = STATUSES[status]
    return {"expected": round(level * 1.01, 3), "upper": round(level * 1.6 + 8, 3)}


def summary_doc() -> dict[str, Any]:
    totals = {s: sum(count(s, m) for m in range(60)) for s in STATUSES}
    total = sum(totals.values())
    return {
        "minutes": 60,
        "start": iso(NEWEST - 59 * 60),
        "newest_event_time": iso(NEWEST),
        "total": total,
        "records_stored": 25_920,
        "ingest_rate": 12.5,
        "statuses": {
            s: {
                "count": totals[s],
                "records": 60,
                "share": totals[s] / total,
                "baseline": baseline(s),
            }
            for s in sorted(STATUSES)
        },
        "alerts": {"firing": 1, "acknowledged": 1},
        "hourly_profile": {
            s: [
                {
                    "hour": h,
                    "average": round(
                        STATUSES[s] * (0.55 + 0.45 * math.sin((h - 6) / 24 * 2 * math.pi)), 3
                    ),
                    "upper": round(
                        STATUSES[s] * (0.55 + 0.45 * math.sin((h - 6) / 24 * 2 * math.pi)) * 1.6
                        + 8,
                        3,
                    ),
                }
                for h in range(24)
            ]
            for s in sorted(STATUSES)
        },
    }


def transactions_doc() -> dict[str, Any]:
    rows = []
    record_id = 0
    for m in range(48, 60):
        for s in sorted(STATUSES):
            record_id += 1
            c = count(s, m)
            base = baseline(s)
            severity = "normal"
            if s == "denied" and m >= 56:
                severity = "high"
            elif s == "failed" and m == 57:
                severity, c = "medium", 12
            elif s == "reversed" and m == 58:
                severity, c = "low", 6
            rows.append(
                {
                    "id": 25_000 + record_id,
                    "timestamp": iso(NEWEST - (59 - m) * 60),
                    "status": s,
                    "count": c,
                    "severity": severity,
                    "score": round((c - base["expected"]) / max(1.0, base["expected"] ** 0.5), 3),
                    "expected": base["expected"],
                    "upper": base["upper"],
                }
            )
    return {"transactions": rows[::-1]}


ALERTS = [
    {
        "id": 7,
        "status": "denied",
        "kind": "spike",
        "state": "firing",
        "severity": "high",
        "first_seen": iso(NEWEST - 3 * 60),
        "last_seen": iso(NEWEST),
        "peak_count": 72,
        "peak_score": 14.3,
        "expected": 6.1,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "ack_note": None,
        "resolved_at": None,
        "silenced": False,
    },
    {
        "id": 5,
        "status": "failed",
        "kind": "shift",
        "state": "acknowledged",
        "severity": "medium",
        "first_seen": iso(NEWEST - 41 * 60),
        "last_seen": iso(NEWEST - 2 * 60),
        "peak_count": 12,
        "peak_score": 4.1,
        "expected": 3.0,
        "acknowledged_by": "ana@ops-1",
        "acknowledged_at": iso(NEWEST - 20 * 60),
        "ack_note": "card network degraded, vendor paged",
        "resolved_at": None,
        "silenced": True,
    },
]


def fake_receiver(request: httpx.Request) -> httpx.Response:
    """Answer the dashboard's reads with the fixed documents above."""
    path = request.url.path
    if path == "/healthz":
        return httpx.Response(200, json={"status": "ok"})
    if path == "/api/v1/summary":
        return httpx.Response(200, json=summary_doc())
    if path == "/api/v1/series":
        return httpx.Response(200, json=series_doc())
    if path == "/api/v1/transactions":
        after = int(request.url.params.get("after_id") or 0)
        doc = transactions_doc()
        return httpx.Response(
            200, json={"transactions": [t for t in doc["transactions"] if t["id"] > after]}
        )
    if path == "/api/v1/alerts":
        return httpx.Response(200, json={"alerts": ALERTS})
    return httpx.Response(404, json={"error": f"no route for {path}"})


def empty_receiver(request: httpx.Request) -> httpx.Response:
    """A receiver that has never been sent a record."""
    path = request.url.path
    if path == "/api/v1/summary":
        doc = summary_doc() | {"total": 0, "records_stored": 0, "ingest_rate": 0.0}
        doc |= {"newest_event_time": None, "statuses": {}, "hourly_profile": {}}
        doc["alerts"] = {"firing": 0, "acknowledged": 0}
        return httpx.Response(200, json=doc)
    if path == "/api/v1/series":
        return httpx.Response(200, json={"start": None, "end": None, "series": {}})
    if path == "/api/v1/transactions":
        return httpx.Response(200, json={"transactions": []})
    if path == "/api/v1/alerts":
        return httpx.Response(200, json={"alerts": []})
    return httpx.Response(404, json={"error": f"no route for {path}"})


def rejecting_receiver(request: httpx.Request) -> httpx.Response:
    """A receiver with a firing alert that wants a token the dashboard does not have."""
    return httpx.Response(401, json={"error": "missing or wrong token"})


class Vanishing:
    """Answers like `fake_receiver` for the first `answers` requests, then refuses to connect."""

    def __init__(self, answers: int) -> None:
        self.answers = answers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.answers -= 1
        if self.answers < 0:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return fake_receiver(request)


def snapshot_app(
    transport: Any = fake_receiver,
    clock: float = CLOCK,
    look: severity.Look | None = severity.COLOR,
    **settings: Any,
) -> TxmonApp:
    url = "http://txmon.example:8787"
    client = TxmonClient(url, transport=httpx.MockTransport(transport))
    return TxmonApp(
        Settings(url=url, interval=1.0, user="snap@host", **settings),
        client=client,
        clock=lambda: clock,
        look=look,
    )


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def loaded(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, TxmonApp)
    for _ in range(200):
        if app.polls >= 1 and app.query_one(TransactionsTable).row_count == 60:
            break
        await pilot.pause(0.02)
    await settle(pilot)


async def polled(pilot: Pilot[None]) -> None:
    """Wait for the first poll to succeed (the panels may stay empty)."""
    app = pilot.app
    assert isinstance(app, TxmonApp)
    for _ in range(200):
        if app.polls >= 1:
            break
        await pilot.pause(0.02)
    await settle(pilot)


async def refused(pilot: Pilot[None]) -> None:
    """Wait until the dashboard has given up on the current answer."""
    app = pilot.app
    assert isinstance(app, TxmonApp)
    for _ in range(200):
        if app.connection in ("unauthorized", "reconnecting"):
            break
        await pilot.pause(0.02)
    app.clear_notifications()
    await settle(pilot)


# --- during an incident, at every documented size ------------------------------------------


@pytest.mark.parametrize(
    "size",
    [(60, 20), (80, 24), (120, 40), (200, 50)],
    ids=["60x20", "80x24", "120x40", "200x50"],
)
def test_incident_at_every_size(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=loaded)


def test_compact_chart_panel(snap_compare: Any) -> None:
    async def chart(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("4")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=chart)


def test_read_only_footer(snap_compare: Any) -> None:
    assert snap_compare(snapshot_app(read_only=True), terminal_size=(120, 40), run_before=loaded)


# --- colour modes --------------------------------------------------------------------------


def test_no_color_draws_the_alarm_in_reverse(
    snap_compare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # Textual reads it when the app is made
    app = snapshot_app(look=None)
    assert app.look is severity.MONO
    assert snap_compare(app, terminal_size=(120, 40), run_before=loaded)


def test_sixteen_colours_use_the_terminals_red(snap_compare: Any) -> None:
    app = snapshot_app(look=severity.ANSI16)
    assert snap_compare(app, terminal_size=(120, 40), run_before=loaded)


# --- what the screen does not know ---------------------------------------------------------


def test_no_data_shows_how_to_send_some(snap_compare: Any) -> None:
    app = snapshot_app(empty_receiver)
    assert snap_compare(app, terminal_size=(120, 40), run_before=polled)


def test_token_rejected_says_so_and_knows_nothing(snap_compare: Any) -> None:
    app = snapshot_app(rejecting_receiver, token="wrong")
    assert snap_compare(app, terminal_size=(120, 40), run_before=refused)


def test_stale_data_is_flagged_with_its_age(snap_compare: Any) -> None:
    app = snapshot_app(clock=NEWEST + 40 * 60 + 20)
    assert snap_compare(app, terminal_size=(120, 40), run_before=loaded)


def test_disconnected_marks_everything_as_of(snap_compare: Any) -> None:
    async def gone(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        app = pilot.app
        assert isinstance(app, TxmonApp)
        app.request_refresh()
        await refused(pilot)
        for _ in range(200):  # the retry countdown is at its cap from the second failure on
            if app.failures >= 2:
                break
            await pilot.pause(0.02)
        app.clear_notifications()
        await settle(pilot)

    # the first poll's six requests succeed, then the receiver is gone
    app = snapshot_app(Vanishing(answers=6))
    assert snap_compare(app, terminal_size=(120, 40), run_before=gone)


# --- several receivers ---------------------------------------------------------------------


def two_receivers_app(first: Any, second: Any) -> TxmonApp:
    """`--url http://txmon-a.example:8787,http://txmon-b.example:8787` over two fakes."""
    urls = ("http://txmon-a.example:8787", "http://txmon-b.example:8787")
    clients = [
        TxmonClient(url, transport=httpx.MockTransport(answer))
        for url, answer in zip(urls, (first, second), strict=True)
    ]
    return TxmonApp(
        Settings(url=",".join(urls), interval=1.0, user="snap@host"),
        client=Receivers(clients),
        clock=lambda: CLOCK,
        look=severity.COLOR,
    )


def test_failed_over_names_the_receiver_in_use(snap_compare: Any) -> None:
    async def moved(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        app = pilot.app
        assert isinstance(app, TxmonApp)
        app.request_refresh()
        for _ in range(200):
            if app.receivers.index == 1 and app.connection == "live":
                break
            await pilot.pause(0.02)
        await loaded(pilot)
        app.clear_notifications()
        await settle(pilot)

    # the first receiver answers the first poll's six requests, then is gone
    app = two_receivers_app(Vanishing(answers=6), fake_receiver)
    assert snap_compare(app, terminal_size=(80, 24), run_before=moved)


def test_every_receiver_down_says_all_failed(snap_compare: Any) -> None:
    async def gone(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        app = pilot.app
        assert isinstance(app, TxmonApp)
        app.request_refresh()
        for _ in range(200):
            if app.connection == "reconnecting" and app.failures >= 2:
                break
            await pilot.pause(0.02)
        app.clear_notifications()
        await settle(pilot)

    app = two_receivers_app(Vanishing(answers=6), Vanishing(answers=0))
    assert snap_compare(app, terminal_size=(120, 40), run_before=gone)
