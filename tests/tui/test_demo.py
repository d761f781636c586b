"""The demo (`switchyard demo`) on a fresh store: every screen has rows on first start
(expenses waiting for the demo user on Work Items included), and every command its
schedules and processes run exists on this machine."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.demo import PROCESSES, SCHEDULES, load_demo
from switchyard.tui.widgets.virtual_table import VirtualTable
from textual.widgets import DataTable

Until = Callable[..., Awaitable[Any]]
#: key -> mode (Nodes, key 7, shows the console's own node whatever is loaded)
SCREENS = {
    "1": "schedules",
    "2": "queue",
    "3": "monitor",
    "4": "workitems",
    "5": "admin",
    "6": "events",
}


def _commands(node: Any) -> Iterator[list[str]]:
    """Every ``run: {command: [...]}`` inside a process definition."""
    if isinstance(node, dict):
        run = node.get("run")
        if isinstance(run, dict) and "command" in run:
            yield run["command"]
        for value in node.values():
            yield from _commands(value)
    elif isinstance(node, list):
        for value in node:
            yield from _commands(value)


def test_every_command_of_the_demo_exists() -> None:
    argvs = [spec.command for spec in SCHEDULES]
    for path in PROCESSES:
        argvs.extend(_commands(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert len(argvs) > len(SCHEDULES)  # the processes' commands were found
    for argv in argvs:
        assert isinstance(argv, list), f"{argv!r}: a shell string, not an argv"
        program = argv[0]
        found = os.path.exists(program) if os.sep in program else shutil.which(program)
        assert found, f"{program}: not on this machine"


async def test_the_demo_fills_every_screen(sqlite_url: str, data_dir: Path, until: Until) -> None:
    engine = await Engine.open(sqlite_url, data_dir=data_dir, user="tester")
    assert await load_demo(engine)
    assert await load_demo(engine) == []  # loading twice adds nothing
    runtime = Runtime(engine, mode="console")  # what the console starts
    await runtime.start()
    try:
        await until(
            lambda: _total_items(engine, 3), timeout=20, what="expenses waiting for the demo user"
        )
        errors = await until(
            lambda: engine.instances(status="error"), timeout=20, what="a payment in error"
        )
        assert [i.process for i in errors] == ["expense-payment"]
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=(140, 40)) as pilot:
            for key, mode in SCREENS.items():
                await pilot.press(key)
                await until(lambda m=mode: app.current_mode == m, what=mode)  # type: ignore[misc]
                if mode == "monitor":  # empty until a filter: the demo saved "expenses"
                    await pilot.press("slash", *"expenses", "enter")
                await until(lambda: _rows(app) > 0, what=f"rows on {mode}")
    finally:
        await runtime.stop(grace=1)
        await engine.close()


async def _total_items(engine: Engine, at_least: int) -> bool:
    return (await engine.work_items("all")).total >= at_least


def _rows(app: SwitchyardApp) -> int:
    tables = [*app.screen.query(DataTable), *app.screen.query(VirtualTable)]
    return sum(t.row_count for t in tables)
