"""Nodes (key 7, or "Nodes" in the palette): every node on this store, live.

One row per node of ``engine.nodes`` (also those stopped in the last hour): id, kind,
host, pid, started, last heartbeat, state (live / suspect / dead / draining / stopped),
the instances it owns (running, waiting), the lanes it serves, how long until a silent
node is presumed dead, and its load against ``load_balance_threshold``. It follows node
and instance changes and ticks every second (heartbeats age). Admins drain the
highlighted serve node with ``d`` and transfer a dead, suspect or draining one with ``t``
(both ask first); what the engine refuses is said in a notification.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import NodeState, NodeView
from switchyard.tui import display
from switchyard.tui import formatting as fmt
from switchyard.tui.screens.base import EngineScreen
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.widgets.banner import StoreBanner
from switchyard.tui.widgets.keyed_table import Cell, Column, KeyedTable
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

COLUMNS = (
    Column("id", "node", fit=True, min_width=8, max_width=28),
    Column("kind", "kind", width=7),
    Column("host", "host", fit=True, min_width=4, max_width=16),
    Column("pid", "pid", fit=True, min_width=3, max_width=8),
    Column("started", "started", width=8),
    Column("beat", "heartbeat", width=9),
    Column("state", "state", width=8),
    Column("running", "run", fit=True, min_width=3, max_width=6),
    Column("waiting", "wait", fit=True, min_width=4, max_width=6),
    Column("lanes", "lanes", weight=2, min_width=5),
    Column("dead_in", "dead in", width=7),
    Column("load", "load", fit=True, min_width=4, max_width=12),
)
STATE_COLOUR = {
    NodeState.LIVE: "success",
    NodeState.SUSPECT: "warning",
    NodeState.DRAINING: "warning",
    NodeState.DEAD: "error",
}
TRANSFERABLE = (NodeState.DEAD, NodeState.SUSPECT, NodeState.DRAINING, NodeState.STOPPED)


def node_cells(view: NodeView, now: datetime, colours: dict[str, str]) -> list[Cell]:
    beat = fmt.span(now - view.heartbeat_at) + " ago" if view.heartbeat_at else "-"
    load = "-"
    if view.load_balance_threshold is not None:
        load = f"{view.running + view.waiting}/{view.load_balance_threshold}"
        load += " full" if view.at_threshold else ""
    return [
        view.id,
        view.kind,
        view.host,
        str(view.pid),
        view.started_at.astimezone().strftime("%H:%M:%S") if view.started_at else "-",
        beat,
        display.styled(str(view.state), colours.get(STATE_COLOUR.get(view.state, ""))),
        str(view.running),
        str(view.waiting),
        ", ".join(view.lanes) or "-",
        f"{view.dead_in:.0f}s" if view.dead_in is not None else "-",
        load,
    ]


class NodesScreen(EngineScreen):
    TITLE = "Nodes"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset(
        {ev.NODE_CHANGED, ev.INSTANCES_CHANGED, ev.PARAM_CHANGED}
    )
    DEBOUNCE: ClassVar[float] = 0.3
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "drain", "Drain", id="nodes_drain"),
        Binding("t", "transfer", "Transfer", id="nodes_transfer"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, NodeView] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield StoreBanner()
        yield Static(Text("Nodes", style="bold"), id="nodes-header")
        yield KeyedTable(COLUMNS, id="nodes")
        yield Footer(compact=True)

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#nodes", KeyedTable)

    @property
    def selected(self) -> NodeView | None:
        return self.nodes.get(self.table.selected_key or "")

    def on_mount(self) -> None:
        self.table.focus()
        self.start_live()
        self.set_interval(1.0, self._tick)  # heartbeats age, states change with time

    def reload(self) -> None:
        self._load()

    def _tick(self) -> None:
        if self.is_current:
            self._load()

    @work(exclusive=True, group="reload")
    async def _load(self) -> None:
        views = await self.call(self.engine.nodes(include_stopped=True), failed="loading nodes")
        if views is None:
            return
        self.nodes = {v.id: v for v in views}
        self.loaded = True
        self._render_rows()

    def _render_rows(self) -> None:
        now = self.engine.clock.now()
        colours = self.sy_app.colours
        rows = [(key, node_cells(v, now, colours)) for key, v in self.nodes.items()]
        live = sum(v.state is NodeState.LIVE for v in self.nodes.values())
        header = (
            f"Nodes: {display.plural(len(self.nodes), 'node')}, {live} live"
            if self.nodes
            else "Nodes: none (no serve node or console runs on this store)"
        )
        with self.app.batch_update():
            self.table.set_rows(rows)
            self.query_one("#nodes-header", Static).update(Text(header, style="bold"))
        self.refresh_bindings()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        node = self.selected
        if action == "drain":
            return True if node is not None and node.state is NodeState.LIVE else None
        if action == "transfer":
            return True if node is not None and node.state in TRANSFERABLE else None
        return True

    def action_drain(self) -> None:
        if self.selected is not None:
            self.drain(self.selected.id)

    def action_transfer(self) -> None:
        if self.selected is not None:
            self.transfer(self.selected.id)

    @work(group="command")
    async def drain(self, node_id: str) -> None:
        confirm = ConfirmScreen(
            f"Drain {node_id}?",
            "It claims nothing new, lets running commands finish, hands its waiting "
            "instances to other live nodes, then stops.",
            yes="Drain",
            no="Keep",
        )
        if not await self.app.push_screen_wait(confirm):
            return
        if await self.attempt(self.engine.drain_node(node_id), failed=f"drain {node_id}"):
            self.notify(f"{node_id} drains (at its next heartbeat)", timeout=6)
        self.reload()

    @work(group="command")
    async def transfer(self, node_id: str) -> None:
        confirm = ConfirmScreen(
            f"Transfer {node_id}?",
            "Its running work is restored as after a crash, its waiting instances go to "
            "the least loaded live node. Only for a node that is gone or draining.",
            yes="Transfer",
            no="Keep",
        )
        if not await self.app.push_screen_wait(confirm):
            return
        result = await self.call(self.engine.transfer_node(node_id), failed=f"transfer {node_id}")
        if result is not None:
            self.notify(
                f"{node_id} -> {result.to_node}: {len(result.requeued)} requeued, "
                f"{result.restored_in_error} restored in error, "
                f"{len(result.waiting)} waiting handed over",
                timeout=8,
            )
        self.reload()
