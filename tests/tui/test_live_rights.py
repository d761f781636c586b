"""A change of people, groups, rights or security specs (``PEOPLE_CHANGED``) shows at once
on the open screens that depend on it, not at the next change of an instance: a value
that becomes secured for the viewer is masked in an open instance detail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.instance_detail import InstanceDetailScreen

from .conftest import IBAN
from .test_expense_console import person, screen_text
from .test_monitor import row_ids, set_filter

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
