"""Counts and shares per status over the window, with a bar and what is normal for this hour."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets.data_table import RowDoesNotExist

from txmon_tui import severity
from txmon_tui.format import bar, number
from txmon_tui.messages import StatusChosen, StatusSelected
from txmon_tui.models import HourProfile, Summary
from txmon_tui.widgets.table import KeyTable

BAR_WIDTH = 10


class BreakdownTable(KeyTable):
    """One row per status, largest first; the row cursor selects a status."""

    empty_reason = "no records in the last 60 minutes"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[Any, ...] | None = None

    def on_mount(self) -> None:
        self.add_column("status", key="status")
        self.add_column("count", key="count")
        self.add_column("share", key="share")
        self.add_column("", key="bar", width=BAR_WIDTH)
        self.add_column("normal/min", key="normal")

    @property
    def selected(self) -> str | None:
        """The status under the cursor."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def update_summary(self, summary: Summary) -> None:
        """Rebuild the rows when the summary's figures changed."""
        hour = time.gmtime(summary.newest_event_time or 0).tm_hour
        rows = []
        for st in sorted(summary.statuses.values(), key=lambda s: (-s.count, s.name)):
            profile = summary.hourly_profile.get(st.name, ())
            normal = next((p for p in profile if p.hour == hour), None)
            if (normal is None or normal.average <= 0) and st.baseline and st.baseline.expected:
                normal = HourProfile(hour, st.baseline.expected, st.baseline.upper)
            rows.append((st.name, st.count, round(st.share, 4), normal))
        look = severity.look_of(self.app)
        key = (tuple(rows), summary.minutes, look.name)
        if key == self._shown:
            return
        self._shown = key
        selected = self.selected
        self.clear()
        minutes = max(1, summary.minutes)
        for name, count, share, normal in rows:
            if normal is None or normal.average <= 0:
                normal_text = Text("learning…", style=look.quiet)
            else:
                normal_text = Text(f"~{number(normal.average)} ≤{number(normal.upper, 0)}")
                if severity.over_limit(count / minutes, normal.upper):
                    normal_text.stylize(look.high)
            self.add_row(
                Text(name, style="bold"),
                Text(number(count), justify="right"),
                Text(f"{share * 100:5.1f}%", justify="right"),
                Text(bar(share, BAR_WIDTH), style="cyan"),
                normal_text,
                key=name,
            )
        if selected is not None:
            self.select(selected)

    def select(self, status: str) -> None:
        """Move the cursor to `status` if it has a row."""
        try:
            index = self.get_row_index(status)
        except RowDoesNotExist:
            return
        if index != self.cursor_row:
            with self.prevent(KeyTable.RowHighlighted):
                self.move_cursor(row=index, animate=False)

    def on_data_table_row_highlighted(self, event: KeyTable.RowHighlighted) -> None:
        event.stop()
        if self.has_focus and event.row_key.value is not None:
            self.post_message(StatusSelected(str(event.row_key.value)))

    def on_data_table_row_selected(self, event: KeyTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(StatusChosen(str(event.row_key.value)))
