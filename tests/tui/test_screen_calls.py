"""An engine call that answers after the console began to close (or after its screen
left) is dropped: the worker that awaited it must not go on to draw into widgets that are
already gone (seen in CI: ``NoMatches('#wi-status')`` from the Work Items screen's load,
which an app exit had overtaken, failing the test that quit)."""

from __future__ import annotations

import asyncio

from switchyard.engine.api import Engine
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.base import EngineScreen

SIZE = (80, 24)


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
