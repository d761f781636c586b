"""Monitor: process instances matching a filter, a page at a time, live.

It shows nothing until a filter is set (``/`` focuses the filter bar; the syntax is the
command line's, see tui/filters.py, or the name of a saved filter). A filter that
matches more than ``max_monitored_flows`` instances is refused by the engine: the message
goes to the status line and the previous results stay. The table holds one page
(``PAGE`` rows) of ``engine.monitor``; PageUp/PageDown (or n/p) move between pages by the
engine's keyset cursors: the next page is the rows past the last row shown, the previous
one the rows just before the first, so rows moving meanwhile (a new instance at the top)
make no page skip or repeat a row, and a deep page costs what the first does. The position
shown (``101-200 of N``) counts the pages moved; a new filter starts at the first page. It
follows INSTANCES_CHANGED events by re-querying the page (debounced) and keyed diffs;
a live update waits while the cursor is moving (up to NAV_HOLD seconds), so keys stay
quick and rows do not jump under the cursor.

Space marks rows, ``a`` marks the page; ``R``/``X`` retry/cancel the marked instances, or
every instance the filter matches when none is marked (bulk.py shows the progress).
Enter opens the instance detail. While the store is unreachable the rows stay as they
were; when it comes back the page is fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.monitor.api import FilterTooBroad, MonitorPage, MonitorRow
from switchyard.engine.monitor.context import MonitorCursor
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.tui import display
from switchyard.tui.filters import parse_filter
from switchyard.tui.screens.instance_detail import InstanceDetailScreen
from switchyard.tui.screens.monitor_cells import (
    ACTIVE,
    COLUMNS,
    MARK,
    RUNNING,
    STORE_ERRORS,
    filter_text,
    running_time,
    shown_fields,
    waiting_text,
)
from switchyard.tui.screens.monitor_commands import MonitorCommands
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.top_bar import TopBar
from switchyard.tui.widgets.virtual_table import PagedVirtualTable
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Input, Static

PAGE = 100
NAV_QUIET = 0.3  # live updates wait until the cursor has rested this long (seconds) ...
NAV_HOLD = 3.0  # ... but never longer than this
NO_FILTER = "Set a filter (/) — the monitor shows nothing until then"
EXAMPLE = "process=claims; status=error; amount > 1000   (or a saved filter's name)"
ROW_ACTIONS = {"open_detail", "toggle_mark"}
FILTER_ACTIONS = {"select_page", "bulk", "save_filter", "page"}

#: Which page: None the first one; ("after", cursor) the rows past a row, older;
#: ("before", cursor) the rows just before a row, newer; ("offset", None) by ``page_offset``
#: (the last page, when the rows past the cursor are gone).
Anchor = tuple[str, MonitorCursor | None] | None
BY_OFFSET: Anchor = ("offset", None)


class MonitorScreen(MonitorCommands):
    TITLE = "Monitor"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    # PEOPLE_CHANGED: a right changed may hide rows shown, or show others
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset({ev.INSTANCES_CHANGED, ev.PEOPLE_CHANGED})
    DEBOUNCE: ClassVar[float] = 0.3
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", key_display="/", id="monitor_filter"),
        Binding("enter", "open_detail", "Detail", priority=True, id="monitor_open"),
        Binding("space", "toggle_mark", "Mark", id="monitor_mark"),
        Binding("a", "select_page", "Mark page", show=False, id="monitor_mark_page"),
        Binding("R", "bulk('retry')", "Retry", id="monitor_retry"),
        Binding("X", "bulk('cancel')", "Cancel", id="monitor_cancel"),
        Binding("f", "saved_filters", "Saved", id="monitor_saved"),
        Binding("ctrl+s", "save_filter", "Save filter", show=False, id="monitor_save"),
        Binding("n", "page(1)", "Next page", show=False, id="monitor_next_page"),
        Binding("p", "page(-1)", "Previous page", show=False, id="monitor_prev_page"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.flt: MonitorFilter | None = None  # the filter whose results are shown
        self._candidate: MonitorFilter | None = None  # applied, not loaded yet
        self.rows: dict[str, MonitorRow] = {}
        self.total = 0
        self.page_offset = 0
        self.marked: set[int] = set()
        self.problem: str | None = None  # the last refusal (too broad, bad filter)
        self._store_down = False
        self._cells: dict[str, tuple[tuple[Any, ...], list[Any]]] = {}  # rendered rows
        self._cells_look: tuple[Any, ...] = ()  # (local date, theme) they were made for
        self._binding_state: tuple[bool, ...] = ()
        self._shown_offset = -1  # the offset of the page on display
        self.page_anchor: Anchor = None  # how the page asked is found (see Anchor)
        self._shown: tuple[int, Anchor] | None = None  # (offset, anchor) on display
        self._moved_at = 0.0  # when the cursor last moved (monotonic)
        self._updated_at = 0.0  # when the last page was shown
        self._asked = asyncio.Event()  # a new page or filter was asked (ends a live wait)
        self._status_shown: Text | None = None

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield StoreBanner()
        with Horizontal(id="monitor-bar"):
            yield Static("filter", id="monitor-bar-label")
            yield Input(placeholder=EXAMPLE, id="monitor-filter", compact=True)
        yield Static(id="monitor-status")
        yield PagedVirtualTable(COLUMNS, id="monitor")
        yield Footer(compact=True)

    @property
    def table(self) -> PagedVirtualTable:
        return self.query_one("#monitor", PagedVirtualTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#monitor-filter", Input)

    @property
    def current(self) -> MonitorRow | None:
        return self.rows.get(self.table.selected_key or "")

    def on_mount(self) -> None:
        self.table.focus()
        self.watch(self.app, "store_problem", self._store_changed, init=False)
        self.watch(self, "focused", self._focus_moved, init=False)
        self.start_live()
        self.set_interval(1.0, self._tick)
        self._show_status()

    def _focus_moved(self, _focused: object) -> None:
        self.query_one(TopBar).refresh()  # its keys: the filter bar takes 1..5 as text
        self._bindings_may_change()

    # ---------------------------------------------------------------- filter
    def action_focus_filter(self) -> None:
        self.filter_input.focus()

    @on(Input.Submitted, "#monitor-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply_text(event.value)

    @work(group="apply")
    async def apply_text(self, text: str) -> None:
        """Enter in the filter bar: a saved filter's name, an inline filter, or empty."""
        if not text.strip():
            self.flt = self._candidate = None
            self.rows, self.total, self.page_offset, self.problem = {}, 0, 0, None
            self.page_anchor = self._shown = None
            self.marked.clear()
            self._render_rows()
            self.table.focus()
            return
        saved = await self._fetch(self.engine.saved_filters(), failed="saved filters") or {}
        try:
            flt = saved.get(text.strip()) or parse_filter(text, now=self.engine.clock.now())
        except SwitchyardError as exc:
            self._refused(exc.message)
            return
        self.apply(flt)

    def apply(self, flt: MonitorFilter) -> None:
        """Show ``flt``'s first page (the current results stay if it is refused)."""
        self._candidate = flt
        self.filter_input.value = filter_text(flt)
        self.reload()

    def _refused(self, message: str) -> None:
        if message != self.problem or self._candidate is not None:  # not at every refresh
            self.notify(message, title="filter refused", severity="warning", timeout=6)
        self.problem = message
        self._show_status()

    # --------------------------------------------------------------- loading
    def reload(self) -> None:
        if self._candidate is not None or self.flt is not None:
            if self._candidate is not None or self._asking() != self._shown:
                self._asked.set()  # not a live refresh: a waiting live load gives way
            self.load_coalesced(self._load)

    async def _fetch(self, operation: Any, *, failed: str) -> Any:
        """Await an engine read; refusals and store trouble are reported, never raised.
        None too when the answer comes after the screen is ``gone`` (as ``call``)."""
        try:
            result = await operation
            return None if self.gone else result
        except FilterTooBroad as exc:
            self._refused(exc.message)
        except SwitchyardError as exc:
            self.notify(exc.message, title=f"{failed}: {exc.field}", severity="error")
        except STORE_ERRORS as exc:
            if self.sy_app.store_problem is None:  # else the banner says it already
                self.notify(str(exc), title=failed, severity="error")
            self._store_down = True
            self._show_status()
        return None

    async def _load(self) -> None:
        candidate = self._candidate
        flt = candidate or self.flt
        if flt is None:
            return
        self._asked.clear()
        asked = (0, None) if candidate is not None else self._asking()
        live = candidate is None and asked == self._shown  # not a new filter or page
        if live:  # neither the query nor the repaint competes with the keys
            await self._while_navigating()
            if self._superseded(candidate, asked):
                return  # a new page or filter was asked meanwhile: the next round loads it
        page: MonitorPage | None = await self._fetch(self._query(flt, *asked), failed="monitor")
        if live and page is not None:
            await self._while_navigating()
        if self._superseded(candidate, asked):
            return  # this answer is for a page or filter no longer wanted
        if candidate is not None and self._candidate is candidate:
            self._candidate = None  # answered: shown, or refused (the old results stay)
        if page is None:
            return
        self._store_down = False
        if candidate is not None:
            self.flt, self.page_offset, self.page_anchor, self.problem = candidate, 0, None, None
            self.marked.clear()
            self.table.move_cursor(row=0)
            self.table.focus()
        if asked[1] is not None and asked[1][0] == "before" and len(page.rows) < PAGE:
            self.page_offset, self.page_anchor = 0, None  # nothing newer past these: the top
            self.reload()
            return
        if not page.rows and page.total and asked != (0, None):  # the page emptied
            self.page_offset = (page.total - 1) // PAGE * PAGE  # the last one
            self.page_anchor = BY_OFFSET if self.page_offset else None
            self.reload()
            return
        if candidate is None and asked != self._shown:  # another page: its first row
            self.table.move_cursor(row=0)  # (moved here, not at the key: one repaint)
        self.rows = {str(r.instance.id): r for r in page.rows}
        self.total = page.total
        self._shown_offset, self._shown = self.page_offset, asked
        self._render_rows()
        self._updated_at = time.monotonic()

    def _asking(self) -> tuple[int, Anchor]:
        return (self.page_offset, self.page_anchor)

    def _query(self, flt: MonitorFilter, offset: int, anchor: Anchor) -> Any:
        """The engine's page for (offset, anchor): by cursor, by offset only for BY_OFFSET."""
        if anchor is None:
            return self.engine.monitor(flt, limit=PAGE)
        kind, cursor = anchor
        if kind == "after":
            return self.engine.monitor(flt, limit=PAGE, after=cursor)
        if kind == "before":
            return self.engine.monitor(flt, limit=PAGE, before=cursor)
        return self.engine.monitor(flt, limit=PAGE, offset=offset)

    def _superseded(self, candidate: MonitorFilter | None, asked: tuple[int, Anchor]) -> bool:
        """A newer filter, or (same filter) another page, was asked since ``_load`` began."""
        if self._candidate is not candidate:
            return True
        return candidate is None and self._asking() != asked

    async def _while_navigating(self) -> None:
        """Wait while the cursor is moving (repainting the table under a held-down key
        would make every keypress wait for it), at most NAV_HOLD seconds; a page or a
        filter asked meanwhile ends the wait at once (``_asked``)."""
        deadline = time.monotonic() + NAV_HOLD
        while not self._asked.is_set():
            # quiet since the last move and since the last update (which may have held up
            # the keys: that pause is not the user resting)
            quiet = max(self._moved_at, self._updated_at) + NAV_QUIET
            wait = min(quiet, deadline) - time.monotonic()
            if wait <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._asked.wait(), wait)

    def on_virtual_table_row_highlighted(self) -> None:
        self._moved_at = time.monotonic()

    def _store_changed(self, problem: str | None) -> None:
        if problem is None:  # reachable again: what is shown may be old
            self._store_down = False
            self.reload()
        self._show_status()

    def _tick(self) -> None:
        if time.monotonic() - self._moved_at < NAV_QUIET:
            return  # the next tick, once the cursor rests
        if self.is_current and any(r.instance.status in ACTIVE for r in self.rows.values()):
            self._render_rows()

    # -------------------------------------------------------------- showing
    def _render_rows(self) -> None:
        now = self.engine.clock.now()
        today = now.astimezone().date()
        colours = self.sy_app.colours
        look = (today, self.app.theme)  # what every row's cells depend on besides the row
        cache, self._cells = (self._cells, {}) if look == self._cells_look else ({}, {})
        self._cells_look = look
        statuses: dict[str | None, Text] = {}  # one status cell shared by its rows
        rows = []
        marks = self.marked
        for key, r in self.rows.items():
            seen = shown_fields(r, r.instance.id in marks)
            cached = cache.get(key)
            if cached is not None and cached[0] == seen:
                cells = cached[1]  # the same list: the table skips comparing it
                if r.instance.ended_at is None and r.instance.started_at is not None:
                    running = running_time(r, now)  # not ended: its running time moves
                    if running != cells[RUNNING]:
                        cells = [*cells[:RUNNING], running, *cells[RUNNING + 1 :]]
            else:
                marked = seen[-1]
                running = running_time(r, now)
                cells = [
                    MARK if marked else "",
                    key,
                    f"{r.instance.process} v{r.version}"
                    if r.version
                    else r.instance.process or "-",
                    statuses.get(r.instance.status)
                    or statuses.setdefault(
                        r.instance.status, display.status_text(r.instance.status, colours)
                    ),
                    r.state or "-",
                    waiting_text(r.waiting_on),
                    r.originator or "-",
                    running,
                    display.clock_time(r.updated_at, now, today=today),
                    r.instance.node_id or "-",
                ]
            self._cells[key] = (seen, cells)
            rows.append((key, cells))
        with self.app.batch_update():
            self.table.set_rows(rows)
            self._show_status()
        self._bindings_may_change()

    def _bindings_may_change(self) -> None:
        """Refresh the footer only when what ``check_action`` looks at changed (a refresh
        rebuilds the footer: too dear for every live update or cursor move)."""
        state = (self.flt is None, not self.rows, self.table.has_focus)
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def _show_status(self) -> None:
        if self.gone:  # (a read failing once the console closes: no status line to draw)
            return
        status = self.query_one("#monitor-status", Static)
        warning = self.sy_app.colours.get("warning", "yellow")
        parts: list[str | tuple[str, str]] = []
        if self.problem:
            parts += [(self.problem, f"bold {warning}"), " · "]
        if self.flt is None:
            parts.append(NO_FILTER if not self.problem else "nothing shown yet")
        elif not self.total:
            parts.append(f"nothing matches {self.flt.describe()}")
        else:
            first = self.page_offset + 1
            parts.append(f"{first}–{first + len(self.rows) - 1} of {self.total}")  # noqa: RUF001
            if self.marked:
                parts.append(f" · {len(self.marked)} marked")
            if self.total > PAGE:
                parts.append(" · PgUp/PgDn: pages")
            if not self.problem:
                parts.append(f" · {self.flt.describe()}")
        if self._store_down or self.sy_app.store_problem is not None:
            parts.append((" · last results (store unavailable)", f"bold {warning}"))
        text = Text.assemble(*parts)
        if text != self._status_shown:  # one line whatever it says: no layout pass (a
            self._status_shown = text  # relayout redraws the whole screen, ~10 ms a page)
            status.update(text, layout=False)

    # ------------------------------------------------------------ the table
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_detail" and not self.table.has_focus:
            return False  # Enter belongs to the filter bar then
        if action in ROW_ACTIONS and self.current is None:
            return None
        if action in FILTER_ACTIONS and self.flt is None:
            return None
        return True

    def on_paged_virtual_table_page(self, event: PagedVirtualTable.Page) -> None:
        self.action_page(event.delta)

    def action_page(self, delta: int) -> None:
        """The next (``delta`` 1) or previous (-1) page, by the cursor of the last or first
        row shown (the position shown moves by a page; at the top it stays 1)."""
        if self.flt is not None and self._candidate is None and self._asking() != self._shown:
            self.reload()  # a page asked is not shown yet: its rows are the next cursor
            return
        shown = list(self.rows.values())
        offset = self.page_offset + delta * PAGE
        top = self.page_offset == 0 and self.page_anchor is None  # the first page itself
        if (
            self.flt is None
            or not shown
            or (delta > 0 and offset >= self.total)
            or (delta < 0 and top)
        ):
            self.notify("no more pages", severity="warning", timeout=2)
            return
        edge = shown[-1] if delta > 0 else shown[0]
        cursor = edge.cursor
        self.page_offset = max(0, offset)
        if cursor is None:  # not a process instance's row (no updated_at): by offset
            self.page_anchor = BY_OFFSET if self.page_offset else None
        else:
            self.page_anchor = ("after" if delta > 0 else "before", cursor)
        self.reload()  # the cursor goes to the first row with the new page (_load)

    def go_back(self) -> bool:
        """Esc: from the filter bar back to the table."""
        if self.filter_input.has_focus:
            self.table.focus()
            return True
        return False

    def action_toggle_mark(self) -> None:
        row = self.current
        if row is None:
            return
        self.marked.symmetric_difference_update({row.instance.id})
        self._render_rows()
        self.table.action_cursor_down()

    def action_select_page(self) -> None:
        page = {r.instance.id for r in self.rows.values()}
        if page <= self.marked:
            self.marked -= page
        else:
            self.marked |= page
        self._render_rows()

    def action_open_detail(self) -> None:
        row = self.current
        if row is not None:
            self.app.push_screen(InstanceDetailScreen(row.instance.id, originator=row.originator))
