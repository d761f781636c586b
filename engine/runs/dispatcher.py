"""The dispatcher: claims queued instances lane by lane and hands them to the runtime.

Lane order and concurrency are enforced by the one claim path in the store
(`store/queries/claims.py`), so any number of nodes can dispatch from one queue.
It wakes on queue changes (local or from other processes) and polls once a second
as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST
from switchyard.engine.kernel.ports import HasBus, HasNodeId, HasStore, Transactions
from switchyard.engine.kernel.tasks import spawn
from switchyard.store.models import RUNNING
from switchyard.store.queries import claims
from switchyard.store.queries import instances as inst_q

log = logging.getLogger(__name__)

POLL = 1.0
BATCH = 500  # most instances claimed in one statement
COALESCE = 0.005  # seconds to gather wake-ups before a claim round


@runtime_checkable
class DispatcherPorts(HasStore, Transactions, HasBus, HasNodeId, Protocol):
    """Reads and claims (in a transaction, for this node), and the bus to wake on."""


class Dispatcher:
    def __init__(self, engine: DispatcherPorts, launch: Callable[[dict[str, Any]], None]) -> None:
        self.engine = engine
        self.launch = launch
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.paused = False
        # called after every claim round (the runtime queues again what stepped aside)
        self.after_round: Callable[[], Awaitable[None]] | None = None

    def start(self) -> None:
        self._tasks = [
            spawn(self._run(), name="switchyard-dispatcher"),
            spawn(self._listen(), name="switchyard-dispatcher-events"),
        ]

    async def stop(self) -> None:
        self.paused = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        async with self.engine.bus.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.kind in (ev.INSTANCES_CHANGED, ev.LANE_CHANGED):
                    self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.dispatch_once()
                if self.after_round is not None:
                    await self.after_round()
            except Exception:
                log.exception("dispatcher: claim failed; retrying")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):  # not wait_for: it can eat a cancel (3.11)
                    await self._wake.wait()
            # Coalesce a burst of wake-ups (many instances ending at once) into one claim
            # round: a few ms of latency, far fewer write transactions.
            await asyncio.sleep(COALESCE)

    async def dispatch_once(self) -> int:
        if self.paused:
            return 0
        async with self.engine.store.read() as conn:
            lanes = await inst_q.lanes_with_queued(conn)
        claimed = 0
        for lane in sorted(lanes):
            if self.paused:
                break
            # the one claim path (store/queries/claims.py): lane locked, free slots
            # counted and claimed in one transaction
            async with self.engine.tx() as tx:
                rows = await claims.claim(
                    tx.conn,
                    lane=lane,
                    node_id=self.engine.node_id,
                    host=HOST,
                    now=tx.now,
                    most=BATCH,
                )
                if rows:
                    ids = [r["id"] for r in rows]
                    tx.emit(ev.INSTANCES_CHANGED, ids[0], ids=ids, status=RUNNING, lane=lane)
            for row in rows:
                claimed += 1
                self.launch(row)
        return claimed
