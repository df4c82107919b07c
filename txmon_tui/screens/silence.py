"""Choose how long to silence a status: 15 minutes, 1 hour or 4 hours."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

CHOICES = ((15, "15 minutes"), (60, "1 hour"), (240, "4 hours"))


class SilenceScreen(ModalScreen[int | None]):
    """Returns the chosen number of minutes, or None when cancelled."""

    BINDINGS = [
        Binding("1", "choose(15)", "15 min", id="silence.15"),
        Binding("2", "choose(60)", "1 h", id="silence.60"),
        Binding("3", "choose(240)", "4 h", id="silence.240"),
        Binding("escape", "choose(0)", "Cancel", id="silence.cancel"),
    ]

    def __init__(self, status: str) -> None:
        super().__init__(classes="dialog-screen")
        self.status = status

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Silence notifications for {self.status!r}", classes="dialog-title")
            yield OptionList(
                *(Option(f"{i}  {label}", id=str(m)) for i, (m, label) in enumerate(CHOICES, 1)),
                id="silence-choices",
            )
            yield Label("1/2/3 or enter: silence    esc: cancel", classes="dialog-keys")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0) or None)

    def action_choose(self, minutes: int) -> None:
        """Close with the choice (0 cancels)."""
        self.dismiss(minutes or None)
