"""DataTable's cell rendering, without Rich's layout machinery for the common cell.

DataTable renders every cell through ``console.render_lines(Styled(Padding(cell)))``:
~0.15 ms a cell, and a new page, a live update or a clock tick re-renders every visible
cell (its cache key holds the table's update count): 450 cells on a 160x50 Monitor, some
70 ms (bench/monitor_screen.py). ``FastCells._render_cell`` produces the same segments
directly for a one-line row's ``Text`` cell that fits its column (what KeyedTable always
gives: cells cut to their width), with the same cache and the same styles; anything else
(header, labels, taller rows, tabs, newlines, justified or too-wide text) goes to
DataTable's own code.

DataTable's cell cache is keyed by the table's update count, so one changed cell (a live
update, the running-time clock) throws away every other cell's rendering. These
renderings are also kept by what they depend on (position, style, cursor, width) and
the very cell object (an update gives a new one): a live update re-renders only the cells
that changed. Kept up to CACHE_CELLS; cleared with DataTable's caches (theme, CSS).
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

SegmentLines = list[list[Segment]]
CACHE_CELLS = 20_000


class FastCells(DataTable[Text]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[tuple[Any, ...], tuple[Text, SegmentLines]] = {}

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._kept = {}

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if row_index < 0 or column_index < 0:  # the header, row labels
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key: Any = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cache = self._cell_render_cache
        lines = cache.get(key)
        if lines is not None:
            return lines
        row = self.rows[row_key]
        cell = self._data[row_key][column_key]
        kept_key = (
            row_index,
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        kept = self._kept.get(kept_key)
        if kept is not None and kept[0] is cell:
            cache[key] = kept[1]
            return kept[1]
        pad = self.cell_padding
        room = width - 2 * pad
        if (
            row.height != 1
            or row.auto_height
            or type(cell) is not Text
            or cell.justify not in (None, "default")
            or cell.end != ""
            or room < 0
            or cell.cell_len > room
            or "\n" in cell.plain
            or "\t" in cell.plain
        ):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        console = self.app.console
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        null = Style()
        segments = [Segment(" " * pad, null)] if pad else []
        segments += cell.render(console, end="")
        fill = room - cell.cell_len
        if fill:
            segments.append(Segment(" " * fill, null))
        if pad:
            segments.append(Segment(" " * pad, null))
        line = list(
            Segment.apply_style(
                segments,
                style=console.get_style(pre_style + component_style),
                post_style=console.get_style(post_style),
            )
        )
        lines = [line]
        cache[key] = lines
        if len(self._kept) >= CACHE_CELLS:
            self._kept = {}
        self._kept[kept_key] = (cell, lines)
        return lines
