"""The Queue screen's `L`: a lane's concurrency changed from the console, applied at once
by the console's embedded node (issue 16, defect 8)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine.helpers import Gates
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.lane_form import LaneConcurrencyScreen
from switchyard.tui.screens.queue import QueueScreen
from textual.widgets import Input, Select

SIZE = (100, 30)
Until = Callable[..., Awaitable[Any]]


def statuses(app: SwitchyardApp) -> list[str]:
    table = app.screen.query_one("#queue")
    return sorted(str(table.get_row(r.key)[4]) for r in table.ordered_rows)


async def concurrency(engine: Engine, name: str) -> int:
    return next(ln.concurrency for ln in await engine.lanes() if ln.name == name)


async def test_raising_a_lane_from_the_queue_screen_starts_queued_runs(
    engine: Engine, until: Until, tmp_path: Path
) -> None:
    gates = Gates(tmp_path)
    await engine.add_schedule(
        ScheduleSpec("gated", gates.command(), on_demand=True, lane="reports", overlap="parallel:5")
    )
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    ids = [await engine.start("gated") for _ in range(3)]
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            assert isinstance(app.screen, QueueScreen)
            await until(lambda: statuses(app) == ["queued", "queued", "running"], what="1 running")
            await pilot.press("L")
            modal = await until(
                lambda: app.screen if isinstance(app.screen, LaneConcurrencyScreen) else None,
                what="the lane modal",
            )
            assert modal.query_one("#lane-name", Select).value == "reports"
            assert modal.query_one("#lane-concurrency", Input).value == "1"

            # a refused value: one notification, nothing changed
            await pilot.press("backspace", "0", "enter")
            await until(lambda: isinstance(app.screen, QueueScreen), what="modal closed")
            await until(
                lambda: any("between 1 and" in str(n.message) for n in app._notifications),
                what="the refusal",
            )
            assert await concurrency(engine, "reports") == 1

            # Esc: nothing changes
            await pilot.press("L")
            await until(lambda: isinstance(app.screen, LaneConcurrencyScreen), what="modal")
            await pilot.press("escape")
            await until(lambda: isinstance(app.screen, QueueScreen), what="modal closed")

            await pilot.press("L")
            await until(lambda: isinstance(app.screen, LaneConcurrencyScreen), what="modal")
            await pilot.press("backspace", "3", "enter")
            await until(lambda: statuses(app) == ["running"] * 3, what="three running, same node")
            assert await concurrency(engine, "reports") == 3
            assert sorted(gates.started()) == sorted(ids)
            gates.release_all(ids)
            await until(lambda: statuses(app) == [], what="queue empty")
    finally:
        gates.release_all(ids)
        await runtime.stop(grace=1)
