"""Steering nodes from outside: ``node drain`` and ``node transfer`` (the seeds' flow_admin).

Nodes coordinate only through the store. A drain sets ``draining_at`` (and the grace) on
the node's row; the node reads it at its next heartbeat and stops the way SIGTERM stops
it (engine/node/runtime.py): it claims nothing more, lets running commands finish within
the grace, interrupts the rest, hands its waiting instances to the other live nodes and
marks itself stopped.

A transfer moves a dead or draining node's instances to a live node at once, without
waiting for the dead timeout:

- a dead node, or a suspect one (it missed heartbeats: the operator says it is gone, as
  with the seeds' flow_admin for a failed server): its ``running`` rows are restored exactly as recovery does
  (engine/node/recovery.py ``restore_rows``: a command run ends in error, a process
  instance is requeued and its in-flight side-effect step restored in error), its
  waiting instances go to the target, and it is marked stopped;
- a draining node that is still alive: only its waiting instances move (its running
  commands are finishing under the drain's grace; taking them would run them twice);
- a live node that is not draining: refused (exit 4): drain it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from switchyard.engine.errors import NotFound, Refused, SwitchyardError
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel.nodes import WORKER_MODES, Liveness, NodeState, state_of
from switchyard.engine.node import recovery
from switchyard.engine.node.recovery import RecoveryPorts
from switchyard.engine.ops import params as server_params
from switchyard.engine.workitems.timers import hold_sessions
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q

MAX_GRACE = 86_400.0


@dataclass(frozen=True)
class TransferResult:
    from_node: str
    to_node: str
    state: str  # the source's state when it was transferred (dead / draining / stopped)
    requeued: list[int] = field(default_factory=list)
    restored_in_error: int = 0
    waiting: list[int] = field(default_factory=list)


async def _timing(engine: RecoveryPorts) -> Liveness:
    async with engine.store.read() as conn:
        return Liveness.of(await server_params.load(conn))


async def request_drain(engine: RecoveryPorts, node_id: str, grace: float | None) -> NodeState:
    if grace is not None and not 0 <= grace <= MAX_GRACE:  # also NaN
        raise SwitchyardError("grace", f"must be between 0 and {MAX_GRACE:g} seconds, got {grace}")
    timing = await _timing(engine)
    async with engine.tx() as tx:
        row = await node_q.get(tx.conn, node_id)
        if row is None:
            raise NotFound("node", f"no node '{node_id}' (see switchyard node list)")
        state = state_of(row, tx.now, timing)
        if state in (NodeState.DEAD, NodeState.STOPPED):
            raise Refused(
                "node",
                f"node {node_id} is {state}: nothing to drain (switchyard node transfer "
                f"{node_id} moves what it owned)",
            )
        if row["mode"] != "serve":
            raise Refused(
                "node",
                f"node {node_id} is a {row['mode']}, not a serve node: close that console",
            )
        if state is NodeState.DRAINING:
            return state
        await node_q.set_draining(tx.conn, node_id, tx.now, grace)
        await eventlog.record(
            tx,
            eventlog.NODE_DRAINING,
            f"node {node_id} asked to drain"
            + (f" (grace {grace:g}s)" if grace is not None else ""),
            login=engine.login,
            node=node_id,
            grace=grace,
        )
    return NodeState.DRAINING


async def transfer(engine: RecoveryPorts, from_node: str, to_node: str | None) -> TransferResult:
    timing = await _timing(engine)
    now = engine.clock.now()
    async with engine.store.read() as conn:
        source = await node_q.get(conn, from_node)
        if source is None:
            raise NotFound("node", f"no node '{from_node}' (see switchyard node list)")
        rows = await node_q.running(conn)
        owned = await node_q.owned(conn)
    state = state_of(source, now, timing)
    if state is NodeState.LIVE:
        raise Refused(
            "node",
            f"node {from_node} is {state} and not draining: its instances are its own "
            f"(drain it first: switchyard node drain {from_node})",
        )
    targets = [
        r
        for r in rows
        if r["id"] != from_node
        and r["mode"] in WORKER_MODES
        and state_of(r, now, timing) is NodeState.LIVE
    ]
    if to_node is not None:
        target = next((r for r in targets if r["id"] == to_node), None)
        if target is None:
            known = to_node in {r["id"] for r in rows}
            if not known and to_node != from_node:
                raise NotFound("to", f"no running node '{to_node}' (see switchyard node list)")
            raise Refused("to", f"node {to_node} is not a live node that runs work")
    else:
        if not targets:
            raise Refused("to", "no live node to take the instances over (start one)")

        def load(r: dict[str, object]) -> int:
            got = owned.get(str(r["id"]), {})
            return int(got.get("running", 0)) + int(got.get("waiting", 0))

        target = min(targets, key=load)
    result_requeued: list[int] = []
    in_error = 0
    if state is not NodeState.DRAINING:  # dead, suspect, stopped: restore what it left running
        async with engine.store.read() as conn:
            left = await inst_q.running_not_on_live_nodes(
                conn, [r["id"] for r in rows if r["id"] != from_node]
            )
        left = [r for r in left if r.get("node_id") == from_node]
        requeued, in_error = await recovery.restore_rows(engine, left)
        result_requeued = requeued.get(from_node, [])
        await hold_sessions(engine, [from_node], f"node {from_node} transferred")
        async with engine.tx() as tx:
            await node_q.mark_stopped(tx.conn, from_node, tx.now)
    given = await recovery.hand_over_waiting(engine, from_node, [str(target["id"])], why=str(state))
    waiting = given.get(str(target["id"]), [])
    async with engine.tx() as tx:
        await eventlog.record(
            tx,
            eventlog.OWNERSHIP_CHANGED,
            f"node {from_node} ({state}) transferred to {target['id']} by {engine.login}: "
            f"{recovery.restored_counts(len(result_requeued), in_error)}, "
            f"{len(waiting)} waiting instance(s) handed over",
            login=engine.login,
            from_node=from_node,
            to_node=target["id"],
            state=str(state),
            requeued=result_requeued[:100],
            restored_in_error=in_error,
            waiting=waiting[:100],
        )
    return TransferResult(
        from_node=from_node,
        to_node=str(target["id"]),
        state=str(state),
        requeued=result_requeued,
        restored_in_error=in_error,
        waiting=waiting,
    )
