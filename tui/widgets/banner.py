"""A one-line banner shown on every screen while the store cannot be reached."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class StoreBanner(Static):
    """Hidden while the event feed is healthy; follows ``app.store_problem``."""

    DEFAULT_CSS = """
    StoreBanner {
        dock: top;
        height: 1;
        width: 100%;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
        display: none;
    }
    StoreBanner.-shown {
        display: block;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "store_problem", self._show, init=True)

    def _show(self, problem: str | None) -> None:
        self.set_class(problem is not None, "-shown")
        if problem is not None:
            self.update(Text(f"store unavailable: {problem} — live updates paused, retrying"))
