"""The live transactions table: newest first, bounded, batched, and still while you read."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.markup import escape
from textual.widgets import DataTable

from txmon_tui.client import Transaction
from txmon_tui.format import SEVERITY_GLYPH, SEVERITY_STYLE, day_hhmm, number
from txmon_tui.messages import StatusSelected, TransactionChosen

ROW_LIMIT = 1000
TRIM_ROOM = 100  # rows freed when the limit is reached, so trimming is rare


def row_cells(t: Transaction) -> tuple[Text, ...]:
    """The cells of one record: the whole row takes the severity's style."""
    style = SEVERITY_STYLE.get(t.severity, "")
    cells = (
        (day_hhmm(t.timestamp), "left"),
        (t.status, "left"),
        (number(t.count), "right"),
        (SEVERITY_GLYPH.get(t.severity, t.severity), "left"),
        (number(t.expected), "right"),
        (number(t.upper), "right"),
        (number(t.score), "right"),
        (str(t.id), "right"),
    )
    return tuple(Text(text, style=style, justify=justify) for text, justify in cells)


class TransactionsTable(DataTable):
    """Newest first; new rows wait ("N new") while the cursor or view is away from the top."""

    BINDINGS = [
        Binding("g", "jump_top", "Newest", id="transactions.top", tooltip="Show new rows"),
    ]

    def __init__(self, limit: int = ROW_LIMIT, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.limit = limit
        self.records: dict[int, Transaction] = {}
        self.pending: deque[Transaction] = deque(maxlen=limit)
        self.pending_count = 0
        self.note = ""

    def on_mount(self) -> None:
        for label, key in (
            ("time (UTC)", "time"),
            ("status", "status"),
            ("count", "count"),
            ("severity", "severity"),
            ("expected", "expected"),
            ("upper", "upper"),
            ("score", "score"),
            ("id", "id"),
        ):
            self.add_column(label, key=key)
        self._retitle()

    @property
    def at_top(self) -> bool:
        """True when the newest row is under the cursor and in view."""
        return not self.row_count or (self.cursor_row <= 0 and self.scroll_y == 0)

    @property
    def selected(self) -> Transaction | None:
        """The record under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.records.get(int(key)) if key is not None else None

    def reset(self, note: str = "") -> None:
        """Forget every row (the filter changed)."""
        self.records.clear()
        self.pending.clear()
        self.pending_count = 0
        self.note = note
        self.clear()
        self._retitle()

    def add_batch(self, batch: Sequence[Transaction]) -> None:
        """Add new records (any order); held back while the user is away from the top."""
        fresh = [t for t in batch if t.id not in self.records]
        if not fresh:
            return
        if self.at_top and not self.pending:
            self._insert(fresh)
        else:
            self.pending.extend(sorted(fresh, key=lambda t: t.id))
            self.pending_count += len(fresh)
        self._retitle()

    def flush(self) -> None:
        """Show the held-back rows."""
        if self.pending:
            held = list(self.pending)
            self.pending.clear()
            self.pending_count = 0
            self._insert(held)
            self._retitle()

    def _insert(self, fresh: list[Transaction]) -> None:
        fresh = sorted(fresh, key=lambda t: t.id)[-self.limit :]
        if len(self.records) + len(fresh) > self.limit or not self.records:
            # Over the limit: rebuild with the newest rows, leaving room for the next batches
            # (removing rows one by one costs O(rows) each).
            keep = self.limit if not self.records else self.limit - TRIM_ROOM
            rows = sorted([*self.records.values(), *fresh], key=lambda t: -t.id)[:keep]
            self.records = {t.id: t for t in rows}
            self.clear()
            for t in rows:
                self.add_row(*row_cells(t), key=str(t.id))
            return
        for t in fresh:
            self.records[t.id] = t
            self.add_row(*row_cells(t), key=str(t.id))
        self.sort("id", key=lambda cell: -int(cell.plain))
        self.move_cursor(row=0, animate=False)

    def _retitle(self) -> None:
        title = "Transactions, newest first"
        if self.note:
            title += f" · filter {escape(self.note)}"
        self.border_title = title
        shown = f"{len(self.records)} rows"
        if self.pending_count:
            shown = f"▲ {self.pending_count} new (g: show) │ " + shown
        self.border_subtitle = shown

    def action_jump_top(self) -> None:
        """Go to the newest row and show what arrived meanwhile."""
        self.scroll_home(animate=False, immediate=True)
        self.move_cursor(row=0, animate=False)
        self.flush()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new == 0 and self.cursor_row <= 0 and self.pending:
            self.call_later(self.flush)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.cursor_row == 0 and self.scroll_y == 0 and self.pending:
            self.call_later(self.flush)
        record = self.selected
        if self.has_focus and record is not None:
            self.post_message(StatusSelected(record.status))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        record = self.selected
        if record is not None:
            self.post_message(TransactionChosen(record))
