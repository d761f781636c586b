"""The Events screen (key 6): the event log newest first, live, filtered by kind and time,
paged by keyset, an entry in full; the engine's refusal for users without the monitor
licence. A real engine on SQLite (fixed clock at 12:00 UTC); "tester" is its admin."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.event_detail import EventDetailScreen
from switchyard.tui.screens.events import PAGE, EventsScreen
from switchyard.tui.screens.prompt import PromptScreen
from textual.pilot import Pilot
from textual.widgets import Static

from .conftest import NOW

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep


def events(app: SwitchyardApp) -> EventsScreen:
    screen = app.screen_stack[0] if app.current_mode == "events" else None
    assert isinstance(screen, EventsScreen), app.current_mode
    return screen


def kinds(app: SwitchyardApp) -> list[str]:
    """The kind column, top to bottom."""
    screen = events(app)
    return [screen.entries[str(r.key.value)].kind for r in screen.table.ordered_rows]


def status(app: SwitchyardApp) -> str:
    return str(events(app).query_one("#events-status", Static).content)


async def open_events(pilot: Pilot, until: Until) -> EventsScreen:
    await pilot.press("6")
    await until(lambda: pilot.app.current_mode == "events", what="the events screen")
    return events(pilot.app)


async def answer(pilot: Pilot, until: Until, key: str, text: str) -> None:
    """Press ``key``, replace the prompt's text with ``text``, Enter."""
    await pilot.press(key)
    await until(lambda: isinstance(pilot.app.screen, PromptScreen), what="the prompt")
    await pilot.press("ctrl+u", *text, "enter")
    await until(lambda: not isinstance(pilot.app.screen, PromptScreen), what="prompt closed")


async def test_node_starts_and_live_param_changes(engine: Engine, until: Until) -> None:
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_events(pilot, until)
            await until(lambda: "node.started" in kinds(app), what="the node start")
            started = next(e for e in screen.entries.values() if e.kind == "node.started")
            assert started.node_id == engine.node_id
            assert status(app) == f"all kinds · {len(screen.entries)} entries, newest first"

            await engine.set_param("max_monitored_flows", 300)  # arrives live
            await until(lambda: kinds(app)[:1] == ["param.changed"], what="the change, on top")
            top = screen.table.selected_key  # the cursor stays on the first row
            assert top is not None and screen.entries[top].kind == "param.changed"
            message = "parameter max_monitored_flows changed: 5000 -> 300"
            assert str(screen.table.full_cell(top, "message")) == message
            assert message in str(screen.query_one("#events-message", Static).content)
            assert screen.table.get_cell_at((0, 0)).plain == "12:00:00"  # local (TZ=UTC)
            assert screen.table.get_cell_at((0, 3)).plain == "tester"

            await pilot.press("enter")  # the entry in full
            await until(lambda: isinstance(app.screen, EventDetailScreen), what="the detail")
            shown = json.loads(app.screen.query_one("#event-json", Static).content.text.plain)
            assert shown["kind"] == "param.changed"
            assert shown["detail"] == {"name": "max_monitored_flows", "old": 5000, "new": 300}
            assert shown["at"] == NOW.isoformat()
            await pilot.press("escape")
            await until(lambda: isinstance(app.screen, EventsScreen), what="detail closed")
    finally:
        await runtime.stop(grace=1)


async def test_filter_by_kind_and_time(engine: Engine, until: Until) -> None:
    await engine.set_param("depth_threshold", 20)
    await engine.set_secret("smtp-password", "hunter2-pass")
    await engine.set_param("depth_threshold", 30)
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_events(pilot, until)
        await until(lambda: len(kinds(app)) == 3, what="the entries")
        assert kinds(app) == ["param.changed", "secret.changed", "param.changed"]
        assert "hunter2" not in json.dumps([e.detail for e in screen.entries.values()])

        await answer(pilot, until, "slash", "secret")  # a family
        await until(lambda: kinds(app) == ["secret.changed"], what="the secret change only")
        assert status(app).startswith("kind: secret")

        await answer(pilot, until, "slash", "nonsense")  # refused: the old filter stays
        await until(
            lambda: any("unknown event kind 'nonsense'" in n.message for n in app._notifications),
            what="the warning",
        )
        assert screen.kinds == ["secret"] and kinds(app) == ["secret.changed"]

        await answer(pilot, until, "slash", "param.changed, node")
        await until(lambda: kinds(app) == ["param.changed"] * 2, what="param changes")

        await answer(pilot, until, "t", "2026-03-28T12:30")  # after every entry
        await until(lambda: kinds(app) == [], what="nothing since 12:30")
        assert "since 12:30:00" in status(app) and "no entries" in status(app)
        await answer(pilot, until, "t", "30m")  # the engine's clock: since 11:30
        await until(lambda: len(kinds(app)) == 2, what="the two again")
        await answer(pilot, until, "t", "yesterday")
        await until(
            lambda: any("cannot read 'yesterday'" in n.message for n in app._notifications),
            what="the time warning",
        )
        await answer(pilot, until, "slash", "")  # empty: every kind
        await until(lambda: len(kinds(app)) == 3, what="all kinds")


async def test_pages_with_before_id(engine: Engine, until: Until) -> None:
    for n in range(PAGE + 5):
        await engine.set_param("max_monitored_flows", 1000 + n)
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_events(pilot, until)
        await until(lambda: len(screen.entries) == PAGE, what="the first page")
        newest = max(int(k) for k in screen.entries)
        assert "PgDn: older" in status(app)
        await pilot.press("pagedown")
        await until(lambda: len(screen.entries) == 5, what="the older page")
        assert max(int(k) for k in screen.entries) == newest - PAGE
        assert "page 2: 5 entries" in status(app)
        await pilot.press("pagedown")  # there is nothing older
        await until(lambda: any("no older" in n.message for n in app._notifications), what="note")
        await pilot.press("pageup")
        await until(lambda: len(screen.entries) == PAGE, what="back on the newest")
        assert max(int(k) for k in screen.entries) == newest


async def test_without_the_monitor_licence_the_engine_refuses(
    engine: Engine, sqlite_url: str, data_dir: Path, until: Until
) -> None:
    await engine.add_user("dave", licence="direct")
    dave = await Engine.open(sqlite_url, data_dir=data_dir, clock=FixedClock(NOW), user="dave")
    try:
        app = SwitchyardApp(dave)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_events(pilot, until)
            refused = screen.query_one("#events-refused", Static)
            await until(lambda: screen.refusal, what="the refusal")
            assert str(refused.content) == (
                "Event log: dave needs the monitor licence or the admin right to read the event log"
            )
            assert refused.display and not screen.table.display
            assert not screen.entries
            await pilot.press("slash")  # no filter to set
            assert isinstance(app.screen, EventsScreen)
            await pilot.pause(0.6)  # its own refusal entry does not make it ask again
            assert len(await engine.event_log(kind="access.refused")) == 1
    finally:
        await dave.close()


async def test_k_is_up_and_slash_filters_by_kind(engine: Engine, until: Until) -> None:
    """k moves up as in every table (README's key table); the kind filter is on /."""
    for n in range(3):
        await engine.set_param("depth_threshold", 20 + n)
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_events(pilot, until)
        await until(lambda: len(kinds(app)) == 3, what="the entries")
        await pilot.press("j", "j")
        await until(lambda: screen.table.cursor_row == 2, what="two rows down")
        await pilot.press("k")
        await until(lambda: screen.table.cursor_row == 1, what="one row up")
        assert isinstance(app.screen, EventsScreen)  # no prompt opened
        await answer(pilot, until, "slash", "param")
        assert screen.kinds == ["param"]
