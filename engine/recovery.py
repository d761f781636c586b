"""Restoring the work of nodes that died.

An instance left ``running`` by a node that is no longer alive was interrupted at an
unknown point. Its command may even still be running as an orphan: if it ran on this
host, its process group is killed (only if the recorded start time matches, so a
reused pid is never touched). The instance then ends in ``error`` with the reason
"restored in error"; it is never silently re-run. An operator retries it.

A process instance goes back to the queue instead, to resume from its last committed
step: the executor finds the step that was in flight and restores *that* in error when
it had side effects (unless it is idempotent); pure steps simply run again.
"""

from __future__ import annotations

import logging
from typing import Any

from switchyard.engine import events as ev
from switchyard.engine.completion import finish
from switchyard.engine.nodes import HOST, is_alive
from switchyard.engine.runner import kill_stale_group
from switchyard.engine.workitems.timers import hold_sessions
from switchyard.store.models import ERROR, QUEUED, RUNNING
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import steps as step_q

log = logging.getLogger(__name__)

RESTORED = "restored in error"


async def restore(engine: Any) -> int:
    """Restore every running instance whose node is dead; returns how many."""
    now = engine.clock.now()
    async with engine.store.read() as conn:
        node_rows = await node_q.running(conn)
    live = [n["id"] for n in node_rows if is_alive(n, now) or n["id"] == engine.node_id]
    dead = [n for n in node_rows if n["id"] not in live]
    async with engine.store.read() as conn:
        orphans = await inst_q.running_not_on_live_nodes(conn, live)
        # A node that registered after the first read may already have claimed work that
        # the orphan query saw: read the nodes again (after the orphans) and spare it.
        late = await node_q.running(conn)
    late_live = {n["id"] for n in late if n["id"] not in live and is_alive(n, now)}
    orphans = [o for o in orphans if o.get("node_id") not in late_live]
    restored = 0
    for row in orphans:
        killed = False
        if row.get("pgid") and row.get("host") == HOST:
            killed = kill_stale_group(int(row["pgid"]), row.get("proc_start_time"), HOST)
        reason = f"{RESTORED}: node {row.get('node_id') or '?'} stopped while it ran"
        if killed:
            reason += " (its leftover process group was killed)"
        if row.get("definition_id") is not None:
            if await _requeue_process(engine, row, killed):
                restored += 1
            continue
        async with engine.tx() as tx:
            if await finish(tx, row, ERROR, reason + "; retry or skip it"):
                restored += 1
    if dead:
        names = [n["id"] for n in dead]
        await hold_sessions(engine, names, "restored: its console's node stopped")
        async with engine.tx() as tx:
            for node in dead:
                await node_q.mark_stopped(tx.conn, node["id"], now)
    if restored:
        log.warning("restored %d instance(s) in error", restored)
    return restored


async def _requeue_process(engine: Any, row: dict[str, Any], killed: bool) -> bool:
    async with engine.tx() as tx:
        changed = await inst_q.set_fields(
            tx.conn,
            row["id"],
            {
                "status": QUEUED,
                "node_id": None,
                "pgid": None,
                "proc_start_time": None,
                "updated_at": tx.now,
            },
            only_status=RUNNING,
        )
        if changed:
            await step_q.add_history(
                tx.conn,
                row["id"],
                "restored",
                tx.now,
                None,
                {"node": row.get("node_id"), "killed_leftover_group": killed},
            )
            tx.emit(ev.INSTANCES_CHANGED, row["id"], ids=[row["id"]], status=QUEUED)
    return bool(changed)
