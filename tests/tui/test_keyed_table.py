"""KeyedTable's own rendering (tui/widgets/fast_cells.py) and batch row adding: what is
drawn follows every change (a kept cell rendering is never shown for a changed cell or a
moved row), and the cursor is on a row as soon as the first rows arrive."""

from __future__ import annotations

from rich.text import Text
from switchyard.tui.widgets.keyed_table import Column, KeyedTable
from textual.app import App, ComposeResult
from textual.widgets import DataTable


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[int] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable([Column("id", "id", width=4), Column("what", "what")], id="t")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.highlighted.append(event.cursor_row)


def drawn(table: KeyedTable) -> list[str]:
    """The table's rows as drawn (the header is line 0)."""
    return [table.render_line(y).text.strip() for y in range(1, table.row_count + 1)]


async def test_what_is_drawn_follows_changed_cells_moved_rows_and_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        rows = [("1", ["1", "old"]), ("2", ["2", Text("second", style="bold")])]
        with app.batch_update():
            table.set_rows(rows)
        await pilot.pause()
        assert drawn(table) == ["1     old", "2     second"]
        assert app.highlighted and app.highlighted[-1] == 0  # the cursor is on the first row

        with app.batch_update():  # a changed cell: a new object, drawn anew
            table.set_rows([("1", ["1", "new"]), rows[1]])
        await pilot.pause()
        assert drawn(table) == ["1     new", "2     second"]

        with app.batch_update():  # moved rows: each line shows its own row
            table.set_rows([rows[1], ("1", ["1", "new"])])
        await pilot.pause()
        assert drawn(table) == ["2     second", "1     new"]

        table.move_cursor(row=1)  # the cursor's row drawn in the cursor style, then back
        await pilot.pause()
        cursor_style = table.render_line(2)._segments[1].style
        table.move_cursor(row=0)
        await pilot.pause()
        assert table.render_line(2)._segments[1].style != cursor_style
