"""The dispatcher: claims queued instances lane by lane and hands them to the runtime.

Lane order and concurrency are enforced by the one claim path in the store
(`store/queries/claims.py`), so any number of nodes can dispatch from one queue.
It wakes on queue changes (local or from other processes) and polls once a second
as a fallback.

Load balancing (server parameter ``load_balance_threshold``): a node that owns that many
active (running + waiting) instances claims nothing new while another live worker node
that is not draining is below the threshold, and in a round claims at most what brings
it to the threshold. Alone, or when every live node is at the threshold, it claims as
before: work must not stall for want of a second node, and a hard cap would deadlock
parents waiting (owned) on children that nobody may claim. The claim itself stays the one claim path, so lane limits hold as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST, WORKER_MODES, Liveness, NodeState, state_of
from switchyard.engine.kernel.ports import HasBus, HasClock, HasNodeId, HasStore, Transactions
from switchyard.engine.kernel.tasks import spawn
from switchyard.store.models import QUEUED, RUNNING
from switchyard.store.queries import claims
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q

log = logging.getLogger(__name__)

POLL = 1.0
BATCH = 500  # most instances claimed in one statement
COALESCE = 0.005  # seconds to gather wake-ups before a claim round
# ... unless this many instances already left ``running`` since the last round (a group
# commit ends a whole wave in one go: nothing more to gather; bench/README.md engine
# round 7: 5 ms per wave of 500)
FREED_AT_ONCE = 100


@runtime_checkable
class DispatcherPorts(HasStore, HasClock, Transactions, HasBus, HasNodeId, Protocol):
    """Reads and claims (in a transaction, for this node), and the bus to wake on."""


class Dispatcher:
    def __init__(self, engine: DispatcherPorts, launch: Callable[[dict[str, Any]], None]) -> None:
        self.engine = engine
        self.launch = launch
        self._wake = asyncio.Event()
        self._freed = 0  # instances seen leaving ``running`` since the last claim round
        # the last round claimed less than it could because of load_balance_threshold:
        # another node's claim (a ``running`` event) may make every node full, and then
        # this one claims again (``_room``)
        self._held = False
        self._more = False  # the last round stopped at BATCH with more to claim
        self._tasks: list[asyncio.Task[None]] = []
        self.paused = False
        self.threshold: int | None = None  # load_balance_threshold (the runtime sets it)
        self.timing = Liveness()
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
                if event.kind == ev.LANE_CHANGED:
                    self._wake.set()
                elif event.kind == ev.INSTANCES_CHANGED:
                    status = event.data.get("status")
                    if status == RUNNING and not (
                        self._held and event.node_id != self.engine.node_id
                    ):
                        continue  # claimed (here or elsewhere): no slot freed, nothing queued
                    self._wake.set()
                    if status not in (None, QUEUED, RUNNING):
                        self._freed += len(event.data.get("ids") or ()) or 1

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._freed = 0
            self._more = False
            try:
                await self.dispatch_once()
                if self.after_round is not None:
                    await self.after_round()
            except Exception:
                log.exception("dispatcher: claim failed; retrying")
            if self._more:
                # the round stopped at its batch with more claimable (a wide lane, the
                # next lane), and the claim's own ``running`` event wakes nothing: go on
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):  # not wait_for: it can eat a cancel (3.11)
                    await self._wake.wait()
            # Coalesce a burst of wake-ups (many instances ending at once) into one claim
            # round: a few ms of latency, far fewer write transactions. A burst already
            # in (a group commit's wave) is claimed for at once.
            if self._freed < FREED_AT_ONCE:
                await asyncio.sleep(COALESCE)

    async def dispatch_once(self) -> int:
        if self.paused:
            return 0
        async with self.engine.store.read() as conn:
            lanes = await inst_q.lanes_with_queued(conn)
            if lanes and await node_q.draining(conn, self.engine.node_id):
                self.paused = True  # `node drain`: claim nothing from the moment it commits
                return 0
            room = await self._room(conn) if lanes else BATCH
        self._held = room < BATCH
        claimed = 0
        for lane in sorted(lanes):
            if self.paused:
                break
            if claimed >= room:
                self._more = not self._held  # lanes left, past the batch (not the threshold)
                break
            # the one claim path (store/queries/claims.py): lane locked, free slots
            # counted and claimed in one transaction
            async with self.engine.tx() as tx:
                rows, capped = await claims.claim_batch(
                    tx.conn,
                    lane=lane,
                    node_id=self.engine.node_id,
                    host=HOST,
                    now=tx.now,
                    most=min(BATCH, room - claimed),
                    clock=self.engine.clock.now,
                )
                self._more = self._more or (capped and not self._held)
                if rows:
                    ids = [r["id"] for r in rows]
                    tx.emit(ev.INSTANCES_CHANGED, ids[0], ids=ids, status=RUNNING, lane=lane)
            for row in rows:
                claimed += 1
                self.launch(row)
        return claimed

    async def _room(self, conn: AsyncConnection) -> int:
        """How many instances this node may claim in this round (load balancing)."""
        if self.threshold is None:
            return BATCH
        owned = await node_q.owned_by(conn, self.engine.node_id)
        if owned + BATCH <= self.threshold:
            return BATCH
        now = self.engine.clock.now()
        others = [
            str(n["id"])
            for n in await node_q.running(conn)
            if n["id"] != self.engine.node_id
            and n["mode"] in WORKER_MODES
            and state_of(n, now, self.timing) is NodeState.LIVE
        ]
        if not others:  # alone: no one to spread to
            return BATCH
        counts = await node_q.owned(conn)
        below = [
            o
            for o in others
            if counts.get(o, {}).get("running", 0) + counts.get(o, {}).get("waiting", 0)
            < self.threshold
        ]
        if not below:  # everyone is full: spreading is moot, and holding back could
            return BATCH  # stall a waiting parent whose child is queued
        return max(0, self.threshold - owned)
