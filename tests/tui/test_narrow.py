"""At 80x24: the mode is always on the top line, the screens' keys stay while a filter is
typed, and the help's first page lists the global keys and Esc."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
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
            await pilot.press("ctrl+t")  # over a screen: the timers, still with the mode
            await until(lambda: type(app.screen).__name__ == "TimersScreen", what="timers")
            assert top_line(app).rstrip().endswith("embedded"), top_line(app)
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
        for part in ("1/2/3/4/5/6/7 screens", "esc Back", "? Help", "q Quit", "^t Timers"):
            assert part in text, text
        assert line.region.bottom <= SIZE[1] and line.region.height >= 1  # on screen


def uncut(table: Any, key: str, column: str) -> bool:
    return str(table.get_cell(key, column)) == str(table.full_cell(key, column))


async def test_columns_fit_their_content_at_80(engine: Engine, until: Until, tmp_path) -> None:
    """Schedules: triggers in full (the lane gives way; it is in the detail) and "next" says
    its zone; Monitor: a long process name in full (node/updated give way); Admin: a
    parameter's rule readable in full in the detail."""
    from .test_monitor import publish

    await publish(engine, tmp_path, LONG_PROCESS, "expense-approval-long")
    started = await engine.start_process("expense-approval-long")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#schedules")
        await until(lambda: table.row_count == 4, what="schedules")
        for name in ("nightly-backup", "sales-report", "contact-sync"):
            assert uncut(table, name, "trigger"), str(table.get_cell(name, "trigger"))
        assert str(table.columns["next"].label) == "next (UTC)"

        await pilot.press("3", "slash", *"process=expense-approval-long", "enter")
        monitor = app.screen.query_one("#monitor")
        await until(lambda: monitor.row_count == 1, what="the monitor row")
        assert uncut(monitor, str(started), "process"), str(
            monitor.get_cell(str(started), "process")
        )

        await pilot.press("5")
        for _ in range(6):
            if app.screen.tab == "params":  # type: ignore[attr-defined]
                break
            await pilot.press("tab")
        params = app.screen.query_one("#admin-params")
        await until(lambda: params.row_count >= 1, what="parameters")
        while app.screen.selected != "max_monitored_flows":  # type: ignore[attr-defined]
            await pilot.press("j")
        await pilot.pause()
        detail = app.screen.query_one("#admin-detail", Static)
        assert "a monitor filter matching more" in str(detail.content)
        lines = Text(str(detail.content)).wrap(app.console, detail.size.width)
        assert len(lines) <= detail.size.height  # nothing cut off


LONG_PROCESS = """
process: expense-approval-long
start: s
states:
  s:
    actions:
      - end_process: done
"""
