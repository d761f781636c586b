"""Engine events: an in-process bus, fed across processes by the events table.

Every state change is written as an event row in the same transaction as the change
(`Tx.emit`), then published on the local bus after the commit. Other processes pick the
rows up with `EventFeed`, which polls the table by id (cheap: a primary-key range scan),
and publish them on their own bus. Events written by this node are not re-published.
PostgreSQL may commit a lower id after a higher one, so the feed re-reads a small
window behind its cursor and drops ids it has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from switchyard.engine.kernel.tasks import spawn
from switchyard.store.db import Store
from switchyard.store.queries import events as event_rows

log = logging.getLogger(__name__)

# Event kinds
LANE_CHANGED = "lane.changed"
SCHEDULE_CHANGED = "schedule.changed"
SCHEDULE_REMOVED = "schedule.removed"
INSTANCES_CHANGED = "instances.changed"  # data: {"ids": [...], "status": ..., "lane": ...}
INSTANCE_LOG = "instance.log"  # local only, on the bus's log channel: data {"lines": [...]}
CANCEL_REQUESTED = "instance.cancel_requested"
NODE_CHANGED = "node.changed"
SECRET_CHANGED = "secret.changed"
PARAM_CHANGED = "param.changed"
PROCESS_PUBLISHED = "process.published"
WORK_ITEMS_CHANGED = "workitems.changed"  # data: {"ids": [...], "status": ..., "instance": id}
FEED_STATUS = "feed.status"  # local only: data {"ok": bool, "error": str}
PEOPLE_CHANGED = "people.changed"  # users, groups, rights or security specs changed

#: Changes of what the monitor caches (identity, rights, specs, parameters, definitions):
#: the transaction carrying one also replaces the store's change token (kernel/tx.py,
#: store/queries/params.py), which every process checks before trusting its cache.
CACHED_KINDS = frozenset({PEOPLE_CHANGED, PARAM_CHANGED, PROCESS_PUBLISHED})


@dataclass(frozen=True)
class EngineEvent:
    kind: str
    entity_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    node_id: str | None = None
    id: int | None = None


class LogQueue(asyncio.Queue[EngineEvent]):
    """A subscriber's queue of log-line batches; ``dropped`` counts the batches it lost
    (it was too slow): it reads what it missed from the store (``Engine.log``)."""

    dropped: int = 0


class LogChannel:
    """Live log lines (``INSTANCE_LOG`` batches): a channel of their own, apart from the
    control events, with its own bounded queue per subscriber. A burst of output fills
    only these queues, and a slow subscriber loses only log batches (the oldest first),
    never an ``INSTANCES_CHANGED`` or ``CANCEL_REQUESTED``."""

    def __init__(self, queue_size: int = 1_000) -> None:
        self._subscribers: set[LogQueue] = set()
        self._queue_size = queue_size

    def publish(self, event: EngineEvent) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                    queue.dropped += 1
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[LogQueue]:
        queue = LogQueue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class EventBus:
    """Fan-out of events to any number of subscribers, each with its own bounded queue.

    Control events (everything but log lines) go to ``subscribe()``'s queues; log lines
    (``INSTANCE_LOG``) go to ``logs``, a separate channel (``subscribe_logs()``), so a
    burst of output can never push a control event out of a slow subscriber's queue."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subscribers: set[asyncio.Queue[EngineEvent]] = set()
        self._queue_size = queue_size
        self.logs = LogChannel()

    def publish(self, event: EngineEvent) -> None:
        if event.kind == INSTANCE_LOG:
            self.logs.publish(event)
            return
        for queue in list(self._subscribers):
            if queue.full():  # a slow subscriber loses its oldest event, never blocks the engine
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    def publish_many(self, events: Iterable[EngineEvent]) -> None:
        for event in events:
            self.publish(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[EngineEvent]]:
        """Control events (no log lines: see ``subscribe_logs``)."""
        queue: asyncio.Queue[EngineEvent] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def subscribe_logs(self) -> contextlib.AbstractAsyncContextManager[LogQueue]:
        """Live log-line batches (``INSTANCE_LOG``), on their own bounded queue."""
        return self.logs.subscribe()


class EventFeed:
    """Polls the events table and publishes other processes' events on the local bus.

    On PostgreSQL a LISTEN connection wakes the poll at once when another process commits
    events; polling stays as the fallback (and is the only mechanism on SQLite).
    """

    WINDOW = 200

    def __init__(self, store: Store, bus: EventBus, node_id: str, interval: float = 0.25) -> None:
        self.store = store
        self.bus = bus
        self.node_id = node_id
        self.interval = interval
        self._cursor = 0
        self._seen: deque[int] = deque(maxlen=4 * self.WINDOW)
        self._seen_set: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._nudge = asyncio.Event()
        self._unlisten: Any = None
        self.healthy = True

    async def start(self) -> None:
        async with self.store.read() as conn:
            self._cursor = await event_rows.last_id(conn)
            if not self.store.is_sqlite:
                # the look-back window must not replay what was there before we started
                for row in await event_rows.since(conn, max(0, self._cursor - self.WINDOW)):
                    if int(row["id"]) <= self._cursor:
                        self._remember(int(row["id"]))
        if not self.store.is_sqlite:
            try:
                self._unlisten = await self.store.listen(event_rows.CHANNEL, self._nudge.set)
            except Exception as exc:  # polling still works
                log.warning("event feed: LISTEN failed (%s); polling only", exc)
        self._task = spawn(self._run(), name="switchyard-event-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._unlisten is not None:
            with contextlib.suppress(Exception):
                await self._unlisten()
            self._unlisten = None

    def _remember(self, event_id: int) -> bool:
        if event_id in self._seen_set:
            return False
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(event_id)
        self._seen_set.add(event_id)
        return True

    async def poll_once(self) -> int:
        start = max(0, self._cursor - self.WINDOW) if not self.store.is_sqlite else self._cursor
        async with self.store.read() as conn:
            last, rows = await event_rows.since_from_others(conn, start, self.node_id)
        self._cursor = max(self._cursor, last)
        published = 0
        for row in rows:  # this node's own events are left out (the bus had them at once)
            if not self._remember(int(row["id"])):
                continue
            self.bus.publish(
                EngineEvent(row["kind"], row["entity_id"], row["data"], row["node_id"], row["id"])
            )
            published += 1
        return published

    async def _run(self) -> None:
        while True:
            # cleared before the poll, not after: a wake (NOTIFY) that comes while the poll
            # reads is for rows it may not have seen, and must make it poll again at once
            self._nudge.clear()
            try:
                await self.poll_once()
                if not self.healthy:
                    self.healthy = True
                    self.bus.publish(EngineEvent(FEED_STATUS, data={"ok": True}))
            except Exception as exc:  # the store went away: say so, keep trying
                log.warning("event feed: %s", exc)
                if self.healthy:
                    self.healthy = False
                    self.bus.publish(
                        EngineEvent(FEED_STATUS, data={"ok": False, "error": str(exc)})
                    )
            with contextlib.suppress(TimeoutError):
                # not wait_for: on 3.11 it swallows a cancel that races a nudge, and stop() hangs
                async with asyncio.timeout(self.interval):
                    await self._nudge.wait()
