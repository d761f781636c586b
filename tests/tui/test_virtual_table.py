"""VirtualTable (tui/widgets/virtual_table.py), the Monitor's table, in a real App: it draws
what KeyedTable draws, moves its cursor repainting only the old and new cursor lines,
updates a row in place, keeps the cursor on its row key when rows come and go, asks for
pages, fits the Monitor's columns at 80 like KeyedTable, and draws correctly after
scrolling (the lines still on screen are reused)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from switchyard.tui.screens.monitor_cells import COLUMNS as MONITOR_COLUMNS
from switchyard.tui.widgets.keyed_table import Cell, Column, KeyedTable
from switchyard.tui.widgets.virtual_table import PagedVirtualTable, VirtualTable
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Static

COLUMNS = [Column("id", "id", width=4), Column("what", "what"), Column("n", "n", fit=True)]


def rows(count: int, *, prefix: str = "row") -> list[tuple[str, list[Cell]]]:
    return [
        (str(n), [str(n), f"{prefix} {n}", Text(str(n % 7), style="bold")]) for n in range(count)
    ]


class TableApp(App[None]):
    CSS = "VirtualTable { scrollbar-size-vertical: 1; }"  # as in the console (app.tcss)

    def __init__(self, table: VirtualTable) -> None:
        super().__init__()
        self.table = table
        self.highlighted: list[str] = []
        self.pages: list[int] = []

    def compose(self) -> ComposeResult:
        yield self.table

    def on_virtual_table_row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        self.highlighted.append(event.row_key)

    def on_paged_virtual_table_page(self, event: PagedVirtualTable.Page) -> None:
        self.pages.append(event.delta)


def texts(table: VirtualTable) -> list[str]:
    """The table's data lines as drawn now (through Textual, as the screen gets them)."""
    strips = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [strip.text.rstrip() for strip in strips[1:]]


class Spy:
    """The screen lines the table draws (its render_line calls)."""

    def __init__(self, table: VirtualTable) -> None:
        self.lines: list[int] = []
        draw = table.render_line

        def render_line(y: int) -> Strip:
            self.lines.append(y)
            return draw(y)

        table.render_line = render_line  # type: ignore[method-assign]

    async def after(
        self, pilot: Pilot, *keys: str, do: Callable[[], None] | None = None
    ) -> list[int]:
        """The lines drawn for ``keys`` (or ``do``)."""
        await pilot.pause()
        self.lines.clear()
        if do is not None:
            do()
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
        return sorted(set(self.lines))


async def test_cursor_keys_move_and_repaint_only_the_old_and_new_cursor_lines() -> None:
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(40, 12)) as pilot:
        table.set_rows(rows(50))
        await pilot.pause()
        assert table.selected_key == "0" and app.highlighted == ["0"]  # rows came under it
        spy = Spy(table)
        assert await spy.after(pilot, "j") == [1, 2]  # screen lines of rows 0 and 1
        assert table.selected_key == "1" and app.highlighted[-1] == "1"
        assert await spy.after(pilot, "down", "down") == [2, 3, 4]
        assert await spy.after(pilot, "k") == [3, 4]
        assert table.cursor_row == 2
        cursor = table.render_line(3)  # the cursor's row in the cursor style, not the others
        assert cursor.text.startswith(" 2 ")
        assert cursor._segments[0].style != table.render_line(4)._segments[0].style
        await pilot.press("G")
        await pilot.pause()
        assert table.selected_key == "49" and texts(table)[-1].startswith(" 49")
        await pilot.press("g")
        await pilot.pause()
        assert table.selected_key == "0" and texts(table)[0].startswith(" 0 ")
        await pilot.press("up")  # at the top: stays
        assert table.cursor_row == 0


async def test_a_keyed_update_changes_its_row_in_place_and_repaints_only_it() -> None:
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(40, 12)) as pilot:
        given = rows(20)
        table.set_rows(given)
        await pilot.pause()
        spy = Spy(table)
        changed = list(given)
        changed[3] = ("3", ["3", "row 3 changed", Text("x")])
        assert await spy.after(pilot, do=lambda: table.set_rows(changed)) == [4]  # row 3's line
        assert texts(table)[3].split() == ["3", "row", "3", "changed", "x"]
        assert str(table.get_cell("3", "what")) == "row 3 changed"
        equal = [(key, list(cells)) for key, cells in changed]  # equal lists: nothing drawn
        assert await spy.after(pilot, do=lambda: table.set_rows(equal)) == []


async def test_rows_coming_and_going_keep_the_cursor_on_its_row_key() -> None:
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(40, 12)) as pilot:
        given = rows(30)
        table.set_rows(given)
        await pilot.pause()
        table.move_cursor(row=5)
        assert table.selected_key == "5"
        table.set_rows([("new", ["new", "on top", Text("0")]), *given])  # inserted above
        assert table.selected_key == "5" and table.cursor_row == 6
        table.set_rows([row for row in given if row[0] not in ("1", "2", "3")])  # removed
        assert table.selected_key == "5" and table.cursor_row == 2
        table.set_rows(list(reversed(given)))  # moved
        assert table.selected_key == "5" and table.cursor_row == 24
        await pilot.pause()
        assert texts(table)[table.cursor_row - int(table.scroll_y)].startswith(" 5 ")
        table.set_rows([row for row in given if row[0] != "5"])  # its row gone: same place
        assert table.cursor_row == 24 and table.selected_key == "25"
        table.set_rows(given[:3])  # fewer rows than the cursor's place: the last one
        assert table.selected_key == "2"
        table.set_rows([])
        assert table.selected_key is None and table.row_count == 0


async def test_page_keys_ask_for_pages_or_move_a_screenful() -> None:
    paged = PagedVirtualTable(COLUMNS)
    app = TableApp(paged)
    async with app.run_test(size=(40, 12)) as pilot:
        paged.set_rows(rows(50))
        await pilot.press("pagedown", "pagedown", "pageup")
        await pilot.pause()
        assert app.pages == [1, 1, -1]
        assert paged.cursor_row == 0  # the screen moves the cursor with the new rows
        paged.set_rows(rows(50, prefix="next"))
        await pilot.pause()
        assert texts(paged)[0].split()[:2] == ["0", "next"]  # the new page's rows drawn

    plain = VirtualTable(COLUMNS)
    app = TableApp(plain)
    async with app.run_test(size=(40, 12)) as pilot:
        plain.set_rows(rows(50))
        await pilot.pause()
        await pilot.press("pagedown")
        await pilot.pause()
        shown = plain.size.height - 1
        assert plain.cursor_row == shown and app.pages == []


def monitor_rows(count: int) -> list[tuple[str, Sequence[Cell]]]:
    return [
        (
            str(900 + n),
            [
                "✓" if n == 1 else "",
                str(900 + n),
                "expense-approval-long v2",
                Text("running", style="green"),
                "waiting-for-manager-approval",
                f"item #{n}, child #{n + 1}",
                "someone",
                "3m12s",
                "27 Mar 12:00",
                "node-a1b2c3d4e5",
            ],
        )
        for n in range(count)
    ]


class SideBySide(App[None]):
    """The same rows in a KeyedTable and a VirtualTable of the same size, neither focused."""

    CSS = "Vertical > * { height: 14; scrollbar-size-vertical: 1; }"
    AUTO_FOCUS = None

    def __init__(self, given: list[tuple[str, Sequence[Cell]]]) -> None:
        super().__init__()
        self.given = given

    def compose(self) -> ComposeResult:
        yield Static("x", id="top")
        with Vertical():
            yield KeyedTable(MONITOR_COLUMNS, id="keyed")
            yield VirtualTable(MONITOR_COLUMNS, id="virtual")

    def on_mount(self) -> None:
        with self.batch_update():
            self.query_one(KeyedTable).set_rows(self.given)
            self.query_one(VirtualTable).set_rows(self.given)


def segments(strip: Strip) -> list[tuple[str, str]]:
    return [(s.text, str(s.style)) for s in strip.simplify()]


async def test_at_80_columns_it_fits_and_draws_the_monitor_like_keyed_table() -> None:
    for size in ((80, 30), (200, 30)):
        app = SideBySide(monitor_rows(12))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            keyed, virtual = app.query_one(KeyedTable), app.query_one(VirtualTable)
            assert virtual.columns_shown == keyed._shown  # the same drop priorities
            assert virtual.column_widths == keyed._widths
            if size[0] == 80:
                assert not virtual.is_shown("node") and not virtual.is_shown("updated")
                assert virtual.is_shown("process")
            else:
                assert virtual.is_shown("node")
            for column in ("process", "state", "waiting", "running"):
                if virtual.is_shown(column):
                    assert str(virtual.get_cell("901", column)) == str(
                        keyed.get_cell("901", column)
                    )
            height = virtual.size.height
            assert keyed.size == virtual.size
            drawn = keyed.render_lines(Region(0, 0, keyed.size.width, height))
            mine = virtual.render_lines(Region(0, 0, virtual.size.width, height))
            for y, (theirs, ours) in enumerate(zip(drawn, mine, strict=True)):
                assert segments(ours) == segments(theirs), y


async def test_what_is_drawn_after_scrolling_is_what_a_fresh_drawing_shows() -> None:
    """Lines still on screen after a scroll are reused from Textual's line cache: each
    must be the row now at that line, with the cursor where it is now."""
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(40, 12)) as pilot:
        given = rows(100)
        table.set_rows(given)
        await pilot.pause()
        full = Region(0, 0, table.size.width, table.size.height)
        for keys in (["j"] * 15, ["k"] * 14, ["pagedown", "j", "j"], ["G"], ["k"] * 3):
            await pilot.press(*keys)
            await pilot.pause()
            if keys == ["pagedown", "j", "j"]:  # a row changes while it is on screen
                key = table.key_at(int(table.scroll_y) + 2)
                assert key is not None
                table.set_rows(
                    [(k, [k, "CHANGED", Text("c")] if k == key else c) for k, c in given]
                )
                await pilot.pause()
            shown = [strip.text for strip in table.render_lines(full)]
            cursor = [strip._segments[0].style for strip in table.render_lines(full)]
            table._styles_cache.clear()  # Textual's own cache: everything drawn anew
            assert [strip.text for strip in table.render_lines(full)] == shown, keys
            assert [strip._segments[0].style for strip in table.render_lines(full)] == cursor
            top = int(table.scroll_y)
            first = shown[1].split()[0]
            assert first == table.key_at(top), (keys, first, top)
        assert table.selected_key == "96"


async def test_a_fractional_scroll_draws_the_row_textual_scrolled_to() -> None:
    """A scrollbar drag scrolls to a fractional y; Textual rounds it (``scroll_offset``), so
    the table must draw from the same row (it truncated: row 4 shown at y=4.6, where
    Textual's offset and the cursor's scrolling take row 5)."""
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(40, 12)) as pilot:
        table.set_rows(rows(100))
        await pilot.pause()
        table.scroll_to(y=4.6, animate=False)
        await pilot.pause()
        assert table.scroll_offset.y == 5
        assert texts(table)[0].split()[0] == "5"


async def test_a_scroll_repaints_only_the_scrollbar_lines_it_changes() -> None:
    """A one-line scroll moves the thumb by a fraction of a cell: only the bar's lines
    drawn differently are repainted (Textual's bar repainted every line at every scroll),
    and what is drawn is what a fresh drawing of the bar shows."""
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(40, 12)) as pilot:
        table.set_rows(rows(100))
        await pilot.pause()
        bar = table.vertical_scrollbar
        height = bar.size.height
        asked: list[tuple[Region, ...]] = []
        refresh = bar.refresh

        def spy(*regions: Region, **flags: bool) -> object:
            asked.append(regions)
            return refresh(*regions, **flags)

        bar.refresh = spy  # type: ignore[method-assign]
        full = Region(0, 0, bar.size.width, height)
        for keys in (["j"] * 30, ["k"] * 25, ["G"], ["g"]):
            asked.clear()
            for key in keys:
                await pilot.press(key)
            await pilot.pause()
            if len(keys) > 1:  # one line at a time: the thumb's lines only (it is ~1.2 high)
                assert asked and all(regions for regions in asked), keys
                assert max(r.height for regions in asked for r in regions) <= 3 < height, keys
            drawn = [(strip.text, list(strip)) for strip in bar.render_lines(full)]
            bar._styles_cache.clear()  # everything drawn anew
            bar.refresh()
            fresh = [(strip.text, list(strip)) for strip in bar.render_lines(full)]
            assert drawn == fresh, keys


async def test_columns_fit_their_widest_cell_as_rows_change() -> None:
    """The widest cell of each column is kept across updates: a wider cell widens its
    column, the widest one narrowing or going narrows it (as a table given the same rows
    afresh fits them)."""
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(60, 12)) as pilot:

        def given(n_cells: dict[str, str]) -> list[tuple[str, list[Cell]]]:
            return [(k, [k, f"row {k}", Text(v)]) for k, v in n_cells.items()]

        async def fitted(n_cells: dict[str, str]) -> int:
            table.set_rows(given(n_cells))
            await pilot.pause()
            fresh = VirtualTable(COLUMNS)
            await app.mount(fresh)
            fresh.set_rows(given(n_cells))
            await pilot.pause()
            width = fresh.column_widths["n"]
            await fresh.remove()
            assert table.column_widths["n"] == width, n_cells
            return width

        assert await fitted({"1": "12345", "2": "123456", "3": "1"}) == 6
        assert await fitted({"1": "12345", "2": "123456789", "3": "1"}) == 9  # wider
        assert await fitted({"1": "12345", "2": "1234567", "3": "1"}) == 7  # widest narrowed
        assert await fitted({"1": "12345", "3": "1"}) == 5  # the widest went
        assert await fitted({"1": "12345", "3": "1", "4": "12345678"}) == 8  # new, wider


async def test_the_scrollbar_is_drawn_right_after_resizes_pages_drags_and_few_rows() -> None:
    """What the bar shows (its lines as last drawn, only some of them repainted) is what a
    fresh drawing shows, after each of: one-line scrolls, a page down, the terminal taller
    then shorter, fewer rows, more rows and G, a drag of the thumb, hovering, and rows that
    all fit (a guard: found right in review)."""
    table = VirtualTable(COLUMNS)
    app = TableApp(table)
    async with app.run_test(size=(40, 12)) as pilot:
        table.set_rows(rows(100))
        await pilot.pause()
        bar = table.vertical_scrollbar

        async def drawn_right(what: str) -> None:
            await pilot.pause()
            full = Region(0, 0, bar.size.width, bar.size.height)
            drawn = [(strip.text, list(strip)) for strip in bar.render_lines(full)]
            bar._styles_cache.clear()  # everything drawn anew
            bar.refresh()
            assert drawn == [(strip.text, list(strip)) for strip in bar.render_lines(full)], what

        await pilot.press(*["j"] * 12)
        await drawn_right("j")
        await pilot.press("pagedown")
        await drawn_right("page down")
        await pilot.resize_terminal(40, 20)
        await drawn_right("taller")
        await pilot.press(*["j"] * 7)
        await drawn_right("j, taller")
        await pilot.resize_terminal(40, 9)
        await pilot.press(*["k"] * 5)
        await drawn_right("k, shorter")
        table.set_rows(rows(30))
        await drawn_right("fewer rows")
        await pilot.press(*["j"] * 3)
        await drawn_right("j, fewer rows")
        table.set_rows(rows(400))
        await pilot.press("G")
        await drawn_right("more rows, G")
        await pilot.mouse_down(bar, offset=(0, bar.size.height - 1))
        await pilot.hover(bar, offset=(0, 2))
        await drawn_right("dragging")
        await pilot.mouse_up(bar, offset=(0, 2))
        await drawn_right("dragged")
        assert table.scroll_offset.y < 399 - bar.size.height  # the drag moved it
        await pilot.hover(bar, offset=(0, 1))
        await pilot.press(*["j"] * 9)
        await drawn_right("j, hovered")
        await pilot.hover(table, offset=(1, 1))
        await drawn_right("left")
        table.set_rows(rows(3))
        await drawn_right("all fit")
        table.set_rows(rows(50))
        await pilot.press("G")
        await drawn_right("back, G")
