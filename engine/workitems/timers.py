"""Work-item timers, fired by every node's timer loop (engine/node/runtime.py).

- due: the item becomes overdue (a history entry; lists mark it).
- reminder: a history entry and an event for its user or workgroup.
- escalate: the item is reassigned (``to``: offered to a user, or queued in another
  workgroup) and marked escalated; if the escalation has actions, the instance is woken
  to run them once (engine/process/compound.py), then it waits on the item again.

Each timer is marked done in the same transaction that acts on it, with the row's
``timer_at`` as a guard, so two nodes never fire the same timer twice.

``fire_now`` forces an item's next pending timer whatever its time (``timers run``,
engine/node/timers.py); a forced due timer also moves the item's due date to now.

Also here: holding the items of consoles that stopped (their node died or shut down).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchyard.engine.instances.transition import wake as wake_instance
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import StoreAccess, Transactions
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.workitems.create import next_timer
from switchyard.store.models import WI_OFFERED, WI_OPEN, WI_QUEUED
from switchyard.store.queries import people as people_q
from switchyard.store.queries import steps as step_q
from switchyard.store.queries import workitems as wi_q


async def fire_due(engine: StoreAccess) -> int:
    """Fire the work-item timers that are due; returns how many fired."""
    fired = 0
    async with engine.store.read() as conn:
        rows = await wi_q.due(conn, engine.clock.now())
    for row in rows:
        try:
            async with engine.tx() as tx:
                fired += await _fire(tx, row)
        except _Retry:  # it moved while its timer fired: the next pass sees it again
            continue
    return fired


async def fire_now(engine: Transactions, item_id: int, *, by: str | None = None) -> str | None:
    """Fire the next pending timer of one open item now, whatever its time (and any other
    that is due). Returns the kind of the timer forced (due, reminder, escalate), or None
    when the item is not open or has no pending timer."""
    for _ in range(5):
        try:
            async with engine.tx() as tx:
                row = await wi_q.get(tx.conn, item_id)
                if row is None or row["status"] not in WI_OPEN:
                    return None
                forced = _next_pending(row)
                if forced is None:
                    return None
                await _fire(tx, row, force=True, by=by)
                return str(forced["kind"])
        except _Retry:  # it moved meanwhile: read it again
            continue
    return None


def _next_pending(row: dict[str, Any]) -> dict[str, Any] | None:
    pending = [t for t in row.get("timers") or [] if not t.get("done")]
    return min(pending, key=lambda t: datetime.fromisoformat(t["at"]), default=None)


async def _fire(tx: Tx, row: dict[str, Any], *, force: bool = False, by: str | None = None) -> int:
    """Fire the item's timers that are due; with ``force``, its next pending one too."""
    timers = [dict(t) for t in row.get("timers") or []]
    forced = _next_pending({"timers": timers}) if force else None
    values: dict[str, Any] = {}
    fired = 0
    wake = False
    for timer in timers:
        if timer.get("done"):
            continue
        if timer is not forced and datetime.fromisoformat(timer["at"]) > tx.now:
            continue
        timer["done"] = True
        fired += 1
        detail: dict[str, Any] = {"item": row["id"], "op": timer["kind"]}
        if timer is forced:
            detail["forced"] = True
            if timer["kind"] == "due" and (row.get("due_at") is None or row["due_at"] > tx.now):
                values["due_at"] = tx.now
        if timer["kind"] == "escalate":
            values["escalated"] = True
            route = timer.get("to") or {}
            if route.get("user") and await people_q.get_user(tx.conn, route["user"]):
                values.update(status=WI_OFFERED, user=route["user"], session=None)
                detail["to"] = route["user"]
            elif route.get("workgroup") and await people_q.get_group(tx.conn, route["workgroup"]):
                values.update(
                    status=WI_QUEUED, user=None, workgroup=route["workgroup"], session=None
                )
                detail["to"] = route["workgroup"]
            wake = True
        await step_q.add_history(tx.conn, int(row["instance_id"]), "workitem", tx.now, by, detail)
    values.update(timers=timers, timer_at=next_timer(timers), updated_at=tx.now)
    changed = await wi_q.change(
        tx.conn, int(row["id"]), values, only_status=(row["status"],), only_user=row["user"]
    )
    if not changed:
        raise _Retry()
    tx.emit(
        ev.WORK_ITEMS_CHANGED,
        row["id"],
        ids=[row["id"]],
        status=values.get("status", row["status"]),
        instance=row["instance_id"],
        timer=[t["kind"] for t in timers if t.get("done")][-1:],
    )
    if wake:
        await wake_instance(tx, int(row["instance_id"]))
    return fired


class _Retry(Exception):
    pass


async def hold_sessions(engine: Transactions, sessions: list[str], why: str) -> list[int]:
    """Items in progress in consoles whose node stopped come back held, drafts kept."""
    if not sessions:
        return []
    async with engine.tx() as tx:
        ids = await wi_q.hold_sessions(tx.conn, sessions, why, tx.now)
        if ids:
            tx.emit(ev.WORK_ITEMS_CHANGED, None, ids=ids, status="held")
    return ids
