"""What is alarming, and that the alarm is the loudest, readable thing in every colour mode."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rich.color import Color
from rich.style import Style
from textual.pilot import Pilot

from tests.conftest import Live
from tests.tui.test_tui_app import START, live_app, run, seed, until, until_loaded
from txmon_tui import severity
from txmon_tui.models import Alert
from txmon_tui.widgets.alerts import AlertsTable
from txmon_tui.widgets.transactions import TransactionsTable

# xterm's default palette for the colours the 16-colour look uses
XTERM = {"red": (205, 0, 0), "bright_white": (255, 255, 255), "black": (0, 0, 0)}


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance."""

    def linear(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def rgb(color: Color | None) -> tuple[int, int, int]:
    assert color is not None
    if color.triplet is not None:
        return tuple(color.triplet)  # type: ignore[return-value]
    return XTERM[color.name]


def test_the_full_colour_alarm_is_readable_and_red() -> None:
    style = Style.parse(severity.COLOR.high)
    assert style.bold and rgb(style.bgcolor)[0] > 2 * max(rgb(style.bgcolor)[1:])
    assert contrast(rgb(style.color), rgb(style.bgcolor)) >= 4.5


def test_the_sixteen_colour_alarm_uses_the_terminals_own_red() -> None:
    style = Style.parse(severity.ANSI16.high)
    assert style.bgcolor is not None and style.bgcolor.name == "red"
    assert style.bgcolor.triplet is None  # a palette colour, never an approximation
    assert contrast(rgb(style.color), rgb(style.bgcolor)) >= 4.5


def test_no_color_alarm_is_reverse_video_and_medium_is_quieter() -> None:
    high, medium = Style.parse(severity.MONO.high), Style.parse(severity.MONO.medium)
    assert high.reverse and high.bold and high.color is None
    assert not medium.reverse
    # reverse video swaps the theme's text and background: the same contrast as normal text
    assert contrast((224, 224, 224), (18, 18, 18)) >= 4.5


@pytest.mark.parametrize("look", [severity.COLOR, severity.ANSI16, severity.MONO])
def test_medium_is_never_louder_than_high(look: severity.Look) -> None:
    high, medium = Style.parse(look.high), Style.parse(look.medium)
    assert high.bgcolor is not None or high.reverse
    assert medium.bgcolor is None and not medium.reverse
    assert look.healthy  # healthy states are drawn, not left to the default


def test_the_terminal_decides_the_look() -> None:
    assert severity.choose_look(True, "truecolor") is severity.MONO
    assert severity.choose_look(False, "standard") is severity.ANSI16
    assert severity.choose_look(False, "256") is severity.COLOR
    assert severity.choose_look(False, "truecolor") is severity.COLOR


def test_only_firing_alerts_and_limit_breaches_make_a_status_severe() -> None:
    firing = Alert.from_json({"id": 1, "state": "firing", "severity": "medium"})
    acked = Alert.from_json({"id": 2, "state": "acknowledged", "severity": "high"})
    assert severity.status_severity(5, 10.0, [firing, acked]) == "medium"
    assert severity.status_severity(5, 10.0, [acked]) == "normal"
    assert severity.status_severity(11, 10.0, []) == "high"
    assert severity.alert_severity(acked) == "quiet"


def cell_style(app: Any, widget: Any, row: int, column: int = 3) -> Style:
    """The style drawn on screen at a table row (0: the first data row)."""
    region = widget.region
    return app.screen.get_style_at(region.x + column, region.y + 2 + row)


@pytest.mark.parametrize("fresh", [True, False], ids=["live", "stale-dimmed"])
def test_the_firing_row_stays_red_under_the_cursor(live: Live, fresh: bool) -> None:
    seed(live)
    newest = START + 93 * 60

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert app.body.has_class("-stale") is not fresh
        alerts = app.query_one(AlertsTable)
        assert alerts.has_focus and alerts.cursor_row == 0  # the firing alert is selected
        await pilot.pause()
        under_cursor = cell_style(app, alerts, 0)
        red = rgb(Style.parse(severity.COLOR.high).bgcolor)
        assert rgb(under_cursor.bgcolor)[0] > 2 * max(rgb(under_cursor.bgcolor)[1:])
        assert (rgb(under_cursor.bgcolor) == red) is fresh  # dimmed when stale, still red
        assert under_cursor.underline  # the cursor still shows
        table = app.query_one(TransactionsTable)
        top = cell_style(app, table, 0)
        assert table.get_row_at(0)[0].plain.strip() == "▲▲ HIGH"
        assert rgb(top.bgcolor)[0] > 2 * max(rgb(top.bgcolor)[1:])
        assert contrast(rgb(top.color), rgb(top.bgcolor)) >= 4.5

    clock = (lambda: newest + 90) if fresh else time.time
    run(live_app(live, clock=clock), scenario)


def test_sixteen_colour_terminals_get_the_ansi_theme_and_red(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert app.theme == "ansi-dark"
        table = app.query_one(TransactionsTable)
        await until(pilot, lambda: table.row_count)
        await pilot.pause()
        top = cell_style(app, table, 0)
        assert top.bgcolor is not None and top.bgcolor.name == "red"
        # the header's firing count is the terminal's red too, and nothing in it is dimmed
        line = app.header.render().plain
        left = app.header.content_region.x  # after the header's padding
        firing = app.screen.get_style_at(left + line.index("1 FIRING"), 0)
        assert firing.bgcolor is not None and firing.bgcolor.number == 1  # ANSI red
        dim = {c for i, c in enumerate(line) if app.screen.get_style_at(left + i, 0).dim}
        assert dim <= {" ", "│"}

    run(live_app(live, look=severity.ANSI16), scenario)


def test_no_color_terminals_get_reverse_video_for_the_alarm_only(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(live)
    monkeypatch.setenv("NO_COLOR", "1")  # Textual reads it when the app is made

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert app.look is severity.MONO
        table = app.query_one(TransactionsTable)
        await pilot.pause()
        rows = [table.get_row_at(i)[0].plain.strip() for i in range(table.row_count)]
        high, normal = rows.index("▲▲ HIGH"), rows.index("ok")
        assert cell_style(app, table, high).reverse and cell_style(app, table, high).bold
        assert not cell_style(app, table, normal).reverse
        line = app.header.render().plain
        left = app.header.content_region.x
        assert app.screen.get_style_at(left + line.index("1 FIRING"), 0).reverse

    run(live_app(live, look=None), scenario)
