"""The one way an instance changes status (the claim to ``running`` aside, which holds the
lane's lock in ``store/queries/claims.py``). ``transition`` does the guarded update (the
status it expects in the WHERE clause), sets ``waiting_on`` when the instance waits and
clears it otherwise, emits the change and, when the instance ends, runs the end hook
(work items withdrawn, a waiting parent woken, a continuous or chained schedule looked at).
``tests/engine/test_instance_transitions_guard.py`` fails if a status is written elsewhere.

Decision: ``waiting_on`` and ``wake_at`` describe a waiting instance only; every move out
of ``waiting`` (woken, cancelled, ended) clears them."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from switchyard.engine.instances.status import ENDED, Status
from switchyard.engine.instances.waiting import WaitingOn
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.tx import Tx
from switchyard.store.models import Instance
from switchyard.store.queries import instances as inst_q

instances = Instance.__table__  # type: ignore[attr-defined]


class TransitionError(ValueError):
    """A move the lifecycle does not have (a bug in the caller, not a lost race)."""


async def transition(
    tx: Tx,
    row: Mapping[str, Any],
    to: Status,
    reason: str | None = None,
    *,
    expect: Status | Collection[Status] | None = None,
    waiting_on: WaitingOn | None = None,
    wake_at: datetime | None = None,
    fields: Mapping[str, Any] | None = None,
    only_node: str | None = None,
) -> bool:
    """Move the instance ``row`` (as read: id, lane, status, parent, schedule) to ``to`` if
    it is still in ``expect`` (default: the status in ``row``); False when someone else
    moved it first. ``fields`` are other columns written with the change."""
    to = Status(to)
    if to is Status.RUNNING:
        raise TransitionError("only the claim sets running")
    if (to is Status.WAITING) != (waiting_on is not None):
        raise TransitionError("waiting_on goes with waiting, and only with it")
    expected = _expected(row, expect)
    values: dict[str, Any] = {"updated_at": tx.now, **(fields or {})}
    values["status"] = str(to)
    if to is Status.WAITING:
        assert waiting_on is not None
        # the node keeps owning a waiting instance (node list, drain, transfer, load balance)
        values.update(waiting_on=str(waiting_on), wake_at=wake_at)
        values.update(current_action=None)
    else:
        values.update(waiting_on=None, wake_at=None)
    if to in ENDED:
        values.update(reason=reason, ended_at=tx.now, current_action=None)
    elif reason is not None:
        values["reason"] = reason
    if to is Status.QUEUED:
        values["node_id"] = None
    changed = await inst_q.set_fields(
        tx.conn, int(row["id"]), values, only_status=expected, only_node=only_node
    )
    if not changed:
        return False
    _emit(tx, int(row["id"]), to, row.get("lane"))
    if to in ENDED:
        from switchyard.engine.instances.completion import after_end  # the hook needs the schedules

        await after_end(tx, dict(row), str(to), reason)
    return True


async def wake(tx: Tx, instance_id: int, lane: str | None = None) -> bool:
    """A waiting instance (its child ended, its item was answered, its timer forced, it
    stepped aside) goes back to the queue; False if it was not waiting."""
    if not await inst_q.wake(tx.conn, instance_id, tx.now):
        return False
    _emit(tx, instance_id, Status.QUEUED, lane)
    return True


async def wake_due(tx: Tx) -> list[dict[str, Any]]:
    """Waiting instances whose timer is due go back to the queue; returns them."""
    woken = await inst_q.wake_due(tx.conn, tx.now)
    for r in woken:
        _emit(tx, int(r["id"]), Status.QUEUED, r["lane"])
    return woken


def _expected(row: Mapping[str, Any], expect: Status | Collection[Status] | None) -> list[str]:
    if expect is None:
        return [str(row["status"])]
    if isinstance(expect, str):
        return [str(expect)]
    return [str(s) for s in expect]


def _emit(tx: Tx, instance_id: int, to: Status, lane: str | None) -> None:
    data: dict[str, Any] = {"ids": [instance_id], "status": str(to)}
    if lane is not None:
        data["lane"] = lane
    tx.emit(ev.INSTANCES_CHANGED, instance_id, **data)


# The group-committed end of a process instance that has nothing after it (no parent, no
# schedule): one statement in the writer's batch instead of a transaction of its own.
COMPLETE_RUNNING = (
    update(instances)
    .where(instances.c.id == bindparam("b_id"), instances.c.status == Status.RUNNING.value)
    .values(
        status=Status.COMPLETED.value,
        reason=bindparam("reason"),
        outcome=bindparam("outcome"),
        variables=bindparam("variables"),
        current_action=None,
        waiting_on=None,
        wake_at=None,
        ended_at=bindparam("ended_at"),
        updated_at=bindparam("ended_at"),
    )
)
# The same, also setting the state and visit an instance update of the same write would
# have set (process/journal.py ``complete``: that update is then left out of the write).
COMPLETE_RUNNING_IN_STATE = COMPLETE_RUNNING.values(
    current_state=bindparam("current_state"), visit=bindparam("visit")
)
