"""A DataTable of keyed rows updated by diffs, with vim keys and columns fitted to the width.

``set_rows`` takes the full wanted content (key + cells, in order) and changes only what
differs: rows that went away are removed, new rows are added, changed cells are updated
with ``update_cell``; rows out of place are moved by sorting (DataTable.sort). The
cursor stays on the same row key. Call it inside ``app.batch_update()``. A row given as
the very same cells list (object) as last time counts as unchanged without comparing its
cells, so a screen that keeps the lists of unchanged rows pays only for what changed.

Columns share the width as tui/widgets/columns.py says (``Column`` is defined there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from switchyard.tui.display import truncate
from switchyard.tui.widgets.columns import Column, fit_columns
from switchyard.tui.widgets.fast_cells import FastCells
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.geometry import Size
from textual.widgets.data_table import CellKey, DuplicateKey, Row, RowKey

Cell = str | Text
__all__ = ["Cell", "Column", "KeyedTable"]


class KeyedTable(FastCells):
    """Row cursor, vim keys (j/k/g/G), keyed diff updates."""

    HELP_GROUP = "table"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="table_down"),
        Binding("k", "cursor_up", "Up", show=False, id="table_up"),
        Binding("g", "scroll_top", "Top", show=False, id="table_top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="table_bottom"),
    ]

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id)
        self._spec = list(columns)
        self._rows: list[tuple[str, list[Text]]] = []  # full (uncut) content, in order
        self._given: dict[str, Sequence[Cell]] = {}  # the cells lists last given, by key
        self._widths: dict[str, int] = {}
        self._shown: list[Column] = list(columns)  # the columns not left out
        self._widest_cells: dict[int, int] = {}  # column index: its widest cell (cached)
        self._lens: dict[str, list[int]] = {}  # each row's cells' widths, by key

    # ---------------------------------------------------------------- columns
    def _widest_cell(self, index: int) -> int:
        widest = self._widest_cells.get(index)
        if widest is None:  # once per set_rows (fitting asks for it at every resize)
            lens = self._lens
            widest = max((lens[key][index] for key, _ in self._rows), default=0)
            self._widest_cells[index] = widest
        return widest

    def _fit(self) -> dict[str, int]:
        """Widths of the shown columns; leaves out droppable ones while content is cut."""
        total = self.size.width or self.app.size.width
        self._shown, widths = fit_columns(self._spec, self._widest_cell, total, self.cell_padding)
        return widths

    def _build(self) -> bool:
        """(Re)build the columns when their widths change; True if it did."""
        widths = self._fit()
        if widths == self._widths and self.columns:
            return False
        self._widths = widths
        selected = self.selected_key
        self.clear(columns=True)
        for c in self._shown:
            self.add_column(c.label, key=c.key, width=widths[c.key])
        self._append_rows([(key, self._cut(cells, key)) for key, cells in self._rows])
        if selected is not None:
            self.select_key(selected)
        return True

    def on_mount(self) -> None:
        self._build()

    # ------------------------------------------------- DataTable's measuring
    # Every column here has a fixed width (``_build``) and every row is one line with no
    # label, so DataTable's measuring of each new or updated cell (Rich ``measure``: ~25 µs
    # a cell, 0.25 s for a new page of 1,000 rows of 10 cells; bench/monitor_screen.py)
    # decides nothing. These two skip it then; anything else gets DataTable's own code.
    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        if self._measures_nothing(new_rows):
            header = self.header_height if self.show_header else 0
            width = sum(c.get_render_width(self) for c in self.columns.values())
            self.virtual_size = Size(
                width + self._row_label_column_width, self._total_row_height + header
            )
            return
        super()._update_dimensions(new_rows)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        if not any(c.auto_width for c in self.columns.values()):
            return
        super()._update_column_widths(updated_cells)

    def _measures_nothing(self, new_rows: Iterable[RowKey]) -> bool:
        if self._labelled_row_exists or any(c.auto_width for c in self.columns.values()):
            return False
        rows = self.rows
        return all(
            (row := rows.get(key)) is None or (row.label is None and not row.auto_height)
            for key in new_rows
        )

    def on_resize(self, event: Resize) -> None:
        self._build()

    def _cut(self, cells: Sequence[Text], key: str) -> list[Text]:
        """The shown columns' cells (row ``key``'s), cut to their widths."""
        widths, lens = self._widths, self._lens.get(key)
        if lens is None:
            lens = [cell.cell_len for cell in cells]
        return [
            cell if size <= widths[c.key] else truncate(cell, widths[c.key])
            for c, cell, size in zip(self._spec, cells, lens, strict=True)
            if c.key in widths
        ]

    def is_shown(self, column: str) -> bool:
        return any(c.key == column for c in self._shown)

    # ------------------------------------------------------------------- rows
    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        row = min(self.cursor_row, self.row_count - 1)
        key = self.ordered_rows[row].key.value
        return str(key) if key is not None else None

    def copy_text(self) -> str | None:
        """``y`` copies the highlighted row's key (its id)."""
        return self.selected_key

    def select_key(self, key: str) -> bool:
        if key not in self.rows:
            return False
        index = self.get_row_index(key)
        if index != self.cursor_row:
            self.move_cursor(row=index)
        return True

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Make the table show ``rows`` (key, cells), changing only what differs."""
        before = dict(self._rows)
        lens: dict[str, list[int]] = {}
        same: set[str] = set()  # given as the same list as last time: unchanged
        wanted: list[tuple[str, list[Text]]] = []
        for key, cells in rows:
            if self._given.get(key) is cells and key in before:
                same.add(key)
                wanted.append((key, before[key]))
            else:
                texts = [Text(c, end="") if isinstance(c, str) else c for c in cells]
                wanted.append((key, texts))
                lens[key] = [text.cell_len for text in texts]  # once per new cell
        self._given = {key: cells for key, cells in rows}
        self._rows = wanted
        self._lens = {key: lens[key] if key in lens else self._lens[key] for key, _ in wanted}
        self._widest_cells = {}
        if not self.is_mounted or self._build():  # new widths: rebuilt from self._rows
            return
        selected = self.selected_key
        order = [key for key, _ in wanted]
        keys = set(order)
        gone = [row_key for row_key in self.rows if row_key.value not in keys]
        if len(gone) > max(8, len(self.rows) // 4):  # removing is O(rows) each: start over
            self.clear()
        else:
            for row_key in gone:
                self.remove_row(row_key)
        present = {str(row_key.value) for row_key in self.rows}
        added: list[tuple[str, list[Text]]] = []
        for key, cells in wanted:
            if key not in present:
                added.append((key, self._cut(cells, key)))
            elif key not in same:
                for c, cell in zip(self._shown, self._cut(cells, key), strict=True):
                    if self.get_cell(key, c.key) != cell:
                        self.update_cell(key, c.key, cell)
        self._append_rows(added)
        if [str(r.key.value) for r in self.ordered_rows] != order:
            self._reorder(order, dict(wanted))
        if selected is not None:
            self.select_key(selected)

    def _append_rows(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """``add_row`` for many new one-line rows at once: what it does per row, with the
        cursor, idle check and update count once for all (per row they cost ~60 µs, 60 ms
        for a new page of 1,000; bench/monitor_screen.py)."""
        if not rows:
            return
        ordered = self.ordered_columns
        start = self.row_count
        for n, (key, cells) in enumerate(rows):
            row_key = RowKey(key)
            if row_key in self._row_locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            self._row_locations[row_key] = start + n
            self._data[row_key] = {c.key: cell for c, cell in zip(ordered, cells, strict=True)}
            self.rows[row_key] = Row(row_key, 1)
            self._new_rows.add(row_key)
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if start == 0 and ordered and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()  # a cell under the cursor now: RowHighlighted
        self._update_count += 1
        self.check_idle()

    def _reorder(self, order: list[str], wanted: dict[str, list[Text]]) -> None:
        """Put the (present) rows in ``order``: sorted by where each row's first cell (the
        very object the table holds) should go, so no row is removed and added again."""
        first = self._shown[0].key  # never left out (drop 0)
        place = {id(self.get_cell(key, first)): index for index, key in enumerate(order)}
        if len(place) == len(order):
            self.sort(first, key=lambda cell: place[id(cell)])
            return
        # rows share a cell object: move them by removing and adding them again
        current = [str(r.key.value) for r in self.ordered_rows]
        keep = 0
        while keep < min(len(current), len(order)) and current[keep] == order[keep]:
            keep += 1
        for key in current[keep:]:
            self.remove_row(key)
        self._append_rows([(key, self._cut(wanted[key], key)) for key in order[keep:]])

    def full_cell(self, key: str, column: str) -> Text | None:
        """A cell's uncut content."""
        index = next((i for i, c in enumerate(self._spec) if c.key == column), None)
        for row_key, cells in self._rows:
            if row_key == key and index is not None:
                return cells[index]
        return None
