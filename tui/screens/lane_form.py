"""A lane's concurrency in a modal: pick the lane, type the number, Enter applies it.

Running nodes apply a new limit at once: a higher one starts queued work, a lower one
lets what runs finish and starts nothing new until the lane is under it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.views import LaneView
from switchyard.tui.screens.answer_once import Dialog
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Select, Static

HINT = "Enter: apply · Esc: cancel · running nodes apply it at once; lowering it stops no run"


class LaneConcurrencyScreen(Dialog[tuple[str, int] | None]):
    """Dismisses with (lane, concurrency), or None when cancelled."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    AUTO_FOCUS = "#lane-concurrency"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="lane_cancel"),
    ]

    def __init__(self, lanes: list[LaneView], selected: str | None = None) -> None:
        super().__init__()
        self._lanes = {lane.name: lane for lane in lanes}
        names = list(self._lanes)
        self._selected = selected if selected in self._lanes else (names[0] if names else "")

    def compose(self) -> ComposeResult:
        options = [
            (f"{ln.name}  ({ln.concurrency} at once · {ln.running} running · {ln.queued} queued)", ln.name)
            for ln in self._lanes.values()
        ]  # fmt: skip
        current = self._lanes.get(self._selected)
        with Vertical(id="lane-dialog") as dialog:
            dialog.border_title = "Lane concurrency"
            yield Select(options, value=self._selected, allow_blank=False, id="lane-name")
            yield Input(
                str(current.concurrency) if current else "",
                type="integer",
                placeholder="runs at once, e.g. 3",
                id="lane-concurrency",
            )
            yield Static("", id="lane-error")
            yield Static(Text(HINT, style="dim"), id="lane-hint")

    @on(Select.Changed, "#lane-name")
    def _lane_changed(self, event: Select.Changed) -> None:
        lane = self._lanes.get(str(event.value))
        if lane is not None:
            self.query_one("#lane-concurrency", Input).value = str(lane.concurrency)

    @on(Input.Submitted, "#lane-concurrency")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = str(self.query_one("#lane-name", Select).value)
        try:
            concurrency = int(event.value.strip())
        except ValueError:
            self.query_one("#lane-error", Static).update(
                Text("concurrency: a whole number, 1 or more", style="bold red")
            )
            return
        self.dismiss((name, concurrency))

    def action_cancel(self) -> None:
        self.dismiss(None)
