"""A screen whose content is one ``TabbedContent``: which tab is shown, and tab/shift+tab.

The Admin, Work items and instance detail screens each had their own copy of this; the panes
are named ``tab-NAME`` and the screen lists the names in the order tab cycles through them.
"""

from __future__ import annotations

from typing import ClassVar

from switchyard.tui.screens.base import EngineScreen
from textual.widgets import TabbedContent


class TabbedEngineScreen(EngineScreen):
    TABS_ID: ClassVar[str]  # the TabbedContent's id, without "#"
    TAB_NAMES: ClassVar[tuple[str, ...]]  # pane names in cycling order; the first is the default

    @property
    def tab(self) -> str:
        active = self.query_one(f"#{self.TABS_ID}", TabbedContent).active
        return active.removeprefix("tab-") or self.TAB_NAMES[0]

    def show_tab(self, name: str) -> None:
        self.query_one(f"#{self.TABS_ID}", TabbedContent).active = f"tab-{name}"

    def action_step_tab(self, delta: int) -> None:
        """The next (delta 1) or previous (-1) tab, wrapping around."""
        names = self.TAB_NAMES
        self.show_tab(names[(names.index(self.tab) + delta) % len(names)])
