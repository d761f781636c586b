"""Cancelling an instance, wherever it is: queued or waiting (ended here), running (its
node is asked, or, when that node is dead, its leftover process group is killed here);
a process instance's active children are cancelled with it. Mixed into ``Engine``."""

from __future__ import annotations

from typing import Any

from switchyard.engine import events as ev
from switchyard.engine.completion import after_end
from switchyard.engine.errors import Conflict, NotFound
from switchyard.engine.nodes import is_alive
from switchyard.engine.runner import kill_stale_group
from switchyard.engine.tx import Tx
from switchyard.engine.views import InstanceView
from switchyard.store.models import CANCELLED, QUEUED, RUNNING, WAITING
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import steps as step_q


class CancelApi:
    # provided by Engine
    user: str

    def tx(self) -> Any:  # pragma: no cover - Engine's
        raise NotImplementedError

    async def instance(self, instance_id: int) -> InstanceView:  # pragma: no cover
        raise NotImplementedError

    async def cancel(self, instance_id: int) -> InstanceView:
        async with self.tx() as tx:
            row = await inst_q.get(tx.conn, instance_id)
            if row is None:
                raise NotFound("id", f"unknown instance {instance_id}")
            reason = f"cancelled by {self.user}"
            if row.get("definition_id") is not None:
                await self._cancel_children(tx, instance_id)
                await step_q.add_history(tx.conn, instance_id, "cancel", tx.now, self.user, {})
            if row["status"] in (QUEUED, WAITING):
                if row.get("definition_id") is not None:  # its waits end here
                    await step_q.close_started(tx.conn, instance_id, tx.now)
                changed = await inst_q.set_fields(
                    tx.conn,
                    instance_id,
                    {
                        "status": CANCELLED,
                        "reason": reason,
                        "ended_at": tx.now,
                        "updated_at": tx.now,
                    },
                    only_status=row["status"],
                )
                if not changed:  # claimed between our read and our update
                    raise Conflict("id", f"instance {instance_id} just started; cancel it again")
                tx.emit(ev.INSTANCES_CHANGED, instance_id, ids=[instance_id], status=CANCELLED)
                await after_end(tx, row, CANCELLED)  # a continuous schedule must not stall
            elif row["status"] == RUNNING:
                owner = await self._owner_alive(tx, row)
                if owner:
                    await inst_q.set_fields(tx.conn, instance_id, {"cancel_requested": True})
                    tx.emit(ev.CANCEL_REQUESTED, instance_id, node=row["node_id"], by=self.user)
                else:  # its node is gone: make sure nothing of it runs, then record it
                    if row["pgid"]:
                        kill_stale_group(row["pgid"], row["proc_start_time"], row["host"] or "")
                    await inst_q.set_fields(
                        tx.conn,
                        instance_id,
                        {
                            "status": CANCELLED,
                            "reason": reason,
                            "ended_at": tx.now,
                            "updated_at": tx.now,
                        },
                    )
                    tx.emit(ev.INSTANCES_CHANGED, instance_id, ids=[instance_id], status=CANCELLED)
                    await after_end(tx, row, CANCELLED)
            else:
                raise Conflict(
                    "id", f"instance {instance_id} is {row['status']}: nothing to cancel"
                )
        return await self.instance(instance_id)

    async def _cancel_children(self, tx: Tx, parent_id: int) -> None:
        """Cancelling an instance cancels its active children (cancel case)."""
        for child in await inst_q.children(tx.conn, parent_id):
            if child["status"] in (QUEUED, WAITING):
                await inst_q.set_fields(
                    tx.conn,
                    child["id"],
                    {
                        "status": CANCELLED,
                        "reason": f"parent #{parent_id} cancelled",
                        "ended_at": tx.now,
                        "updated_at": tx.now,
                    },
                    only_status=child["status"],
                )
                tx.emit(ev.INSTANCES_CHANGED, child["id"], ids=[child["id"]], status=CANCELLED)
                await self._cancel_children(tx, child["id"])
            elif child["status"] == RUNNING:
                await inst_q.set_fields(tx.conn, child["id"], {"cancel_requested": True})
                tx.emit(ev.CANCEL_REQUESTED, child["id"], node=child["node_id"], by=self.user)
                await self._cancel_children(tx, child["id"])

    async def _owner_alive(self, tx: Tx, row: dict[str, Any]) -> bool:
        for node in await node_q.running(tx.conn):
            if node["id"] == row["node_id"]:
                return is_alive(node, tx.now)
        return False
