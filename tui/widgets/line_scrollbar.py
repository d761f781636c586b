"""A vertical scrollbar that repaints only the lines a scroll changes.

Textual's ScrollBar repaints all of its lines whenever its position moves (``position``
is a repainting reactive): for a table scrolled one line at a time by a held-down key,
that is every line of the bar at every keypress (46 lines on a 50-line screen, each
through Textual's per-line styling: about a third of what a scrolling keypress cost,
bench/monitor_screen.py). Yet a one-line scroll moves the thumb by an eighth of a cell or
so: only the lines where the bar is drawn differently (the thumb's ends) change. This bar
works out which, from the same ``render_bar`` the bar is drawn with, and repaints those
lines only. It is drawn exactly as Textual's (the same renderer and styles); anything
other than a position change (size, hover, grab, the window's size) repaints it whole, as
before.
"""

from __future__ import annotations

from math import ceil

from rich.segment import Segment
from textual.geometry import Region
from textual.reactive import Reactive
from textual.scrollbar import ScrollBar
from textual.widget import Widget


class LineScrollBar(ScrollBar):
    position: Reactive[float] = Reactive(0.0, repaint=False)

    @classmethod
    def start_for(cls, widget: Widget) -> LineScrollBar:
        """A vertical bar for ``widget``, made and started as Textual's
        ``Widget.vertical_scrollbar`` makes its own."""
        bar = cls(vertical=True, name="vertical", thickness=widget.scrollbar_size_vertical)
        bar.display = False
        widget.app._start_widget(widget, bar)
        return bar

    def _bar(self, position: float) -> list[Segment]:
        """The bar's cells from top to bottom at ``position`` (as ``render`` draws it)."""
        window = self.window_size if self.window_size < self.window_virtual_size else 0
        bar = self.renderer.render_bar(
            size=self.size.height,
            virtual_size=ceil(self.window_virtual_size),
            window_size=ceil(window),
            position=position,
            thickness=self.size.width,
            vertical=True,
        )
        return list(bar.segments)

    def watch_position(self, old: float, new: float) -> None:
        width, height = self.size
        if not self.vertical or not width or not height or self.grabbed:
            self.refresh()
            return
        was, now = self._bar(old), self._bar(new)
        changed = [y for y, (a, b) in enumerate(zip(was, now, strict=False)) if a != b]
        if len(was) != len(now) or len(was) != height:
            self.refresh()
        elif changed:
            self.refresh(Region(0, changed[0], width, changed[-1] - changed[0] + 1))


__all__ = ["LineScrollBar"]
