"""The Timers screen (ctrl+t or the palette): every timer soonest first; ``r`` forces the
highlighted one, ``R`` every listed due one. A real engine on SQLite, fixed clock at
12:00 UTC, a node running the work; "tester" is the admin."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.timers import TimersScreen
from textual.command import CommandPalette
from textual.pilot import Pilot

from .conftest import NOW, open_engine

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep

SLEEPER = """
process: sleeper
variables:
  woke: {type: boolean, default: false}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
      - assign: {woke: true}
      - end_process: rested
"""


async def waiting_sleeper(engine: Engine, tmp_path: Path, until: Until) -> int:
    """Publish the sleeper and start one; its id once it waits (a runtime must run)."""
    path = tmp_path / "sleeper.yaml"
    path.write_text(textwrap.dedent(SLEEPER).lstrip(), encoding="utf-8")
    await engine.publish([path])
    instance_id = await engine.start_process("sleeper", {})
    await until(lambda: _is(engine, instance_id, "waiting"), timeout=20, what="the sleeper")
    return instance_id


async def _is(engine: Engine, instance_id: int, wanted: str) -> bool:
    return (await engine.instance(instance_id)).status == wanted


def timers(app: SwitchyardApp) -> TimersScreen:
    assert isinstance(app.screen, TimersScreen), type(app.screen).__name__
    return app.screen


async def open_timers(pilot: Pilot, until: Until) -> TimersScreen:
    await pilot.press("ctrl+t")
    await until(lambda: isinstance(pilot.app.screen, TimersScreen), what="the timers screen")
    return timers(pilot.app)


async def test_r_forces_the_highlighted_wait(engine: Engine, tmp_path: Path, until: Until) -> None:
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        instance_id = await waiting_sleeper(engine, tmp_path, until)
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_timers(pilot, until)
            key = f"instance:{instance_id}"
            await until(lambda: key in screen.timers, what="the sleeper's timer")
            table = screen.table
            assert [str(c) for c in table.get_row(key)] == [
                "instance",
                key,
                "13:00:00",  # local time (TZ=UTC), in an hour
                "wait",
                "sleeper",
                str(instance_id),
            ]
            assert "schedule:contact-sync" in screen.timers  # schedule fires are timers too
            assert "0 due" in str(screen.query_one("#timers-header").content)
            while table.selected_key != key:  # as a user would: down to the row
                await pilot.press("j")
            await pilot.press("r")
            await until(lambda: _is(engine, instance_id, "completed"), timeout=20, what="done")
            notes = [n.message for n in app._notifications]
            assert f"1 fired · 0 already running · 0 skipped\n{key}: woken" in notes
            await until(lambda: key not in screen.timers, what="the timer gone from the list")
            assert (await engine.instance_detail(instance_id)).variables["woke"] is True

            await pilot.press("escape")  # back to where it was opened
            await until(lambda: not isinstance(app.screen, TimersScreen), what="closed")
            assert app.current_mode == "schedules"
    finally:
        await runtime.stop(grace=1)


async def test_R_forces_every_due_timer_after_a_confirmation(
    sqlite_url: str, data_dir: Path, tmp_path: Path, until: Until
) -> None:
    engine = await open_engine(sqlite_url, data_dir)  # no schedules: only the sleepers
    try:
        runtime = Runtime(engine, mode="console")
        await runtime.start()
        try:
            first = await waiting_sleeper(engine, tmp_path, until)
            second = await engine.start_process("sleeper", {})
            await until(lambda: _is(engine, second, "waiting"), timeout=20, what="2nd waiting")
        finally:
            await runtime.stop(grace=1)  # nothing wakes them but the console
        assert isinstance(engine.clock, FixedClock)
        engine.clock.at = NOW + timedelta(hours=2)  # both due now
        app = SwitchyardApp(engine)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_timers(pilot, until)
            await until(lambda: len(screen.timers) == 2, what="both timers")
            assert "2 due" in str(screen.query_one("#timers-header").content)
            assert "13:00:00 due" in str(screen.table.get_row(f"instance:{first}")[2])
            await pilot.press("R")
            await until(lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            await pilot.press("y")
            await until(
                lambda: any(n.message.startswith("2 fired") for n in app._notifications),
                what="the report",
            )
            for instance_id in (first, second):
                assert await _is(engine, instance_id, "queued")  # woken: runs on the next node
            await until(lambda: not screen.timers, what="no timers left")
    finally:
        await engine.close()


async def test_the_palette_opens_it_and_not_over_a_dialog(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"timers")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, TimersScreen), what="the timers screen")
        await until(lambda: "schedule:contact-sync" in timers(app).timers, what="the rows")
        await pilot.press("ctrl+t")  # open already: not twice
        assert len(app.screen_stack) == 2

        await pilot.press("escape", "6", "slash")  # a prompt is open: ctrl+t leaves it alone
        await until(lambda: isinstance(app.screen, PromptScreen), what="the prompt")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
