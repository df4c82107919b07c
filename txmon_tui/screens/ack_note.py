"""The optional note of an acknowledgement; Enter submits, Escape cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from txmon_tui.format import number
from txmon_tui.models import Alert


class AckNoteScreen(ModalScreen[str | None]):
    """Returns the note ("" for none), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ack_note.cancel")]

    def __init__(self, alert: Alert, by: str) -> None:
        super().__init__(classes="dialog-screen")
        self.alert = alert
        self.by = by

    def compose(self) -> ComposeResult:
        a = self.alert
        with Vertical(classes="dialog"):
            yield Label(f"Acknowledge alert #{a.id}", classes="dialog-title")
            yield Static(
                f"{a.status} {a.kind} ({a.severity}): peak {number(a.peak_count)} vs "
                f"{number(a.expected)} expected\nas {self.by}",
                markup=False,
                classes="dialog-body",
            )
            yield Input(placeholder="optional note", max_length=1000, id="ack-note")
            yield Label("enter: acknowledge    esc: cancel", classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        """Close without acknowledging."""
        self.dismiss(None)
