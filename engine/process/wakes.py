"""A suspended parallel branch waiting in memory for its own wake, while a sibling branch
in the same block is still running (see ``fanout.fan``).

A branch's wait ends when:

- its time has come (a ``wait`` for/until, a condition's next re-check, a yield): the
  engine's clock is read again at least every ``TICK`` seconds and at the deadline;
- something happened to what it waits on, told by the engine bus: any change of one of
  its work items (completed, cancelled, escalated: the branch looks for itself) or the end
  of one of its children (events of other processes arrive through the event feed);
- or, as a fallback for a missed event, a look in the store every ``FALLBACK_POLL``
  seconds finds one of its work items no longer open or one of its children ended.

Then the branch re-enters its block: the journal skips its done steps and the suspended
step looks again (and suspends again if it must). Nothing is written while waiting here:
the durable state is exactly that of a branch suspended the old way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from switchyard.engine.instances.status import Status
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import HasBus, HasClock, HasStore
from switchyard.engine.kernel.tasks import one_line
from switchyard.engine.process.signals import Suspend
from switchyard.store.models import WI_OPEN
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import workitems as wi_q

log = logging.getLogger(__name__)

TICK = 0.5  # the clock is read at least this often (a test's clock moves only by hand)
FALLBACK_POLL = 2.0  # the store is looked at this often when items or children are awaited


class WakePorts(HasStore, HasClock, HasBus, Protocol):
    """What a waiting branch looks at: the store, the time, the bus."""


async def until_woken(engine: WakePorts, suspend: Suspend) -> None:
    """Return when the branch that raised ``suspend`` should look again."""
    waits = suspend.waiting_on
    if waits.is_yield:  # the lane slot is held by the running sibling anyway: go on
        return
    items, children = set(waits.work_items), set(waits.children)
    wake_at = suspend.wake_at
    async with engine.bus.subscribe() as queue:  # before the first look: no event lost
        next_look = 0.0
        while True:
            now = engine.clock.now()
            if wake_at is not None and now >= wake_at:
                return
            if (items or children) and time.monotonic() >= next_look:
                if await _settled(engine, items, children):
                    return
                next_look = time.monotonic() + FALLBACK_POLL
            timeout = TICK
            if wake_at is not None:
                timeout = min(timeout, (wake_at - now).total_seconds())
            if items or children:
                timeout = min(timeout, next_look - time.monotonic())
            with contextlib.suppress(TimeoutError):
                # not wait_for: on 3.11 it can swallow a cancel that races the timeout
                async with asyncio.timeout(max(timeout, 0.0)):
                    while not _concerns(await queue.get(), items, children):
                        pass
                    return


def _concerns(event: ev.EngineEvent, items: set[int], children: set[int]) -> bool:
    ids = event.data.get("ids") or []
    if event.kind == ev.WORK_ITEMS_CHANGED:
        return any(int(i) in items for i in ids)
    if event.kind == ev.INSTANCES_CHANGED and children:
        try:
            ended = Status(str(event.data.get("status"))).ended
        except ValueError:
            return False
        return ended and any(int(i) in children for i in ids)
    return False


async def _settled(engine: WakePorts, items: set[int], children: set[int]) -> bool:
    """A work item no longer open, or a child that ended (the fallback for a missed
    event); a store that cannot be read now is looked at again later."""
    try:
        async with engine.store.read() as conn:
            for item_id in items:
                item = await wi_q.get(conn, item_id)
                if item is None or item["status"] not in WI_OPEN:
                    return True
            for child_id in children:
                child = await inst_q.get(conn, child_id)
                if child is None or Status(child["status"]).ended:
                    return True
    except Exception as exc:  # the event path and the durable timers still work
        log.warning("parallel branch wake: reading the store failed: %s", one_line(exc))
    return False
