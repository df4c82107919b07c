"""The dashboard never looks surer than it is: unknown, stale, late and disconnected states,
against a real receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from rich.console import Console
from textual.pilot import Pilot

from server.api.server import TxmonHTTPServer
from tests.conftest import Live
from tests.tui.gate import Gate
from tests.tui.test_tui_app import (
    START,
    header,
    live_app,
    make_app,
    minute,
    post,
    run,
    seed,
    until,
    until_loaded,
    wait_for_toast,
)
from txmon_tui.app import TxmonApp
from txmon_tui.widgets.alerts import AlertsTable
from txmon_tui.widgets.sparklines import CountSparkline, SparklinesPanel, SparkRow
from txmon_tui.widgets.transactions import TransactionsTable

NEWEST = START + 93 * 60  # the newest minute seed() posts


def test_wrong_token_never_shows_zero_firing(make_receiver: Callable[..., Live]) -> None:
    live = make_receiver(token="right")
    seed(live)  # the receiver has a firing high alert

    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, TxmonApp)
        seen: list[str] = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            seen.append(header(app))
            await pilot.pause(0.05)
        assert app.connection == "unauthorized" and app.failures >= 1
        assert not any("0 firing" in line for line in seen), seen
        assert "? firing" in seen[-1] and "token rejected" in seen[-1]
        assert "no data: token rejected" in str(app.query_one(AlertsTable).border_subtitle)
        await pilot.press("a")
        await wait_for_toast(pilot, "Cannot acknowledge: no data: token rejected")

    run(live_app(live, token="wrong"), scenario)


def test_data_forty_minutes_old_is_called_stale_with_its_age(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert "STALE · newest" in header(app) and "40m ago" in header(app)
        assert app.body.has_class("-stale")

    run(live_app(live, clock=lambda: NEWEST + 40 * 60 + 30), scenario)


def test_fresh_data_shows_its_age_and_is_not_dimmed(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert "STALE" not in header(app) and "1m ago" in header(app)
        assert "● live" in header(app) and not app.body.has_class("-stale")

    run(live_app(live, clock=lambda: NEWEST + 90), scenario)


def test_records_still_arriving_are_not_stale_however_old_their_time(live: Live) -> None:
    """A sender catching up on history (the demo's first minutes) is live, not stale."""
    seed(live)
    now = [NEWEST + 3 * 3600]

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert "STALE" in header(app)
        post(live.client, minute(94, 117, 6))
        await until(pilot, lambda: "STALE" not in header(app))
        assert "behind), last new" in header(app)
        now[0] += 301  # then nothing more arrives for five minutes
        await until(pilot, lambda: "STALE · no new record for 5m" in header(app))

    run(live_app(live, clock=lambda: now[0]), scenario)


def test_a_hung_receiver_leaves_live_within_one_poll_timeout(live: Live) -> None:
    seed(live)
    gate = Gate(live.server.server_address[1])
    gate.start()

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await until(pilot, lambda: "● live" in header(app))
        gate.hung.set()
        hung_at = time.monotonic()
        await until(pilot, lambda: "● live" not in header(app), timeout=10)
        assert time.monotonic() - hung_at < app.client._timeout()
        assert "no answer for" in header(app)
        await until(pilot, lambda: app.body.has_class("-stale"), timeout=2)

    started = time.monotonic()
    try:
        run(make_app(gate.url, clock=lambda: NEWEST + time.monotonic() - started), scenario)
    finally:
        gate.stop()


def test_receiver_back_is_live_within_five_seconds(live: Live) -> None:
    seed(live)
    port = live.server.server_address[1]
    gate = Gate(port)
    gate.start()
    second: list[TxmonHTTPServer] = []

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        live.server.shutdown()
        live.server.server_close()
        gate.stop()
        await until(pilot, lambda: app.connection == "reconnecting")
        await until(pilot, lambda: app.failures >= 4, timeout=20)  # the back-off is at its cap
        line = header(app)
        assert "disconnected" in line and "r: retry now" in line and "as of" in line
        assert "as of" in str(app.query_one(TransactionsTable).border_title)
        server = TxmonHTTPServer(replace(live.config, port=port), live.receiver)
        second.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        gate.start()
        back = time.monotonic()
        await until(pilot, lambda: app.connection == "live", timeout=10)
        assert time.monotonic() - back < 5.0
        assert "as of" not in header(app)

    try:
        run(make_app(gate.url), scenario)
    finally:
        gate.stop()
        for server in second:
            server.shutdown()
            server.server_close()


def test_first_run_shows_how_to_send_data_then_the_rows(live: Live) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, TxmonApp)
        await until(pilot, lambda: app.polls >= 1)
        guide = str(app.guide.render())
        assert app.guide.display and not app.table.display
        assert "curl -s -X POST" in guide and "txmon-server generate --url" in guide
        assert live.url in guide
        post(live.client, minute(0, 117, 6))
        await until(pilot, lambda: app.table.display and app.table.row_count == 2)
        assert not app.guide.display

    run(live_app(live), scenario)


def test_enter_on_an_empty_alerts_panel_says_why(live: Live) -> None:
    post(live.client, minute(0, 117, 6))

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert app.query_one(AlertsTable).has_focus
        await pilot.press("enter")
        await wait_for_toast(pilot, "Nothing to show: no open alerts")

    run(live_app(live), scenario)


def test_at_most_two_notifications_at_once(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        for key in ("r", "r", "r", "r"):
            await pilot.press(key)
        await pilot.pause()
        await pilot.pause()
        assert len(app.seen_toasts) >= 4  # type: ignore[attr-defined]
        assert len(app._notifications) <= 2

    run(live_app(live), scenario)


def test_a_steady_busy_status_draws_full_bars_not_a_flat_zero(live: Live) -> None:
    """Bars rise from zero: 120 a minute every minute is a full line, denied at 0 an empty
    one (Textual's own sparkline spans min..max and drew both as the same floor)."""
    post(live.client, [r for m in range(60) for r in minute(m, 120, 0)])

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        panel = app.query_one(SparklinesPanel)
        await until(pilot, lambda: {r.status for r in panel.query(SparkRow)} >= {"approved"})
        await pilot.pause()
        lines = {row.status: spark_text(row) for row in panel.query(SparkRow)}
        assert set(lines["approved"]) == {"█"}, lines
        assert set(lines["denied"]) == {"▁"}, lines

    run(live_app(live), scenario)


def spark_text(row: SparkRow) -> str:
    """The characters a status's sparkline draws."""
    line = row.query_one(CountSparkline)
    console = Console(width=line.size.width, color_system=None)
    with console.capture() as captured:
        console.print(line.render(), end="")
    return captured.get()
