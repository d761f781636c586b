"""One process instance in full: a header (process, status, state, what it waits on, who
started it, node) and tabs: History (its actions with start/end, outcome and errors, then
the instance's events), Variables (secured ones masked ``****`` by the engine), Calls (the
call stack, parent and children; Enter opens a child), Work items, and Log (followed live).

``r`` retries the failed step (optionally setting variables first: ``NAME=VALUE ...``),
``s`` skips it, ``c`` cancels the instance; each asks first, and a refusal is notified
with the engine's words. The screen follows INSTANCES_CHANGED / WORK_ITEMS_CHANGED.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.process.views import InstanceDetail
from switchyard.engine.views import InstanceView
from switchyard.engine.vocabulary import WI_CANCELLED, WI_COMPLETED, WI_OPEN
from switchyard.engine.workitems.views import WorkItemView
from switchyard.tui import display
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.monitor_cells import (
    ACTIVE,
    CHILD_COLUMNS,
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    STEP_COLUMNS,
    STORE_ERRORS,
    VAR_COLUMNS,
    parse_assignments,
    short_path,
    value_text,
    waiting_text,
)
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.tabbed import TabbedEngineScreen
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, KeyedTable
from switchyard.tui.widgets.log_pane import LogPane
from switchyard.tui.widgets.top_bar import TopBar
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

ITEMS_SCANNED = 500  # work items of the process looked through for this instance's
CHILDREN_SHOWN = 50
TABS = ("history", "variables", "calls", "items", "log")


class InstanceDetailScreen(TabbedEngineScreen):
    TABS_ID = "detail-tabs"
    TAB_NAMES = TABS
    TITLE = "Instance"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    # PEOPLE_CHANGED: a right or security spec changed may mask a value shown, or hide it all
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset(
        {ev.INSTANCES_CHANGED, ev.WORK_ITEMS_CHANGED, ev.PEOPLE_CHANGED}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry", id="detail_retry"),
        Binding("s", "skip", "Skip", id="detail_skip"),
        Binding("c", "cancel", "Cancel", id="detail_cancel"),
        Binding("tab", "step_tab(1)", "Tabs", show=False, id="detail_next_tab"),
        Binding("shift+tab", "step_tab(-1)", "Previous tab", show=False, id="detail_prev_tab"),
    ]

    def __init__(self, instance_id: int, *, originator: str | None = None) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.originator = originator  # InstanceDetail does not carry it
        self.detail: InstanceDetail | None = None
        self.title = f"Instance #{instance_id}"

    def compose(self) -> ComposeResult:
        yield TopBar()  # the mode stays in sight over the screens
        yield StoreBanner()
        yield Static(Text(f"#{self.instance_id} loading…"), id="detail-header")
        with TabbedContent(id="detail-tabs"):
            with TabPane("History", id="tab-history"):
                yield KeyedTable(STEP_COLUMNS, id="detail-steps")
                yield Static(id="detail-step")
                yield KeyedTable(EVENT_COLUMNS, id="detail-events")
            with TabPane("Variables", id="tab-variables"):
                yield KeyedTable(VAR_COLUMNS, id="detail-vars")
            with TabPane("Calls", id="tab-calls"):
                yield Static(id="detail-stack")
                yield KeyedTable(CHILD_COLUMNS, id="detail-children")
            with TabPane("Work items", id="tab-items"):
                yield KeyedTable(ITEM_COLUMNS, id="detail-items")
            with TabPane("Log", id="tab-log"):
                yield LogPane(self.engine, id="detail-log")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#detail-tabs Tabs").can_focus = False  # Tab moves between the tabs
        self.query_one("#detail-steps", KeyedTable).focus()
        self.start_live()

    def table(self, name: str) -> KeyedTable:
        return self.query_one(f"#detail-{name}", KeyedTable)

    # ------------------------------------------------------------------ tabs
    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        focus = {"history": "steps", "variables": "vars", "calls": "children", "items": "items"}
        if self.tab == "log":
            pane = self.query_one(LogPane)
            if self.detail is not None:
                pane.show(self.detail.instance)  # follows from the first visit on
            pane.log_widget.focus()
        else:
            self.table(focus[self.tab]).focus()

    # --------------------------------------------------------------- loading
    def reload(self) -> None:
        self.load_coalesced(self._load)

    async def _load(self) -> None:
        try:
            detail = await self.engine.instance_detail(self.instance_id)
            items = await self._work_items(detail)
            children = [
                await self.engine.instance(child) for child in detail.children[:CHILDREN_SHOWN]
            ]
        except SwitchyardError as exc:
            self.notify(exc.message, title=f"#{self.instance_id}", severity="error")
            return
        except STORE_ERRORS as exc:
            if self.sy_app.store_problem is None:
                self.notify(str(exc), title=f"#{self.instance_id}", severity="error")
            return
        if self.gone:  # the console closes, or the screen left: its widgets are going
            return
        self.detail = detail
        with self.app.batch_update():
            self._show_header(detail)
            self._show_history(detail)
            self.table("vars").set_rows(
                [(name, [name, value_text(v)]) for name, v in sorted(detail.variables.items())]
            )
            self._show_calls(detail, children)
            self._show_items(items)
        if self.tab == "log":
            self.query_one(LogPane).note_status(detail.instance.status)
        self.refresh_bindings()

    async def _work_items(self, detail: InstanceDetail) -> list[WorkItemView]:
        if not detail.instance.process:
            return []
        page = await self.engine.work_items(
            "all",
            process=detail.instance.process,
            status=[*WI_OPEN, WI_COMPLETED, WI_CANCELLED],
            sort="process",
            limit=ITEMS_SCANNED,
        )
        return [item for item in page.rows if item.instance_id == self.instance_id]

    # --------------------------------------------------------------- showing
    def _show_header(self, detail: InstanceDetail) -> None:
        i = detail.instance
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        version = f" v{detail.version}" if detail.version else ""
        first = Text.assemble(
            (f"#{i.id} {i.process or i.schedule or ''}{version}", "bold"),
            " · ",
            display.status_text(i.status, colours),
            f" · state {i.current_state or '-'}",
            f" · waiting on {waiting_text(detail.waiting_on)}" if detail.waiting_on else "",
        )
        # a process instance is claimed again after each wait (started_at moves): the first
        # "started" in its history is when it started
        starts = [h.at for h in detail.history if h.kind == "started" and h.at is not None]
        began = min([*starts, *([i.started_at] if i.started_at else [])], default=None)
        started = display.clock_time(began, now) if began else "not yet"
        ran = display.span((i.ended_at or now) - began) if began else "-"
        second = [
            f"by {self.originator or '-'}",
            f"node {i.node_id or '-'}",
            f"started {started}",
            f"ran {ran}",
        ]
        if detail.outcome:
            second.append(f"outcome {detail.outcome}")
        if detail.parent_id:
            second.append(f"child of #{detail.parent_id}")
        header = Text.assemble(first, "\n", " · ".join(second))
        if i.reason and (not detail.outcome or detail.outcome not in i.reason):
            error = colours.get("error", "red") if i.status == "error" else ""
            header.append_text(Text(f"\n{i.reason}", style=error))
        self.query_one("#detail-header", Static).update(header)

    def _show_history(self, detail: InstanceDetail) -> None:
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        steps: list[tuple[str, list[Cell]]] = []
        for s in detail.steps:
            took = display.span(s.ended_at - s.started_at) if s.started_at and s.ended_at else ""
            note = s.error or s.note or ""
            steps.append(
                (
                    s.key,
                    [
                        s.label or short_path(s.path),
                        s.kind,
                        display.status_text(s.status, colours),
                        str(s.attempt),
                        display.clock_time(s.started_at, now),
                        display.clock_time(s.ended_at, now) if s.ended_at else "",
                        took,
                        display.styled(note, colours.get("error")) if s.error else note,
                    ],
                )
            )
        self.table("steps").set_rows(steps)
        self._show_step()
        events = [
            (
                str(index),
                [
                    display.clock_time(h.at, now),
                    h.kind,
                    h.user or "-",
                    ", ".join(f"{k}={value_text(v)}" for k, v in h.detail.items()),
                ],
            )
            for index, h in enumerate(detail.history)
        ]
        self.table("events").set_rows(events)

    def _show_calls(self, detail: InstanceDetail, children: list[InstanceView]) -> None:
        lines = ["call stack (outermost first):"]
        lines += [f"  {path}" for path in detail.call_stack] or ["  (nothing under way)"]
        if detail.parent_id:
            lines.append(f"parent: #{detail.parent_id}")
        more = len(detail.children) - len(children)
        lines.append(
            f"children: {len(detail.children)}"
            + (f" ({more} not shown)" if more > 0 else "")
            + (" · Enter opens one" if children else "")
        )
        self.query_one("#detail-stack", Static).update(Text("\n".join(lines)))
        colours = self.sy_app.colours
        self.table("children").set_rows(
            [
                (
                    str(c.id),
                    [
                        str(c.id),
                        c.process or c.schedule or "-",
                        display.status_text(c.status, colours),
                        c.current_state or "-",
                    ],
                )
                for c in children
            ]
        )

    def _show_items(self, items: list[WorkItemView]) -> None:
        now = self.engine.clock.now()
        self.table("items").set_rows(
            [
                (
                    str(w.id),
                    [
                        str(w.id),
                        w.title,
                        w.status,
                        w.where,
                        display.clock_time(w.due_at, now) if w.due_at else "-",
                        " ".join(
                            x
                            for x in (
                                display.clock_time(w.completed_at, now) if w.completed_at else "",
                                w.button or "",
                                f"by {w.completed_by}" if w.completed_by else "",
                            )
                            if x
                        )
                        or "-",
                    ],
                )
                for w in items
            ]
        )

    @on(DataTable.RowHighlighted, "#detail-steps")
    def _show_step(self) -> None:
        """The highlighted action in full (its cells may be cut)."""
        steps = self.table("steps")
        key = steps.selected_key
        step = next((s for s in self.detail.steps if s.key == key), None) if self.detail else None
        text = Text()
        if step is not None:
            text.append(f"{step.label or step.path}", style="bold")
            text.append(f" · {step.kind} · {step.status} · try {step.attempt}")
            if step.error or step.note:
                style = self.sy_app.colours.get("error", "red") if step.error else ""
                text.append(f"\n{step.error or step.note}", style=style)
        self.query_one("#detail-step", Static).update(text)

    @on(DataTable.RowSelected, "#detail-children")
    def _open_child(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.app.push_screen(InstanceDetailScreen(int(str(event.row_key.value))))

    # --------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        status = self.detail.instance.status if self.detail else None
        if action in ("retry", "skip") and status != "error":
            return False  # not offered (hidden), only an instance in error has a step to redo
        return not (action == "cancel" and status not in ACTIVE)  # ended: nothing to cancel

    @work(group="command")
    async def action_retry(self) -> None:
        prompt = PromptScreen(
            f"Retry #{self.instance_id}",
            "Set variables first? NAME=VALUE separated by spaces (quote values with "
            "spaces); leave empty to retry as it is.",
            placeholder='amount=500 note="checked by phone"',
        )
        answer = await self.app.push_screen_wait(prompt)
        if answer is None:
            return
        try:
            set_vars = parse_assignments(answer)
        except ValueError as exc:
            self.notify(str(exc), title="retry: variables", severity="error")
            return
        step = self.detail.error_step if self.detail else None
        setting = ", ".join(f"{k}={v}" for k, v in set_vars.items())
        message = f"Run the failed step {step or ''} of #{self.instance_id} again"
        message += f" after setting {setting}?" if set_vars else "?"
        await self._act(
            "retry", message, lambda: self.engine.retry(self.instance_id, set_vars or None)
        )

    @work(group="command")
    async def action_skip(self) -> None:
        step = self.detail.error_step if self.detail else None
        message = f"Mark the failed step {step or ''} of #{self.instance_id} done without "
        message += "running it, and go on after it?"
        await self._act("skip", message, lambda: self.engine.skip(self.instance_id))

    @work(group="command")
    async def action_cancel(self) -> None:
        message = f"Cancel #{self.instance_id}? Running commands are stopped; it ends cancelled."
        await self._act("cancel", message, lambda: self.engine.cancel(self.instance_id))

    async def _act(
        self, verb: str, message: str, operation: Callable[[], Awaitable[InstanceView]]
    ) -> None:
        """Confirm, then run ``operation``; its refusal is notified."""
        confirm = ConfirmScreen(
            f"{verb.capitalize()} #{self.instance_id}?",
            message,
            yes=verb.capitalize(),
            no="Keep",
            danger=verb == "cancel",
        )
        if not await self.app.push_screen_wait(confirm):
            return
        view = await self.call(operation(), failed=f"{verb} #{self.instance_id}")
        if view is not None:
            self.notify(f"#{self.instance_id}: {verb} done, now {view.status}")
            self.reload()
