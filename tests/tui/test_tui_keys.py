"""The keys k9s, lazygit and htop users expect, in every panel, against a real receiver."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.conftest import Live
from tests.tui.test_tui_app import (
    header,
    live_app,
    minute,
    post,
    run,
    seed,
    until,
    until_loaded,
    wait_for_toast,
)
from txmon_tui import severity
from txmon_tui.screens.filter import FilterScreen
from txmon_tui.screens.help import HelpScreen
from txmon_tui.widgets.breakdown import BreakdownTable
from txmon_tui.widgets.sparklines import SparklinesPanel
from txmon_tui.widgets.transactions import TransactionsTable

PANEL_IDS = {"alerts", "sparklines", "breakdown", "chart", "transactions"}


def test_j_k_g_G_and_page_keys_move_in_the_transactions_table(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        await pilot.press("5")
        assert table.has_focus
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("pagedown")
        assert table.cursor_row > 5
        await pilot.press("ctrl+b")
        assert table.cursor_row == 0
        await pilot.press("ctrl+f")
        assert table.cursor_row > 5

    run(live_app(live), scenario)


def test_j_k_g_G_move_in_the_breakdown_and_the_sparklines(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        breakdown = app.query_one(BreakdownTable)
        await pilot.press("3")
        assert breakdown.has_focus and breakdown.cursor_row == 1  # the firing status
        await pilot.press("k")
        assert breakdown.cursor_row == 0 and app.selected_status == "approved"
        await pilot.press("G")
        assert breakdown.cursor_row == 1 and app.selected_status == "denied"
        await pilot.press("g")
        assert breakdown.cursor_row == 0
        sparks = app.query_one(SparklinesPanel)
        await pilot.press("2")
        await until(pilot, lambda: len(sparks.rows) == 2)
        assert list(sparks.rows) == ["denied", "approved"]  # the worst first
        await pilot.press("G")
        assert sparks.selected == "approved"
        await pilot.press("g")
        assert sparks.selected == "denied"
        await pilot.press("j")
        assert sparks.selected == "approved"
        await pilot.press("k")
        assert sparks.selected == "denied"

    run(live_app(live), scenario)


def test_slash_opens_the_filter_and_escape_clears_it(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        await pilot.press("tab", "space", "enter")  # severity: high
        await until(pilot, lambda: 0 < table.row_count < 188)
        assert "severity=high" in header(app)
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 188)
        assert "filter" not in header(app) and not app.filter.active
        # esc in a dialog closes the dialog and keeps the filter as it was
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FilterScreen))
        assert not app.filter.active

    run(live_app(live), scenario)


def test_o_sorts_the_transactions_by_time_severity_and_score(live: Live) -> None:
    seed(live)

    def column(table: TransactionsTable) -> list[Any]:
        return [table.records[int(str(k.value))] for k in table.rows]

    def ordered(table: TransactionsTable) -> list[Any]:
        return [
            table.records[int(str(table.coordinate_to_cell_key((i, 0)).row_key.value))]
            for i in range(table.row_count)
        ]

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        await pilot.press("5")
        rows = ordered(table)
        assert [r.timestamp for r in rows] == sorted((r.timestamp for r in rows), reverse=True)
        await pilot.press("o")
        await wait_for_toast(pilot, "most severe first")
        ranks = [severity.RANK[r.severity] for r in ordered(table)]
        assert ranks == sorted(ranks, reverse=True) and ranks[0] == 3
        assert "most severe first" in str(table.border_title)
        await pilot.press("o")
        scores = [r.score for r in ordered(table) if r.score is not None]
        assert scores == sorted(scores, reverse=True)
        await pilot.press("o")
        rows = ordered(table)
        assert [r.timestamp for r in rows] == sorted((r.timestamp for r in rows), reverse=True)
        assert len(column(table)) == 188

    run(live_app(live), scenario)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["wide", "compact"])
def test_tab_reaches_every_panel(live: Live, size: tuple[int, int]) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        reached = []
        for _ in range(5):
            await pilot.press("tab")
            await pilot.pause()
            focused = app.focused
            assert focused is not None and focused.display and focused.region.height > 0
            reached.append(focused.id)
        assert set(reached) == PANEL_IDS
        await pilot.press("shift+tab")
        assert app.focused is not None and app.focused.id == reached[-2]

    run(live_app(live), scenario, size=size)


def help_keys(app: Any) -> set[str]:
    return {k for line, _ in app.screen.keys for k in line.split()}


def test_f1_help_lists_the_keys_of_the_focused_panel(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("5")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = help_keys(app)
        assert {"o", "j", "k", "g", "G", "a", "/", "?", "q"} <= keys
        assert app.screen.where == "the transactions table"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("4")  # the chart has no rows to move in and nothing to sort
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = help_keys(app)
        assert "o" not in keys and "j" not in keys and {"a", "s", "/"} <= keys
        assert "escape" not in keys and "esc" not in keys  # no filter to clear
        await pilot.press("f1")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))

    run(live_app(live), scenario)


def test_ctrl_c_quits_like_q(live: Live) -> None:
    post(live.client, minute(0, 117, 6))

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running)

    run(live_app(live), scenario)
