"""The DESIGN.md expense approval in the console, as separate people (each with their own
engine and app): alice (direct) started it and sees the iban as ****; bob (managers)
completes it from the keyboard; carol (finance) sees the iban; dave (no rights) sees
nothing and is refused. Then a walk over every screen a non-member can open: the marker
(the iban) must appear in none of their rendered screens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.workitem_form import WorkItemForm
from switchyard.tui.screens.workitems import WorkItemsScreen
from textual.pilot import Pilot

from .conftest import IBAN, NOW

SIZE = (120, 40)
Until = Callable[..., Awaitable[Any]]


async def person(expenses: Any, login: str) -> Engine:
    engine = await Engine.open(
        expenses.url, data_dir=expenses.data_dir, clock=FixedClock(NOW), user=login
    )
    await engine.start_feed(interval=0.05)
    return engine


def screen_text(app: SwitchyardApp) -> str:
    """What is on the terminal now (the rendered screen, as the SVG export has it)."""
    return app.export_screenshot().replace("&#160;", " ")


async def open_item_in(pilot: Pilot, until: Until, tab: str, item_id: int) -> WorkItemForm:
    app = pilot.app
    await pilot.press("4")
    await until(lambda: app.current_mode == "workitems", what="work items")
    screen = app.screen_stack[0]
    assert isinstance(screen, WorkItemsScreen)
    screen.show_tab(tab)
    await until(lambda: screen.view == tab, what=f"the {tab} tab")
    table = screen.table(tab)
    await until(lambda: str(item_id) in [str(r.key.value) for r in table.ordered_rows], what="row")
    table.focus()
    table.move_cursor(row=table.get_row_index(str(item_id)))
    await pilot.press("enter")
    form = await until(
        lambda: app.screen if isinstance(app.screen, WorkItemForm) else None, what="the form"
    )
    await until(lambda: form._ready, what="the form ready")
    await pilot.pause()
    return form


async def visit_all(pilot: Pilot, until: Until) -> list[str]:
    """Every screen by its key, each one's rendered text."""
    texts = []
    for key in ("1", "2", "3", "4", "5", "6"):
        await pilot.press(key)
        await pilot.pause(0.3)
        texts.append(screen_text(pilot.app))
    return texts


async def test_expense_approval_in_the_console_as_four_people(
    expenses: Any, until: Until, tmp_path: Path
) -> None:
    root = expenses.root
    await root.add_user("dave", licence="direct")
    await root.grant("expense-approval", "finance", view=True)
    instance_id, item_id = await expenses.start()

    # alice started it: she may open the item, the iban is **** to her
    alice = await person(expenses, "alice")
    try:
        app = SwitchyardApp(alice)
        async with app.run_test(size=SIZE) as pilot:
            form = await open_item_in(pilot, until, "all", item_id)
            text = screen_text(app)
            assert "****" in text and IBAN not in text and "Ann" in text
            await pilot.press("escape")
            walked = await visit_all(pilot, until)
            assert [t for t in walked if IBAN in t] == []
    finally:
        await alice.close()

    # carol (finance) sees the value in the same form
    carol = await person(expenses, "carol")
    try:
        app = SwitchyardApp(carol)
        async with app.run_test(size=SIZE) as pilot:
            await open_item_in(pilot, until, "all", item_id)
            assert IBAN in screen_text(app)
    finally:
        await carol.close()

    # dave: no item to see, and the engine refuses him the item itself
    dave = await person(expenses, "dave")
    try:
        assert (await dave.work_items("all")).total == 0
        app = SwitchyardApp(dave)
        async with app.run_test(size=SIZE) as pilot:
            walked = await visit_all(pilot, until)
            assert [t for t in walked if IBAN in t] == []
            assert any("needs the admin right" in t for t in walked)
    finally:
        await dave.close()

    # bob completes it from the keyboard (F1 = Approve), after typing the note
    bob = expenses.bob
    app = SwitchyardApp(bob)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_item_in(pilot, until, "groups", item_id)
        assert IBAN not in screen_text(app)
        for _ in range(12):
            if pilot.app.focused is not None and pilot.app.focused.id == "f-note":
                break
            await pilot.press("tab")
        await pilot.press(*"approved in console")
        await pilot.press("f1")
        await until(lambda: isinstance(app.screen, WorkItemsScreen), what="back to the list")
        walked = await visit_all(pilot, until)
        assert [t for t in walked if IBAN in t] == []
        assert form is not None

    async def completed() -> bool:
        return (await root.instance(instance_id)).status == "completed"

    await until(completed, timeout=20, what="the instance to complete")
    variables = (await root.instance_detail(instance_id)).variables
    assert variables["decision"] == "approved"
    assert variables["note_seen"] == "approved in console"
