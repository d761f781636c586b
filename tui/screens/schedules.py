"""Schedules: every schedule with its trigger, lane, next fire and last result.

Add and edit open the schedule form (live next-fires preview); pause/resume, run now and
delete act on the highlighted schedule. The table follows engine events by keyed diffs.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.kernel import events as ev
from switchyard.engine.views import ScheduleView
from switchyard.tui import display
from switchyard.tui.screens.base import EngineScreen
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.schedule_form import ScheduleForm
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, Column, KeyedTable
from switchyard.tui.widgets.top_bar import TopBar
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

COLUMNS = (
    Column("name", "name", fit=True, max_width=28, min_width=8),
    Column("trigger", "trigger", min_width=12),
    Column("lane", "lane", fit=True, max_width=14, drop=1),  # in the detail below
    Column("next", "next fire", width=12),  # labelled with the local zone in the screen
    Column("last", "last", width=9),
)


def with_zone(columns: tuple[Column, ...]) -> tuple[Column, ...]:
    """ "next fire" says its zone (times are local): "next (UTC)", "next (CET)"."""
    zone = datetime.now().astimezone().tzname() or "local"
    return tuple(
        dataclasses.replace(c, label=f"next ({zone})") if c.key == "next" else c for c in columns
    )


def table_trigger(trigger: str) -> str:
    """The table's trigger: an interval's anchor ("every 15m from 2026-…") is in the detail."""
    head, sep, _ = trigger.partition(" from ")
    return head if sep and head.startswith("every ") else trigger


NEEDS_SELECTION = {"edit_schedule", "toggle_pause", "run_now", "delete_schedule"}


class SchedulesScreen(EngineScreen):
    TITLE = "Schedules"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset(
        {ev.SCHEDULE_CHANGED, ev.SCHEDULE_REMOVED, ev.INSTANCES_CHANGED}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add_schedule", "Add", id="add_schedule"),
        Binding("e", "edit_schedule", "Edit", id="edit_schedule"),
        Binding(
            "enter", "edit_schedule", "Edit", show=False, priority=True, id="edit_schedule_enter"
        ),
        Binding("p", "toggle_pause", "Pause/resume", id="pause_resume"),
        Binding("r", "run_now", "Run now", id="run_now"),
        Binding("d", "delete_schedule", "Delete", id="delete_schedule"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, ScheduleView] = {}
        self._select_after: str | None = None
        self._form_open = False

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield StoreBanner()
        yield KeyedTable(with_zone(COLUMNS), id="schedules")
        yield Static(id="schedule-detail")
        yield Footer(compact=True)

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#schedules", KeyedTable)

    @property
    def selected(self) -> str | None:
        return self.table.selected_key

    def on_mount(self) -> None:
        self.table.focus()
        self.start_live()

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="reload")
    async def _load(self) -> None:
        views = await self.call(self.engine.schedules(), failed="loading schedules")
        if views is None:
            return
        self.views = {v.name: v for v in views}
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        rows: list[tuple[str, list[Cell]]] = []
        for v in views:
            if v.paused:
                when = display.styled("paused", colours.get("warning"))
            else:
                when = display.styled(display.next_fire(v.next_fire_at, now), None)
            rows.append(
                (
                    v.name,
                    [
                        display.styled(v.name, "dim" if v.paused else None),
                        table_trigger(v.trigger),
                        v.lane,
                        when,
                        display.status_text(v.last_result, colours),
                    ],
                )
            )
        with self.app.batch_update():
            self.table.set_rows(rows)
            if self._select_after and self.table.select_key(self._select_after):
                self._select_after = None
            self._show_detail()
        self.refresh_bindings()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        self.refresh_bindings()

    def _show_detail(self) -> None:
        detail = self.query_one("#schedule-detail", Static)
        view = self.views.get(self.selected or "")
        if view is None:
            detail.update(Text("No schedules yet: press a to add one.", style="dim"))
            return
        muted = "dim"
        head = Text.assemble(
            (view.name, "bold"),
            "  ",
            view.trigger,
            ("  lane ", muted),
            view.lane,
            ("  overlap ", muted),
            view.overlap,
            ("  misfire ", muted),
            view.misfire,
        )
        if view.after:
            head.append_text(Text.assemble(("  after ", muted), view.after))
        colours = self.sy_app.colours
        if view.paused:
            when = Text("paused: no fires until resumed", style=colours.get("warning", ""))
        else:
            when = Text.assemble(("next ", muted), display.full_time(view.next_fire_at))
        last_fire = display.full_time(view.last_fire_at) if view.last_fire_at else "never"
        when.append_text(Text.assemble(("  last fire ", muted), last_fire))
        if view.last_result:
            when.append_text(
                Text.assemble(
                    ("  last run ", muted), display.status_text(view.last_result, colours)
                )
            )
        command = Text.assemble(("$ ", muted), display.command_line(view.command))
        extras = [f"{k}={v}" for k, v in view.env.items()]
        if view.cwd:
            extras.append(f"cwd {view.cwd}")
        if view.timeout_seconds:
            extras.append(f"timeout {display.duration(view.timeout_seconds)}")
        if extras:
            command.append("  " + "  ".join(extras), style=muted)
        detail.update(Text("\n").join([head, when, command]))

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in NEEDS_SELECTION and self.selected is None:
            return None  # shown dimmed
        return True

    def action_add_schedule(self) -> None:
        self.open_form(None)

    def action_edit_schedule(self) -> None:
        if self.selected:
            self.open_form(self.selected)

    def action_toggle_pause(self) -> None:
        if self.selected:
            self.toggle_pause(self.selected)

    def action_run_now(self) -> None:
        if self.selected:
            self.run_now(self.selected)

    def action_delete_schedule(self) -> None:
        if self.selected:
            self.delete(self.selected)

    @work(group="form")
    async def open_form(self, name: str | None) -> None:
        """The add form (``name`` None) or the edit form of schedule ``name``."""
        if self._form_open:  # a second key press while the first form loads
            return
        self._form_open = True
        try:
            await self._open_form(name)
        finally:
            self._form_open = False

    async def _open_form(self, name: str | None) -> None:
        lanes = await self.call(self.engine.lanes(), failed="loading lanes")
        spec = None
        if name is not None:
            spec = await self.call(self.engine.schedule_spec(name), failed="loading schedule")
            if spec is None:
                return
        if lanes is None:
            return
        form = ScheduleForm(
            self.engine,
            lanes=[lane.name for lane in lanes],
            schedules=sorted(self.views),
            original=name,
            spec=spec,
        )
        saved = await self.app.push_screen_wait(form)
        if saved:
            self._select_after = saved
            self.notify(f"schedule {saved} {'saved' if name else 'added'}")
            self.reload()

    @work(group="command")
    async def toggle_pause(self, name: str) -> None:
        current = await self.call(self.engine.schedule(name), failed="pause/resume")
        if current is None:
            return
        pause = not current.paused  # from the store, not the table: p p is pause, resume
        done = await self.call(self.engine.set_paused(name, pause), failed="pause/resume")
        if done is not None:
            self.notify(f"{name} {'paused' if pause else 'resumed'}")

    @work(group="command")
    async def run_now(self, name: str) -> None:
        instance_id = await self.call(self.engine.start(name), failed=f"run {name}")
        if instance_id is not None:
            self.notify(f"{name}: instance #{instance_id} queued", title="Run now")

    @work(group="command")
    async def delete(self, name: str) -> None:
        confirm = ConfirmScreen(
            f"Delete {name}?",
            f"Schedule {name} will be removed. Its past instances stay.",
            yes="Delete",
            no="Keep",
        )
        if not await self.app.push_screen_wait(confirm):
            return
        if await self.attempt(self.engine.remove_schedule(name), failed="delete"):
            self.notify(f"schedule {name} deleted")
