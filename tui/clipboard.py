"""``y``: copy over SSH. What is copied, first found wins: the text selected with the mouse,
else what the focused widget offers by ``copy_text()`` (a table: the highlighted row's id;
the log: its last visible line), else the nearest ancestor's. The text reaches the terminal
as an OSC 52 sequence (``App.copy_to_clipboard``), so it lands in the clipboard of the
machine the terminal runs on, also over ``ssh``; inside tmux it needs ``set -g
set-clipboard on``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from textual.app import App
from textual.dom import DOMNode

TOAST_WIDTH = 60


@runtime_checkable
class Copyable(Protocol):
    def copy_text(self) -> str | None: ...


def text_to_copy(app: App[Any]) -> str | None:
    selected = app.screen.get_selected_text()
    if selected:
        return selected
    node: DOMNode | None = app.focused or app.screen
    while node is not None:
        if isinstance(node, Copyable):
            text = node.copy_text()
            if text:
                return text
        node = node.parent
    return None


def copy(app: App[Any]) -> str | None:
    """Copy what ``y`` copies; a toast says what (or that there is nothing)."""
    text = text_to_copy(app)
    if not text:
        app.notify("nothing to copy here: highlight a row or select text", severity="warning")
        return None
    app.copy_to_clipboard(text)
    shown = text if len(text) <= TOAST_WIDTH else text[: TOAST_WIDTH - 1] + "…"
    app.notify(shown, title="copied", timeout=3, markup=False)
    return text
