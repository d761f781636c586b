"""An engine call that answers after the console began to close (or after its screen
left) is dropped: the worker that awaited it must not go on to draw into widgets that are
already gone (seen in CI: ``NoMatches('#wi-status')`` from the Work Items screen's load,
which an app exit had overtaken, failing the test that quit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import StoreUnavailable
from switchyard.engine.monitor.api import FilterTooBroad
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.base import EngineScreen
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.events import EventsScreen
from switchyard.tui.screens.instance_detail import InstanceDetailScreen
from switchyard.tui.screens.monitor import MonitorScreen

SIZE = (80, 24)
T = TypeVar("T")
Until = Callable[..., Awaitable[Any]]  # the `until` fixture


async def _answer_after(gate: asyncio.Event) -> str:
    await gate.wait()
    return "answer"


async def _done(gate: asyncio.Event) -> None:
    await gate.wait()


async def test_an_answer_after_the_app_closed_is_dropped(engine: Engine) -> None:
    app = SwitchyardApp(engine)
    gate = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EngineScreen)
        called = asyncio.create_task(screen.call(_answer_after(gate), failed="x"))
        attempted = asyncio.create_task(screen.attempt(_done(gate), failed="x"))
        await asyncio.sleep(0)
    gate.set()  # the answers come once the app has shut down
    assert await called is None
    assert await attempted is False


async def test_an_answer_while_the_app_runs_is_given(engine: Engine) -> None:
    app = SwitchyardApp(engine)
    gate = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EngineScreen)
        called = asyncio.create_task(screen.call(_answer_after(gate), failed="x"))
        attempted = asyncio.create_task(screen.attempt(_done(gate), failed="x"))
        gate.set()
        assert await called == "answer"
        assert await attempted is True


def _held(gate: asyncio.Event, method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """``method`` of the real engine, answering only once ``gate`` is set."""

    async def held(*args: Any, **kwargs: Any) -> T:
        await gate.wait()
        return await method(*args, **kwargs)

    return held


async def test_a_monitor_page_after_the_app_closed_is_dropped(
    expenses: Any, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Monitor reads through its own ``_fetch`` (not ``call``): a page that comes
    after the app began closing is dropped there too, not drawn (was NoMatches: the table
    and the status line are gone)."""
    await expenses.start()
    engine = expenses.root
    app = SwitchyardApp(engine)
    gate = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.press("slash", *"process=expense-approval", "enter")
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await until(lambda: screen.table.row_count == 1, what="the row")
        monkeypatch.setattr(engine, "monitor", _held(gate, engine.monitor))
        screen._candidate = screen.flt  # the filter applied again (no live-refresh wait)
        loading = asyncio.create_task(screen._load())
        await asyncio.sleep(0)
    gate.set()  # the page comes once the app has shut down
    await loading
    assert screen._candidate is None  # answered: no longer pending


async def test_an_instance_detail_after_the_app_closed_is_dropped(
    expenses: Any, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instance detail reads the engine directly: its answer, after the app began
    closing, is dropped too (was NoMatches: its tables are gone)."""
    instance_id, _ = await expenses.start()
    engine = expenses.root
    app = SwitchyardApp(engine)
    gate = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        screen = InstanceDetailScreen(instance_id)
        await app.push_screen(screen)
        await until(lambda: screen.detail is not None, what="the detail")
        monkeypatch.setattr(engine, "instance_detail", _held(gate, engine.instance_detail))
        loading = asyncio.create_task(screen._load())
        await asyncio.sleep(0)
    gate.set()
    await loading


async def test_an_event_log_page_after_the_app_closed_is_dropped(
    engine: Engine, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event log reads the engine directly: its page, after the app began closing,
    is dropped too (was NoMatches: its table is gone)."""
    app = SwitchyardApp(engine)
    gate = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        await until(
            lambda: not [w for w in app.workers if w.node is screen and w.group == "reload"],
            what="the first page",
        )
        monkeypatch.setattr(engine, "event_log", _held(gate, engine.event_log))
        load = EventsScreen._load.__wrapped__  # type: ignore[attr-defined]  # not as a worker
        loading = asyncio.create_task(load(screen))
        await asyncio.sleep(0)
    gate.set()
    await loading


async def _fails_after(gate: asyncio.Event, error: Exception) -> None:
    await gate.wait()
    raise error


@pytest.mark.parametrize(
    "error", [StoreUnavailable("the store is out of reach"), FilterTooBroad(5000, 1000)]
)
async def test_a_monitor_read_failing_after_the_app_closed_draws_nothing(
    engine: Engine, error: Exception
) -> None:
    """A Monitor read that fails (store out of reach, filter too broad) once the app began
    closing: nothing is drawn into the status line, which is gone (was NoMatches)."""
    app = SwitchyardApp(engine)
    gate = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        fetching = asyncio.create_task(screen._fetch(_fails_after(gate, error), failed="x"))
        await asyncio.sleep(0)
    gate.set()
    assert await fetching is None


async def test_an_answer_under_a_modal_or_in_another_mode_is_given(engine: Engine) -> None:
    """Not ``gone``: a screen whose mode was left (it stays in its mode's stack, shown
    again at its key) and a screen under a dialog get their answers (a guard: this
    passed before too)."""
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        schedules = app.screen
        assert isinstance(schedules, EngineScreen)
        gate = asyncio.Event()
        called = asyncio.create_task(schedules.call(_answer_after(gate), failed="x"))
        await pilot.press("3")  # the answer comes after the switch to the Monitor
        await pilot.pause()
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        gate.set()
        assert await called == "answer"
        gate = asyncio.Event()
        called = asyncio.create_task(monitor.call(_answer_after(gate), failed="x"))
        attempted = asyncio.create_task(monitor.attempt(_done(gate), failed="x"))
        await app.push_screen(ConfirmScreen("Sure?", "a dialog over the Monitor"))
        await pilot.pause()
        gate.set()
        assert await called == "answer"
        assert await attempted is True
