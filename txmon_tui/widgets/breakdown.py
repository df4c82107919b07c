"""Counts and shares per status over the window, with a bar and what is normal for this hour."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from txmon_tui.client import HourProfile, Summary
from txmon_tui.format import bar, number
from txmon_tui.messages import StatusSelected

BAR_WIDTH = 10


class BreakdownTable(DataTable):
    """One row per status, largest first; the row cursor selects a status."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._shown: tuple[Any, ...] | None = None

    def on_mount(self) -> None:
        self.add_column("status", key="status")
        self.add_column("count", key="count")
        self.add_column("share", key="share")
        self.add_column("", key="bar", width=BAR_WIDTH)
        self.add_column("normal this hour", key="normal")

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
        key = (tuple(rows), summary.minutes)
        if key == self._shown:
            return
        self._shown = key
        selected = self.selected
        self.clear()
        minutes = max(1, summary.minutes)
        for name, count, share, normal in rows:
            if normal is None or normal.average <= 0:
                normal_text = Text("learning…", style="dim")
            else:
                normal_text = Text(f"~{number(normal.average)} ≤{number(normal.upper, 0)} /min")
                if count / minutes > normal.upper:
                    normal_text.stylize("bold red")
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
            with self.prevent(DataTable.RowHighlighted):
                self.move_cursor(row=index, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self.has_focus and event.row_key.value is not None:
            self.post_message(StatusSelected(str(event.row_key.value)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
