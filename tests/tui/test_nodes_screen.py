"""The Nodes screen (key 7 or the palette): every node live, with its state and what it
owns; ``t`` transfers a dead node (asks first). A real engine on SQLite, a console node
running the work, and a node row whose process is gone (dead on this host)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.kernel.nodes import HOST
from switchyard.engine.node.runtime import Runtime
from switchyard.store.queries import nodes as node_q
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.nodes import NodesScreen
from textual.command import CommandPalette

SIZE = (120, 24)
Until = Callable[..., Awaitable[Any]]
GONE_PID = 2**22 + 12345  # above pid_max on Linux: no such process


async def add_dead_node(engine: Engine, node_id: str) -> None:
    now = engine.clock.now()
    async with engine.store.write() as conn:
        await node_q.register(
            conn,
            {"id": node_id, "mode": "serve", "host": HOST, "pid": GONE_PID,
             "proc_start_time": 1.0, "started_at": now, "heartbeat_at": now},
        )  # fmt: skip


def cells(screen: NodesScreen, key: str) -> list[str]:
    return [str(c) for c in screen.table.get_row(key)]


async def test_key_7_shows_nodes_live_and_t_transfers_a_dead_one(
    engine: Engine, until: Until
) -> None:
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    try:
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            await until(lambda: isinstance(app.screen, NodesScreen), what="the nodes screen")
            screen = app.screen
            assert isinstance(screen, NodesScreen)
            me = engine.node_id
            await until(lambda: me in screen.nodes, what="this console's node")
            row = cells(screen, me)
            assert row[:2] == [me, "console"] and row[6] == "live" and row[10] == "30s"
            assert row[11] == "0/5000"

            await add_dead_node(engine, "far-1-dead")  # appears live, without an event
            await until(lambda: "far-1-dead" in screen.nodes, what="the new node")
            assert cells(screen, "far-1-dead")[6] == "dead"
            screen.table.move_cursor(row=screen.table.get_row_index("far-1-dead"))
            await pilot.press("t")
            await until(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
            await pilot.press("y")
            await until(
                lambda: cells(screen, "far-1-dead")[6] == "stopped", what="the node stopped"
            )
    finally:
        await runtime.stop(grace=1)


async def test_the_palette_opens_it(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"nodes")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, NodesScreen), what="the nodes screen")
        screen = app.screen
        assert isinstance(screen, NodesScreen)
        await until(lambda: screen.loaded, what="the first load")
        assert "Nodes: none" in str(screen.query_one("#nodes-header").render())
