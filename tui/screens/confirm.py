"""A yes/no question in a modal: ``y``/``n``, Enter on a button, or Esc for no."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.tui.screens.answer_once import Dialog
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static


class ConfirmScreen(Dialog[bool]):
    """Dismisses with True (yes) or False (no)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm_no"),
    ]

    def __init__(
        self, title: str, message: str, *, yes: str = "Yes", no: str = "No", danger: bool = True
    ) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._yes = yes
        self._no = no
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog") as dialog:
            dialog.border_title = self._title
            yield Static(Text(self._message), id="confirm-message")
            with Horizontal(id="confirm-buttons"):
                yield Button(
                    f"{self._yes} (y)", variant="error" if self._danger else "primary", id="yes"
                )
                yield Button(f"{self._no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter alone never does the dangerous thing

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)  # once: a key typed ahead does nothing (Dialog)
