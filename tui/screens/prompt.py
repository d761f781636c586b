"""One line of text in a modal: Enter gives it back, Esc gives None."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.tui.screens.answer_once import Dialog
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Static


class PromptScreen(Dialog[str | None]):
    """Dismisses with the text typed (stripped; may be empty), or None when cancelled."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    AUTO_FOCUS = "#prompt-input"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt_cancel"),
    ]

    def __init__(self, title: str, message: str, *, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._value = value
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog") as dialog:
            dialog.border_title = self._title
            yield Static(Text(self._message), id="prompt-message")
            yield Input(self._value, placeholder=self._placeholder, id="prompt-input")
            yield Static(Text("Enter: OK · Esc: cancel", style="dim"), id="prompt-hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer(event.value.strip())

    def action_cancel(self) -> None:
        self._answer(None)

    def _answer(self, answer: str | None) -> None:
        self.dismiss(answer)  # once: a key typed ahead does nothing (Dialog)
