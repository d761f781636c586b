"""Events: the operator's event log (node start/stop, restores, ownership changes, filters
cancelled, parameters and secrets changed, refusals), newest first, live.

The table holds one page (``PAGE`` rows) of ``engine.event_log``; PageDown goes to older
entries (keyset: before the last id shown), PageUp back to newer ones. It follows
``eventlog.added`` on the bus by fetching the page again (debounced); a cursor on the
newest entry stays on top, elsewhere it stays on its entry. ``/`` filters by kind
(a kind or a family such as ``node``, comma-separated), ``t`` by time (since an ISO time,
or 30m, 2h, 1d ago); an empty answer clears that filter. Enter shows the highlighted entry
in full. Reading the log needs the monitor licence: anyone else sees the engine's refusal
(and is not asked again until their licence changes).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.errors import Refused, StoreUnavailable, SwitchyardError
from switchyard.engine.kernel.eventlog import EVENT_LOGGED
from switchyard.engine.ops.api import EventLogView
from switchyard.engine.people.guard import PEOPLE_CHANGED
from switchyard.tui import display
from switchyard.tui.filters import parse_time
from switchyard.tui.screens.base import EngineScreen
from switchyard.tui.screens.event_detail import EventDetailScreen
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.queue import PagedTable
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, Column
from switchyard.tui.widgets.top_bar import TopBar
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

PAGE = 200
COLUMNS = (
    Column("at", "time", fit=True, min_width=8, max_width=12),
    Column("kind", "kind", fit=True, min_width=4, max_width=26),
    Column("node", "node", fit=True, min_width=4, max_width=14),
    Column("login", "login", fit=True, min_width=5, max_width=10),
    Column("message", "message", min_width=10),
)
KIND_STYLES = {"access.refused": "warning", "instance.restored_in_error": "error"}
Filter = tuple[list[str], datetime | None]  # kinds (empty: all), since


def split_kinds(text: str) -> list[str]:
    """'node, param.changed' -> ['node', 'param.changed']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def entry_cells(e: EventLogView, now: datetime, colours: dict[str, str]) -> list[Cell]:
    return [
        display.clock_time(e.at, now),
        display.styled(e.kind, colours.get(KIND_STYLES.get(e.kind, ""))),
        e.node_id or "-",
        e.login or "-",
        e.message,
    ]


class EventsScreen(EngineScreen):
    TITLE = "Events"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset({EVENT_LOGGED, PEOPLE_CHANGED})
    DEBOUNCE: ClassVar[float] = 0.3
    BINDINGS: ClassVar[list[BindingType]] = [
        # not k: that is "up" in every table (j k g G)
        Binding("slash", "filter_kind", "Kind", key_display="/", id="events_kind"),
        Binding("t", "filter_time", "Since", id="events_since"),
        Binding("enter", "show_entry", "Detail", priority=True, id="events_detail"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, EventLogView] = {}
        self.kinds: list[str] = []
        self.since: datetime | None = None
        self.pages: list[int | None] = [None]  # before_id of each page from the newest
        self.refusal: str | None = None
        self._candidate: Filter | None = None  # a filter asked for, not loaded yet

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield StoreBanner()
        yield Static(id="events-refused")
        yield Static(id="events-status")
        yield PagedTable(COLUMNS, id="events")
        yield Static(id="events-message")
        yield Footer(compact=True)

    @property
    def table(self) -> PagedTable:
        return self.query_one("#events", PagedTable)

    @property
    def selected(self) -> EventLogView | None:
        return self.entries.get(self.table.selected_key or "")

    def on_mount(self) -> None:
        self.table.focus()
        self.start_live()

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="reload")
    async def _load(self) -> None:
        kinds, since = self._candidate or (self.kinds, self.since)
        before_id = self.pages[-1] if self._candidate is None else None
        try:
            if self.refusal is not None:
                me = await self.engine.identity()
                if not (me.admin or me.has_licence("monitor")):
                    return  # refused already: do not ask (and be refused, and logged) again
            entries = await self.engine.event_log(
                kind=kinds or None, since=since, limit=PAGE, before_id=before_id
            )
        except Refused as exc:
            self._candidate = None
            self._show_refusal(exc.message)
            return
        except SwitchyardError as exc:
            if self._candidate is not None:  # a filter that cannot be used: keep the old one
                self._candidate = None
                self.notify(exc.message, title=f"filter: {exc.field}", severity="warning")
            else:
                self.notify(exc.message, title=f"loading: {exc.field}", severity="error")
            return
        except StoreUnavailable as exc:
            if self.sy_app.store_problem is None:  # else the banner says it already
                self.notify(str(exc), title="loading the event log", severity="error")
            return
        if self.gone:  # the console closes, or the screen left: its widgets are going
            return
        if self._candidate is not None:
            self.kinds, self.since = self._candidate
            self._candidate = None
            self.pages = [None]
            self.table.move_cursor(row=0)
        self.entries = {str(e.id): e for e in entries}
        self._show_refusal(None)
        self._render_rows()

    def _render_rows(self) -> None:
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        rows = [(key, entry_cells(e, now, colours)) for key, e in self.entries.items()]
        follow = len(self.pages) == 1 and self.table.cursor_row == 0  # on the newest
        with self.app.batch_update():
            self.table.set_rows(rows)
            if follow and self.table.row_count:
                self.table.move_cursor(row=0)
            self._show_status()
            self._show_message()
        self.refresh_bindings()

    def _show_status(self) -> None:
        parts = [f"kind: {', '.join(self.kinds)}" if self.kinds else "all kinds"]
        if self.since is not None:
            parts.append(f"since {display.clock_time(self.since, self.engine.clock.now())}")
        count = len(self.entries)
        page = len(self.pages)
        if not count:
            parts.append("no entries" + (" (/, t: change the filter)" if page == 1 else ""))
        else:
            shown = f"{count} {'entry' if count == 1 else 'entries'}"
            parts.append(f"{shown}, newest first" if page == 1 else f"page {page}: {shown}")
        keys = [k for k, ok in (("PgUp: newer", page > 1), ("PgDn: older", count >= PAGE)) if ok]
        if keys:
            parts.append(", ".join(keys))
        self.query_one("#events-status", Static).update(Text(" · ".join(parts)))

    def _show_message(self) -> None:
        """The highlighted entry's message in full (the column may cut it)."""
        entry = self.selected
        text = Text()
        if entry is not None:
            text = Text.assemble((f"#{entry.id} ", "dim"), entry.message)
            if entry.detail:
                text.append("  ⏎ detail", style="dim")
        self.query_one("#events-message", Static).update(text)

    def _show_refusal(self, message: str | None) -> None:
        self.refusal = message
        refused = self.query_one("#events-refused", Static)
        refused.update(Text(f"Event log: {message}") if message else "")
        refused.display = message is not None
        self.query_one("#events-status").display = message is None
        self.query_one("#events-message").display = message is None
        self.table.display = message is None
        self.refresh_bindings()

    # ---------------------------------------------------------------- paging
    def on_paged_table_page(self, event: PagedTable.Page) -> None:
        if event.delta > 0:
            if len(self.entries) < PAGE:
                self.notify("no older entries", severity="warning", timeout=2)
                return
            self.pages.append(min(e.id for e in self.entries.values()))
        else:
            if len(self.pages) == 1:
                self.notify("these are the newest entries", severity="warning", timeout=2)
                return
            self.pages.pop()
        self.table.move_cursor(row=0)
        self.reload()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_message()
        self.refresh_bindings()

    # --------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("filter_kind", "filter_time", "show_entry") and self.refusal:
            return False
        if action == "show_entry" and self.selected is None:
            return None
        return True

    def action_show_entry(self) -> None:
        if self.selected is not None:
            self.app.push_screen(EventDetailScreen(self.selected))

    def action_filter_kind(self) -> None:
        self._ask_kind()

    def action_filter_time(self) -> None:
        self._ask_time()

    @work(group="filter")
    async def _ask_kind(self) -> None:
        prompt = PromptScreen(
            "Filter by kind",
            "Kinds or families, comma-separated (node = node.started, node.stopped); "
            "empty: every kind.",
            value=", ".join(self.kinds),
            placeholder="e.g. node, param.changed",
        )
        text = await self.app.push_screen_wait(prompt)
        if text is not None:
            self.apply(split_kinds(text), self.since)

    @work(group="filter")
    async def _ask_time(self) -> None:
        shown = self.since.astimezone().isoformat(timespec="minutes") if self.since else ""
        prompt = PromptScreen(
            "Entries since",
            "An ISO time (2026-03-28T09:00, local unless a zone is given) or how long ago "
            "(30m, 2h, 1d); empty: any time.",
            value=shown,
            placeholder="e.g. 2h",
        )
        text = await self.app.push_screen_wait(prompt)
        if text is None:
            return
        try:
            since = parse_time(text, self.engine.clock.now()) if text else None
        except SwitchyardError as exc:
            self.notify(exc.message, title="filter: time", severity="warning")
            return
        self.apply(self.kinds, since)

    def apply(self, kinds: list[str], since: datetime | None) -> None:
        """Show the newest entries of ``kinds`` since ``since`` (kept only if the engine
        takes the filter: an unknown kind is reported and the old filter stays)."""
        self._candidate = (kinds, since)
        self.reload()
