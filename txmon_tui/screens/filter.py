"""Filter the transactions table by status and severity."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from txmon_tui.format import Filter
from txmon_tui.severity import GLYPH as SEVERITY_GLYPH
from txmon_tui.severity import SEVERITIES


class CheckList(OptionList):
    """Options with a `[x]`/`[ ]` box each (readable without colour); space toggles."""

    BINDINGS = [
        Binding("space", "toggle", "Toggle", id="checklist.toggle"),
        # j/k move here as in every other list of the dashboard
        Binding("j", "cursor_down", "Down", show=False, id="checklist.down"),
        Binding("k", "cursor_up", "Up", show=False, id="checklist.up"),
    ]

    def __init__(self, items: Sequence[tuple[str, str]], checked: Iterable[str], **kwargs: Any):
        self.items = list(items)
        self.checked = set(checked)
        super().__init__(*(Option(self._prompt(v, label), id=v) for v, label in items), **kwargs)

    def _prompt(self, value: str, label: str) -> Text:
        return Text(f"[{'x' if value in self.checked else ' '}] {label}")

    def _repaint(self, index: int) -> None:
        value, label = self.items[index]
        self.replace_option_prompt_at_index(index, self._prompt(value, label))

    def action_toggle(self) -> None:
        """Tick or untick the highlighted option."""
        if self.highlighted is None:
            return
        value = self.items[self.highlighted][0]
        self.checked ^= {value}
        self._repaint(self.highlighted)

    def uncheck_all(self) -> None:
        """Untick everything."""
        self.checked.clear()
        for index in range(len(self.items)):
            self._repaint(index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_toggle()


class FilterScreen(ModalScreen[Filter | None]):
    """Returns the new filter, or None when cancelled; nothing ticked means everything."""

    BINDINGS = [
        Binding("enter", "apply", "Apply", priority=True, id="filter.apply"),
        Binding("x", "clear", "Clear all", id="filter.clear"),
        Binding("escape", "cancel", "Cancel", id="filter.cancel"),
    ]

    def __init__(self, statuses: Iterable[str], current: Filter) -> None:
        super().__init__(classes="dialog-screen")
        self.statuses = sorted(set(statuses) | set(current.statuses))
        self.current = current

    def compose(self) -> ComposeResult:
        severities = [(s, f"{SEVERITY_GLYPH[s].strip()} ({s})") for s in SEVERITIES[:3]]
        severities.append(("normal", "normal"))
        with Vertical(classes="dialog wide"):
            yield Label("Filter transactions", classes="dialog-title")
            with Horizontal(id="filter-lists"):
                yield CheckList(
                    [(s, s) for s in self.statuses], self.current.statuses, id="filter-statuses"
                )
                yield CheckList(severities, self.current.severities, id="filter-severities")
            yield Label(
                "space: tick  tab: other list  enter: apply  x: clear  esc: cancel",
                classes="dialog-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#filter-statuses").border_title = "status (none ticked: all)"
        self.query_one("#filter-severities").border_title = "severity (none ticked: all)"

    def action_apply(self) -> None:
        """Close with the ticked statuses and severities."""
        statuses = self.query_one("#filter-statuses", CheckList).checked
        severities = self.query_one("#filter-severities", CheckList).checked
        self.dismiss(
            Filter(
                tuple(s for s in self.statuses if s in statuses),
                tuple(s for s in SEVERITIES if s in severities),
            )
        )

    def action_clear(self) -> None:
        """Untick everything (enter then shows every row)."""
        for widget in self.query(CheckList):
            widget.uncheck_all()

    def action_cancel(self) -> None:
        """Close and keep the current filter."""
        self.dismiss(None)
