"""The status bar: what it keeps when the terminal is narrow."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from txmon_tui.widgets.header import StatusBar

NOW = 1_752_300_000.0
URL = "http://127.0.0.1:8787"


class _Bar(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(URL, clock=lambda: NOW)


def line_at(width: int) -> str:
    """The status bar's text at this width, live with one firing alert, a filter and a rate."""

    async def main() -> str:
        app = _Bar()
        async with app.run_test(size=(width, 3)) as pilot:
            bar = app.query_one(StatusBar)
            bar.update_state(
                connection="live",
                have_data=True,
                last_ok=NOW,
                newest_event_time=int(NOW),
                last_change=NOW,
                firing=1,
                filter="high",
                ingest_rate=12.0,
            )
            await pilot.pause()
            return bar.render().plain

    return asyncio.run(main())


def test_a_narrow_bar_drops_one_part_at_a_time_keeping_what_fits() -> None:
    full = line_at(200)
    assert "12 rec/s" in full and "filter high" in full and URL in full
    without_rate = full.replace(" │ 12 rec/s", "")
    assert line_at(len(without_rate)) == without_rate
    # the address goes next; the filter, of the same rank, still fits and stays
    without_url = without_rate.replace(f" │ txmon {URL}", "")
    narrow = line_at(len(without_url))
    assert "filter high" in narrow and URL not in narrow, narrow
