"""Cancel requests that nothing on this node answers.

A cancel asks the node that runs an instance to stop it (``cancel_requested`` on its row,
and an event). The node's cancel watcher stops the task that runs it; a poll of the store
every ``CANCEL_POLL`` seconds catches requests whose event came before the task existed.
If, at two polls in a row, a row of this node is ``running`` with a cancel requested and
no task here runs it, nothing ever will (its task ended without a word: e.g. cancelled
before it began): the instance is ended ``cancelled`` here, its leftover process group
killed first, so it is never left running on a live node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from switchyard.engine.instances.status import Status
from switchyard.engine.instances.transition import transition
from switchyard.engine.kernel.ports import NodeAccess
from switchyard.engine.runs.leftovers import kill_stale_group
from switchyard.store.queries import instances as inst_q

log = logging.getLogger(__name__)

REASON = "cancelled (nothing was running it any more on its node)"


class OrphanCancels:
    """Remembers which requested cancels had no task at the last poll."""

    def __init__(self, engine: NodeAccess) -> None:
        self.engine = engine
        self.missing: set[int] = set()

    async def look(self, requested: Collection[int], running_here: Collection[int]) -> list[int]:
        """Called at each poll; ends the requests missing twice in a row. Returns them."""
        now_missing = {i for i in requested if i not in running_here}
        orphans = sorted(now_missing & self.missing)
        self.missing = now_missing - set(orphans)
        ended: list[int] = []
        if not orphans:
            return ended
        async with self.engine.tx() as tx:
            for instance_id in orphans:
                row = await inst_q.get(tx.conn, instance_id)
                if row is None or row["status"] != Status.RUNNING.value:
                    continue
                if row["node_id"] != self.engine.node_id or not row.get("cancel_requested"):
                    continue
                if row.get("pgid"):  # a process scan: off the loop
                    await asyncio.to_thread(
                        kill_stale_group, row["pgid"], row["proc_start_time"], row.get("host") or ""
                    )
                if await transition(
                    tx,
                    row,
                    Status.CANCELLED,
                    REASON,
                    expect=Status.RUNNING,
                    only_node=row["node_id"],
                ):
                    ended.append(instance_id)
        for instance_id in ended:
            log.warning("instance %s: cancel requested, nothing ran it: ended here", instance_id)
        return ended
