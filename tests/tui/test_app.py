"""The console shell: screens by number and palette, help, keymap file, store banner."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.engine.node.runtime import Runtime
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.app import run_console_async as console_main
from switchyard.tui.screens.help import HelpScreen
from switchyard.tui.screens.queue import QueueScreen
from switchyard.tui.screens.schedules import SchedulesScreen
from switchyard.tui.widgets.banner import StoreBanner
from textual.command import CommandPalette
from textual.widgets import Input

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep


def messages(app: SwitchyardApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def write_keymap(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "switchyard" / "keymap.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_number_keys_switch_screens(engine: Engine) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, SchedulesScreen)
        await pilot.press("2")
        assert isinstance(app.screen, QueueScreen)
        assert app.current_mode == "queue"
        await pilot.press("1")
        assert isinstance(app.screen, SchedulesScreen)
        assert app.sub_title == "console — no engine runs work here"


async def test_palette_lists_screens_and_actions(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"queue")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, QueueScreen), what="queue screen")

        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"run nightly")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, SchedulesScreen), what="schedules screen")
        runs = await until(lambda: engine.instances(schedule="nightly-backup"), what="a run")
        assert any(f"#{runs[0].id} queued" in m for m in messages(app))


async def test_help_lists_every_binding_with_its_key(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.screen.query_one("#schedules").row_count == 4, what="rows")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-keys")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        by_id = {row[3]: row for row in rows if row[3]}
        assert by_id["run_now"][1:3] == ["r", "Run now"]
        assert by_id["add_schedule"][1] == "a"
        assert by_id["delete_schedule"][1] == "d"
        assert by_id["table_down"][1] == "j"
        assert by_id["table_bottom"][1] == "G"
        assert by_id["quit"][0] == "global"
        assert by_id["screen_queue"][1] == "2"
        assert by_id["help"][1] == "?"
        await pilot.press("escape")
        assert isinstance(app.screen, SchedulesScreen)


async def test_keymap_file_remaps_run_now(engine: Engine, until: Until) -> None:
    write_keymap('[keys]\nrun_now = "x"\n')
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#schedules")
        await until(lambda: table.row_count == 4, what="rows")
        await pilot.press("r")  # no longer bound
        await pilot.pause(0.2)
        assert await engine.instances() == []
        await pilot.press("x")
        runs = await until(lambda: engine.instances(), what="a run started with x")
        assert runs[0].schedule == "cleanup-temp"  # the first row
        await pilot.press("question_mark")
        help_table = app.screen.query_one("#help-keys")
        rows = [[str(c) for c in help_table.get_row_at(i)] for i in range(help_table.row_count)]
        assert ["Schedules", "x", "Run now", "run_now"] in rows


async def test_bad_keymap_file_is_reported_not_fatal(engine: Engine) -> None:
    path = write_keymap('[keys]\nrun_now = "x"\nnot_a_binding = "z"\nadd_schedule = 3\n')
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = "\n".join(messages(app))
        assert str(path) in notes
        assert "unknown binding id 'not_a_binding'" in notes
        assert "add_schedule" in notes
        assert isinstance(app.screen, SchedulesScreen)  # still running, good keys applied
        await pilot.press("question_mark")
        assert any(k.keys == "x" for k in app.screen._keys if k.binding_id == "run_now")

    write_keymap("[keys\nrun_now = ")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = "\n".join(messages(app))
        assert str(path) in notes and "not valid TOML" in notes


async def test_store_banner_follows_feed_status(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        banner = app.screen.query_one(StoreBanner)
        assert not banner.display or not banner.has_class("-shown")
        engine.bus.publish(ev.EngineEvent(ev.FEED_STATUS, data={"ok": False, "error": "gone"}))
        await until(lambda: banner.has_class("-shown"), what="banner")
        assert "store unavailable: gone" in str(banner.content)
        await pilot.press("2")  # every screen shows it
        await until(lambda: app.screen.query_one(StoreBanner).has_class("-shown"), what="q")
        engine.bus.publish(ev.EngineEvent(ev.FEED_STATUS, data={"ok": True}))
        await until(lambda: not app.screen.query_one(StoreBanner).has_class("-shown"), what="ok")
        assert any("reachable again" in m for m in messages(app))


async def test_escape_closes_and_q_in_a_form_types(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        name = await until(
            lambda: app.focused if isinstance(app.focused, Input) else None, what="form"
        )
        assert name.id == "f-name"
        await pilot.press("q")  # typed, not quit
        assert name.value == "q"
        await pilot.press("escape")
        assert isinstance(app.screen, SchedulesScreen)
        assert app.is_running


async def test_console_embeds_an_engine_unless_a_node_serves(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_console's choice: an embedded Runtime, or a pure console when `serve` runs."""
    seen: list[SwitchyardApp] = []

    async def fake_run(self: SwitchyardApp, **_: Any) -> None:
        seen.append(self)
        assert self.engine.feed is not None  # cross-process updates are on
        # the embedded node starts only once the first screen is painted (console start)
        assert self.runtime is None
        self.first_frame.set()  # what the first screen's first load does
        for _ in range(500):
            if not self.embedded or (self.runtime is not None and self.runtime.started):
                break
            await asyncio.sleep(0.01)
        assert not self.embedded or (self.runtime is not None and self.runtime.started)

    monkeypatch.setattr(SwitchyardApp, "run_async", fake_run)
    await console_main(sqlite_url)
    embedded = seen.pop()
    assert embedded.runtime is not None and embedded.runtime.mode == "console"
    assert not embedded.runtime.started  # stopped on the way out
    assert embedded.sub_title == "embedded engine"

    other = await Engine.open(sqlite_url)
    node = Runtime(other, mode="serve")
    await node.start()
    try:
        await console_main(sqlite_url)
        console = seen.pop()
        assert console.runtime is None
        assert console.sub_title == f"console — work runs on node {other.node_id}"
        assert node.started  # the console never touches the node's work
    finally:
        await node.stop(grace=1)
        await other.close()


async def test_an_embedded_node_that_cannot_start_ends_the_console_with_its_error(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node starts after the first screen; if it fails, the console ends, everything
    is closed as on a normal quit, and the error reaches the caller (the CLI's funnel)."""
    tried: list[bool] = []

    async def failing_start(self: Runtime) -> None:
        tried.append(True)
        raise OSError("no room to start")

    async def fake_run(self: SwitchyardApp, **_: Any) -> None:
        self.first_frame.set()
        for _ in range(500):
            if tried:
                break
            await asyncio.sleep(0.01)

    monkeypatch.setattr(Runtime, "start", failing_start)
    monkeypatch.setattr(SwitchyardApp, "run_async", fake_run)
    logger = logging.getLogger("switchyard")
    with pytest.raises(OSError, match="no room to start"):
        await console_main(sqlite_url)
    assert tried
    assert logger.propagate  # restored: the console's log handler was taken off
    assert not any(isinstance(h, logging.FileHandler) for h in logger.handlers)
