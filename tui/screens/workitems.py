"""Work Items: what waits for a person, in three tabs (Mine, My groups, All).

Each tab title counts the open items of its view. The table holds one page (``PAGE``
rows) of ``engine.work_items`` for the shown tab; PageUp/PageDown move between pages.
``s`` cycles the sort (due, priority, process), ``/`` filters by process, ``o`` shows
only overdue items. Enter opens the item's form (workitem_form.py); ``c`` claims, ``r``
releases, ``h`` holds, ``d`` delegates to a user and ``f`` forwards to a workgroup, each
answered by a notification (the engine's refusal word for word). The tables follow
``workitems.changed``, ``instances.changed`` and ``people.changed`` (a membership or right
changed) events by keyed diffs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.kernel import events as ev
from switchyard.engine.workitems.views import WorkItemView
from switchyard.tui import display
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.queue import PagedTable
from switchyard.tui.screens.tabbed import TabbedEngineScreen
from switchyard.tui.screens.workitem_form import WorkItemForm, console_node
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, Column
from switchyard.tui.widgets.top_bar import TopBar
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

PAGE = 100
TABS: dict[str, str] = {"mine": "Mine", "groups": "My groups", "all": "All"}
SORTS = ("due", "priority", "process")
COLUMNS = (
    Column("id", "id", fit=True, min_width=2, max_width=7),
    Column("title", "title", weight=2, min_width=6),
    Column("process", "process", weight=2, min_width=7, max_width=24),
    Column("instance", "inst", fit=True, min_width=4, max_width=8, drop=1),
    Column("status", "status", fit=True, min_width=6, max_width=11),
    Column("with", "with", weight=2, min_width=5, max_width=20),
    Column("priority", "pri", width=3, drop=2),
    Column("due", "due", fit=True, min_width=5, max_width=13),
    Column("updated", "updated", fit=True, min_width=7, max_width=12, drop=3),
)
ITEM_COLOURS: dict[str, str] = {
    "queued": "secondary",
    "offered": "accent",
    "in progress": "primary",
    "held": "warning",
    "completed": "success",
    "cancelled": "warning",
}
EMPTY: dict[str, str] = {
    "mine": "Nothing offered to or claimed by you.",
    "groups": "Nothing waiting in your workgroups.",
    "all": "No open work items you may see.",
}
ITEM_ACTIONS = {"open_item", "claim", "release", "hold", "delegate", "forward"}


def when(at: datetime | None, now: datetime) -> str:
    """Local time, short: '14:30' today, '30 Mar 12:00' this year, else '02 Jan 2027'."""
    if at is None:
        return "-"
    local, today = at.astimezone(), now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return local.strftime("%d %b %H:%M")
    return local.strftime("%d %b %Y")


def status_cell(status: str, colours: dict[str, str]) -> Text:
    return display.styled(status, colours.get(ITEM_COLOURS.get(status, "")))


class WorkItemsScreen(TabbedEngineScreen):
    TABS_ID = "wi-tabs"
    TAB_NAMES = tuple(TABS)
    TITLE = "Work Items"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    # PEOPLE_CHANGED: a membership or right changed may take items from a view, or add some
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset(
        {ev.WORK_ITEMS_CHANGED, ev.INSTANCES_CHANGED, ev.PEOPLE_CHANGED}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_item", "Open", priority=True, id="workitems_open"),
        Binding("c", "claim", "Claim", id="workitems_claim"),
        Binding("r", "release", "Release", id="workitems_release"),
        Binding("h", "hold", "Hold", id="workitems_hold"),
        Binding("d", "delegate", "Delegate", id="workitems_delegate"),
        Binding("f", "forward", "Forward", id="workitems_forward"),
        Binding("s", "sort", "Sort", show=False, id="workitems_sort"),
        Binding("slash", "filter", "Filter", show=False, key_display="/", id="workitems_filter"),
        Binding("o", "overdue", "Overdue only", show=False, id="workitems_overdue"),
        Binding("tab", "step_tab(1)", "Tabs", show=False, id="workitems_next_tab"),
        Binding("shift+tab", "step_tab(-1)", "Previous tab", show=False, id="workitems_prev_tab"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = SORTS[0]
        self.process: str | None = None
        self.overdue = False
        self.offsets: dict[str, int] = dict.fromkeys(TABS, 0)
        self.items: dict[str, dict[str, WorkItemView]] = {view: {} for view in TABS}
        self.totals: dict[str, int] = dict.fromkeys(TABS, 0)
        self.counts: dict[str, int] = dict.fromkeys(TABS, 0)
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield StoreBanner()
        yield Static(id="wi-status")
        with TabbedContent(id="wi-tabs"):
            for view, title in TABS.items():
                with TabPane(f"{title} (0)", id=f"tab-{view}"):
                    yield PagedTable(COLUMNS, id=f"wi-{view}")
        yield Static(id="wi-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#wi-tabs Tabs").can_focus = False  # Tab moves between the tabs
        self.table().focus()
        self.start_live()

    # ------------------------------------------------------------- the tabs
    @property
    def view(self) -> str:
        """The tab shown: which work items ("mine", "groups", "all")."""
        return self.tab

    def table(self, view: str | None = None) -> PagedTable:
        return self.query_one(f"#wi-{view or self.view}", PagedTable)

    @property
    def selected(self) -> WorkItemView | None:
        return self.items[self.view].get(self.table().selected_key or "")

    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        self.table().focus()
        self.reload()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        self.refresh_bindings()

    def on_paged_table_page(self, event: PagedTable.Page) -> None:
        view = self.view
        offset = self.offsets[view] + event.delta * PAGE
        if offset < 0 or offset >= self.totals[view]:
            self.notify("no more pages", severity="warning", timeout=2)
            return
        self.offsets[view] = offset
        self.table().move_cursor(row=0)
        self.reload()

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="reload")
    async def _load(self) -> None:
        view = self.view
        page = await self.call(
            self.engine.work_items(
                view,
                process=self.process,
                overdue=self.overdue,
                sort=self.sort,
                limit=PAGE,
                offset=self.offsets[view],
            ),
            failed="loading work items",
        )
        if page is None:
            return
        if not page.rows and page.total and self.offsets[view]:  # the page emptied
            self.offsets[view] = (page.total - 1) // PAGE * PAGE
            self.reload()
            return
        self.items[view] = {str(r.id): r for r in page.rows}
        self.totals[view] = page.total
        self.counts = dict(page.counts)
        first = not self._loaded
        self._loaded = True
        if first and not page.total:  # open where the work is
            busy = next((v for v in TABS if self.counts.get(v)), None)
            if busy is not None and busy != view:
                self.show_tab(busy)  # its TabActivated reloads
        self._render_rows(view)
        self.refresh_bindings()

    def _render_rows(self, view: str) -> None:
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        error = colours.get("error", "red")
        rows: list[tuple[str, list[Cell]]] = []
        for key, item in self.items[view].items():
            due = when(item.due_at, now)
            due_cell = display.styled(f"!{due}", f"bold {error}") if item.overdue else due
            rows.append(
                (
                    key,
                    [
                        str(item.id),
                        item.title,
                        item.process,
                        str(item.instance_id),
                        status_cell(item.status, colours),
                        item.where,
                        str(item.priority),
                        due_cell,
                        when(item.updated_at, now),
                    ],
                )
            )
        with self.app.batch_update():
            self.table(view).set_rows(rows)
            tabs = self.query_one("#wi-tabs", TabbedContent)
            for v, title in TABS.items():
                tabs.get_tab(f"tab-{v}").label = f"{title} ({self.counts.get(v, 0)})"
            self._show_status()
            self._show_detail()

    def _show_status(self) -> None:
        view = self.view
        total, shown = self.totals[view], len(self.items[view])
        parts = [f"sort {self.sort}"]
        if self.process:
            parts.append(f"process {self.process}")
        if self.overdue:
            parts.append("overdue only")
        if not total:
            filtered = self.process or self.overdue
            head = "nothing matches" if filtered else "no open work items here"
        else:
            first = self.offsets[view] + 1
            head = f"{first}–{first + shown - 1} of {total}"  # noqa: RUF001
            if total > PAGE:
                parts.append("PgUp/PgDn: pages")
        keys = "s sort · / filter · o overdue"
        self.query_one("#wi-status", Static).update(
            Text.assemble(" · ".join([head, *parts]), (f"   {keys}", "dim"))
        )

    def _show_detail(self) -> None:
        """The highlighted item in full (cells in the table may be cut)."""
        detail = self.query_one("#wi-detail", Static)
        item = self.selected
        if item is None:
            detail.update(Text(EMPTY[self.view], style="dim"))
            return
        parts = Text.assemble(
            (f"#{item.id} ", "bold"),
            (item.title, "bold"),
            f" · {item.process} #{item.instance_id} · {item.status} · {item.where}",
            f" · due {when(item.due_at, self.engine.clock.now())}" if item.due_at else "",
            (" overdue", "bold") if item.overdue else "",
            f" · priority {item.priority}",
            f" · updated {when(item.updated_at, self.engine.clock.now())}",
        )
        if item.held_reason:
            parts.append(f" · {item.held_reason}")
        detail.update(parts)

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ITEM_ACTIONS and self.selected is None:
            return None  # shown dimmed
        return True

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._restart()
        self.notify(f"sorted by {self.sort}", timeout=2)

    def action_overdue(self) -> None:
        self.overdue = not self.overdue
        self._restart()
        self.notify("overdue items only" if self.overdue else "all open items", timeout=2)

    def _restart(self) -> None:
        """From the first page (of every tab), with the cursor on top."""
        self.offsets = dict.fromkeys(TABS, 0)
        self.table().move_cursor(row=0)
        self.reload()

    @work(group="prompt")
    async def action_filter(self) -> None:
        prompt = PromptScreen(
            "Filter",
            "Show the work items of one process (empty: every process).",
            value=self.process or "",
            placeholder="process name",
        )
        answer = await self.app.push_screen_wait(prompt)
        if answer is None:
            return
        self.process = answer or None
        self._restart()

    def action_open_item(self) -> None:
        if self.selected is not None:
            self._open(self.selected.id)

    @work(exclusive=True, group="open")
    async def _open(self, item_id: int) -> None:
        detail = await self.call(self.engine.work_item(item_id), failed=f"open #{item_id}")
        if detail is not None:
            await self.app.push_screen(WorkItemForm(detail), callback=lambda _: self.reload())

    def action_claim(self) -> None:
        if item := self.selected:
            session = console_node(self.sy_app)
            self.change(
                item, "claimed", lambda: self.engine.claim_work_item(item.id, session=session)
            )

    def action_release(self) -> None:
        if item := self.selected:
            self.change(item, "released", lambda: self.engine.release_work_item(item.id))

    def action_hold(self) -> None:
        if item := self.selected:
            self.change(item, "held", lambda: self.engine.hold_work_item(item.id))

    def action_delegate(self) -> None:
        if item := self.selected:
            self.send(item, "delegate", "login", self.engine.delegate_work_item)

    def action_forward(self) -> None:
        if item := self.selected:
            self.send(item, "forward", "workgroup", self.engine.forward_work_item)

    @work(group="prompt")
    async def send(
        self,
        item: WorkItemView,
        verb: str,
        what: str,
        run: Callable[[int, str], Awaitable[WorkItemView]],
    ) -> None:
        """Ask for the user (delegate) or workgroup (forward), then do it."""
        prompt = PromptScreen(
            f"{verb.capitalize()} #{item.id}",
            f"{verb.capitalize()} '{item.title}' ({item.process} #{item.instance_id}) to which "
            f"{'user' if what == 'login' else 'workgroup'}?",
            placeholder=what,
        )
        answer = await self.app.push_screen_wait(prompt)
        if answer:
            done = {"delegate": "delegated", "forward": "forwarded"}[verb]
            self.change(item, done, lambda: run(item.id, answer))

    @work(group="command")
    async def change(
        self, item: WorkItemView, done: str, run: Callable[[], Awaitable[WorkItemView]]
    ) -> None:
        view = await self.call(run(), failed=f"#{item.id} not {done}")
        if view is not None:
            self.notify(f"Work item {view.id} {done}: {view.status}, with {view.where}")
            self.reload()
