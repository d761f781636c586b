"""VirtualTable's drawing: one line at a time, kept until its row, position or look changes.

A line is made as DataTable makes it (tui/widgets/row_lines.py: cells with their
``{"row", "column"}`` meta and cursor/hover component styles, an "extend" segment to the
widget's width, cropped to the horizontal scroll) and kept by what it depends on: the row
key and version, its index (in the meta), cursor and hover on it, the widget's width,
base style, pseudo classes (focus), the horizontal scroll and the column layout. Kept up
to KEEP_LINES; cleared when the CSS or theme changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from switchyard.tui.widgets.row_lines import cell_segments, header_segments, plain_cell
from textual._segment_tools import line_crop
from textual.strip import Strip

if TYPE_CHECKING:
    from switchyard.tui.widgets.virtual_table import RowData, VirtualTable

KEEP_LINES = 4_000
PAD = 1  # blank cells each side of a cell
HEADER = 1  # the header's height (lines)


class LinePainter:
    def __init__(self, table: VirtualTable) -> None:
        self.table = table
        self._lines: dict[tuple[Any, ...], Strip] = {}
        self._styles: dict[tuple[Any, ...], tuple[Style, Style]] = {}
        self._style_rows: dict[tuple[Any, ...], list[tuple[Style, Style]]] = {}
        self._layout: list[tuple[int, int, Text]] = []  # shown: (spec index, width, label)
        self._layout_no = 0
        self._pass: tuple[Any, ...] | None = None  # the look, once per render pass

    def clear(self) -> None:
        """Forget every kept line and style (CSS, theme or columns changed)."""
        self._lines = {}
        self._styles = {}
        self._style_rows = {}

    def columns_changed(self) -> None:
        t = self.table
        index = {c.key: n for n, c in enumerate(t.columns_spec)}
        self._layout = [
            (index[c.key], t.column_widths[c.key], Text.from_markup(c.label))
            for c in t.columns_shown
        ]
        self._layout_no += 1
        self._lines = {}
        self._style_rows = {}

    def _component(self, header: bool, hover: bool, cursor: bool) -> tuple[Style, Style]:
        """DataTable's ``_get_styles_to_render_cell`` for a row cursor (CSS foreground
        priority, renderable background priority, its defaults)."""
        t = self.table
        key = (header, hover, cursor, t.show_hover_cursor)
        found = self._styles.get(key)
        if found is not None:
            return found
        get = t.get_component_rich_style
        component = Style()
        if hover and t.show_hover_cursor:
            component += get("datatable--hover")
            if header:
                component += get("datatable--header-hover")
        if cursor:
            component += get("datatable--cursor")
            if header:
                component += get("datatable--header-cursor")
        post = Style.from_color(color=component.color) + Style.null()
        self._styles[key] = (component, post)
        return component, post

    def _finish(self, segments: list[Segment], row: int, row_style: Style, extend: Style) -> Strip:
        """The extend segment to the widget's width, the horizontal crop, the strip."""
        t = self.table
        width = t.size.width
        table_width = sum(w + 2 * PAD for _, w, _ in self._layout)
        meta = Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(0, width - table_width), row_style + extend + meta))
        x = int(t.scroll_x)
        cropped = line_crop(segments, x, x + width, width)
        return Strip(cropped).adjust_cell_length(width, t.line_style).simplify()

    def _keep(self, key: tuple[Any, ...], strip: Strip) -> Strip:
        if len(self._lines) >= KEEP_LINES:
            self._lines = {}
        self._lines[key] = strip
        return strip

    def begin(self) -> None:
        """A render pass starts: the look is the same for all its lines."""
        self._pass = None
        self._pass = self._state()

    def end(self) -> None:
        self._pass = None

    def _state(self) -> tuple[Any, ...]:
        if self._pass is not None:
            return self._pass
        t = self.table
        return (
            t.size.width,
            int(t.scroll_x),
            t.line_style,
            t.pseudo_state,
            t.show_hover_cursor,
            self._layout_no,
        )

    def header(self) -> Strip:
        t = self.table
        hover = t.hover_row == -1
        key = ("header", hover, *self._state())
        strip = self._lines.get(key)
        if strip is not None:
            return strip
        console, options = t.app.console, t.app.console_options
        header_style = t.get_component_styles("datatable--header").rich_style
        component, post = self._component(True, hover, False)
        segments: list[Segment] = []
        for column, (_, width, label) in enumerate(self._layout):
            pre = header_style + Style.from_meta({"row": -1, "column": column}) + component
            segments += header_segments(console, options, label, width, PAD, pre, post)
        extend, _ = self._component(True, hover, False)
        return self._keep(key, self._finish(segments, -1, header_style, extend))

    def row(self, index: int, row_key: str, row: RowData) -> Strip:
        t = self.table
        cursor = index == t.cursor_row
        hover = index == t.hover_row
        key = (row_key, row[2], index, cursor, hover, *self._state())
        strip = self._lines.get(key)
        if strip is not None:
            return strip
        console, options = t.app.console, t.app.console_options
        base = t.line_style
        component, post = self._component(False, hover, cursor)
        cells = row[0]
        segments: list[Segment] = []
        styles = self._cell_styles(index, cursor, hover)
        for (spec_index, width, _), (pre, final) in zip(self._layout, styles, strict=True):
            cell = cells[spec_index]
            plain = plain_cell(cell, width, PAD, final) if type(cell) is str else None
            if plain is not None:
                segments.append(plain)
            else:
                segments += cell_segments(console, options, cell, width, PAD, pre, post)
        return self._keep(key, self._finish(segments, index, base, component))

    def _cell_styles(self, index: int, cursor: bool, hover: bool) -> list[tuple[Style, Style]]:
        """Each shown column's cell style on row ``index`` (its meta, the cursor and hover
        styles): before and after the post style. Kept: a new page has the same rows
        positions, so the same styles (~0.1 ms a line to make)."""
        key = (index, cursor, hover, *self._state())
        found = self._style_rows.get(key)
        if found is not None:
            return found
        t = self.table
        get_style = t.app.console.get_style
        base = t.line_style
        component, post = self._component(False, hover, cursor)
        styles = []
        for column in range(len(self._layout)):
            pre = get_style(base + Style.from_meta({"row": index, "column": column}) + component)
            styles.append((pre, pre + post if pre else post))
        if len(self._style_rows) >= KEEP_LINES:
            self._style_rows = {}
        self._style_rows[key] = styles
        return styles


class ScrolledLines:
    """A scroll makes Textual draw every line again (its line cache is by screen line, and
    each line's styling, filters and cutting cost ~0.1 ms: ~10 ms for a 46-line table, 30-40
    ms on a loaded machine, at every cursor move past the edge). After a scroll by k lines,
    the lines still on screen are moved in that cache instead, each only if the row drawn
    there is drawn exactly as before (the same strip: lines are kept by row key, version,
    position, cursor, hover and look); the rest is drawn anew. Without the cache this was
    written for (Textual's ``StylesCache``), every line is drawn again."""

    def __init__(self, table: VirtualTable) -> None:
        self.table = table
        self.drawn: dict[int, Strip] = {}  # screen line: the strip Textual's cache drew
        self._top = 0  # the first row on screen then
        self._clean: set[int] = set()  # the screen lines its cache held, up to date

    def _line_cache(self) -> tuple[dict[int, Strip], set[int]] | None:
        styles_cache = self.table._styles_cache
        cache = getattr(styles_cache, "_cache", None)
        dirty = getattr(styles_cache, "_dirty_lines", None)
        if isinstance(cache, dict) and isinstance(dirty, set):
            return cache, dirty
        return None

    def after_render(self) -> None:
        self._top = self.table.scroll_offset.y
        parts = self._line_cache()
        self._clean = set(parts[0]) - parts[1] if parts is not None else set()

    def before_render(self) -> None:
        t = self.table
        top = t.scroll_offset.y
        shift, clean = top - self._top, self._clean
        parts = self._line_cache()
        if not shift or not clean or parts is None:
            return
        cache, dirty = parts
        height, keys = t.size.height, t.row_keys
        old = {y: (cache[y], self.drawn[y]) for y in clean if y in cache and y in self.drawn}
        drawn: dict[int, Strip] = {}
        header = old.get(0)
        if header is not None and header[1] is t.header_strip():
            drawn[0] = header[1]
        for y, (strip, content) in old.items():
            to = y - shift
            index = to - HEADER + top
            if y < HEADER or not HEADER <= to < height or index >= len(keys):
                continue
            if t.row_strip(index) is content:
                cache[to] = strip
                drawn[to] = content
        dirty.update(y for y in range(height) if y not in drawn)
        dirty.difference_update(drawn)
        self.drawn, self._clean = drawn, set()
