"""The Admin screen (key 5): users, groups, rights and security specs, keyboard only.

A real engine on SQLite; "tester" opened the store first, so it is its admin."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from switchyard.engine.api import Engine
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.admin import AdminScreen
from switchyard.tui.screens.admin_form import AdminForm
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.help import HelpScreen
from textual.pilot import Pilot
from textual.widgets import Static

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep


def admin(app: SwitchyardApp) -> AdminScreen:
    screen = app.screen_stack[0] if app.current_mode == "admin" else None
    assert isinstance(screen, AdminScreen), app.current_mode
    return screen


def row_keys(app: SwitchyardApp, tab: str) -> list[str]:
    table = admin(app).query_one(f"#admin-{tab}")
    return [str(r.key.value) for r in table.ordered_rows]


def form(app: SwitchyardApp) -> AdminForm:
    assert isinstance(app.screen, AdminForm), type(app.screen).__name__
    return app.screen


async def open_admin(pilot: Pilot, until: Until) -> AdminScreen:
    await pilot.press("5")
    await until(lambda: pilot.app.current_mode == "admin", what="the admin screen")
    await until(lambda: row_keys(pilot.app, "users"), what="the users")
    return admin(pilot.app)


async def go_to_tab(pilot: Pilot, tab: str) -> None:
    """Tab through the tabs until ``tab`` shows (as a user would)."""
    for _ in range(6):
        if admin(pilot.app).tab == tab:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached {tab}")


async def open_form(pilot: Pilot, until: Until, key: str) -> AdminForm:
    await pilot.press(key)
    await until(lambda: isinstance(pilot.app.screen, AdminForm), what="the form")
    await until(lambda: pilot.app.focused is not None, what="focus in the form")
    return form(pilot.app)


async def tab_to(pilot: Pilot, field: str) -> None:
    """Press Tab until the form field ``field`` has focus."""
    for _ in range(12):
        if pilot.app.focused is not None and pilot.app.focused.id == f"f-{field}":
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached {field}")


async def choose(pilot: Pilot, downs: int) -> None:
    """On a focused choice: open it, move down ``downs`` options, pick with Enter."""
    await pilot.press("space", *["down"] * downs, "enter")


async def test_admin_adds_a_user_from_the_keyboard(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, until)
        assert screen.tab == "users" and row_keys(app, "users") == ["tester"]
        await open_form(pilot, until, "a")
        assert app.focused.id == "f-login"
        await pilot.press(*"alice")
        await tab_to(pilot, "name")
        await pilot.press(*"Alice Smith")
        await tab_to(pilot, "licence")
        await choose(pilot, 3)  # direct, group, monitor, designer
        assert isinstance(app.screen, AdminForm)  # Enter picked the option, saved nothing
        await tab_to(pilot, "admin")
        await pilot.press("space")
        await tab_to(pilot, "roles")
        await pilot.press(*"ops-lead, auditor")
        await pilot.press("enter")

        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        await until(lambda: "alice" in row_keys(app, "users"), what="the new row")
        alice = next(u for u in await engine.users() if u.login == "alice")
        assert (alice.name, alice.licence, alice.admin) == ("Alice Smith", "designer", True)
        assert alice.roles == ["ops-lead", "auditor"]
        assert screen.selected == "alice"
        assert "user alice added" in [n.message for n in app._notifications]

        await open_form(pilot, until, "e")  # edit: only what changed is sent
        await tab_to(pilot, "admin")
        await pilot.press("space", "enter")
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        alice = next(u for u in await engine.users() if u.login == "alice")
        assert (alice.name, alice.licence, alice.admin) == ("Alice Smith", "designer", False)


async def test_engine_error_shows_in_the_form_and_nothing_changes(
    engine: Engine, until: Until
) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await open_admin(pilot, until)
        await open_form(pilot, until, "a")
        await pilot.press(*"tester", "enter")  # exists already: only the engine knows
        await until(lambda: form(app).error, what="the error")
        assert form(app).error == "✗ login: user 'tester' exists already"
        assert form(app).query_one("#field-login").has_class("-error")
        assert [u.login for u in await engine.users()] == ["tester"]

        await pilot.press("ctrl+u", *"bad login!", "enter")
        await until(lambda: "not a valid login" in form(app).error, what="the next error")
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, AdminScreen), what="cancelled")
        assert [u.login for u in await engine.users()] == ["tester"]
        assert row_keys(app, "users") == ["tester"]


async def test_groups_and_members(engine: Engine, until: Until) -> None:
    await engine.add_user("alice")
    await engine.add_user("bob")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, until)
        await go_to_tab(pilot, "groups")
        await open_form(pilot, until, "a")
        await pilot.press(*"ops", "enter")
        await until(lambda: row_keys(app, "groups") == ["ops"], what="the group row")
        assert screen.selected == "ops"

        await open_form(pilot, until, "m")  # a member: users not in the group yet
        await choose(pilot, 1)  # alice, bob, tester
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        groups = await engine.groups()
        assert [(g.name, g.members) for g in groups] == [("ops", ["bob"])]

        await open_form(pilot, until, "e")  # the members as a list
        assert form(app).query_one("#f-members").value == "bob"
        await pilot.press("end", *", ghost", "enter")
        await until(lambda: "unknown user 'ghost'" in form(app).error, what="the error")
        assert [g.members for g in await engine.groups()] == [["bob"]]
        await pilot.press("ctrl+u", *"alice, tester", "enter")
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        assert sorted((await engine.groups())[0].members) == ["alice", "tester"]
        await until(lambda: "alice" in str(screen.table().get_cell("ops", "members")), what="row")

        await open_form(pilot, until, "M")  # remove one of its members
        await pilot.press("enter")  # the first: alice
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        assert (await engine.groups())[0].members == ["tester"]

        await go_to_tab(pilot, "users")  # m on Users: a group for the highlighted user
        await pilot.press("g")  # alice
        assert screen.selected == "alice"
        await open_form(pilot, until, "m")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        assert sorted((await engine.groups())[0].members) == ["alice", "tester"]
        await until(lambda: "ops" in str(screen.table().get_cell("alice", "groups")), what="row")


async def test_grant_edit_and_revoke_rights(engine: Engine, until: Until) -> None:
    await engine.add_group("ops")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, until)
        await go_to_tab(pilot, "rights")
        assert row_keys(app, "rights") == []
        await open_form(pilot, until, "a")
        await pilot.press(*"no-such-process")
        await tab_to(pilot, "subject")
        await pilot.press(*"ops")
        await tab_to(pilot, "kind")
        await choose(pilot, 1)  # user, group
        await tab_to(pilot, "launch")
        await pilot.press("space")
        await tab_to(pilot, "view")
        await pilot.press("space", "enter")
        await until(lambda: "unknown process or schedule" in form(app).error, what="error")
        assert await engine.rights() == []

        await tab_to(pilot, "process")
        await pilot.press("ctrl+u", *"sales-report", "enter")
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        [right] = await engine.rights()
        assert (right.process, right.kind, right.subject) == ("sales-report", "group", "ops")
        assert (right.launch, right.view, right.manage) == (True, True, False)
        await until(lambda: len(row_keys(app, "rights")) == 1, what="the row")
        assert screen.selected == "sales-report\tgroup\tops"

        await open_form(pilot, until, "e")  # untick launch, tick manage
        assert app.focused.id == "f-launch"
        await pilot.press("space")
        await tab_to(pilot, "manage")
        await pilot.press("space", "enter")
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        [right] = await engine.rights()
        assert (right.launch, right.view, right.manage) == (False, True, True)

        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(lambda: row_keys(app, "rights") == [], what="row removed")
        assert await engine.rights() == []


async def test_security_specs(engine: Engine, until: Until) -> None:
    await engine.add_group("hr")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, until)
        await go_to_tab(pilot, "specs")
        await open_form(pilot, until, "a")
        await pilot.press(*"payroll")
        await tab_to(pilot, "users")
        await pilot.press(*"tester")
        await tab_to(pilot, "groups")
        await pilot.press(*"hr")
        await tab_to(pilot, "roles")
        await pilot.press(*"paymaster, auditor", "enter")
        await until(lambda: row_keys(app, "specs") == ["payroll"], what="the spec row")
        [spec] = await engine.secspecs()
        assert (spec.users, spec.groups, spec.roles) == (
            ["tester"],
            ["hr"],
            ["paymaster", "auditor"],
        )

        await open_form(pilot, until, "e")
        assert app.focused.id == "f-users"
        await pilot.press("end", *", nobody", "enter")
        await until(lambda: "unknown user 'nobody'" in form(app).error, what="error")
        assert (await engine.secspecs())[0].users == ["tester"]
        await pilot.press("ctrl+u", "enter")  # no users: the group and the roles only
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        assert (await engine.secspecs())[0].users == []
        await until(lambda: str(screen.table().get_cell("payroll", "users")) == "", what="row")

        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(lambda: row_keys(app, "specs") == [], what="row removed")
        assert await engine.secspecs() == []


async def test_delete_user_asks_first(engine: Engine, until: Until) -> None:
    await engine.add_user("alice")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, until)
        await until(lambda: row_keys(app, "users") == ["alice", "tester"], what="rows")
        await pilot.press("d")  # alice
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("n")
        assert isinstance(app.screen, AdminScreen)
        assert len(await engine.users()) == 2
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(lambda: row_keys(app, "users") == ["tester"], what="row removed")
        assert [u.login for u in await engine.users()] == ["tester"]

        await pilot.press("d")  # the last admin: the engine refuses, as a notification
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(
            lambda: any("last admin" in n.message for n in app._notifications), what="refusal"
        )
        assert row_keys(app, "users") == ["tester"]
        assert screen.selected == "tester"


async def test_audit_tab_lists_changes_read_only(engine: Engine, until: Until) -> None:
    await engine.add_group("ops")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, until)
        await go_to_tab(pilot, "audit")
        await until(lambda: row_keys(app, "audit"), what="audit rows")
        assert str(screen.table().get_cell(row_keys(app, "audit")[0], "action")) == "group.add"
        await pilot.press("a", "e", "d")
        assert isinstance(app.screen, AdminScreen)  # nothing to add, edit or delete here
        await engine.add_group("dev")  # live: follows people.changed
        await until(
            lambda: str(screen.table().get_cell(row_keys(app, "audit")[0], "target")) == "dev",
            what="the new entry",
        )


async def test_parameters_tab_edits_a_value_checked_by_the_engine(
    engine: Engine, until: Until
) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, until)
        await go_to_tab(pilot, "params")
        await until(lambda: len(row_keys(app, "params")) == 9, what="every parameter")
        assert "max_monitored_flows" in row_keys(app, "params")
        table = screen.table()
        cells = [
            str(table.full_cell("max_monitored_flows", c)) for c in ("name", "value", "default")
        ]
        assert cells == ["max_monitored_flows", "5000", "5000"]
        assert not table.is_shown("default")  # at 80 columns it gives way to the rule
        assert str(table.full_cell("max_monitored_flows", "updated")) == "default"
        rule = screen.table().full_cell("max_monitored_flows", "rule")
        assert str(rule).startswith("integer >= 100: a monitor filter matching more")
        await pilot.press("a", "d")  # parameters are only edited
        assert isinstance(app.screen, AdminScreen)

        while screen.selected != "max_monitored_flows":
            await pilot.press("j")
        await open_form(pilot, until, "enter")
        assert app.focused.id == "f-max_monitored_flows"
        assert app.focused.value == "5000"
        await pilot.press("ctrl+u", *"99", "enter")
        await until(lambda: form(app).error, what="the rule error")
        assert form(app).error == (
            "✗ max_monitored_flows: 99 is below the minimum 100 (rule: integer >= 100)"
        )
        assert form(app).query_one("#field-max_monitored_flows").has_class("-error")
        param = {p.name: p for p in await engine.params()}["max_monitored_flows"]
        assert (param.value, param.updated_at) == (5000, None)  # nothing changed
        assert await engine.event_log(kind="param") == []

        await pilot.press("ctrl+u", *"200", "enter")
        await until(lambda: isinstance(app.screen, AdminScreen), what="form closed")
        param = {p.name: p for p in await engine.params()}["max_monitored_flows"]
        assert param.value == 200
        await until(
            lambda: str(screen.table().get_cell("max_monitored_flows", "value")) == "200",
            what="the new value in the table",
        )
        assert str(screen.table().get_cell("max_monitored_flows", "updated")) == "12:00:00"
        assert screen.selected == "max_monitored_flows"
        assert "parameter max_monitored_flows set to 200" in [n.message for n in app._notifications]
        [logged] = await engine.event_log(kind="param")
        assert logged.detail == {"name": "max_monitored_flows", "old": 5000, "new": 200}

        await engine.set_param("depth_threshold", 12)  # live: follows param.changed
        await until(
            lambda: str(screen.table().get_cell("depth_threshold", "value")) == "12",
            what="a change made elsewhere",
        )


async def test_non_admin_sees_the_refusal(
    engine: Engine, sqlite_url: str, data_dir: Path, until: Until
) -> None:
    await engine.add_user("dave", licence="monitor")
    dave = await Engine.open(sqlite_url, data_dir=data_dir, clock=engine.clock, user="dave")
    try:
        app = SwitchyardApp(dave)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await until(lambda: app.current_mode == "admin", what="the admin screen")
            screen = admin(app)
            refused = screen.query_one("#admin-refused", Static)
            await until(lambda: refused.display, what="the refusal")
            assert str(refused.content) == (
                "Admin screen: dave needs the admin right to list rights"
            )
            assert not screen.query_one("#admin-tabs").display
            await pilot.press("a")
            await pilot.pause()
            assert isinstance(app.screen, AdminScreen)  # no form
    finally:
        await dave.close()
    refusals = [a for a in await engine.audit() if a.action == "refused"]
    assert refusals and refusals[0].login == "dave"


async def test_admin_keys_can_be_remapped(engine: Engine, until: Until) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "switchyard" / "keymap.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[keys]\nscreen_admin = "f5"\nadmin_add = "n"\nadmin_form_cancel = "ctrl+g"\n')
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await until(lambda: app.current_mode == "admin", what="the admin screen")
        await open_form(pilot, until, "n")
        await pilot.press("ctrl+g")
        await until(lambda: isinstance(app.screen, AdminScreen), what="cancelled")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-keys")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        by_id = {row[3]: row for row in rows if row[3]}
        assert by_id["admin_add"][:3] == ["Admin", "n", "Add"]
        assert by_id["admin_remove_member"][1] == "M"
        assert by_id["screen_admin"][1] == "f5"
