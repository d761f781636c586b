"""Timers: every time-driven thing the user may see, soonest first, and forcing them now.

Opened with ctrl+t (or "Timers" in the palette) over any screen; Esc closes it. One row
per timer of ``engine.timers`` (a waiting instance's wake-up or condition re-check, a work
item's next due date / reminder / escalation, a schedule's next fire), at most ``LIMIT``.
``r`` forces the highlighted timer now (``run_timers`` scoped to its instance, work item
or schedule); ``R`` forces every listed timer that is due, after a confirmation. What
fired, what was already running (another run of that timer is under way) and what was
skipped (and why) is reported in a notification. The list follows instance, work item
and schedule changes, and changes of people and rights (what the user may see).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.kernel import events as ev
from switchyard.engine.node.timers import TimerRunResult, TimerView
from switchyard.tui import display
from switchyard.tui.screens.base import EngineScreen
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, Column, KeyedTable
from switchyard.tui.widgets.top_bar import TopBar
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.widgets import DataTable, Footer, Static

LIMIT = 200
COLUMNS = (
    # the key names the kind and the instance: those two give way first when narrow
    Column("kind", "kind", width=8, drop=2),
    Column("key", "key", fit=True, min_width=5, max_width=32),
    Column("due", "due", width=12),
    Column("what", "what", fit=True, min_width=4, max_width=14),
    Column("name", "name", weight=2, min_width=8),  # of the schedule or process (kind says)
    Column("instance", "inst.", fit=True, min_width=5, max_width=8, drop=1),
)
ROW_ACTIONS = {"force_one"}


def due_text(view: TimerView, now: datetime, colours: dict[str, str]) -> Text:
    due = view.due_at is not None and view.due_at <= now
    text = display.next_fire(view.due_at, now) + (" due" if due else "")
    return display.styled(text, colours.get("warning") if due else None)


def timer_cells(view: TimerView, now: datetime, colours: dict[str, str]) -> list[Cell]:
    return [
        view.kind,
        view.key,
        due_text(view, now, colours),
        view.what,
        (view.schedule if view.kind == "schedule" else view.process) or "-",
        str(view.instance_id) if view.instance_id is not None else "-",
    ]


def scope_of(view: TimerView) -> tuple[int | None, int | None, str | None]:
    """The ``run_timers`` scope forcing exactly this timer: (instance, work item, schedule)."""
    if view.kind == "schedule":
        return None, None, view.schedule
    if view.kind == "workitem":
        return None, view.workitem_id, None
    return view.instance_id, None, None


def merge(results: list[TimerRunResult]) -> TimerRunResult:
    total = TimerRunResult()
    for result in results:
        total.fired.extend(result.fired)
        total.already_running.extend(result.already_running)
        total.skipped.update(result.skipped)
        total.notes.update(result.notes)
    return total


def summary(result: TimerRunResult) -> str:
    """'1 fired · 0 already running · 0 skipped' and a line per timer."""
    head = " · ".join(
        [
            f"{len(result.fired)} fired",
            f"{len(result.already_running)} already running",
            f"{len(result.skipped)} skipped",
        ]
    )
    lines = [f"{key}: {result.notes[key]}" for key in result.fired if result.notes.get(key)]
    lines += [f"{key}: already running" for key in result.already_running]
    lines += [f"{key}: skipped, {why}" for key, why in result.skipped.items()]
    if len(lines) > 6:
        lines = [*lines[:5], f"… and {len(lines) - 5} more"]
    return "\n".join([head, *lines])


class TimersScreen(EngineScreen):
    TITLE = "Timers"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    # PEOPLE_CHANGED: a right (or the monitor licence, for schedule fires) changed may
    # hide timers shown, or show others
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset(
        {
            ev.INSTANCES_CHANGED,
            ev.WORK_ITEMS_CHANGED,
            ev.SCHEDULE_CHANGED,
            ev.SCHEDULE_REMOVED,
            ev.PEOPLE_CHANGED,
        }
    )
    DEBOUNCE: ClassVar[float] = 0.3
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "force_one", "Force now", id="timers_force"),
        Binding("R", "force_due", "Force all due", id="timers_force_due"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.timers: dict[str, TimerView] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield TopBar()  # the mode stays in sight over the screens
        yield StoreBanner()
        yield Static(Text("Timers", style="bold"), id="timers-header")
        yield KeyedTable(COLUMNS, id="timers")
        yield Footer(compact=True)

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#timers", KeyedTable)

    @property
    def selected(self) -> TimerView | None:
        return self.timers.get(self.table.selected_key or "")

    def on_mount(self) -> None:
        self.table.focus()
        self.start_live()
        self.set_interval(5.0, self._tick)  # timers become due as time passes

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="reload")
    async def _load(self) -> None:
        views = await self.call(self.engine.timers(limit=LIMIT), failed="loading timers")
        if views is None:
            return
        self.timers = {v.key: v for v in views}
        self.loaded = True
        self._render_rows()

    def _tick(self) -> None:
        if self.is_current:
            self._render_rows()

    def _due(self, now: datetime) -> list[TimerView]:
        return [v for v in self.timers.values() if v.due_at is not None and v.due_at <= now]

    def _render_rows(self) -> None:
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        rows = [(key, timer_cells(v, now, colours)) for key, v in self.timers.items()]
        count, due = len(self.timers), len(self._due(now))
        if not count:
            header = "Timers: none (no waits, work item timers or schedule fires you may see)"
        else:
            more = f" (the first {LIMIT})" if count >= LIMIT else ""
            header = f"Timers: {display.plural(count, 'timer')}{more}, {due} due · soonest first"
        with self.app.batch_update():
            self.table.set_rows(rows)
            self.query_one("#timers-header", Static).update(Text(header, style="bold"))
        self.refresh_bindings()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ROW_ACTIONS and self.selected is None:
            return None
        if action == "force_due" and not self._due(self.engine.clock.now()):
            return None
        return True

    def action_force_one(self) -> None:
        if self.selected is not None:
            self.force([self.selected])

    def action_force_due(self) -> None:
        due = self._due(self.engine.clock.now())
        if due:
            self.confirm_force(due)

    @work(group="command")
    async def confirm_force(self, views: list[TimerView]) -> None:
        confirm = ConfirmScreen(
            f"Force {display.plural(len(views), 'due timer')} now?",
            "Waiting instances wake, work item timers fire, schedules fire once now.",
            yes="Force",
            no="Keep",
        )
        if await self.app.push_screen_wait(confirm):
            self.force(views)

    @work(group="command")
    async def force(self, views: list[TimerView]) -> None:
        results = []
        for view in views:
            instance_id, workitem_id, schedule = scope_of(view)
            if instance_id is None and workitem_id is None and schedule is None:
                continue  # never "all timers" by accident
            result = await self.call(
                self.engine.run_timers(
                    instance_id=instance_id, workitem_id=workitem_id, schedule=schedule
                ),
                failed=f"force {view.key}",
            )
            if result is not None:
                results.append(result)
        if results:
            total = merge(results)
            severity: SeverityLevel = "information" if total.fired else "warning"
            self.notify(summary(total), title="timers forced", severity=severity, timeout=8)
        self.reload()
