"""A change of people, groups, rights or security specs (``PEOPLE_CHANGED``) shows at once
on the open screens that depend on it, not at the next change of an instance: a value
that becomes secured for the viewer is masked in an open instance detail; a row of the
Monitor, the Queue, Work Items or Timers the viewer may no longer see goes, and the
Queue's log pane stops following its run. A work item form left open while its right
goes is refused by the engine, and says so.

Schedules and Nodes show the same to everyone (``@rule(anyone)``, nothing filtered nor
masked): no right decides what they show, so they do not follow ``PEOPLE_CHANGED``."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.instance_detail import InstanceDetailScreen
from switchyard.tui.screens.queue import QueueScreen
from switchyard.tui.screens.timers import TimersScreen
from switchyard.tui.screens.workitems import WorkItemsScreen
from switchyard.tui.widgets.keyed_table import KeyedTable
from textual.pilot import Pilot
from textual.widgets import Static

from .conftest import IBAN
from .test_expense_console import open_item_in, person, screen_text
from .test_monitor import row_ids, set_filter
from .test_queue import log_lines, log_status

SIZE = (120, 40)
Until = Callable[..., Awaitable[Any]]


async def test_an_open_detail_masks_a_value_once_the_viewer_may_no_longer_see_it(
    expenses: Any, until: Until
) -> None:
    """carol (finance) sees the iban in the instance detail; taken out of finance, her
    open detail masks it at once (it waited for the instance to change)."""
    instance_id, _ = await expenses.start()
    await expenses.root.grant("expense-approval", "carol", view=True)
    carol = await person(expenses, "carol")
    try:
        app = SwitchyardApp(carol)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            screen = InstanceDetailScreen(instance_id)
            await app.push_screen(screen)
            await until(lambda: screen.detail is not None, what="the detail")
            assert screen.detail is not None
            assert screen.detail.variables["iban"] == IBAN
            await expenses.root.remove_member("finance", "carol")
            await until(
                lambda: screen.detail is not None and screen.detail.variables["iban"] != IBAN,
                what="the iban masked",
            )
            await pilot.pause()
            assert IBAN not in screen_text(app)
    finally:
        await carol.close()


async def test_the_monitor_hides_a_row_once_the_viewer_may_no_longer_see_it(
    expenses: Any, until: Until
) -> None:
    """carol's Monitor shows the expense while she holds the view right on it; revoked,
    the row goes at once (it stayed until some instance changed)."""
    await expenses.start()
    await expenses.root.grant("expense-approval", "carol", view=True)
    carol = await person(expenses, "carol")
    try:
        app = SwitchyardApp(carol)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await set_filter(pilot, "process=expense-approval")
            await until(lambda: len(row_ids(app)) == 1, what="the row")
            await expenses.root.revoke("expense-approval", "carol", view=True)
            await until(lambda: not row_ids(app), what="the row hidden")
    finally:
        await carol.close()


def keys(table: KeyedTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


async def work_items_tab(pilot: Pilot, until: Until, tab: str) -> WorkItemsScreen:
    app = pilot.app
    await pilot.press("4")
    await until(lambda: isinstance(app.screen, WorkItemsScreen), what="work items")
    screen = app.screen
    assert isinstance(screen, WorkItemsScreen)
    screen.show_tab(tab)
    await until(lambda: screen.view == tab, what=f"the {tab} tab")
    return screen


async def test_work_items_drop_an_item_once_the_viewer_leaves_its_workgroup(
    expenses: Any, until: Until
) -> None:
    """bob sees the expense waiting in managers under "My groups"; taken out of managers,
    it goes at once (it stayed, with claim and open still offered, until some work item
    or instance changed)."""
    _, item_id = await expenses.start()
    app = SwitchyardApp(expenses.bob)
    async with app.run_test(size=SIZE) as pilot:
        screen = await work_items_tab(pilot, until, "groups")
        table = screen.table("groups")
        await until(lambda: str(item_id) in keys(table), what="the item")
        await expenses.root.remove_member("managers", "bob")
        await until(lambda: str(item_id) not in keys(table), what="the item gone")
        assert screen.counts["groups"] == 0


async def test_work_items_drop_an_item_once_the_view_right_on_its_process_goes(
    expenses: Any, until: Until
) -> None:
    """carol sees the expense's item under "All" through her view right on the process;
    revoked, the item goes at once."""
    _, item_id = await expenses.start()
    await expenses.root.grant("expense-approval", "carol", view=True)
    carol = await person(expenses, "carol")
    try:
        app = SwitchyardApp(carol)
        async with app.run_test(size=SIZE) as pilot:
            screen = await work_items_tab(pilot, until, "all")
            table = screen.table("all")
            await until(lambda: str(item_id) in keys(table), what="the item")
            await expenses.root.revoke("expense-approval", "carol", view=True)
            await until(lambda: str(item_id) not in keys(table), what="the item gone")
    finally:
        await carol.close()


async def test_a_form_left_open_is_refused_once_its_right_goes(expenses: Any, until: Until) -> None:
    """bob opens the expense's form from "My groups" and types his note; taken out of
    managers meanwhile, F1 (Approve) is refused by the engine: the form says why, stays
    open, and the item waits on in managers, not completed."""
    instance_id, item_id = await expenses.start()
    app = SwitchyardApp(expenses.bob)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_item_in(pilot, until, "groups", item_id)
        form.query_one("#f-note").focus()
        await pilot.press(*"approved")
        await expenses.root.remove_member("managers", "bob")
        await pilot.press("f1")
        message = form.query_one("#wif-message", Static)
        await until(lambda: "bob may not" in str(message.content), what="the refusal")
        assert app.screen is form and not form.answered
        assert any(
            "not completed" in (n.title or "") and "bob may not" in n.message
            for n in app._notifications
        )
    detail = await expenses.root.work_item(item_id)
    assert detail.item.open and detail.item.where == "group managers"
    assert (await expenses.root.instance(instance_id)).status == "waiting"


async def test_the_queue_hides_runs_once_the_viewer_may_no_longer_see_them(
    engine: Engine, sqlite_url: str, data_dir: Path, until: Until
) -> None:
    """alice sees the queued runs of nightly-backup through her view right on it; revoked,
    they go at once (they stayed until some instance changed)."""
    await engine.add_user("alice", licence="direct")
    await engine.grant("nightly-backup", "alice", view=True)
    ids = [str(await engine.start("nightly-backup")) for _ in range(2)]
    alice = await person(SimpleNamespace(url=sqlite_url, data_dir=data_dir), "alice")
    try:
        app = SwitchyardApp(alice)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            screen = await until(
                lambda: app.screen if isinstance(app.screen, QueueScreen) else None,
                what="the queue",
            )
            await until(lambda: keys(screen.table) == ids, what="the runs")
            await engine.revoke("nightly-backup", "alice", view=True)
            await until(lambda: not keys(screen.table), what="the runs gone")
    finally:
        await alice.close()


async def test_the_queue_log_pane_stops_once_the_viewer_may_no_longer_see_the_run(
    engine: Engine, sqlite_url: str, data_dir: Path, tmp_path: Path, until: Until
) -> None:
    """alice follows a running run of hers to view in the Queue's log pane; revoked, the
    lines it writes after are not shown and the pane says why (the stream went on until
    the run ended)."""
    gate = tmp_path / "gate"
    script = f"echo first; until [ -e {shlex.quote(str(gate))} ]; do sleep 0.02; done; echo second"
    await engine.add_schedule(ScheduleSpec("slow", ["sh", "-c", script], on_demand=True))
    await engine.add_user("alice", licence="direct")
    await engine.grant("slow", "alice", view=True)
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    alice = await person(SimpleNamespace(url=sqlite_url, data_dir=data_dir), "alice")
    try:
        app = SwitchyardApp(alice)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await engine.start("slow")
            await until(lambda: "first" in log_lines(app), timeout=20, what="the first line")
            await engine.revoke("slow", "alice", view=True)
            gate.touch()
            await until(
                lambda: "alice may not read the log of" in log_status(app), what="the refusal"
            )
            assert "second" not in log_lines(app)
    finally:
        await alice.close()
        await runtime.stop(grace=1)


async def test_timers_hide_a_work_item_timer_once_the_viewer_may_no_longer_see_it(
    expenses: Any, until: Until
) -> None:
    """carol sees the due date of the expense's work item among her timers through her
    view right on the process; revoked, that timer goes at once."""
    _, item_id = await expenses.start()
    await expenses.root.grant("expense-approval", "carol", view=True)
    carol = await person(expenses, "carol")
    try:
        app = SwitchyardApp(carol)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+t")
            screen = await until(
                lambda: app.screen if isinstance(app.screen, TimersScreen) else None,
                what="the timers",
            )

            def items() -> list[int | None]:
                return [v.workitem_id for v in screen.timers.values() if v.kind == "workitem"]

            await until(lambda: items() == [item_id], what="the item's timer")
            await expenses.root.revoke("expense-approval", "carol", view=True)
            await until(lambda: not items(), what="the item's timer gone")
    finally:
        await carol.close()
