"""The live transactions table: sorted, bounded, batched, and still while you read."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.message import Message

from txmon_tui import severity
from txmon_tui.format import bar, day_hhmm, hhmm, number
from txmon_tui.messages import StatusSelected
from txmon_tui.models import Transaction
from txmon_tui.widgets.table import KeyTable

ROW_LIMIT = 1000
TRIM_ROOM = 100  # rows freed when the limit is reached, so trimming is rare
SORTS = ("time", "severity", "score")
SORT_TITLES = {
    "time": "newest first",
    "severity": "most severe first",
    "score": "highest score first",
}
WIDE_FROM = 112  # table width from which a bar of count against the upper limit is drawn


def sort_key(order: str) -> Callable[[Transaction], tuple[Any, ...]]:
    """The key that puts the rows in `order` (first row first).

    Within one minute, "time" puts the most severe status first, so a small window shows the
    high row of the current minute before the minor statuses.
    """
    rank = severity.RANK
    if order == "severity":
        return lambda t: (-rank.get(t.severity, 0), -t.timestamp, -t.id)
    if order == "score":
        return lambda t: (t.score is None, -(t.score or 0.0), -t.timestamp, -t.id)
    return lambda t: (-t.timestamp, -rank.get(t.severity, 0), -t.id)


class TransactionsTable(KeyTable):
    """Rows in the chosen order; new rows wait ("N new") while the cursor or view is away from
    the top."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "g,home,ctrl+home",
            "jump_top",
            "First row, and show the new rows",
            show=False,
            id="transactions.top",
        ),
        Binding(
            "o",
            "cycle_sort",
            "Sort",
            show=False,  # the panel's title says "o: sort"
            id="transactions.sort",
            tooltip="Sort the transactions by time, severity or score",
        ),
    ]

    empty_reason = "no transactions yet"

    class TransactionChosen(Message):
        """Enter on a transaction: show the detail of its status's alert."""

        def __init__(self, transaction: Transaction) -> None:
            super().__init__()
            self.transaction = transaction

    def __init__(self, limit: int = ROW_LIMIT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.records: dict[int, Transaction] = {}
        self.pending: deque[Transaction] = deque(maxlen=limit)
        self.pending_count = 0
        self.note = ""
        self.order = "time"
        self.layout_name = ""
        self.stamp = ""  # "as of 07:31Z" while the data is not live

    # --- columns that fit the width --------------------------------------------------------

    def on_mount(self) -> None:
        self._set_columns(self.size.width or 120)
        self._retitle()

    def on_resize(self, event: events.Resize) -> None:
        if self._layout_for(event.size.width) != self.layout_name:
            self._set_columns(event.size.width)

    @staticmethod
    def _layout_for(width: int) -> str:
        if width >= WIDE_FROM:
            return "wide"
        if width >= 90:
            return "full"
        if width >= 70:
            return "short"
        return "tiny"

    def _set_columns(self, width: int) -> None:
        """Abbreviate or drop columns (never cut values) so the row fits `width`."""
        self.layout_name = self._layout_for(width)
        short = self.layout_name in ("short", "tiny")
        columns = [
            ("severity" if not short else "sev", "severity"),
            ("time (UTC)" if not short else "UTC", "time"),
            ("status", "status"),
            ("count", "count"),
        ]
        if self.layout_name != "tiny":
            columns += [("expected" if not short else "exp", "expected")]
            columns += [("upper" if not short else "up", "upper")]
        columns += [("score", "score"), ("id", "id")]
        if self.layout_name == "wide":
            columns += [("count vs upper limit (│ = limit)", "bar")]
        self.clear(columns=True)
        for label, key in columns:
            self.add_column(label, key=key)
        self._rebuild(list(self.records.values()))

    def row_cells(self, t: Transaction) -> tuple[Text, ...]:
        """The cells of one record in the current columns: the row takes its severity's style."""
        look = severity.look_of(self.app)
        style = look.severity(t.severity)
        short = self.layout_name in ("short", "tiny")
        cells = [
            (severity.GLYPH.get(t.severity, t.severity), "left"),
            (hhmm(t.timestamp) if short else day_hhmm(t.timestamp), "left"),
            (t.status, "left"),
            (number(t.count), "right"),
        ]
        if self.layout_name != "tiny":
            cells += [(number(t.expected), "right"), (number(t.upper), "right")]
        cells += [(number(t.score), "right"), (str(t.id), "right")]
        if self.layout_name == "wide":
            cells += [(self._limit_bar(t), "left")]
        return tuple(Text(text, style=style, justify=justify) for text, justify in cells)

    def _limit_bar(self, t: Transaction) -> str:
        """Count as a bar on a scale of twice the upper limit, with `│` at the limit."""
        width = max(10, min(100, (self.size.width or WIDE_FROM) - 82))
        if not t.upper:
            return ""
        drawn = bar(min(1.0, t.count / (2 * t.upper)), width)
        middle = width // 2
        mark = "│" if drawn[middle] == " " else "┃"
        return drawn[:middle] + mark + drawn[middle + 1 :]

    # --- rows --------------------------------------------------------------------------------

    @property
    def at_top(self) -> bool:
        """True when the first row is under the cursor and in view."""
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

    def restyle(self) -> None:
        """Draw every row again (the colour look changed)."""
        self._rebuild(list(self.records.values()))

    def _insert(self, fresh: list[Transaction]) -> None:
        fresh = sorted(fresh, key=lambda t: t.id)[-self.limit :]
        if len(self.records) + len(fresh) > self.limit or not self.records:
            # Over the limit: rebuild with the newest rows, leaving room for the next batches
            # (removing rows one by one costs O(rows) each).
            keep = self.limit if not self.records else self.limit - TRIM_ROOM
            rows = sorted([*self.records.values(), *fresh], key=lambda t: -t.id)[:keep]
            self._rebuild(rows, keep_cursor=False)
            return
        for t in fresh:
            self.records[t.id] = t
            self.add_row(*self.row_cells(t), key=str(t.id))
        self._sort()
        self.move_cursor(row=0, animate=False)

    def _rebuild(self, rows: list[Transaction], keep_cursor: bool = True) -> None:
        selected = self.selected if self.columns and keep_cursor else None
        self.records = {t.id: t for t in rows}
        self.clear()
        if not self.is_mounted or not self.columns:
            return
        for t in sorted(rows, key=sort_key(self.order)):
            self.add_row(*self.row_cells(t), key=str(t.id))
        if selected is not None and selected.id in self.records:
            self.move_cursor(row=self.get_row_index(str(selected.id)), animate=False)
        else:
            self.move_cursor(row=0, animate=False)

    def _sort(self) -> None:
        by = sort_key(self.order)
        records = self.records
        self.sort("id", key=lambda cell: by(records[int(cell.plain)]))

    def action_cycle_sort(self) -> None:
        """Sort by time, then severity, then score, then time again."""
        self.order = SORTS[(SORTS.index(self.order) + 1) % len(SORTS)]
        self.flush()
        self._sort()
        self.move_cursor(row=0, animate=False)
        self.scroll_home(animate=False, immediate=True)
        self._retitle()
        self.notify(f"Transactions: {SORT_TITLES[self.order]}", title="Sort", timeout=2)

    def _retitle(self) -> None:
        title = f"Transactions, {SORT_TITLES[self.order]} (o: sort)"
        if self.note:
            title += f" · filter {escape(self.note)}"
        if self.stamp:
            title += f" · {self.stamp}"
        self.border_title = title
        shown = f"{len(self.records)} rows"
        if self.pending_count:
            shown = f"▲ {self.pending_count} new (g: show) │ " + shown
        self.border_subtitle = shown

    def set_stamp(self, stamp: str) -> None:
        """Mark the rows as old (`as of 07:31Z`), or live again with ""."""
        if stamp != self.stamp:
            self.stamp = stamp
            self._retitle()

    def action_jump_top(self) -> None:
        """Go to the first row and show what arrived meanwhile."""
        self.scroll_home(animate=False, immediate=True)
        self.move_cursor(row=0, animate=False)
        self.flush()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new == 0 and self.cursor_row <= 0 and self.pending:
            self.call_later(self.flush)

    def on_data_table_row_highlighted(self, event: KeyTable.RowHighlighted) -> None:
        event.stop()
        if event.cursor_row == 0 and self.scroll_y == 0 and self.pending:
            self.call_later(self.flush)
        record = self.selected
        if self.has_focus and record is not None:
            self.post_message(StatusSelected(record.status))

    def on_data_table_row_selected(self, event: KeyTable.RowSelected) -> None:
        event.stop()
        record = self.selected
        if record is not None:
            self.post_message(self.TransactionChosen(record))
