"""Every dialog answers once, and the full-screen ones keep the top bar (the mode).

Over a slow link keys arrive in bursts: a second Esc or Enter that reaches a dialog before
it is gone must not dismiss it again, which would run its callback twice and pop the
screen below it too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.tui import screens
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.answer_once import AnswerOnce
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.help import HelpScreen
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.widgets.top_bar import TopBar
from textual.screen import Screen
from textual.widgets import Input

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]


def dismissing_screens() -> list[type[Screen[Any]]]:
    found: list[type[Screen[Any]]] = []
    for info in pkgutil.iter_modules(screens.__path__):
        module = importlib.import_module(f"{screens.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, Screen):
                continue
            if "self.dismiss(" in inspect.getsource(cls):
                found.append(cls)
    return found


def test_every_screen_that_dismisses_answers_once() -> None:
    found = dismissing_screens()
    assert len(found) >= 10, [c.__name__ for c in found]  # the scan sees the dialogs
    assert [c.__name__ for c in found if not issubclass(c, AnswerOnce)] == []


async def test_a_second_dismiss_does_nothing(engine: Engine) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        below = app.screen
        depth = len(app.screen_stack)
        for dialog in (
            PromptScreen("Name", "a name"),
            ConfirmScreen("Cancel", "cancel it?"),
            HelpScreen("Queue", []),
        ):
            answers: list[Any] = []
            app.push_screen(dialog, answers.append)
            await pilot.pause()
            assert app.screen is dialog
            dialog.dismiss(None)
            dialog.dismiss(None)  # typed ahead: already answered
            await pilot.pause()
            assert answers == [None], type(dialog).__name__
            assert app.screen is below and len(app.screen_stack) == depth, type(dialog).__name__


def mode_line(app: SwitchyardApp) -> str:
    bar = app.screen.query_one(TopBar)
    assert bar.region.y == 0 and bar.region.height == 1
    return bar.render().plain  # type: ignore[union-attr]


async def test_full_screen_dialogs_keep_the_mode_on_top(engine: Engine, until: Until) -> None:
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2", "question_mark")
            await until(lambda: isinstance(app.screen, HelpScreen), what="help")
            assert mode_line(app).rstrip().endswith("embedded"), mode_line(app)
            await pilot.press("escape", "1")
            table = app.screen.query_one("#schedules")
            await until(lambda: table.row_count == 4, what="schedules")
            await pilot.press("a")
            await until(lambda: isinstance(app.focused, Input), what="the schedule form")
            assert type(app.screen).__name__ == "ScheduleForm"
            assert mode_line(app).rstrip().endswith("embedded"), mode_line(app)
    finally:
        await runtime.stop(grace=1)
