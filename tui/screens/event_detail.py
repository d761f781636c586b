"""One event log entry in full, as pretty JSON, in a modal (Esc, Enter or q closes it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from rich.json import JSON
from rich.text import Text
from switchyard.engine.ops.api import EventLogView
from switchyard.tui.screens.answer_once import Dialog
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static


def entry_data(entry: EventLogView) -> dict[str, Any]:
    """The entry as shown: its time local (ISO), then every field."""
    return {
        "id": entry.id,
        "at": entry.at.astimezone().isoformat() if entry.at else None,
        "kind": entry.kind,
        "node": entry.node_id,
        "login": entry.login,
        "message": entry.message,
        "detail": entry.detail,
    }


def entry_json(entry: EventLogView) -> str:
    return json.dumps(entry_data(entry), indent=2, ensure_ascii=False, default=str)


class EventDetailScreen(Dialog[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="event_detail_close"),
    ]

    def __init__(self, entry: EventLogView) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        with Vertical(id="event-dialog") as dialog:
            dialog.border_title = f"Event #{self.entry.id}: {self.entry.kind}"
            with VerticalScroll(id="event-body"):
                yield Static(JSON(entry_json(self.entry)), id="event-json")
            yield Static(Text("Esc: close", style="dim"), id="event-hint")

    def on_mount(self) -> None:
        self.query_one("#event-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
