"""The Queue screen: lane order and positions, paging, cancel, and live logs of real runs."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens import queue as queue_screen
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.queue import QueueScreen
from switchyard.tui.widgets.log_pane import LogPane
from textual.widgets import Static

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep


def rows(app: SwitchyardApp) -> list[tuple[str, ...]]:
    table = app.screen.query_one("#queue")
    return [
        tuple(str(c) for c in table.get_row(r.key))[:5]  # lane, #, id, schedule, status
        for r in table.ordered_rows
    ]


def status_line(app: SwitchyardApp) -> str:
    return str(app.screen.query_one("#queue-status", Static).content)


def log_lines(app: SwitchyardApp) -> list[str]:
    return list(app.screen.query_one(LogPane).log_widget.lines)


def log_status(app: SwitchyardApp) -> str:
    return str(app.screen.query_one("#log-status", Static).content)


async def start_all(engine: Engine, *names: str) -> list[int]:
    return [await engine.start(name) for name in names]


async def test_queue_shows_lanes_in_order_with_positions(engine: Engine, until: Until) -> None:
    ids = await start_all(
        engine, "sales-report", "nightly-backup", "contact-sync", "cleanup-temp", "sales-report"
    )
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        assert isinstance(app.screen, QueueScreen)
        await until(lambda: len(rows(app)) == 5, what="five rows")
        assert rows(app) == [
            ("default", "1", str(ids[3]), "cleanup-temp", "queued"),
            ("maintenance", "1", str(ids[1]), "nightly-backup", "queued"),
            ("reports", "1", str(ids[0]), "sales-report", "queued"),
            ("reports", "2", str(ids[2]), "contact-sync", "queued"),
            ("reports", "3", str(ids[4]), "sales-report", "queued"),
        ]
        assert status_line(app).startswith("showing 1–5 of 5 · 0 running · 5 queued")  # noqa: RUF001
        table = app.screen.query_one("#queue")
        assert str(table.get_cell(str(ids[0]), "time")) == "12:00:00"  # waiting since

        new = await engine.start("nightly-backup")  # live: appears in its lane's place
        await until(lambda: len(rows(app)) == 6, what="the new row")
        assert rows(app)[2] == ("maintenance", "2", str(new), "nightly-backup", "queued")


async def test_queue_pages(engine: Engine, until: Until, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_screen, "PAGE", 3)
    ids = await start_all(engine, *["cleanup-temp"] * 7)
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await until(lambda: len(rows(app)) == 3, what="a page")
        assert status_line(app).startswith("showing 1–3 of 7")  # noqa: RUF001
        assert [r[2] for r in rows(app)] == [str(i) for i in ids[:3]]
        await pilot.press("pagedown")
        await until(lambda: status_line(app).startswith("showing 4–6 of 7"), what="page 2")  # noqa: RUF001
        assert [r[1] for r in rows(app)] == ["4", "5", "6"]  # positions in the lane
        await pilot.press("pagedown")
        await until(lambda: status_line(app).startswith("showing 7–7 of 7"), what="page 3")  # noqa: RUF001
        await pilot.press("pagedown")  # no page 4
        assert status_line(app).startswith("showing 7–7 of 7")  # noqa: RUF001
        await pilot.press("pageup", "pageup")
        await until(lambda: status_line(app).startswith("showing 1–3 of 7"), what="page 1")  # noqa: RUF001
        assert app.screen.query_one("#queue").row_count == 3


async def test_cancel_from_the_keyboard(engine: Engine, until: Until) -> None:
    ids = await start_all(engine, "sales-report", "contact-sync")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await until(lambda: len(rows(app)) == 2, what="rows")
        await pilot.press("j", "c")  # the second: contact-sync
        confirm = await until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None, what="confirm"
        )
        assert f"#{ids[1]} contact-sync is queued" in str(
            confirm.query_one("#confirm-message").content
        )
        await pilot.press("y")

        async def cancelled() -> bool:
            return (await engine.instance(ids[1])).status == "cancelled"

        await until(cancelled, what="cancelled")
        await until(lambda: [r[2] for r in rows(app)] == [str(ids[0])], what="row gone")
        assert (await engine.instance(ids[0])).status == "queued"


async def test_log_pane_pauses_when_scrolled_up(engine: Engine, until: Until) -> None:
    await engine.start("cleanup-temp")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await until(lambda: app.screen.query_one(LogPane).instance_id, what="a log")
        pane = app.screen.query_one(LogPane)
        pane.write_lines([f"line {i}" for i in range(100)])
        await pilot.pause()
        assert pane.following and log_status(app).endswith("following · 100 lines")
        await pilot.press("l")
        assert app.focused is pane.log_widget
        await pilot.press("k", "k")  # scroll up: the tail pauses
        await until(lambda: not pane.following, what="paused")
        pane.write_lines(["more 1", "more 2", "more 3"])
        await pilot.pause()
        assert log_status(app) == "paused — 3 new lines, End to resume"
        assert pane.log_widget.scroll_y < pane.log_widget.max_scroll_y
        await pilot.press("end")
        await until(lambda: pane.following, what="following again")
        assert pane.log_widget.is_vertical_scroll_end
        await pilot.press("f")  # f pauses and resumes too
        assert not pane.following
        await pilot.press("f")
        assert pane.following
        await pilot.press("escape")  # back to the table
        assert app.focused is app.screen.query_one("#queue")


GATE_SCRIPT = """
import os, sys, time
for i in range(5):
    print(f"line {i}", flush=True)
print("to stderr", file=sys.stderr, flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.05)
print("done", flush=True)
"""


async def test_log_pane_follows_a_real_run(engine: Engine, until: Until, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    await engine.add_schedule(
        ScheduleSpec("echo-lines", [sys.executable, "-c", GATE_SCRIPT, str(gate)], on_demand=True)
    )
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            assert app.sub_title == "embedded engine"
            await pilot.press("2")
            instance_id = await engine.start("echo-lines")
            await until(lambda: "line 4" in log_lines(app), timeout=20, what="the run's lines")
            assert log_lines(app)[:5] == [f"line {i}" for i in range(5)]
            assert "stderr: to stderr" in log_lines(app)
            assert app.screen.query_one(LogPane).instance_id == instance_id
            await until(lambda: rows(app) and rows(app)[0][4] == "running", what="running row")
            assert rows(app)[0][1] == ""  # no position while running
            assert log_status(app).startswith("running · following")

            await pilot.press("q")  # a run is in progress: ask first
            confirm = await until(
                lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None, what="ask"
            )
            assert str(confirm.query_one("#confirm-message").content) == (
                "1 run in progress will be interrupted; use `switchyard serve` to keep work "
                "running when consoles close"
            )
            await pilot.press("n")
            assert app.is_running and runtime.started

            gate.touch()
            await until(lambda: "done" in log_lines(app), timeout=20, what="the last line")
            await until(
                lambda: log_status(app).startswith("ended completed (exit 0)"), what="ended"
            )
            assert (await engine.instance(instance_id)).status == "completed"
            await until(lambda: rows(app) == [], what="queue empty")
            assert "done" in log_lines(app)  # the finished run's log stays on screen
            await until(lambda: not runtime.running, what="runtime idle")
            await pilot.press("q")  # nothing running: quits at once
            await until(lambda: not app.is_running, what="app exit")
    finally:
        await runtime.stop(grace=1)


PROCESS = """
process: two-steps
variables:
  n: {type: integer, default: 0}
  gate: {type: string, default: "GATE"}
start: working
states:
  working:
    actions:
      - assign: {n: 1}
      - run: {command: [sh, -c, "until [ -e {{ gate }} ]; do sleep 0.05; done; echo released"]}
"""


async def test_queue_shows_a_process_instance_with_its_state_and_action(
    engine: Engine, until: Until, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    definition = tmp_path / "two.yaml"
    definition.write_text(PROCESS.replace("GATE", str(gate)))
    await engine.publish([definition])
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            instance_id = await engine.start_process("two-steps")

            def action_cell() -> str:
                table = app.screen.query_one("#queue")
                for r in table.ordered_rows:
                    cells = [str(c) for c in table.get_row(r.key)]
                    if cells[2] == str(instance_id):
                        return cells[-1]
                return ""

            await until(lambda: action_cell().startswith("working · run"), what="state · action")
            assert rows(app)[0][3:] == ("two-steps", "running")
            await pilot.press("q")  # a process run is in progress: ask first
            await until(lambda: isinstance(app.screen, ConfirmScreen), what="ask")
            await pilot.press("n")
            gate.touch()
            await until(lambda: rows(app) == [], what="queue empty")
            assert (await engine.instance(instance_id)).status == "completed"
    finally:
        await runtime.stop(grace=1)


async def test_log_pane_on_another_host_follows_a_run_from_the_store(
    engine: Engine, until: Until, tmp_path: Path, sqlite_url: str
) -> None:
    """A console whose data dir is another directory (another host: no log files there)
    follows a run that a node elsewhere executes, through the store."""
    gate = tmp_path / "gate"
    await engine.add_schedule(
        ScheduleSpec("echo-lines", [sys.executable, "-c", GATE_SCRIPT, str(gate)], on_demand=True)
    )
    node = Runtime(engine, mode="serve")
    await node.start()
    console = await Engine.open(sqlite_url, data_dir=tmp_path / "host-b", user="tester")
    await console.start_feed(interval=0.05)  # as `switchyard` does on start (tui/app.py)
    try:
        app = SwitchyardApp(console)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            instance_id = await engine.start("echo-lines")
            await until(lambda: "line 4" in log_lines(app), timeout=20, what="the run's lines")
            assert log_lines(app)[:5] == [f"line {i}" for i in range(5)]
            assert app.screen.query_one(LogPane).instance_id == instance_id
            gate.touch()
            await until(lambda: "done" in log_lines(app), timeout=20, what="the last line")
            assert "stderr: to stderr" in log_lines(app)
            assert not console.log_path(instance_id).exists()
    finally:
        await node.stop(grace=5.0)
        await console.close()


def log_title(app: SwitchyardApp) -> str:
    return str(app.screen.query_one("#log-title", Static).content)


async def test_log_follows_the_highlighted_row_and_pins(engine: Engine, until: Until) -> None:
    """The log pane follows the cursor (debounced); when the run it shows leaves the queue it
    switches to the highlighted one; `l` pins it (said in its title) until `l` again."""
    ids = await start_all(engine, "cleanup-temp", "cleanup-temp", "cleanup-temp", "cleanup-temp")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await until(lambda: len(rows(app)) == 4, what="rows")
        pane = app.screen.query_one(LogPane)
        await until(lambda: pane.instance_id == ids[0], what="the first run's log")
        await pilot.press("j", "j")
        await until(lambda: pane.instance_id == ids[2], what="the log follows j")
        await pilot.press("g")
        await until(lambda: pane.instance_id == ids[0], what="the log follows g")
        await pilot.press("j")
        await until(lambda: pane.instance_id == ids[1], what="on the second")

        await engine.cancel(ids[1])  # the run it shows leaves the table
        await until(lambda: str(ids[1]) not in [r[2] for r in rows(app)], what="row gone")
        table = app.screen.query_one("#queue")
        await until(
            lambda: pane.instance_id == int(table.selected_key), what="the highlighted run's log"
        )
        assert pane.instance_id != ids[1]
        assert "pinned" not in log_title(app)

        await pilot.press("g", "l")  # pin the first
        assert pane.pinned and "pinned" in log_title(app)
        assert log_title(app).startswith(f"log #{ids[0]}")
        await pilot.press("escape", "j", "j")
        await pilot.pause(queue_screen.FOLLOW_DELAY * 2)
        assert pane.instance_id == ids[0]  # pinned: stays
        await engine.cancel(ids[0])
        await until(lambda: str(ids[0]) not in [r[2] for r in rows(app)], what="pinned gone")
        await pilot.pause(queue_screen.FOLLOW_DELAY * 2)
        assert pane.instance_id == ids[0]  # a pinned log stays after its run leaves
        await pilot.press("l")  # unpin: follows the cursor again
        assert not pane.pinned and "pinned" not in log_title(app)
        await until(lambda: pane.instance_id == int(table.selected_key), what="following again")


async def test_position_column_is_named(engine: Engine, until: Until) -> None:
    """The column of places in a lane says what it is ("pos"), not a bare "#"."""
    await start_all(engine, "cleanup-temp", "cleanup-temp")
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await until(lambda: len(rows(app)) == 2, what="rows")
        table = app.screen.query_one("#queue")
        assert str(table.columns["pos"].label) == "pos"
        assert [r[1] for r in rows(app)] == ["1", "2"]
