"""The silences in force; d removes the selected one."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from txmon_tui.client import TxmonApi, TxmonError
from txmon_tui.format import duration, hhmm
from txmon_tui.models import Silence


class SilencesScreen(ModalScreen[None]):
    """Lists silences from the receiver; removing one goes through the API."""

    BINDINGS = [
        Binding("d,x,delete", "remove", "Remove", id="silences.remove"),
        Binding("r", "reload", "Reload", id="silences.reload"),
        Binding("escape,q,S", "close", "Close", id="silences.close"),
    ]

    def __init__(self, client: TxmonApi, *, read_only: bool, clock: Callable[[], float]) -> None:
        super().__init__(classes="dialog-screen")
        self.client = client
        self.read_only = read_only
        self.clock = clock
        self.silences: list[Silence] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Silences in force", classes="dialog-title")
            yield DataTable(cursor_type="row", id="silences-table")
            keys = (
                "r: reload    esc: close"
                if self.read_only
                else "d: remove    r: reload    esc: close"
            )
            yield Label(keys, classes="dialog-keys")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("#", "status", "by", "reason", "until (UTC)", "left"):
            table.add_column(label)
        self.action_reload()

    @work(exclusive=True, group="silences")
    async def action_reload(self) -> None:
        """Fetch the silences again."""
        try:
            self.silences = await self.client.silences()
        except TxmonError as exc:
            self.notify(str(exc), title="Could not list silences", severity="error", markup=False)
            return
        self._show()

    def _show(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        now = self.clock()
        for s in self.silences:
            left = duration(s.expires_at - now) if s.expires_at else "-"
            table.add_row(
                str(s.id),
                Text(s.status or "(all statuses)", style="bold"),
                s.created_by,
                s.reason or "-",
                hhmm(s.expires_at) + "Z",
                left,
                key=str(s.id),
            )
        table.border_subtitle = f"{len(self.silences)} in force" if self.silences else "none"

    @work(exclusive=True, group="silences")
    async def action_remove(self) -> None:
        """Remove the selected silence (in read-only mode, say why not)."""
        if self.read_only:
            self.notify(
                "Cannot remove a silence: read-only mode", title="Read-only", severity="warning"
            )
            return
        table = self.query_one(DataTable)
        if not table.row_count:
            self.notify("No silence to remove", severity="warning")
            return
        silence_id = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or 0)
        try:
            await self.client.remove_silence(silence_id)
        except TxmonError as exc:
            self.notify(
                str(exc),
                title=f"Could not remove silence #{silence_id}",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"Removed silence #{silence_id}", title="Silence removed", markup=False)
        self.silences = [s for s in self.silences if s.id != silence_id]
        self._show()

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
