"""At 80x24: the mode is always on the top line, the screens' keys stay while a filter is
typed, and the help's first page lists the global keys and Esc."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.help import HelpScreen
from switchyard.tui.widgets.top_bar import TopBar, short_mode
from textual.widgets import Input, Static

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]


def top_line(app: SwitchyardApp) -> str:
    bar = app.screen.query_one(TopBar)
    return bar.render().plain  # type: ignore[union-attr]


async def test_the_mode_is_on_the_top_line_of_every_screen(engine: Engine, until: Until) -> None:
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            for key in "123456":
                await pilot.press(key)
                await pilot.pause()
                line = top_line(app)
                assert len(line) <= SIZE[0]
                assert line.rstrip().endswith("embedded"), (key, line)
                assert all(f" {k} " in line for k in "123456"), line
    finally:
        await runtime.stop(grace=1)


async def test_attached_mode_is_shortened_not_cut(engine: Engine) -> None:
    assert short_mode("console — work runs on node ops-1-a1b2c3") == "node ops-1-a1b2c3"
    app = SwitchyardApp(engine)  # no runtime, no live node
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        line = top_line(app).rstrip()
        assert line.endswith(("no node", "no engine")), line  # before / after the node check


async def test_the_keys_stay_while_a_filter_is_typed(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"status=wait")
        line = top_line(app)
        assert all(f" {k} " in line for k in "123456"), line


async def test_help_lists_global_keys_and_back_on_its_first_page(engine: Engine) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        line = app.screen.query_one("#help-global", Static)
        text = str(line.content)
        for part in ("1/2/3/4/5/6 screens", "esc Back", "? Help", "q Quit", "^t Timers"):
            assert part in text, text
        assert line.region.bottom <= SIZE[1] and line.region.height >= 1  # on screen
