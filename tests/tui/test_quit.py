"""Quitting a console that runs work itself (an embedded node): a continuous schedule's run
does not hold the quit up nor ask about it; it ends ``cancelled`` ("interrupted by quit"),
not ``error``, and the schedule starts it again when the next console opens."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.instances.completion import INTERRUPTED_BY_QUIT
from switchyard.engine.kernel.nodes import NodeState
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.tui.app import QUIT_GRACE, SwitchyardApp
from switchyard.tui.screens.confirm import ConfirmScreen

TICKER = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.2)"
Until = Callable[..., Awaitable[Any]]


async def shipper_runs(engine: Engine, status: str) -> list[Any]:
    return await engine.instances(schedule="shipper", status=status)


async def test_quit_interrupts_a_continuous_run_without_error_and_the_next_open_restarts_it(
    db_url: str, data_dir: Path, until: Until
) -> None:
    engine = await Engine.open(db_url, data_dir=data_dir, user="tester")
    await engine.add_schedule(
        ScheduleSpec("shipper", [sys.executable, "-u", "-c", TICKER], continuous=True)
    )
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    node_id = engine.node_id
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=(120, 40)) as pilot:
            running = await until(lambda: shipper_runs(engine, "running"), what="shipper running")
            await pilot.press("q")
            await pilot.pause()
            # no "N runs in progress will be interrupted" question: the app just exits
            assert not isinstance(app.screen, ConfirmScreen)
            assert app.return_code == 0
        await runtime.stop(grace=QUIT_GRACE)  # what run_console_async does after the app
        ended = await engine.instance(running[0].id)
        assert (ended.status, ended.reason) == ("cancelled", INTERRUPTED_BY_QUIT)
        assert await shipper_runs(engine, "error") == []
        nodes = {n.id: n for n in await engine.nodes(include_stopped=True)}
        assert nodes[node_id].state == NodeState.STOPPED
    finally:
        if runtime.started:
            await runtime.stop(grace=1)
        await engine.close()

    # the next console: the shipper runs again (a new instance), nothing in error
    engine = await Engine.open(db_url, data_dir=data_dir, user="tester")
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        again = await until(lambda: shipper_runs(engine, "running"), what="shipper again")
        assert again[0].id != running[0].id
        assert await shipper_runs(engine, "error") == []
    finally:
        await runtime.stop(grace=1)
        await engine.close()
