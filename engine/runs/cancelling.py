"""Cancelling an instance, wherever it is: queued or waiting (ended here), running (its
node is asked, or, when that node is dead, its leftover process group is killed here);
a process instance's active children are cancelled with it. Mixed into ``Engine``."""

from __future__ import annotations

import asyncio
from typing import Any

from switchyard.engine.errors import Conflict, NotFound
from switchyard.engine.instances.ending import cancel_children
from switchyard.engine.instances.status import Status
from switchyard.engine.instances.transition import transition
from switchyard.engine.instances.view import InstanceState
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST, is_alive
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.people.rules import on_instance, rule
from switchyard.engine.runs.api import RunsApi
from switchyard.engine.runs.leftovers import group_mark, kill_marked_groups, kill_stale_group
from switchyard.engine.views import InstanceView
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import steps as step_q


class CancelApi(RunsApi):
    """Cancelling; reads the instance back through ``RunsApi``."""

    @rule(on_instance("manage", "cancel"), arg="instance_id")
    async def cancel(self, instance_id: int) -> InstanceView:
        async with self.tx() as tx:
            row = await inst_q.get(tx.conn, instance_id)
            if row is None:
                raise NotFound("id", f"unknown instance {instance_id}")
            reason = f"cancelled by {self.user}"
            state = InstanceState.of(row)
            if state.is_process:
                await step_q.add_history(tx.conn, instance_id, "cancel", tx.now, self.user, {})
            if state.status in (Status.QUEUED, Status.WAITING):
                # the end hook ends its waits, withdraws its work items, cancels its
                # children and keeps a continuous schedule going
                if not await transition(tx, row, Status.CANCELLED, reason):
                    # claimed between our read and our update
                    raise Conflict("id", f"instance {instance_id} just started; cancel it again")
            elif state.status is Status.RUNNING:
                owner = await self._owner_alive(tx, row)
                if owner:
                    await inst_q.set_fields(tx.conn, instance_id, {"cancel_requested": True})
                    tx.emit(ev.CANCEL_REQUESTED, instance_id, node=row["node_id"], by=self.user)
                else:  # its node is gone: make sure nothing of it runs, then record it
                    if row["pgid"]:
                        kill_stale_group(row["pgid"], row["proc_start_time"], row["host"] or "")
                    if row.get("host") == HOST:  # and every other command it left, by mark
                        mark = group_mark(instance_id, str(row.get("node_id") or ""))
                        await asyncio.to_thread(kill_marked_groups, {mark})
                    await transition(tx, row, Status.CANCELLED, reason)
            else:
                raise Conflict(
                    "id", f"instance {instance_id} is {row['status']}: nothing to cancel"
                )
            if state.is_process:  # after the parent: a child's end must not wake it meanwhile
                await self._cancel_children(tx, instance_id)
        return await self.instance(instance_id)

    async def _cancel_children(self, tx: Tx, parent_id: int) -> None:
        """Cancelling an instance cancels its active children (cancel case); each child's
        end runs the end hook like any other (its open work items are withdrawn)."""
        await cancel_children(tx, parent_id, f"parent #{parent_id} cancelled", by=self.user)

    async def _owner_alive(self, tx: Tx, row: dict[str, Any]) -> bool:
        for node in await node_q.running(tx.conn):
            if node["id"] == row["node_id"]:
                return is_alive(node, tx.now)
        return False
