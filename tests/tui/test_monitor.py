"""The Monitor screen (key 3) and the instance detail, keyboard only.

A real engine on SQLite (fixed clock). ``claims`` instances are only started (queued,
their variables indexed), which is all the filter tests need; ``flaky`` instances run on
a real Runtime and end in error (``limit < 3``) or complete.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.monitor.filters import MonitorFilter as MonitorFilterOf
from switchyard.engine.node.runtime import Runtime
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.bulk import BulkScreen
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.instance_detail import InstanceDetailScreen
from switchyard.tui.screens.monitor import NO_FILTER, MonitorScreen
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.saved_filters import SavedFiltersScreen
from switchyard.tui.widgets.banner import StoreBanner
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Static

from .conftest import NOW, open_engine

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep

CLAIMS = """
process: claims
variables:
  employee: {type: string, required: true}
  amount: {type: decimal, required: true}
  iban: {type: string, security: finance}
start: check
states:
  check:
    actions:
      - end_process: done
"""
FLAKY = """
process: flaky
variables:
  limit: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - if: "limit < 3"
        then:
          - raise: "limit {{ limit }} is too low"
      - end_process: went-on
"""


async def publish(engine: Engine, directory: Path, text: str, name: str) -> None:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    await engine.publish([path])


@pytest.fixture
async def claims(engine: Engine, tmp_path: Path) -> Engine:
    await engine.add_secspec("finance", users=[engine.login])
    await publish(engine, tmp_path, CLAIMS, "claims")
    return engine


async def claim(engine: Engine, employee: str, amount: str) -> int:
    return await engine.start_process(
        "claims", {"employee": employee, "amount": amount, "iban": "DE00SECRET001"}
    )


@pytest.fixture
async def runtime(engine: Engine, tmp_path: Path) -> AsyncIterator[Runtime]:
    await publish(engine, tmp_path, FLAKY, "flaky")
    node = Runtime(engine, mode="console")
    await node.start()
    try:
        yield node
    finally:
        await node.stop(grace=1)


def monitor(app: SwitchyardApp) -> MonitorScreen:
    screen = app.screen_stack[0] if app.current_mode == "monitor" else None
    assert isinstance(screen, MonitorScreen), app.current_mode
    return screen


def row_ids(app: SwitchyardApp) -> list[int]:
    return [int(key) for key in monitor(app).table.keys]


def cell(app: SwitchyardApp, instance_id: int, column: str) -> str:
    return str(monitor(app).table.get_cell(str(instance_id), column))


def status_line(app: SwitchyardApp) -> str:
    return str(monitor(app).query_one("#monitor-status", Static).content)


def messages(app: SwitchyardApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def set_filter(pilot: Pilot, text: str) -> None:
    await pilot.press("slash")
    field = pilot.app.screen.query_one("#monitor-filter", Input)
    assert pilot.app.focused is field
    field.value = ""
    await pilot.press(*text, "enter")


async def screen_of(app: SwitchyardApp, kind: type, until: Until) -> Any:
    return await until(lambda: app.screen if isinstance(app.screen, kind) else None, what=kind)


async def status_of(engine: Engine, instance_id: int) -> str:
    return (await engine.instance(instance_id)).status


async def test_empty_until_a_filter_then_rows_by_variable_live(
    claims: Engine, until: Until
) -> None:
    ids = {amount: await claim(claims, "Ann", amount) for amount in ("1500", "200", "2500.75")}
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        assert row_ids(app) == []
        assert status_line(app) == NO_FILTER
        await set_filter(pilot, "amount > 1000")
        await until(lambda: len(row_ids(app)) == 2, what="two rows")
        assert sorted(row_ids(app)) == sorted([ids["1500"], ids["2500.75"]])
        big = ids["1500"]
        assert cell(app, big, "process") == "claims v1"
        assert cell(app, big, "status") == "queued"
        assert cell(app, big, "state") == "check"
        assert cell(app, big, "originator") == claims.login
        assert cell(app, big, "updated") == "12:00:00"
        assert status_line(app).startswith("1–2 of 2 · amount > 1000")  # noqa: RUF001
        assert app.focused is monitor(app).table

        new = await claim(claims, "Bo", "5000")  # live: a new match appears by itself
        await until(lambda: new in row_ids(app), what="the new row")
        await set_filter(pilot, 'employee = "Bo"')
        await until(lambda: row_ids(app) == [new], what="Bo's row")
        await set_filter(pilot, "amount >")  # unreadable: said, rows kept
        await until(lambda: "no value after '>'" in status_line(app), what="the refusal")
        assert row_ids(app) == [new]


async def test_too_broad_filter_keeps_the_previous_rows(claims: Engine, until: Until) -> None:
    await claims.set_param("max_monitored_flows", 100)
    ids = [await claim(claims, f"e{n}", "1") for n in range(101)]
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=claims; employee = e7")
        await until(lambda: row_ids(app) == [ids[7]], what="e7")
        await set_filter(pilot, "process=claims")
        message = "filter matches 101 instances; the limit is 100 — narrow your filter"
        await until(lambda: message in status_line(app), what="the cap message")
        assert any(message in m for m in messages(app))
        assert row_ids(app) == [ids[7]]
        assert "1–1 of 1" in status_line(app)  # noqa: RUF001


async def test_saved_filters_save_recall_delete(claims: Engine, until: Until) -> None:
    big = await claim(claims, "Ann", "1500")
    await claim(claims, "Bo", "20")
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=claims; amount > 1000")
        await until(lambda: row_ids(app) == [big], what="the big one")
        await pilot.press("ctrl+s")
        await screen_of(app, PromptScreen, until)
        await pilot.press(*"big claims", "enter")
        await until(lambda: any("saved as 'big claims'" in m for m in messages(app)), what="ok")
        assert list(await claims.saved_filters()) == ["big claims"]

        await set_filter(pilot, "")  # cleared: nothing shown
        await until(lambda: status_line(app) == NO_FILTER, what="cleared")
        assert row_ids(app) == []
        await pilot.press("f")
        saved = await screen_of(app, SavedFiltersScreen, until)
        assert saved.table.row_count == 1
        await pilot.press("enter")
        await until(lambda: row_ids(app) == [big], what="recalled")
        assert monitor(app).filter_input.value == "process=claims; amount > 1000"

        await pilot.press("f")
        await screen_of(app, SavedFiltersScreen, until)
        await pilot.press("d")
        await until(lambda: any("deleted filter" in m for m in messages(app)), what="deleted")
        assert await claims.saved_filters() == {}


async def test_monitor_user_sees_secured_variables_masked_in_the_detail(
    claims: Engine, sqlite_url: str, data_dir: Path, until: Until
) -> None:
    instance_id = await claim(claims, "Ann", "1500")
    await claims.add_user("mona", licence="monitor")
    await claims.grant("claims", "mona", view=True)
    mona = await Engine.open(sqlite_url, data_dir=data_dir, clock=FixedClock(NOW), user="mona")
    try:
        app = SwitchyardApp(mona)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await set_filter(pilot, "process=claims")
            await until(lambda: row_ids(app) == [instance_id], what="mona's row")
            await pilot.press("enter")
            detail = await screen_of(app, InstanceDetailScreen, until)
            await until(lambda: detail.detail is not None, what="the detail")
            await pilot.press("tab")  # Variables
            assert detail.tab == "variables"
            variables = detail.table("vars")
            assert str(variables.get_cell("iban", "value")) == "****"
            assert str(variables.get_cell("employee", "value")) == "Ann"
            await pilot.press("escape")
            assert isinstance(app.screen, MonitorScreen)
    finally:
        await mona.close()


async def test_detail_history_retry_and_skip(
    engine: Engine, runtime: Runtime, until: Until
) -> None:
    instance_id = await engine.start_process("flaky")
    await until(lambda: status_of(engine, instance_id), what="started")
    await until(lambda: _is(engine, instance_id, "error"), what="error")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=flaky")
        await until(lambda: row_ids(app) == [instance_id], what="the row")
        await pilot.press("enter")
        detail = await screen_of(app, InstanceDetailScreen, until)
        await until(lambda: detail.detail is not None, what="the detail")
        header = str(detail.query_one("#detail-header", Static).content)
        assert f"#{instance_id} flaky v1 · error · state s" in header
        assert "limit 0 is too low" in header
        steps = detail.table("steps")
        errors = [str(steps.full_cell(str(r.key.value), "note")) for r in steps.ordered_rows]
        assert any("limit 0 is too low" in e for e in errors), errors
        events = detail.table("events")
        assert "error" in [str(events.get_row(r.key)[1]) for r in events.ordered_rows]

        await pilot.press("r")  # retry after setting limit=1: fails again (1 < 3)
        await screen_of(app, PromptScreen, until)
        await pilot.press(*"limit=1", "enter")
        confirm = await screen_of(app, ConfirmScreen, until)
        assert "after setting limit=1" in str(confirm.query_one("#confirm-message").content)
        await pilot.press("y")
        await until(lambda: any("retry done" in m for m in messages(app)), what="retried")
        kinds = [h.kind for h in (await engine.instance_detail(instance_id)).history]
        assert "retry" in kinds
        await until(lambda: _is(engine, instance_id, "error"), what="error again")
        await until(lambda: "limit 1 is too low" in _header(detail), what="live header")

        await pilot.press("s")
        await screen_of(app, ConfirmScreen, until)
        await pilot.press("y")
        await until(lambda: _is(engine, instance_id, "completed"), what="skipped on")
        await until(lambda: "completed" in _header(detail), what="completed shown")


def _header(detail: InstanceDetailScreen) -> str:
    return str(detail.query_one("#detail-header", Static).content)


async def _is(engine: Engine, instance_id: int, status: str) -> bool:
    return await status_of(engine, instance_id) == status


async def test_bulk_retry_with_progress_and_summary(
    engine: Engine, runtime: Runtime, until: Until
) -> None:
    failing = [await engine.start_process("flaky") for _ in range(2)]
    fine = await engine.start_process("flaky", {"limit": "5"})
    for instance_id in failing:
        await until(lambda i=instance_id: _is(engine, i, "error"), what="error")
    await until(lambda: _is(engine, fine, "completed"), what="completed")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=flaky")
        await until(lambda: len(row_ids(app)) == 3, what="three rows")
        await pilot.press("a")  # mark the page: two in error, one completed
        assert monitor(app).marked == {*failing, fine}
        assert cell(app, fine, "mark") == "✓"
        await pilot.press("R")
        confirm = await screen_of(app, ConfirmScreen, until)
        assert "Retry 3 marked instances?" in str(confirm.query_one("#confirm-message").content)
        await pilot.press("y")
        bulk = await screen_of(app, BulkScreen, until)
        await until(lambda: bulk.finished, what="the bulk run")
        assert bulk.query_one(ProgressBar).progress == 3
        summary = str(bulk.query_one("#bulk-summary", Static).content)
        assert summary == "retry: 2 done, 1 failed"
        errors = str(bulk.query_one("#bulk-error-lines", Static).content)
        assert f"#{fine}: instance {fine} is completed: nothing to retry" in errors
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)
        assert monitor(app).marked == set()

        for instance_id in failing:  # they fail again; then all matching, nothing marked
            await until(lambda i=instance_id: _is(engine, i, "error"), what="error again")
        await set_filter(pilot, "process=flaky; status=error")
        await until(lambda: sorted(row_ids(app)) == sorted(failing), what="the failing")
        await pilot.press("R")
        confirm = await screen_of(app, ConfirmScreen, until)
        assert "Retry 2 instances matching process flaky and status error?" in str(
            confirm.query_one("#confirm-message").content
        )
        await pilot.press("y")
        bulk = await screen_of(app, BulkScreen, until)
        await until(lambda: bulk.finished, what="the second run")
        assert str(bulk.query_one("#bulk-summary", Static).content) == "retry: 2 done, 0 failed"


async def test_store_outage_keeps_rows_and_reconnects(
    claims: Engine,
    sqlite_url: str,
    data_dir: Path,
    until: Until,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await claim(claims, "Ann", "1500")
    await claims.start_feed(interval=0.05)
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=claims")
        await until(lambda: row_ids(app) == [first], what="the row")

        @asynccontextmanager
        async def unreachable() -> AsyncIterator[Any]:
            raise OperationalError("SELECT", {}, Exception("unable to open database file"))
            yield  # pragma: no cover

        monkeypatch.setattr(claims.store, "read", unreachable)
        banner = monitor(app).query_one(StoreBanner)
        await until(lambda: banner.has_class("-shown"), what="the banner")
        assert "store unavailable" in str(banner.content)
        assert "unable to open database file" in str(banner.content)
        other = await open_engine(sqlite_url, data_dir)
        try:  # meanwhile another node starts one; a refresh now fails quietly
            second = await claim(other, "Bo", "30")
        finally:
            await other.close()
        monitor(app).reload()
        await until(lambda: "store unavailable" in status_line(app), what="stale note")
        assert row_ids(app) == [first]  # what was shown stays
        assert app.is_running

        monkeypatch.undo()
        await until(lambda: not banner.has_class("-shown"), what="the banner gone")
        await until(lambda: sorted(row_ids(app)) == sorted([first, second]), what="refreshed")
        assert "store unavailable" not in status_line(app)


async def test_detail_of_an_instance_waiting_on_a_work_item(expenses: Any, until: Until) -> None:
    instance_id, item_id = await expenses.start()
    app = SwitchyardApp(expenses.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=expense-approval; waiting-on=work item")
        await until(lambda: row_ids(app) == [instance_id], what="the waiting expense")
        assert cell(app, instance_id, "waiting") == f"item #{item_id}"
        assert cell(app, instance_id, "originator") == "alice"
        await pilot.press("enter")
        detail = await screen_of(app, InstanceDetailScreen, until)
        await until(lambda: detail.detail is not None, what="the detail")
        assert f"waiting on item #{item_id}" in _header(detail)
        assert "by alice" in _header(detail)
        await pilot.press("tab", "tab", "tab")  # Work items
        assert detail.tab == "items"
        items = detail.table("items")
        assert [str(r.key.value) for r in items.ordered_rows] == [str(item_id)]
        assert str(items.get_cell(str(item_id), "with")) == "group managers"


async def test_an_ended_instance_never_shows_waiting_nor_retry(
    engine: Engine, runtime: Runtime, until: Until
) -> None:
    """A completed instance: no "waiting on" in the Monitor, its detail or `instances`
    (even an old row still carrying one), no Retry/Skip/Cancel offered, and its "started"
    is its history's, not the last claim's."""
    from datetime import timedelta

    from sqlalchemy import update
    from switchyard.store.queries.monitor import instances

    await engine.set_param("max_monitored_flows", 10000)
    instance_id = await engine.start_process("flaky", {"limit": 5})
    await until(lambda: _is(engine, instance_id, "completed"), what="completed")
    detail = await engine.instance_detail(instance_id)
    started = next(h.at for h in detail.history if h.kind == "started")
    # an old row: left with a stale waiting_on, claimed again later (started_at moved)
    async with engine.store.write() as conn:
        await conn.execute(
            update(instances)
            .where(instances.c.id == instance_id)
            .values(waiting_on="timer,workitem:1", started_at=started + timedelta(minutes=30))
        )
    assert (await engine.instance_detail(instance_id)).waiting_on is None
    page = await engine.monitor(MonitorFilterOf(processes=["flaky"]))
    assert [r.waiting_on for r in page.rows] == [None]

    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=flaky")
        await until(lambda: row_ids(app) == [instance_id], what="the row")
        assert cell(app, instance_id, "waiting") == "-"
        await pilot.press("enter")
        screen = await screen_of(app, InstanceDetailScreen, until)
        await until(lambda: screen.detail is not None, what="the detail")
        header = _header(screen)
        assert "completed" in header and "waiting" not in header
        assert f"started {started:%H:%M:%S}" in header, header
        offered = {a for a in ("retry", "skip", "cancel") if screen.check_action(a, ())}
        assert offered == set()  # False: not in the footer at all (None would dim them)


async def test_a_live_refresh_shows_the_latest_values_without_decoding_variables(
    claims: Engine, until: Until
) -> None:
    """A live refresh gives new row objects; the screen compares what each row shows, so
    a changed row shows its latest values, and no row's variables are decoded (the table
    shows none; comparing the rows themselves decoded every row's variables)."""
    first = await claim(claims, "Ann", "1500")
    second = await claim(claims, "Bo", "2500")
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "amount > 1000")
        await until(lambda: len(row_ids(app)) == 2, what="two rows")
        assert all("_stored" in r.__dict__ for r in monitor(app).rows.values())  # undecoded
        await claims.cancel(first)
        await until(lambda: cell(app, first, "status") == "cancelled", what="the cancel shown")
        third = await claim(claims, "Cy", "3000")
        await until(lambda: third in row_ids(app), what="the new row")
        assert cell(app, second, "status") == "queued"
        assert cell(app, first, "status") == "cancelled"
        shown = monitor(app).rows
        assert not [r.instance.id for r in shown.values() if "_stored" not in r.__dict__]


async def test_the_running_time_of_an_instance_not_ended_moves_with_the_clock(
    expenses: Any, until: Until
) -> None:
    """Rows are kept by what they show; an instance not ended shows a running time that
    moves with the clock, so its row is redrawn at the tick though nothing else changed,
    and an ended one's stays."""
    going, _ = await expenses.start()
    ended, _ = await expenses.start()
    engine = expenses.root
    await engine.cancel(ended)
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process=expense-approval")
        await until(lambda: len(row_ids(app)) == 2, what="two rows")
        await until(lambda: cell(app, ended, "status") == "cancelled", what="the cancel")
        assert cell(app, going, "running") == "0s"
        was = cell(app, ended, "running")
        assert isinstance(engine.clock, FixedClock)
        engine.clock.at += timedelta(minutes=3, seconds=12)
        monitor(app)._render_rows()  # as the tick does once the cursor rests
        assert cell(app, going, "running") == "3m12s"
        assert cell(app, ended, "running") == was
