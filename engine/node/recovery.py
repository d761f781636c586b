"""Restoring the work of nodes that died.

An instance left ``running`` by a node that is no longer alive was interrupted at an
unknown point. Its command may even still be running as an orphan: if it ran on this
host, its process group is killed (only if the recorded start time matches, so a
reused pid is never touched). The instance then ends in ``error`` with the reason
"restored in error"; it is never silently re-run. An operator retries it.

A process instance goes back to the queue instead, to resume from its last committed
step: the executor finds the step that was in flight and restores *that* in error when
it had side effects (unless it is idempotent); pure steps simply run again.

Until it is restored, a dead node's ``running`` row keeps its lane slot (the claim counts
every running row, see store/queries/claims.py): its command may still run as an orphan
until the kill above, so a lane never runs more than its limit meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol, runtime_checkable

from switchyard.engine.instances.completion import finish
from switchyard.engine.instances.status import Status
from switchyard.engine.instances.transition import transition
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel.nodes import HOST, Liveness, is_alive
from switchyard.engine.kernel.ports import HasLogin, HasNodeId, StoreAccess
from switchyard.engine.ops import params as server_params
from switchyard.engine.runs.leftovers import group_mark, kill_marked_groups, kill_stale_group
from switchyard.engine.workitems.timers import hold_sessions
from switchyard.store.models import ERROR
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import steps as step_q

log = logging.getLogger(__name__)

RESTORED = "restored in error"


@runtime_checkable
class RecoveryPorts(StoreAccess, HasNodeId, HasLogin, Protocol):
    """Reads, transactions and the time; this node's id (alive, by definition) and the
    login its event-log entries name."""


async def restore(engine: RecoveryPorts, *, log_always: bool = False) -> int:
    """Restore every running instance whose node is dead; returns how many (requeued
    plus restored in error: each count is logged apart).

    The event log gets "restore started/finished" entries (with counts) when there was
    something to restore or a dead node to mark, or always with ``log_always`` (a node
    starting), so housekeeping every few seconds does not flood it; plus one entry per
    instance restored in error and one per dead node whose instances were requeued."""
    now = engine.clock.now()
    async with engine.store.read() as conn:
        node_rows = await node_q.running(conn)
        dead_after = Liveness.of(await server_params.load(conn)).dead_after
    live = [n["id"] for n in node_rows if is_alive(n, now, dead_after) or n["id"] == engine.node_id]
    dead = [n for n in node_rows if n["id"] not in live]
    async with engine.store.read() as conn:
        orphans = await inst_q.running_not_on_live_nodes(conn, live)
        # A node that registered after the first read may already have claimed work that
        # the orphan query saw: read the nodes again (after the orphans) and spare it.
        late = await node_q.running(conn)
    late_live = {n["id"] for n in late if n["id"] not in live and is_alive(n, now, dead_after)}
    orphans = [o for o in orphans if o.get("node_id") not in late_live]
    await _adopt_waiting(engine, [*live, *late_live])
    logged = log_always or bool(orphans or dead)
    if logged:
        await _log_started(engine, [n["id"] for n in dead], len(orphans))
    requeued, in_error = await restore_rows(engine, orphans)
    if requeued:
        await _log_ownership(engine, requeued)
    if dead:
        names = [n["id"] for n in dead]
        await hold_sessions(engine, names, "restored: its console's node stopped")
        async with engine.tx() as tx:
            for node in dead:
                await node_q.mark_stopped(tx.conn, node["id"], now)
    back = sum(len(ids) for ids in requeued.values())
    if logged:
        await _log_finished(engine, back, in_error, len(dead))
    if back or in_error:  # the same words and counts as the event log's entry
        log.warning("restore: %s", restored_counts(back, in_error))
    return back + in_error


async def restore_rows(
    engine: RecoveryPorts, orphans: list[dict[str, Any]]
) -> tuple[dict[str, list[int]], int]:
    """Restore these ``running`` rows of a dead node: a command run ends in error, a
    process instance goes back to the queue (the executor restores its in-flight side
    effect step in error). Also ``switchyard node transfer`` (engine/node/transfer.py).
    Returns the requeued ids per node and how many ended in error."""
    in_error = 0
    requeued: dict[str, list[int]] = {}
    # the commands the rows do not name (parallel branches'), by their mark: one scan
    marks = {_mark(row) for row in orphans if row.get("host") == HOST}
    killed_marked = await asyncio.to_thread(kill_marked_groups, marks) if marks else set()
    for row in orphans:
        killed = False
        if row.get("pgid") and row.get("host") == HOST:
            killed = kill_stale_group(int(row["pgid"]), row.get("proc_start_time"), HOST)
        killed = killed or _mark(row) in killed_marked
        reason = f"{RESTORED}: node {row.get('node_id') or '?'} stopped while it ran"
        if killed:
            reason += " (its leftover process group was killed)"
        if row.get("definition_id") is not None:
            if await _requeue_process(engine, row, killed):
                requeued.setdefault(str(row.get("node_id") or "?"), []).append(int(row["id"]))
            continue
        async with engine.tx() as tx:
            if await finish(tx, row, ERROR, reason + "; retry or skip it"):
                in_error += 1
                await eventlog.record(
                    tx,
                    eventlog.RESTORED_IN_ERROR,
                    f"instance {row['id']} restored in error: node "
                    f"{row.get('node_id') or '?'} stopped while it ran",
                    instance_id=int(row["id"]),
                    node=row.get("node_id"),
                    reason=reason,
                    killed_leftover_group=killed,
                )
    return requeued, in_error


def _mark(row: dict[str, Any]) -> str:
    return group_mark(int(row["id"]), str(row.get("node_id") or ""))


def restored_counts(requeued: int, in_error: int) -> str:
    """What a restore did, counted apart: process instances went back to the queue to
    resume, command runs ended in error. Said alike in the event log and on stderr."""
    return f"{requeued} instance(s) requeued, {in_error} restored in error"


async def _log_started(engine: RecoveryPorts, dead: list[str], orphans: int) -> None:
    found = f"dead node(s) {', '.join(dead)}; " if dead else ""
    async with engine.tx() as tx:
        await eventlog.record(
            tx,
            eventlog.RESTORE_STARTED,
            f"restore started: {found}{orphans} instance(s) to restore",
            login=engine.login,
            dead_nodes=dead,
            instances=orphans,
        )


async def _log_finished(engine: RecoveryPorts, requeued: int, in_error: int, dead: int) -> None:
    counts = restored_counts(requeued, in_error) if requeued or in_error else "nothing to restore"
    if dead:
        counts += f"; {dead} dead node(s) marked stopped"
    async with engine.tx() as tx:
        await eventlog.record(
            tx,
            eventlog.RESTORE_FINISHED,
            f"restore finished: {counts}",
            login=engine.login,
            requeued=requeued,
            restored_in_error=in_error,
            dead_nodes=dead,
        )


async def _log_ownership(engine: RecoveryPorts, requeued: dict[str, list[int]]) -> None:
    """One entry per dead node: its process instances went back to the queue, for any
    live node to take over (this node did the requeueing)."""
    async with engine.tx() as tx:
        for node, ids in requeued.items():
            await eventlog.record(
                tx,
                eventlog.OWNERSHIP_CHANGED,
                f"{len(ids)} instance(s) of dead node {node} requeued by {engine.node_id}",
                login=engine.login,
                from_node=node,
                by_node=engine.node_id,
                count=len(ids),
                instance_ids=ids[:100],
            )


async def _requeue_process(engine: RecoveryPorts, row: dict[str, Any], killed: bool) -> bool:
    async with engine.tx() as tx:
        fields = {"pgid": None, "proc_start_time": None}
        changed = await transition(tx, row, Status.QUEUED, expect=Status.RUNNING, fields=fields)
        if changed:
            await step_q.add_history(
                tx.conn,
                row["id"],
                "restored",
                tx.now,
                None,
                {"node": row.get("node_id"), "killed_leftover_group": killed},
            )
    return bool(changed)


async def _adopt_waiting(engine: RecoveryPorts, keep: list[str]) -> None:
    """Waiting instances of a node that is gone (dead, stopped with nobody to hand them
    to) become this node's: every waiting instance has a live owner."""
    async with engine.store.read() as conn:  # a read first: nothing to adopt, no write
        found = await node_q.orphaned_waiting(conn, keep)
    if not found:
        return
    async with engine.tx() as tx:
        for from_node, ids in found.items():
            await node_q.hand_over(tx.conn, ids, from_node, engine.node_id)
            await eventlog.record(
                tx,
                eventlog.OWNERSHIP_CHANGED,
                f"{len(ids)} waiting instance(s) of stopped node {from_node} taken over by "
                f"{engine.node_id}",
                login=engine.login,
                from_node=from_node,
                to_node=engine.node_id,
                by_node=engine.node_id,
                count=len(ids),
                instance_ids=ids[:100],
            )


async def hand_over_waiting(
    engine: RecoveryPorts, from_node: str, to_nodes: list[str], *, why: str
) -> dict[str, list[int]]:
    """The waiting instances ``from_node`` owns go to ``to_nodes`` in turn (one
    transaction, one event-log entry per receiving node); returns who got what."""
    if not to_nodes:
        return {}
    async with engine.tx() as tx:
        ids = await node_q.waiting_of(tx.conn, from_node)
        given: dict[str, list[int]] = {}
        for i, instance_id in enumerate(ids):
            given.setdefault(to_nodes[i % len(to_nodes)], []).append(instance_id)
        for to_node, mine in given.items():
            moved = await node_q.hand_over(tx.conn, mine, from_node, to_node)
            await eventlog.record(
                tx,
                eventlog.OWNERSHIP_CHANGED,
                f"{moved} waiting instance(s) of {why} node {from_node} handed to {to_node}",
                login=engine.login,
                from_node=from_node,
                to_node=to_node,
                by_node=engine.node_id,
                count=moved,
                instance_ids=mine[:100],
            )
    return given
