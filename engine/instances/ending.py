"""What an end leaves behind, and how it is cleared: a process instance's (or a branch's)
open work items are withdrawn, its children cancelled, its steps under way ended.

Used by the end hook (``completion.after_end``, run by every ``transition`` to an end),
by ``cancel`` and by a parallel branch that lost its join (``process/compound.py``).

Decisions: a withdrawn item is ``cancelled`` with the reason in ``held_reason`` (shown
with its status) and a ``workitem`` history entry ``op: withdrawn``; completing it is
refused naming that reason. Cancelling (an instance or a branch) cancels every active
child it started, waited for or not; an instance that *completes* cancels only the
children still awaited by a step that did not finish (a ``wait: false`` child runs on).
An instance ending in ``error`` keeps all of it: a retry carries on from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from switchyard.engine.instances.status import Status
from switchyard.engine.instances.transition import transition
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.tx import Tx
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import steps as step_q
from switchyard.store.queries import workitems as wi_q


def under(keys: Sequence[str]) -> Callable[[str | None], bool]:
    """A test for step keys at or below any of ``keys``."""
    prefixes = tuple(keys)
    nested = tuple(f"{k}/" for k in prefixes)
    return lambda key: key is not None and (key in prefixes or key.startswith(nested))


async def withdraw_items(
    tx: Tx, instance_id: int, reason: str, where: Callable[[str | None], bool] | None = None
) -> list[int]:
    """Cancel the instance's open items (those of steps ``where`` accepts), each with
    ``reason`` (``withdrawn: …``) kept on the item and in the history. Returns their ids."""
    keys = None
    if where is not None:
        keys = [
            int(item["id"])
            for item in await wi_q.for_instance(tx.conn, instance_id)
            if where(item["step_key"])
        ]
        if not keys:
            return []
    ids = await wi_q.withdraw(tx.conn, instance_id, reason, tx.now, only=keys)
    for item_id in ids:
        detail = {"item": item_id, "op": "withdrawn", "reason": reason}
        await step_q.add_history(tx.conn, instance_id, "workitem", tx.now, None, detail)
    if ids:  # nobody can answer them any more
        tx.emit(ev.WORK_ITEMS_CHANGED, instance_id, ids=ids, status="cancelled")
    return ids


async def cancel_children(
    tx: Tx,
    parent_id: int,
    reason: str,
    *,
    by: str | None = None,
    where: Callable[[str | None], bool] | None = None,
) -> list[int]:
    """Cancel the parent's active children (those started by steps ``where`` accepts),
    and theirs. A waiting or queued child ends here (its own end hook withdraws its items
    and cancels its children); a running one is asked to stop on its node."""
    cancelled: list[int] = []
    for child in await inst_q.children(tx.conn, parent_id):
        if where is not None and not where(child.get("parent_step")):
            continue
        status = Status(child["status"])
        if status in (Status.QUEUED, Status.WAITING):
            if await transition(tx, child, Status.CANCELLED, reason):
                detail = {"reason": reason}
                await step_q.add_history(tx.conn, int(child["id"]), "cancel", tx.now, by, detail)
                cancelled.append(int(child["id"]))
        elif status is Status.RUNNING:
            await inst_q.set_fields(tx.conn, int(child["id"]), {"cancel_requested": True})
            tx.emit(ev.CANCEL_REQUESTED, child["id"], node=child["node_id"], by=by)
            await cancel_children(tx, int(child["id"]), reason, by=by)
            cancelled.append(int(child["id"]))
    return cancelled


async def end_leftovers(tx: Tx, row: dict[str, Any], status: Status) -> None:
    """The end hook's part for a process instance that completed or was cancelled."""
    instance_id = int(row["id"])
    said = "completed" if status is Status.COMPLETED else "was cancelled"
    await withdraw_items(tx, instance_id, f"withdrawn: its instance {instance_id} {said}")
    if status is Status.COMPLETED:  # only the children a step still waited for
        done = await step_q.done_keys(tx.conn, instance_id)
        await cancel_children(
            tx,
            instance_id,
            f"parent #{instance_id} completed",
            where=lambda key: key is not None and key not in done,
        )
    else:
        await cancel_children(tx, instance_id, f"parent #{instance_id} cancelled")
    await step_q.close_started(tx.conn, instance_id, tx.now)
