"""What happens when an instance ends, whoever ends it (runner, cancel, recovery): the end
hook that ``engine/instances/transition.py`` runs after every end.

- A process instance that completed or was cancelled leaves nothing open: its open work
  items are withdrawn, its children cancelled, its steps under way ended (``ending.py``).
- A parent waiting on it is woken.

- A continuous schedule is looked at again (restarted after 5 s if its run failed, so a
  command that fails at once does not spin; at once when it completed or was interrupted
  by a quitting console, ``INTERRUPTED_BY_QUIT``).
- Schedules chained with ``--after`` start when the instance completed successfully.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from switchyard.engine.instances.ending import end_leftovers
from switchyard.engine.instances.status import Status
from switchyard.engine.instances.transition import transition, wake
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.schedules.firing import instance_row
from switchyard.engine.schedules.triggers import Trigger
from switchyard.store.models import CANCELLED, COMPLETED, QUEUED
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import schedules as sched_q

CONTINUOUS_RESTART_AFTER_FAILURE = timedelta(seconds=5)
#: the reason of a continuous schedule's run stopped because the console running it quit:
#: it ends ``cancelled`` (not an error) and the schedule starts it again at the next start
INTERRUPTED_BY_QUIT = "interrupted by quit"


async def finish(
    tx: Tx, row: dict[str, Any], status: str, reason: str | None, exit_code: int | None = None
) -> bool:
    """Move a running instance to a final status; False if someone else already ended it."""
    return await transition(tx, row, Status(status), reason, fields={"exit_code": exit_code})


async def after_end(tx: Tx, row: dict[str, Any], status: str, reason: str | None = None) -> None:
    if row.get("definition_id") is not None and status in (CANCELLED, COMPLETED):
        # nothing of it is left open: items withdrawn, children cancelled, steps ended
        await end_leftovers(tx, row, Status(status))
    if row.get("parent_id"):  # a parent waiting on this child looks at its result
        await wake(tx, int(row["parent_id"]))
    if row.get("schedule_id") is None:
        return
    schedule = await sched_q.get(tx.conn, row["schedule_id"])
    if schedule is None:
        return
    trigger = Trigger.from_fields(schedule["trigger"])
    if trigger.kind == "continuous" and not schedule["paused"]:
        at_once = status == COMPLETED or reason == INTERRUPTED_BY_QUIT
        delay = timedelta(0) if at_once else CONTINUOUS_RESTART_AFTER_FAILURE
        await sched_q.update_fields(tx.conn, schedule["id"], {"next_fire_at": tx.now + delay})
        tx.emit(ev.SCHEDULE_CHANGED, schedule["id"], name=schedule["name"])
    if status == COMPLETED:
        for chained in await sched_q.chained_after(tx.conn, schedule["name"]):
            values = instance_row(
                chained,
                now=tx.now,
                fire_at=tx.now,
                origin="chain",
                key=f"chain:{row['id']}:{chained['id']}",
                reason=f"after {schedule['name']} #{row['id']}",
            )
            values["status"] = QUEUED
            values["ended_at"] = None
            new_id = await inst_q.insert_one(tx.conn, values)
            if new_id is not None:
                tx.emit(
                    ev.INSTANCES_CHANGED, new_id, ids=[new_id], status=QUEUED, lane=chained["lane"]
                )
