"""The caller's saved monitor filters in a modal: Enter recalls one, ``d`` deletes it,
Esc closes. Dismisses with the filter to apply, or None."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.tui.screens.answer_once import Dialog
from switchyard.tui.widgets.keyed_table import Column, KeyedTable
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

if TYPE_CHECKING:
    from switchyard.tui.app import SwitchyardApp

COLUMNS = (
    Column("name", "name", fit=True, min_width=4, max_width=24),
    Column("filter", "filter", weight=1, min_width=10),
)


class SavedFiltersScreen(Dialog[MonitorFilter | None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "recall", "Recall", priority=True, id="saved_recall"),
        Binding("d", "delete", "Delete", id="saved_delete"),
        Binding("escape", "close", "Close", id="saved_close"),
    ]

    def __init__(self, saved: dict[str, MonitorFilter]) -> None:
        super().__init__()
        self.saved = dict(saved)

    def compose(self) -> ComposeResult:
        with Vertical(id="saved-dialog") as dialog:
            dialog.border_title = "Saved filters"
            yield KeyedTable(COLUMNS, id="saved-table")
            yield Static(
                Text("Enter: recall · d: delete · Esc: close", style="dim"), id="saved-hint"
            )

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#saved-table", KeyedTable)

    def on_mount(self) -> None:
        self._show()
        self.table.focus()

    def _show(self) -> None:
        rows = [(name, [name, flt.describe()]) for name, flt in sorted(self.saved.items())]
        with self.app.batch_update():
            self.table.set_rows(rows)

    def action_recall(self) -> None:
        name = self.table.selected_key
        if name is not None:
            self.dismiss(self.saved[name])

    def action_close(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="delete")
    async def action_delete(self) -> None:
        name = self.table.selected_key
        if name is None:
            return
        engine = cast("SwitchyardApp", self.app).engine
        try:
            await engine.delete_filter(name)
        except SwitchyardError as exc:
            self.notify(exc.message, title="not deleted", severity="error")
            return
        except StoreUnavailable as exc:
            self.notify(str(exc), title="not deleted", severity="error")
            return
        self.saved.pop(name, None)
        self.notify(f"deleted filter '{name}'", timeout=3)
        self._show()
