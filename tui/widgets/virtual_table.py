"""A table that draws only the lines on screen, from rows kept as plain data.

For a screen showing many rows (the Monitor's page of up to 1,000): the rows are a keyed
list of cells lists (strings or ``Text``) with each cell's width, never a widget, a
DataTable ``Row`` or a cell object per row. ``set_rows`` takes the full wanted content
(key + cells, in order) and changes only what differs, by list and dict operations: a
row given as the very same cells list (object) as last time, or an equal one, keeps its
version; a new or changed row gets a new version. ``render_line(y)`` formats only the
line being drawn and keeps it (keyed by row key, version, position, width, cursor and
hover state), and an update repaints only the visible lines whose row or position
changed; a cursor move repaints the old and the new cursor lines (plus a scroll when the
cursor leaves the window). Cells are cut to their column at drawing time.

It looks and behaves like KeyedTable (a DataTable): the same component classes and CSS
(``datatable--cursor``, ...), the same segments on screen (tui/widgets/row_lines.py), the
same keys with the same binding ids (j/k/g/G; PagedVirtualTable: PgDn/PgUp ask for the
next/previous page), the same column fitting (tui/widgets/columns.py: fixed widths, the
same drop priorities at 80 columns), a header line, the cursor kept on the same row key
across updates, and ``RowHighlighted``/``RowSelected`` messages. Column widths are fitted
when rows come or change (the widest cell of each column, from the kept widths, itself
kept across updates: a changed row raises it or, if it held it, has it measured again),
not measured by drawing. Its vertical scrollbar repaints only the lines a scroll changes
(tui/widgets/line_scrollbar.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from switchyard.tui.widgets.columns import Column, fit_columns, widen
from switchyard.tui.widgets.line_scrollbar import LineScrollBar
from switchyard.tui.widgets.row_lines import Cell, cell_width, cut
from switchyard.tui.widgets.virtual_lines import HEADER, PAD, LinePainter, ScrolledLines
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing, clamp
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.widget import PseudoClasses
from textual.widgets import DataTable

RowData = tuple[Sequence[Cell], list[int], int]  # cells, their widths, version


class CellNotShown(KeyError):
    """No such row, or the column is not shown (left out at this width)."""


class _RowMessage(Message):
    """A message about one row of a VirtualTable: its place and its key."""

    def __init__(self, table: VirtualTable, cursor_row: int, row_key: str) -> None:
        super().__init__()
        self.table = table
        self.cursor_row = cursor_row
        self.row_key = row_key

    @property
    def control(self) -> VirtualTable:
        return self.table


class VirtualTable(ScrollView, can_focus=True):
    """Row cursor, vim keys (j/k/g/G), keyed diff updates; draws the visible lines only."""

    HELP_GROUP = "table"
    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = set(DataTable.COMPONENT_CLASSES)
    DEFAULT_CSS = DataTable.DEFAULT_CSS.replace("DataTable {", "VirtualTable {", 1)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("right", "cursor_right", "Cursor right", show=False),
        Binding("left", "cursor_left", "Cursor left", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "scroll_top", "Top", show=False),
        Binding("ctrl+end", "scroll_bottom", "Bottom", show=False),
        Binding("home", "scroll_home", "Home", show=False),
        Binding("end", "scroll_end", "End", show=False),
        Binding("j", "cursor_down", "Down", show=False, id="table_down"),
        Binding("k", "cursor_up", "Up", show=False, id="table_up"),
        Binding("g", "scroll_top", "Top", show=False, id="table_top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="table_bottom"),
    ]

    class RowHighlighted(_RowMessage):
        """The cursor moved to a row (or rows arrived under it)."""

    class RowSelected(_RowMessage):
        """Enter (or a click on the cursor row)."""

    def __init__(
        self, columns: Sequence[Column], *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._spec = list(columns)
        self._spec_index = {c.key: n for n, c in enumerate(self._spec)}
        self._keys: list[str] = []  # row keys, in order
        self._where: dict[str, int] = {}  # row key: its index
        self._rows: dict[str, RowData] = {}
        self._versions = itertools.count(1)
        self._widest: dict[int, int] = {}  # column (spec) index: its widest cell
        self._shown: list[Column] = list(columns)  # the columns not left out
        self._widths: dict[str, int] = {}
        self._cursor = 0
        self._hover = 0
        self.show_hover_cursor = False  # the mouse's row shown (off at a key)
        self.pseudo_state = PseudoClasses(False, False, False)
        self._line_style: Style | None = None
        self._scrolled = ScrolledLines(self)
        self._painter = LinePainter(self)

    # ------------------------------------------------------------------ data
    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[str]:
        """The row keys, in order (a copy)."""
        return list(self._keys)

    def key_at(self, index: int) -> str | None:
        return self._keys[index] if 0 <= index < len(self._keys) else None

    def index_of(self, key: str) -> int | None:
        return self._where.get(key)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected_key(self) -> str | None:
        if not self._keys:
            return None
        return self._keys[min(self._cursor, len(self._keys) - 1)]

    def copy_text(self) -> str | None:
        """``y`` copies the highlighted row's key (its id)."""
        return self.selected_key

    def is_shown(self, column: str) -> bool:
        return column in self._widths

    def full_cell(self, key: str, column: str) -> Text | None:
        """A cell's uncut content."""
        row, index = self._rows.get(key), self._spec_index.get(column)
        if row is None or index is None:
            return None
        value = row[0][index]
        return Text(value, end="") if isinstance(value, str) else value

    def get_cell(self, key: str, column: str) -> Text:
        """A cell as shown (cut to its column)."""
        width = self._widths.get(column)
        full = self.full_cell(key, column)
        if full is None or width is None:
            raise CellNotShown(f"{key!r}, {column!r}")
        return cut(full, width)

    def get_row(self, key: str) -> list[Text]:
        """The shown cells of a row, as shown."""
        return [self.get_cell(key, c.key) for c in self._shown]

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Make the table show ``rows`` (key, cells), changing only what differs."""
        before, old_keys = self._rows, self._keys
        selected = self.selected_key
        now: dict[str, RowData] = {}
        keys: list[str] = []
        widest = self._widest
        measure = False  # a row new, changed or gone: the columns' widest cells may differ
        kept = 0  # rows that were there before
        for key, cells in rows:
            old = before.get(key)
            kept += old is not None
            if old is not None and (old[0] is cells or list(old[0]) == list(cells)):
                now[key] = old if old[0] is cells else (cells, old[1], old[2])
            else:
                widths = [cell_width(c) for c in cells]
                now[key] = (cells, widths, next(self._versions))
                measure = True
                widen(widest, widths, old[1] if old is not None else None)
            keys.append(key)
        if len(now) != len(keys):
            self._widest = {}  # (partly updated) measured again
            raise ValueError("two rows with the same key")
        if kept < len(before):  # rows gone: their columns' widest cells may shrink
            measure = True
            for key, old in before.items():
                if key not in now:
                    widen(widest, [0] * len(old[1]), old[1])
        self._rows, self._keys = now, keys
        if keys != old_keys:
            self._where = {key: n for n, key in enumerate(keys)}
        if not self.is_mounted:
            return
        refitted = self._fit() if measure else False
        self._size_to_rows()
        if refitted:
            self.refresh()
        else:
            self._refresh_changed(old_keys, before)
        self._place_cursor(selected, had_rows=bool(old_keys))

    def _refresh_changed(self, old_keys: list[str], before: dict[str, RowData]) -> None:
        """Repaint the visible lines whose row, or that row's version, changed."""
        top = self.scroll_offset.y
        keys, rows = self._keys, self._rows
        dirty = []
        for index in range(top, top + max(0, self.size.height - HEADER)):
            key = keys[index] if index < len(keys) else None
            old = old_keys[index] if index < len(old_keys) else None
            if key != old or (key is not None and rows[key][2] != before[key][2]):
                dirty.append(index)
        for _, run in itertools.groupby(enumerate(dirty), lambda pair: pair[1] - pair[0]):
            lines = [index for _, index in run]
            self._refresh_rows(lines[0], len(lines))

    def _place_cursor(self, selected: str | None, *, had_rows: bool) -> None:
        """After an update: the cursor on the same row key if it is still there, else
        at the same index (within the rows)."""
        where = self._where.get(selected) if selected is not None else None
        last = max(0, len(self._keys) - 1)
        if where is not None and where != self._cursor:
            self.move_cursor(row=where)
        elif self._cursor > last:
            self.move_cursor(row=last)
        elif not had_rows and self._keys:
            self._highlighted()  # rows arrived under the cursor

    # --------------------------------------------------------------- columns
    def _widest_cell(self, index: int) -> int:
        widest = self._widest.get(index)
        if widest is None:
            widest = max((row[1][index] for row in self._rows.values()), default=0)
            self._widest[index] = widest
        return widest

    def _fit(self) -> bool:
        """Fit the columns to the width; True if the shown columns or widths changed."""
        total = self.size.width or self.app.size.width
        shown, widths = fit_columns(self._spec, self._widest_cell, total, PAD)
        if widths == self._widths and shown == self._shown:
            return False
        self._shown, self._widths = shown, widths
        self._painter.columns_changed()
        return True

    @property
    def _table_width(self) -> int:
        return sum(w + 2 * PAD for w in self._widths.values())

    def _size_to_rows(self) -> None:
        size = Size(self._table_width, len(self._keys) + HEADER)
        if size != self.virtual_size:
            self.virtual_size = size

    def on_mount(self) -> None:
        self._fit()
        self._size_to_rows()
        if self._keys:
            self._highlighted()

    def _on_resize(self, _event: events.Resize) -> None:
        self._fit()
        self._size_to_rows()
        self.refresh()

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        """Textual's own, repainting only the lines a scroll changes."""
        if self._vertical_scrollbar is None:
            self._vertical_scrollbar = LineScrollBar.start_for(self)
        return self._vertical_scrollbar

    # ---------------------------------------------------------------- cursor
    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        """Put the cursor on row ``row`` (clamped); repaints the old and new cursor lines."""
        row = clamp(row, 0, max(0, len(self._keys) - 1))
        old = self._cursor
        if scroll:
            self._scroll_to_row(row, animate=animate)
        if row == old:
            return
        self._cursor = row
        self._refresh_rows(old)
        self._refresh_rows(row)
        self._highlighted()

    def select_key(self, key: str) -> bool:
        where = self._where.get(key)
        if where is None:
            return False
        if where != self._cursor:
            self.move_cursor(row=where)
        return True

    def _highlighted(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowHighlighted(self, self._cursor, key))

    def _scroll_to_row(self, row: int, *, animate: bool = False) -> None:
        region = Region(int(self.scroll_x), row + HEADER, self.size.width, 1)
        spacing = Spacing(HEADER, 0, 0, 0)
        self.scroll_to_region(region, animate=animate, spacing=spacing, force=True)

    def _refresh_rows(self, index: int, count: int = 1) -> None:
        """Repaint rows ``index`` .. ``index + count - 1`` where they are on screen."""
        top = self.scroll_offset.y
        y = index - top + HEADER
        width = max(self.size.width, self._table_width)
        region = Region(0, y, width, count).intersection(Region(0, HEADER, width, 10**6))
        if region.height > 0:
            self.refresh(region)

    # ----------------------------------------------------------------- lines
    @property
    def columns_spec(self) -> list[Column]:
        return self._spec

    @property
    def columns_shown(self) -> list[Column]:
        return self._shown

    @property
    def column_widths(self) -> dict[str, int]:
        return self._widths

    @property
    def hover_row(self) -> int:
        return self._hover

    @property
    def row_keys(self) -> list[str]:
        """The row keys in order (the list itself, not to be changed)."""
        return self._keys

    def row_data(self, key: str) -> RowData:
        return self._rows[key]

    def row_strip(self, index: int) -> Strip:
        """Row ``index``'s line as drawn now (kept)."""
        key = self._keys[index]
        return self._painter.row(index, key, self._rows[key])

    def header_strip(self) -> Strip:
        return self._painter.header()

    def render_lines(self, crop: Region) -> list[Strip]:
        self.pseudo_state = self.get_pseudo_class_state()  # :focus in the kept lines' keys
        self._line_style = self.rich_style  # (~30 us each time: once for all the lines)
        self._painter.begin()
        try:
            self._scrolled.before_render()
            strips = super().render_lines(crop)
            self._scrolled.after_render()
            return strips
        finally:
            self._line_style = None
            self._painter.end()

    @property
    def line_style(self) -> Style:
        """The widget's base style for its lines."""
        return self._line_style if self._line_style is not None else self.rich_style

    def render_line(self, y: int) -> Strip:
        if y < HEADER:
            strip = self._painter.header()
        else:
            index = y - HEADER + self.scroll_offset.y
            if index >= len(self._keys):
                self._scrolled.drawn.pop(y, None)
                return Strip.blank(self.size.width, self.line_style)
            key = self._keys[index]
            strip = self._painter.row(index, key, self._rows[key])
        self._scrolled.drawn[y] = strip
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._painter.clear()
        self.refresh()

    # --------------------------------------------------------------- actions
    def _set_hover_cursor(self, active: bool) -> None:
        if active != self.show_hover_cursor:  # (a key press: no repaint if it was off)
            self.show_hover_cursor = active
            self._refresh_rows(self._hover)

    def action_cursor_up(self) -> None:
        self._set_hover_cursor(False)
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._set_hover_cursor(False)
        self.move_cursor(row=self._cursor + 1)

    def action_cursor_right(self) -> None:
        self._set_hover_cursor(False)
        self.action_scroll_right()

    def action_cursor_left(self) -> None:
        self._set_hover_cursor(False)
        self.action_scroll_left()

    def action_page_down(self) -> None:
        """A screenful down, as DataTable does."""
        self._set_hover_cursor(False)
        height = self.scrollable_content_region.height - HEADER
        target = min(self._cursor + height, len(self._keys) - 1)
        self.scroll_relative(y=height, animate=False, force=True)
        self.move_cursor(row=target, scroll=False)

    def action_page_up(self) -> None:
        self._set_hover_cursor(False)
        height = self.scrollable_content_region.height - HEADER
        self.scroll_relative(y=-height, animate=False)
        self.move_cursor(row=max(0, self._cursor - height), scroll=False)

    def action_scroll_top(self) -> None:
        self._set_hover_cursor(False)
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self._set_hover_cursor(False)
        self.move_cursor(row=len(self._keys) - 1)

    def action_scroll_home(self) -> None:
        self._set_hover_cursor(False)
        self.scroll_x = 0

    def action_scroll_end(self) -> None:
        self._set_hover_cursor(False)
        self.scroll_x = self.max_scroll_x

    def action_select_cursor(self) -> None:
        self._set_hover_cursor(False)
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, self._cursor, key))

    # ----------------------------------------------------------------- mouse
    def _on_mouse_move(self, event: events.MouseMove) -> None:
        meta = event.style.meta
        if not meta or "row" not in meta:
            self._set_hover_cursor(False)
            return
        self.show_hover_cursor = True
        old, self._hover = self._hover, int(meta["row"])
        if old != self._hover:
            self._refresh_rows(old)
        self._refresh_rows(self._hover)

    def _on_leave(self, _event: events.Leave) -> None:
        self._set_hover_cursor(False)

    async def _on_click(self, event: events.Click) -> None:
        self._set_hover_cursor(True)
        meta = event.style.meta
        if "row" not in meta or meta["row"] < 0:  # the header: nothing to do
            return
        row = int(meta["row"])
        again = row == self._cursor
        self.move_cursor(row=row, animate=True)
        if again:
            self.action_select_cursor()
        event.stop()


class PagedVirtualTable(VirtualTable):
    """A VirtualTable whose PageUp/PageDown ask for the previous/next page of data."""

    class Page(Message):
        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown", "page(1)", "Next page", show=False, priority=True, id="next_page"),
        Binding("pageup", "page(-1)", "Previous page", show=False, priority=True, id="prev_page"),
    ]

    def action_page(self, delta: int) -> None:
        self.post_message(self.Page(delta))


__all__ = ["Cell", "CellNotShown", "Column", "PagedVirtualTable", "VirtualTable"]
