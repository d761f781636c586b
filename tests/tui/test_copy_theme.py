"""Over SSH: ``y`` copies (OSC 52 via App.copy_to_clipboard, with a toast); the theme chosen
persists in console.toml (0600); NO_COLOR makes the console monochrome."""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.api import Engine
from switchyard.tui import settings
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.queue import QueueScreen
from switchyard.tui.widgets.log_pane import TailLog
from textual.command import CommandPalette
from textual.filter import Monochrome, NoColor
from textual.widgets import Button, Input

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]


class Recording(SwitchyardApp):
    """The app, noting each copy_to_clipboard call (the OSC 52 write is Textual's)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.copied: list[str] = []

    def copy_to_clipboard(self, text: str) -> None:
        self.copied.append(text)
        super().copy_to_clipboard(text)


def toasts(app: SwitchyardApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_y_copies_the_highlighted_id_with_a_toast(engine: Engine, until: Until) -> None:
    first = await engine.start("cleanup-temp")
    second = await engine.start("cleanup-temp")
    app = Recording(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        assert isinstance(app.screen, QueueScreen)
        screen = app.screen
        await until(lambda: screen.table.row_count == 2, what="two queued runs")
        await pilot.press("y")
        assert app.copied == [str(first)]
        assert app.clipboard == str(first)
        assert f"copied: {first}" in toasts(app)
        await pilot.press("j", "y")
        assert app.copied == [str(first), str(second)]


async def test_y_on_the_log_copies_its_last_line(engine: Engine) -> None:
    app = Recording(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        log = app.screen.query_one(TailLog)
        log.write_lines(["first line", "second line"])
        log.focus()
        await pilot.pause()
        await pilot.press("y")
        assert app.copied == ["second line"]
        assert "copied: second line" in toasts(app)


async def test_y_with_nothing_to_copy_says_so(engine: Engine) -> None:
    app = Recording(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")  # Events: empty here
        await pilot.press("y")
        assert app.copied == []
        assert any("nothing to copy" in t for t in toasts(app))


async def test_theme_persists_across_restarts(engine: Engine) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "switchyard" / "console.toml"
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        assert "switchyard-high-contrast" in app.available_themes
        default = app.theme
        await pilot.pause()
        assert not path.exists()  # nothing chosen, nothing written
        app.theme = "switchyard-high-contrast"
        await pilot.pause()
    assert default != "switchyard-high-contrast"
    assert settings.load_theme(path) == "switchyard-high-contrast"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    again = SwitchyardApp(engine)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "switchyard-high-contrast"
        again.theme = "nord"
        await pilot.pause()
    assert settings.load_theme(path) == "nord"


async def test_an_unknown_or_broken_theme_file_keeps_the_default(engine: Engine) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "switchyard" / "console.toml"
    path.parent.mkdir(parents=True)
    default = SwitchyardApp(engine).theme
    for text in ('theme = "no-such-theme"\n', "theme = [not toml\n"):
        path.write_text(text)
        app = SwitchyardApp(engine)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.theme == default
        assert path.read_text() == text  # left as it was


def test_no_color_makes_the_console_monochrome(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not SwitchyardApp(engine).no_color
    monkeypatch.setenv("NO_COLOR", "1")
    app = SwitchyardApp(engine)
    assert app.no_color
    assert any(isinstance(f, Monochrome | NoColor) for f in app.get_line_filters())


async def test_the_palette_picks_the_high_contrast_theme(engine: Engine, until: Until) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "switchyard" / "console.toml"
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"theme")
        await pilot.pause(0.3)
        await pilot.press("enter")  # Textual's "Theme": a palette of every registered theme
        await pilot.pause(0.3)
        await pilot.press(*"high-contrast")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: app.theme == "switchyard-high-contrast", what="theme chosen")
    assert settings.load_theme(path) == "switchyard-high-contrast"


async def test_keys_typed_ahead_do_not_dismiss_a_dialog_twice(engine: Engine) -> None:
    """Over a slow link two Enters can both reach a prompt before it is gone: the second
    used to pop the screen below too (ScreenStackError, the console died)."""
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        answers: list[object] = []
        prompt = PromptScreen("Filter", "a process")
        await app.push_screen(prompt, answers.append)
        field = prompt.query_one(Input)
        field.post_message(Input.Submitted(field, "x"))
        field.post_message(Input.Submitted(field, "x"))
        await pilot.pause(0.2)
        confirm = ConfirmScreen("Cancel?", "sure?")
        await app.push_screen(confirm, answers.append)
        confirm.post_message(Button.Pressed(confirm.query_one("#yes", Button)))
        confirm.post_message(Button.Pressed(confirm.query_one("#yes", Button)))
        await pilot.pause(0.2)
        assert answers == ["x", True]
        assert app.is_running and len(app.screen_stack) == 1
