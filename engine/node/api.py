"""Nodes, as the facade offers them (mixed into ``Engine``): who runs work on this store,
whether a live ``serve`` node is there (the console then runs none itself), and steering
them: drain and transfer (engine/node/transfer.py)."""

from __future__ import annotations

from datetime import timedelta

from switchyard.engine.kernel.nodes import Liveness, NodeView, view
from switchyard.engine.node import transfer as steer
from switchyard.engine.node.transfer import TransferResult
from switchyard.engine.ops import params as server_params
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.rules import (
    admin,
    anyone,
    rule,
)
from switchyard.store.queries import nodes as node_q

STOPPED_SHOWN = timedelta(hours=1)  # node list: stopped nodes stay listed this long


class NodesApi(Guard):
    # ---------------------------------------------------------------- nodes
    # anyone: a node's id, host, pid and counts say nothing about any instance (the
    # console asks for them to know whether a serve node is there)
    @rule(anyone)
    async def nodes(self, include_stopped: bool = False) -> list[NodeView]:
        """Running nodes (``include_stopped``: also those stopped in the last hour) with
        their state, what they own and how long until a silent one is presumed dead."""
        now = self.clock.now()
        async with self.store.read() as conn:
            if include_stopped:
                rows = await node_q.listed(conn, now - STOPPED_SHOWN)
            else:
                rows = await node_q.running(conn)
            owned = await node_q.owned(conn) if rows else {}
            params = await server_params.load(conn)
        timing = Liveness.of(params)
        threshold = int(params["load_balance_threshold"])
        out = []
        for r in rows:
            mine = owned.get(str(r["id"]), {})
            out.append(
                view(
                    r,
                    now,
                    timing,
                    running=int(mine.get("running", 0)),
                    waiting=int(mine.get("waiting", 0)),
                    lanes=sorted(mine.get("lanes", ())),
                    threshold=threshold if r["mode"] != "session" else None,
                )
            )
        return out

    @rule(anyone)
    async def live_serve_node(self) -> NodeView | None:
        """A live `serve` node on this store, if any (the console is then a pure console)."""
        for node in await self.nodes():
            if node.alive and node.mode == "serve" and node.id != self.node_id:
                return node
        return None

    @rule(admin("drain a node"))
    async def drain_node(self, node_id: str, grace: float | None = None) -> str:
        """Ask a serve node to drain (it reads the request at its next heartbeat): it
        claims nothing more, running commands get ``grace`` seconds (default: its serve
        --grace), its waiting instances go to other live nodes, then it stops. Returns
        the node's state ("draining")."""
        state = await steer.request_drain(self, node_id, grace)
        async with self.tx() as tx:
            await self._audit(tx, "node.drain", node_id, grace=grace)
        return str(state)

    @rule(admin("transfer a node's instances"))
    async def transfer_node(self, from_node: str, to_node: str | None = None) -> TransferResult:
        """Move a dead or draining node's instances to a live node now (flow_admin)."""
        result = await steer.transfer(self, from_node, to_node)
        async with self.tx() as tx:
            await self._audit(
                tx,
                "node.transfer",
                from_node,
                to=result.to_node,
                state=result.state,
                requeued=len(result.requeued),
                restored_in_error=result.restored_in_error,
                waiting=len(result.waiting),
            )
        return result
