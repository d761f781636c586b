"""Nodes, as the facade offers them (mixed into ``Engine``): who runs work on this store
and whether a live ``serve`` node is there (the console then runs none itself)."""

from __future__ import annotations

from switchyard.engine.kernel.nodes import NodeView, view
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.rules import (
    anyone,
    rule,
)
from switchyard.store.queries import nodes as node_q


class NodesApi(Guard):
    # ---------------------------------------------------------------- nodes
    @rule(anyone)
    async def nodes(self) -> list[NodeView]:
        now = self.clock.now()
        async with self.store.read() as conn:
            rows = await node_q.running(conn)
        return [view(r, now) for r in rows]

    @rule(anyone)
    async def live_serve_node(self) -> NodeView | None:
        """A live `serve` node on this store, if any (the console is then a pure console)."""
        for node in await self.nodes():
            if node.alive and node.mode == "serve" and node.id != self.node_id:
                return node
        return None
