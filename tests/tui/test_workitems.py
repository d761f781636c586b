"""The Work Items screen (key 4) and the work item form, keyboard only.

A real engine on SQLite with a runtime (``expenses``: the admin "tester" runs it), and bob
(group licence, in managers) at the console, his engine following the store's events.
alice starts an expense of 1500.00, which waits on an approval item in managers; its
iban is secured (finance only), so bob sees "****".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens import workitems as workitems_screen
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.workitem_form import WorkItemForm
from switchyard.tui.screens.workitems import COLUMNS, WorkItemsScreen
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent, TextArea

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep


def items(app: SwitchyardApp) -> WorkItemsScreen:
    screen = app.screen_stack[0] if app.current_mode == "workitems" else None
    assert isinstance(screen, WorkItemsScreen), app.current_mode
    return screen


def row_ids(app: SwitchyardApp, view: str) -> list[str]:
    table = items(app).query_one(f"#wi-{view}")
    return [str(r.key.value) for r in table.ordered_rows]


def tab_label(app: SwitchyardApp, view: str) -> str:
    return str(items(app).query_one("#wi-tabs", TabbedContent).get_tab(f"tab-{view}").label)


def row(app: SwitchyardApp, view: str, item_id: int) -> list[str]:
    """A row's cells in full (the table cuts them to fit 80 columns)."""
    table = items(app).table(view)
    return [str(table.full_cell(str(item_id), c.key)) for c in COLUMNS]


def notes(app: SwitchyardApp) -> list[str]:
    return [n.message for n in app._notifications]


def text_of(widget: Any) -> str:
    return str(widget.content)


async def open_list(pilot: Pilot, until: Until, view: str, count: int) -> WorkItemsScreen:
    await pilot.press("4")
    await until(lambda: pilot.app.current_mode == "workitems", what="the work items screen")
    await until(lambda: len(row_ids(pilot.app, view)) == count, what=f"{count} rows in {view}")
    return items(pilot.app)


async def open_form(pilot: Pilot, until: Until) -> WorkItemForm:
    await pilot.press("enter")
    form = await until(
        lambda: pilot.app.screen if isinstance(pilot.app.screen, WorkItemForm) else None,
        what="the form",
    )
    await until(lambda: form._ready and pilot.app.focused is not None, what="focus in the form")
    return form


async def tab_to(pilot: Pilot, field: str) -> None:
    """Press Tab until ``field`` has focus (as a person would)."""
    for _ in range(12):
        focused = pilot.app.focused
        if focused is not None and focused.id == f"f-{field}":
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached {field}")


async def status(engine: Any, item_id: int) -> str:
    return (await engine.work_item(item_id)).item.status


async def test_draft_survives_leaving_then_claim_and_approve(expenses: Any, until: Until) -> None:
    instance_id, item_id = await expenses.start()
    bob = expenses.bob
    app = SwitchyardApp(bob)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, until, "groups", 1)
        assert screen.view == "groups"  # it opened where the work is
        assert tab_label(app, "groups") == "My groups (1)"
        assert tab_label(app, "mine") == "Mine (0)"
        assert tab_label(app, "all") == "All (1)"
        cells = row(app, "groups", item_id)
        assert cells[:2] == [str(item_id), "Approve"]
        assert cells[3:7] == [str(instance_id), "queued", "group managers", "3"]
        assert cells[7] == "30 Mar 12:00"  # due in 2 days, local time

        form = await open_form(pilot, until)
        header = text_of(form.query_one("#wif-header"))
        assert f"#{item_id} Approve · expense-approval · instance #{instance_id}" in header
        assert "queued · with group managers" in header
        assert await status(bob, item_id) == "queued"  # opening does not claim
        await tab_to(pilot, "note")
        await pilot.press(*"looks fine")
        await pilot.press("escape")  # leaves, keeping the draft
        await until(lambda: isinstance(app.screen, WorkItemsScreen), what="back to the list")
        fields = {f.name: f.value for f in (await bob.work_item(item_id)).fields}
        assert fields["note"] == "looks fine"

        form = await open_form(pilot, until)
        assert form.query_one("#f-note", TextArea).text == "looks fine"
        await pilot.press("shift+tab")  # round to the last button: c claims (not typed)
        await pilot.press("c")
        await until(lambda: "Work item 1 claimed: it is yours now" in notes(app), what="claim")
        assert (await bob.work_item(item_id)).item.user == "bob"
        assert "in progress · with bob" in text_of(form.query_one("#wif-header"))

        await pilot.press("f1")
        await until(lambda: isinstance(app.screen, WorkItemsScreen), what="back to the list")
        assert f"Work item {item_id} completed (Approve)" in notes(app)

        async def finished() -> bool:
            return (await expenses.root.instance(instance_id)).status == "completed"

        await until(finished, timeout=20, what="the instance to complete")
        variables = (await expenses.root.instance_detail(instance_id)).variables
        assert variables["decision"] == "approved"
        assert variables["note_seen"] == "looks fine"
        await until(lambda: row_ids(app, "groups") == [], what="the row to go")
        await until(lambda: tab_label(app, "groups") == "My groups (0)", what="count")


async def test_complete_from_the_keyboard_only(expenses: Any, until: Until) -> None:
    instance_id, item_id = await expenses.start()
    app = SwitchyardApp(expenses.bob)
    async with app.run_test(size=SIZE) as pilot:
        await open_list(pilot, until, "groups", 1)
        form = await open_form(pilot, until)
        assert app.focused is form.query_one("#f-employee")
        await pilot.press("tab", "ctrl+u", *"1450.50")  # amount
        await pilot.press("tab", "enter", "down", "down", "enter")  # category: meals
        await pilot.press("tab", *"2026-03-27")  # paid on
        await pilot.press("tab", "space")  # urgent
        await pilot.press("tab", *"receipts attached")  # note
        await pilot.press("tab")
        assert app.focused is form.query_one("#button-0")  # F1 Approve
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, WorkItemsScreen), what="back to the list")

        async def finished() -> bool:
            return (await expenses.root.instance(instance_id)).status == "completed"

        await until(finished, timeout=20, what="the instance to complete")
        variables = (await expenses.root.instance_detail(instance_id)).variables
        assert variables["decision"] == "approved"
        assert str(variables["amount"]) == "1450.50"
        assert variables["category"] == "meals" and variables["urgent"] is True
        item = (await expenses.root.work_item(item_id)).item
        assert (item.status, item.completed_by, item.button) == ("completed", "bob", "Approve")


async def test_a_wrong_amount_shows_under_its_field(expenses: Any, until: Until) -> None:
    _, item_id = await expenses.start()
    app = SwitchyardApp(expenses.bob)
    async with app.run_test(size=SIZE) as pilot:
        await open_list(pilot, until, "groups", 1)
        form = await open_form(pilot, until)
        await pilot.press("tab", "ctrl+u", *"lots")
        await until(
            lambda: "expected a decimal number" in text_of(form.query_one("#e-amount")),
            what="the error as typed",
        )
        await pilot.press("f1")  # the engine says so too, and the note is required
        await until(lambda: "required" in text_of(form.query_one("#e-note")), what="note")
        assert text_of(form.query_one("#e-amount")) == "✗ expected a decimal number, like 1250.00"
        assert form.query_one("#field-amount").has_class("-error")
        assert app.focused is form.query_one("#f-amount")  # the first bad field
        assert isinstance(app.screen, WorkItemForm)
        assert await status(expenses.bob, item_id) == "queued"  # nothing changed

        await pilot.press("ctrl+u", *"99.50")  # fixed: its error goes
        await until(lambda: text_of(form.query_one("#e-amount")) == "", what="error cleared")
        assert not form.query_one("#field-amount").has_class("-error")


async def test_a_secured_field_is_masked_and_read_only(expenses: Any, until: Until) -> None:
    _, item_id = await expenses.start()
    app = SwitchyardApp(expenses.bob)
    async with app.run_test(size=SIZE) as pilot:
        await open_list(pilot, until, "groups", 1)
        form = await open_form(pilot, until)
        iban = form.query_one("#f-iban")
        assert isinstance(iban, Static) and not isinstance(iban, Input)
        assert text_of(iban) == "****" and not iban.focusable
        assert "iban" not in form.values()
        for _ in range(12):  # Tab never lands on it
            await pilot.press("tab")
            assert app.focused is not iban

        await tab_to(pilot, "paid_on")
        await pilot.press(*"2026-03-27")  # kept a second after typing stops, no Esc

        async def drafted() -> bool:
            fields = {f.name: f.value for f in (await expenses.bob.work_item(item_id)).fields}
            return fields["paid_on"] == "2026-03-27" and fields["iban"] == "****"

        await until(drafted, what="the autosaved draft")


async def test_list_actions_from_the_keyboard(expenses: Any, until: Until) -> None:
    _, item_id = await expenses.start()
    bob = expenses.bob
    app = SwitchyardApp(bob)
    async with app.run_test(size=SIZE) as pilot:
        await open_list(pilot, until, "groups", 1)
        await pilot.press("h")  # not his (yet): the engine's refusal, word for word
        await until(
            lambda: any("bob may not hold work item" in n for n in notes(app)), what="refusal"
        )
        await pilot.press("c")
        await until(lambda: tab_label(app, "mine") == "Mine (1)", what="claimed")
        assert await status(bob, item_id) == "in progress"
        await pilot.press("tab", "tab")  # My groups -> All -> Mine
        assert items(app).view == "mine"
        await pilot.press("shift+tab")  # back, wrapping: Mine -> All
        assert items(app).view == "all"
        await pilot.press("tab")
        assert items(app).view == "mine"
        await until(lambda: row_ids(app, "mine") == [str(item_id)], what="in Mine")
        await pilot.press("h")
        await until(lambda: any("held: held, with bob" in n for n in notes(app)), what="held")
        await pilot.press("f")  # forward: to which workgroup?
        prompt = await until(
            lambda: app.screen if isinstance(app.screen, PromptScreen) else None, what="prompt"
        )
        await pilot.press(*"nobody", "enter")
        await until(lambda: "no workgroup nobody" in notes(app), what="the engine's answer")
        await pilot.press("d")
        prompt = await until(
            lambda: app.screen if isinstance(app.screen, PromptScreen) else None, what="prompt"
        )
        assert prompt is app.screen
        await pilot.press(*"alice", "enter")
        await until(
            lambda: f"Work item {item_id} delegated: offered, with alice" in notes(app),
            what="delegated",
        )
        await until(lambda: row_ids(app, "mine") == [], what="gone from Mine")
        assert tab_label(app, "all") == "All (0)"  # bob may no longer see it


async def test_new_items_appear_live(expenses: Any, until: Until) -> None:
    app = SwitchyardApp(expenses.bob)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, until, "mine", 0)
        assert "Nothing offered to or claimed by you." in text_of(screen.query_one("#wi-detail"))
        _, item_id = await expenses.start()  # alice starts one; another engine's runtime
        await until(lambda: tab_label(app, "groups") == "My groups (1)", what="the count")
        await pilot.press("tab")
        await until(lambda: row_ids(app, "groups") == [str(item_id)], what="the row")


async def test_sort_filter_overdue_and_pages(
    expenses: Any, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = await expenses.start()
    _, second = await expenses.start("2500.00")
    app = SwitchyardApp(expenses.bob)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, until, "groups", 2)
        status_line = screen.query_one("#wi-status")
        assert text_of(status_line).startswith("1–2 of 2 · sort due")  # noqa: RUF001
        monkeypatch.setattr(workitems_screen, "PAGE", 1)
        screen.reload()
        await until(lambda: row_ids(app, "groups") == [str(first)], what="page 1")
        assert "1–1 of 2" in text_of(status_line) and "PgUp/PgDn" in text_of(status_line)  # noqa: RUF001
        await pilot.press("pagedown")
        await until(lambda: row_ids(app, "groups") == [str(second)], what="page 2")
        assert text_of(status_line).startswith("2–2 of 2")  # noqa: RUF001
        monkeypatch.setattr(workitems_screen, "PAGE", 100)
        await pilot.press("s")
        await until(lambda: "sort priority" in text_of(status_line), what="sorted")
        await pilot.press("o")  # none is overdue yet
        await until(lambda: row_ids(app, "groups") == [], what="overdue only")
        assert text_of(status_line).startswith("nothing matches · sort priority · overdue")
        expenses.bob.clock.at = expenses.bob.clock.at.replace(month=4)  # now past due
        screen.reload()
        await until(lambda: len(row_ids(app, "groups")) == 2, what="overdue rows")
        due = screen.table().full_cell(str(first), "due")
        assert str(due) == "!30 Mar 12:00" and "bold" in str(due.spans[0].style)
        await pilot.press("o", "slash")
        await until(lambda: isinstance(app.screen, PromptScreen), what="the filter prompt")
        await pilot.press(*"other-process", "enter")
        await until(lambda: row_ids(app, "groups") == [], what="filtered out")
        assert "process other-process" in text_of(status_line)
        await pilot.press("slash")
        await until(lambda: isinstance(app.screen, PromptScreen), what="the filter prompt")
        await pilot.press("ctrl+u", "enter")  # empty: every process
        await until(
            lambda: sorted(row_ids(app, "groups")) == sorted([str(first), str(second)]),
            what="both again",
        )
