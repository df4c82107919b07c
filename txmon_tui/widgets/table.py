"""The base of every table on the dashboard: the same keys everywhere, red kept under the cursor."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable


class KeyTable(DataTable):
    """A row-cursor DataTable with k9s/lazygit keys and a message instead of a silent enter.

    Cell styles win over the cursor's colours (`cursor_*_priority = "renderable"`), so an alarm
    row stays red under the cursor; the cursor adds an underline there (see app.tcss).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Detail", key_display="⏎", id="table.detail"),
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("g,home,ctrl+home", "scroll_top", "First row", show=False, id="table.first"),
        Binding("G,end,ctrl+end", "scroll_bottom", "Last row", show=False, id="table.last"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="table.page_down"),
    ]

    empty_reason = "nothing to show"
    """What enter says on an empty table (the app updates it: `no data: token rejected`)."""

    class Empty(Message):
        """Enter was pressed on an empty table; `reason` says why it is empty."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            cursor_type="row",
            cursor_foreground_priority="renderable",
            cursor_background_priority="renderable",
            **kwargs,
        )

    def action_select_cursor(self) -> None:
        """Select the row, or say why there is none."""
        if not self.row_count:
            self.post_message(self.Empty(self.empty_reason))
            return
        super().action_select_cursor()
