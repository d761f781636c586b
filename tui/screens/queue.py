"""Queue: running and queued instances per lane, a page at a time, with a live log.

The table holds at most one page (``PAGE`` rows) of ``engine.queue``; PageUp/PageDown
move between pages. It follows INSTANCES_CHANGED events (and PEOPLE_CHANGED: a right
changed) by keyed diffs and ticks once a second for the "running for" column. The log
pane below follows the highlighted instance
(``FOLLOW_DELAY`` after the cursor stops, so holding j does not start a stream per row);
when the instance it shows ends and leaves the queue, it switches to the highlighted one
(with an empty queue the last log stays). ``l`` pins the log to the highlighted run and
focuses it: it stays through cursor moves and after the run ends (its title says
"pinned") until ``l`` again, which follows the cursor once more. Enter focuses the log
without pinning; Esc goes back to the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from switchyard.engine.instances.status import Status
from switchyard.engine.kernel import events as ev
from switchyard.engine.views import InstanceView, QueueEntry
from switchyard.tui import display
from switchyard.tui.screens.base import EngineScreen
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.lane_form import LaneConcurrencyScreen
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, Column, KeyedTable
from switchyard.tui.widgets.log_pane import LogPane
from switchyard.tui.widgets.top_bar import TopBar
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

PAGE = 200
FOLLOW_DELAY = 0.15  # seconds the cursor rests on a row before its log is followed
RUNNING = Status.RUNNING
COLUMNS = (
    Column("lane", "lane", fit=True, max_width=14),
    Column("pos", "pos", fit=True, min_width=3, max_width=5),  # place in its lane (queued)
    Column("id", "id", fit=True, min_width=2, max_width=9),
    Column("schedule", "schedule", weight=3, max_width=32, min_width=8),
    Column("status", "status", width=7),
    Column("time", "since/for", width=9),
    Column("action", "action", weight=2, min_width=6),
)


class PagedTable(KeyedTable):
    """A KeyedTable whose PageUp/PageDown ask for the previous/next page of data."""

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


class QueueScreen(EngineScreen):
    TITLE = "Queue"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    # PEOPLE_CHANGED: a right changed may hide runs shown, or show others
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset(
        {ev.INSTANCES_CHANGED, ev.LANE_CHANGED, ev.PEOPLE_CHANGED}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_instance", "Cancel run", id="cancel_instance"),
        Binding("l", "pin_log", "Pin log", id="pin_log"),
        Binding("enter", "focus_log", "Log", show=False, priority=True, id="focus_log_enter"),
        Binding("f", "toggle_follow", "Follow", id="toggle_follow"),
        # not in the footer (its line is full); listed by ? and in the README
        Binding("L", "lane_concurrency", "Lane concurrency", show=False, id="lane_concurrency"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.page_offset = 0
        self.total = 0
        self.entries: dict[str, QueueEntry] = {}
        self.counts = (0, 0)  # running, queued (all lanes)
        self._follow_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield StoreBanner()
        yield Static(id="queue-status")
        yield PagedTable(COLUMNS, id="queue")
        yield LogPane(self.engine, id="log-pane")
        yield Footer(compact=True)

    @property
    def table(self) -> PagedTable:
        return self.query_one("#queue", PagedTable)

    @property
    def log_pane(self) -> LogPane:
        return self.query_one("#log-pane", LogPane)

    @property
    def selected(self) -> InstanceView | None:
        entry = self.entries.get(self.table.selected_key or "")
        return entry.instance if entry else None

    def on_mount(self) -> None:
        self.table.focus()
        self.start_live()
        self.set_interval(1.0, self._tick)

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="reload")
    async def _load(self) -> None:
        page = await self.call(
            self.engine.queue(limit=PAGE, offset=self.page_offset), failed="loading the queue"
        )
        if page is None:
            return
        entries, total = page
        lanes = await self.call(self.engine.lanes(), failed="loading lanes") or []
        self.counts = (sum(lane.running for lane in lanes), sum(lane.queued for lane in lanes))
        if not entries and total and self.page_offset:  # the page emptied: show the last one
            self.page_offset = (total - 1) // PAGE * PAGE
            self.reload()
            return
        self.entries = {str(e.instance.id): e for e in entries}
        self.total = total
        self._render_rows()
        self.refresh_bindings()

    def _tick(self) -> None:
        if self.is_current and any(e.instance.status == RUNNING for e in self.entries.values()):
            self._render_rows()

    def _render_rows(self) -> None:
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        rows: list[tuple[str, list[Cell]]] = []
        for key, entry in self.entries.items():
            i = entry.instance
            if i.status == RUNNING and i.started_at is not None:
                since = display.span(now - i.started_at)
            else:
                since = display.clock_time(i.queued_at, now)
            action = ""
            if i.process and not i.command:  # a process instance: where it is
                action = " · ".join(x for x in (i.current_state, i.current_action) if x)
            elif i.current_action:
                action = f"{i.current_action} {display.command_short(i.command)}"
            rows.append(
                (
                    key,
                    [
                        i.lane,
                        "" if entry.position is None else str(entry.position),
                        str(i.id),
                        i.schedule or i.process or "-",
                        display.status_text(i.status, colours),
                        since,
                        action,
                    ],
                )
            )
        with self.app.batch_update():
            self.table.set_rows(rows)
            self._show_status()
            shown = self.log_pane.instance_id
            gone = shown is None or (str(shown) not in self.entries and not self.log_pane.pinned)
            if gone and self.selected is not None:  # an empty queue keeps the last log
                self.log_pane.show(self.selected)
            followed = self.entries.get(str(self.log_pane.instance_id))
            if followed is not None:
                self.log_pane.note_status(followed.instance.status)

    def _show_status(self) -> None:
        status = self.query_one("#queue-status", Static)
        if not self.total:
            status.update("queue empty: nothing running or waiting")
            return
        first, last = self.page_offset + 1, self.page_offset + len(self.entries)
        pages = " · PgUp/PgDn: pages" if self.total > PAGE else ""
        running, queued = self.counts
        status.update(
            f"showing {first}–{last} of {self.total} · {running} running · {queued} queued{pages}"  # noqa: RUF001
        )

    # ---------------------------------------------------------------- events
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()
        if self._follow_timer is not None:
            self._follow_timer.stop()
        self._follow_timer = self.set_timer(FOLLOW_DELAY, self._follow_cursor)

    def _follow_cursor(self) -> None:
        """The cursor rested: the log shows the highlighted run (unless pinned)."""
        self._follow_timer = None
        if not self.log_pane.pinned and self.selected is not None:
            self.log_pane.show(self.selected)

    def on_paged_table_page(self, event: PagedTable.Page) -> None:
        offset = self.page_offset + event.delta * PAGE
        if offset < 0 or offset >= self.total:
            self.notify("no more pages", severity="warning", timeout=2)
            return
        self.page_offset = offset
        self.table.move_cursor(row=0)
        self.reload()

    def go_back(self) -> bool:
        """Esc: from the log back to the table."""
        if self.log_pane.log_widget.has_focus:
            self.table.focus()
            return True
        return False

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_instance" and self.selected is None:
            return None
        return True

    def action_focus_log(self) -> None:
        if self.selected is not None and self.table.has_focus and not self.log_pane.pinned:
            self.log_pane.show(self.selected)
        self.log_pane.log_widget.focus()

    def action_pin_log(self) -> None:
        """Pin the log to the highlighted run; on a pinned log, follow the cursor again."""
        pane = self.log_pane
        if pane.pinned:
            pane.set_pinned(False)
            self.notify("the log follows the highlighted run", timeout=2)
            if self.selected is not None:
                pane.show(self.selected)
            self.table.focus()
            return
        if self.selected is not None and self.table.has_focus:
            pane.show(self.selected)
        if pane.instance_id is not None:
            pane.set_pinned(True)
        pane.log_widget.focus()

    def action_toggle_follow(self) -> None:
        self.log_pane.toggle_follow()
        self.notify("following the log" if self.log_pane.following else "log paused", timeout=2)

    def action_cancel_instance(self) -> None:
        if self.selected is not None:
            self.cancel(self.selected)

    @work(group="command")
    async def cancel(self, instance: InstanceView) -> None:
        what = "Its command is stopped (process group killed)."
        if instance.status != RUNNING:
            what = "It leaves the queue and will not run."
        confirm = ConfirmScreen(
            f"Cancel #{instance.id}?",
            f"#{instance.id} {instance.schedule or ''} is {instance.status}. {what}",
            yes="Cancel run",
            no="Keep",
        )
        if not await self.app.push_screen_wait(confirm):
            return
        view = await self.call(self.engine.cancel(instance.id), failed=f"cancel #{instance.id}")
        if view is not None:
            state = "cancelled" if view.status == "cancelled" else "cancel requested"
            self.notify(f"#{view.id}: {state}")

    def action_lane_concurrency(self) -> None:
        self.change_lane(self.selected.lane if self.selected else None)

    @work(group="command")
    async def change_lane(self, lane: str | None) -> None:
        """The lane's concurrency (the highlighted run's lane first): running nodes apply it
        at once."""
        lanes = await self.call(self.engine.lanes(), failed="loading lanes")
        if not lanes:
            return
        choice = await self.app.push_screen_wait(LaneConcurrencyScreen(lanes, lane))
        if choice is None:
            return
        name, concurrency = choice
        if await self.attempt(
            self.engine.set_lane_concurrency(name, concurrency), failed=f"lane {name}"
        ):
            self.notify(f"lane {name}: {concurrency} at once")
            self.reload()
