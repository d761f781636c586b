"""Admin: users, groups, rights, security specs, server parameters (and the last 100
audit entries).

One tab per kind of thing, each a table from the engine; Tab / Shift+Tab move between
the tabs. ``a`` adds, ``e`` (or Enter) edits the highlighted row, ``d`` deletes it after a
confirmation, ``m`` / ``M`` add and remove group members (on Users: the highlighted user's
groups; on Groups: the highlighted group's members). The forms are in admin_edits.py;
the Parameters tab (edit only: ``e`` / Enter) is in admin_params.py.

Everything goes through the engine, which checks it: someone without the admin right
sees the engine's refusal instead of the tables. The tables follow ``people.changed``
and ``param.changed``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.errors import Refused, StoreUnavailable, SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.ops.api import ParamView
from switchyard.engine.people.guard import PEOPLE_CHANGED
from switchyard.engine.people.views import (
    AuditView,
    GroupView,
    RightView,
    SecSpecView,
    UserView,
)
from switchyard.tui import display
from switchyard.tui.screens import admin_edits as edits
from switchyard.tui.screens import admin_params
from switchyard.tui.screens.admin_form import AdminForm
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.tabbed import TabbedEngineScreen
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, Column, KeyedTable
from switchyard.tui.widgets.top_bar import TopBar
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

AUDIT_LIMIT = 100
TABS: dict[str, str] = {
    "users": "Users",
    "groups": "Groups",
    "rights": "Rights",
    "specs": "Security specs",
    "params": "Parameters",
    "audit": "Audit",
}
COLUMNS: dict[str, tuple[Column, ...]] = {
    "users": (
        Column("login", "login", fit=True, max_width=20, min_width=6),
        Column("name", "name", weight=2, min_width=6),
        Column("licence", "licence", width=8),
        Column("admin", "admin", width=5),
        Column("groups", "groups", weight=2),
        Column("roles", "roles"),
    ),
    "groups": (
        Column("name", "group", fit=True, max_width=24, min_width=8),
        Column("count", "#", fit=True, min_width=2, max_width=4),
        Column("members", "members"),
    ),
    "rights": (
        Column("process", "process", fit=True, max_width=24, min_width=7),
        Column("kind", "kind", width=5),
        Column("subject", "subject", fit=True, max_width=20, min_width=7),
        Column("launch", "launch", width=6),
        Column("view", "view", width=4),
        Column("manage", "manage", width=6),
        Column("by", "by", min_width=4),
    ),
    "specs": (
        Column("name", "spec", fit=True, max_width=24, min_width=6),
        Column("users", "users"),
        Column("groups", "groups"),
        Column("roles", "roles"),
    ),
    "params": admin_params.COLUMNS,
    "audit": (
        Column("at", "at", width=12),
        Column("who", "who", fit=True, max_width=16, min_width=3),
        Column("action", "action", fit=True, max_width=18, min_width=6),
        Column("target", "target", fit=True, max_width=20, min_width=6),
        Column("detail", "detail", min_width=6),
    ),
}
EMPTY: dict[str, str] = {
    "users": "No users.",
    "groups": "No groups yet: press a to add one.",
    "rights": "No rights granted yet: press a to grant some.",
    "specs": "No security specs yet: press a to add one.",
    "params": admin_params.EMPTY,
    "audit": "The audit log is empty.",
}
CHANGES = {"add", "edit", "delete"}
MEMBERS = {"add_member", "remove_member"}
Rows = list[tuple[str, list[Cell]]]


def _names(values: list[str]) -> str:
    return ", ".join(values)


def _yes(flag: bool) -> str:
    return "yes" if flag else "-"


def user_cells(u: UserView) -> list[Cell]:
    return [u.login, u.name or "", u.licence, _yes(u.admin), _names(u.groups), _names(u.roles)]


def right_cells(r: RightView) -> list[Cell]:
    flags = [_yes(r.launch), _yes(r.view), _yes(r.manage)]
    return [r.process, r.kind, r.subject, *flags, r.updated_by or ""]


def audit_cells(a: AuditView, now: datetime) -> list[Cell]:
    who = a.who
    detail = " ".join(f"{k}={v}" for k, v in a.detail.items())
    return [display.clock_time(a.at, now), who, a.action, a.target or "", detail]


class AdminScreen(TabbedEngineScreen):
    TABS_ID = "admin-tabs"
    TAB_NAMES = tuple(TABS)
    TITLE = "Admin"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset({PEOPLE_CHANGED, ev.PARAM_CHANGED})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", id="admin_add"),
        Binding("e", "edit", "Edit", id="admin_edit"),
        Binding("enter", "edit", "Edit", show=False, priority=True, id="admin_edit_enter"),
        Binding("d", "delete", "Delete", id="admin_delete"),
        Binding("m", "add_member", "Member+", id="admin_add_member"),
        Binding("M", "remove_member", "Member-", id="admin_remove_member"),
        Binding("tab", "step_tab(1)", "Tabs", id="admin_next_tab"),
        Binding("shift+tab", "step_tab(-1)", "Previous tab", show=False, id="admin_prev_tab"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, UserView] = {}
        self.groups: dict[str, GroupView] = {}
        self.rights: dict[str, RightView] = {}
        self.specs: dict[str, SecSpecView] = {}
        self.params: dict[str, ParamView] = {}
        self.audit: dict[str, AuditView] = {}
        self.refusal: str | None = None
        self._select_after: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield StoreBanner()
        yield Static(id="admin-refused")
        with TabbedContent(id="admin-tabs"):
            for tab, title in TABS.items():
                with TabPane(title, id=f"tab-{tab}"):
                    yield KeyedTable(COLUMNS[tab], id=f"admin-{tab}")
        yield Static(id="admin-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#admin-tabs Tabs").can_focus = False  # Tab moves between tabs
        self.table().focus()
        self.start_live()

    # ------------------------------------------------------------- the tabs
    def table(self, tab: str | None = None) -> KeyedTable:
        return self.query_one(f"#admin-{tab or self.tab}", KeyedTable)

    @property
    def selected(self) -> str | None:
        return self.table().selected_key

    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        if self.refusal is None:
            self.table().focus()
        self._show_detail()
        self.refresh_bindings()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        self.refresh_bindings()

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="reload")
    async def _load(self) -> None:
        engine = self.engine
        try:
            me = await engine.identity()
            if not me.admin and self.refusal is not None:
                return  # refused already: do not ask (and be refused) again
            users = await engine.users()
            groups = await engine.groups()
            rights = await engine.rights()  # the first call only admins may make
            specs = await engine.secspecs()
            params = await engine.params()
            audit = await engine.audit(limit=AUDIT_LIMIT)
        except Refused as exc:
            self._show_refusal(exc.message)
            return
        except SwitchyardError as exc:
            self.notify(exc.message, title=f"loading: {exc.field}", severity="error")
            return
        except StoreUnavailable as exc:
            self.notify(str(exc), title="loading", severity="error")
            return
        self.users = {u.login: u for u in users}
        self.groups = {g.name: g for g in groups}
        self.rights = {edits.right_key(r.process, r.kind, r.subject): r for r in rights}
        self.specs = {s.name: s for s in specs}
        self.params = {p.name: p for p in params}
        self.audit = {str(a.id): a for a in audit}
        with self.app.batch_update():
            self._show_refusal(None)
            for tab, rows in self._rows().items():
                self.table(tab).set_rows(rows)
            if self._select_after:
                tab, key = self._select_after
                if self.table(tab).select_key(key):
                    self._select_after = None
            self._show_detail()
        self.refresh_bindings()

    def _rows(self) -> dict[str, Rows]:
        now = self.engine.clock.now()
        return {
            "users": [(u.login, user_cells(u)) for u in self.users.values()],
            "groups": [
                (g.name, [g.name, str(len(g.members)), _names(g.members)])
                for g in self.groups.values()
            ],
            "rights": [(key, right_cells(r)) for key, r in self.rights.items()],
            "specs": [
                (s.name, [s.name, _names(s.users), _names(s.groups), _names(s.roles)])
                for s in self.specs.values()
            ],
            "params": [(p.name, admin_params.param_cells(p, now)) for p in self.params.values()],
            "audit": [(key, audit_cells(a, now)) for key, a in self.audit.items()],
        }

    def _show_refusal(self, message: str | None) -> None:
        self.refusal = message
        refused = self.query_one("#admin-refused", Static)
        refused.update(Text(f"Admin screen: {message}") if message else "")
        refused.display = message is not None
        self.query_one("#admin-tabs").display = message is None
        self.query_one("#admin-detail").display = message is None
        self.refresh_bindings()

    def _show_detail(self) -> None:
        """The highlighted row in full (cells in the table may be cut)."""
        detail = self.query_one("#admin-detail", Static)
        table, key = self.table(), self.selected
        if key is None:
            detail.update(Text(EMPTY[self.tab], style="dim"))
            return
        parts = Text()
        for column in COLUMNS[self.tab]:
            value = table.full_cell(key, column.key)
            if value is not None and value.plain not in ("", "-"):
                parts.append_text(Text.assemble((f"{column.label} ", "dim"), value, "  "))
        parts.rstrip()
        detail.update(parts)

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHANGES | MEMBERS | {"step_tab"} and self.refusal:
            return False
        tab = self.tab
        if action in CHANGES and tab == "audit":
            return False
        if action in CHANGES - {"edit"} and tab == "params":
            return False
        if action in MEMBERS and tab not in ("users", "groups"):
            return False
        if action in (CHANGES | MEMBERS) - {"add"} and self.selected is None:
            return None  # shown dimmed
        return True

    def action_add(self) -> None:
        engine = self.engine
        forms: dict[str, Callable[[], AdminForm]] = {
            "users": lambda: edits.add_user(engine),
            "groups": lambda: edits.add_group(engine),
            "rights": lambda: edits.grant(engine),
            "specs": lambda: edits.add_secspec(engine),
        }
        if self.tab in forms:
            self.open_form(forms[self.tab]())

    def action_edit(self) -> None:
        key, tab, engine = self.selected, self.tab, self.engine
        if key is None:
            return
        if tab == "users":
            self.open_form(edits.edit_user(engine, self.users[key]), key=key)
        elif tab == "groups":
            self.open_form(edits.edit_members(engine, self.groups[key]), key=key)
        elif tab == "rights":
            self.open_form(edits.edit_right(engine, self.rights[key]), key=key)
        elif tab == "specs":
            self.open_form(edits.edit_secspec(engine, self.specs[key]), key=key)
        elif tab == "params":
            self.open_form(admin_params.edit_param(engine, self.params[key]), key=key)

    def action_delete(self) -> None:
        key, tab, engine = self.selected, self.tab, self.engine
        if key is None:
            return
        if tab == "users":
            self.delete(
                f"Remove user {key}?",
                "Their group memberships and the rights granted to them go too.",
                lambda: engine.remove_user(key),
                f"user {key} removed",
            )
        elif tab == "groups":
            self.delete(
                f"Remove group {key}?",
                "Its memberships and the rights granted to it go too.",
                lambda: engine.remove_group(key),
                f"group {key} removed",
            )
        elif tab == "rights":
            r = self.rights[key]
            self.delete(
                "Revoke rights?",
                f"{r.kind} {r.subject} loses every right on {r.process}.",
                lambda: engine.revoke(r.process, r.subject, kind=r.kind),
                f"rights of {r.subject} on {r.process} revoked",
            )
        elif tab == "specs":
            self.delete(
                f"Remove security spec {key}?",
                "Variables still tied to it are masked for everyone.",
                lambda: engine.remove_secspec(key),
                f"security spec {key} removed",
            )

    def action_add_member(self) -> None:
        self._member(add=True)

    def action_remove_member(self) -> None:
        self._member(add=False)

    def _member(self, *, add: bool) -> None:
        key, engine = self.selected, self.engine
        if key is None:
            return
        if self.tab == "users":
            mine = self.users[key].groups
            choices = [g for g in self.groups if g not in mine] if add else mine
            group, login = None, key
            none = "no group to add them to" if add else f"{key} is in no group"
        else:
            members = self.groups[key].members
            choices = [u for u in self.users if u not in members] if add else members
            group, login = key, None
            none = "every user is a member already" if add else f"{key} has no members"
        if not choices:
            self.notify(none, severity="warning")
            return
        make = edits.add_member if add else edits.remove_member
        self.open_form(make(engine, group, login, list(choices)), key=key)

    # ------------------------------------------------------------------ work
    @work(group="form")
    async def open_form(self, form: AdminForm, *, key: str | None = None) -> None:
        """Show ``form``; once saved, reload and keep (or put) the cursor on the row."""
        tab = self.tab
        if not await self.app.push_screen_wait(form):
            return
        key = form.row_key or key
        if key:
            self._select_after = (tab, key)
        self.notify(form.done_message)
        self.reload()

    @work(group="command")
    async def delete(
        self, title: str, message: str, run: Callable[[], Awaitable[object]], done: str
    ) -> None:
        confirm = ConfirmScreen(title, message, yes="Delete", no="Keep")
        if not await self.app.push_screen_wait(confirm):
            return
        if await self.attempt(run(), failed="delete"):
            self.notify(done)
            self.reload()
