"""When the dispatcher runs a claim round: woken by what can free a slot or queue work,
not by its own claim; and a whole wave ended at once is claimed for without waiting to
gather more wake-ups (engine round 7 in bench/README.md)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST, own_start_time
from switchyard.engine.runs import dispatcher as dispatcher_module
from switchyard.engine.runs.dispatcher import FREED_AT_ONCE, Dispatcher
from switchyard.store.models import COMPLETED, RUNNING
from switchyard.store.queries import nodes as node_q

from engine.helpers import spec, until


class Counted(Dispatcher):
    """A dispatcher that counts its claim rounds."""

    rounds = 0

    async def dispatch_once(self) -> int:
        self.rounds += 1
        return await super().dispatch_once()


async def test_its_own_claim_does_not_start_another_round(engine: Engine) -> None:
    """Claiming publishes the claimed ids as ``running``; that event freed no slot and
    queued nothing, so it must not wake the dispatcher for an empty claim round (a write
    transaction each time: it held the writer while the claimed wave started)."""
    await engine.add_lane("pool", 5)
    await engine.add_schedule(spec("job", lane="pool"))
    launched: list[dict[str, Any]] = []
    dispatcher = Counted(engine, launched.append)
    dispatcher.start()
    try:
        await until(lambda: dispatcher.rounds == 1, what="the first round")
        await engine.start("job")  # queued: one round claims it
        await until(lambda: len(launched) == 1, what="the claim")
        # the claim's own event went round the bus; a round woken by it would come
        # within the coalescing pause (5 ms); the fallback poll only after POLL (1 s)
        await asyncio.sleep(0.3)
        assert dispatcher.rounds == 2
    finally:
        await dispatcher.stop()


async def test_a_running_event_does_not_wake_it_and_an_ending_does(engine: Engine) -> None:
    dispatcher = Counted(engine, lambda row: None)
    dispatcher.start()
    try:
        await until(lambda: dispatcher.rounds == 1, what="the first round")
        running = {"ids": [1], "status": RUNNING}
        engine.bus.publish(ev.EngineEvent(ev.INSTANCES_CHANGED, "1", running))
        await asyncio.sleep(0.3)
        assert dispatcher.rounds == 1
        ended = {"ids": [1], "status": COMPLETED}
        engine.bus.publish(ev.EngineEvent(ev.INSTANCES_CHANGED, "1", ended))
        await until(lambda: dispatcher.rounds == 2, what="a round woken by the ending")
    finally:
        await dispatcher.stop()


@pytest.mark.parametrize("ended", [FREED_AT_ONCE, 1])
async def test_a_wave_ended_at_once_is_claimed_for_at_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, ended: int
) -> None:
    """A group commit ends a whole wave in one go: the dispatcher claims at once instead
    of pausing to gather more wake-ups. One ending alone still waits for the pause (made
    long here, so that the difference shows without timing anything)."""
    monkeypatch.setattr(dispatcher_module, "COALESCE", 30.0)
    dispatcher = Counted(engine, lambda row: None)
    dispatcher.start()
    try:
        await until(lambda: dispatcher.rounds == 1, what="the first round")
        await asyncio.sleep(0.05)  # waiting for a wake-up now
        ids = list(range(1, ended + 1))
        engine.bus.publish_many(
            ev.EngineEvent(ev.INSTANCES_CHANGED, str(i), {"ids": [i], "status": COMPLETED})
            for i in ids
        )
        if ended >= FREED_AT_ONCE:
            await until(lambda: dispatcher.rounds == 2, what="a round at once")
        else:
            await asyncio.sleep(0.3)
            assert dispatcher.rounds == 1  # still gathering (30 s here)
    finally:
        await dispatcher.stop()


@pytest.mark.parametrize("lanes", [("pool", "pool", "pool"), ("a", "a", "b")])
async def test_a_round_that_claimed_its_whole_batch_goes_on_at_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, lanes: tuple[str, ...]
) -> None:
    """A round claims at most ``BATCH``; what is left claimable (more queued on a wide
    lane, or on the next lane) is claimed by another round at once, not after the
    fallback poll. That round came from the claim's own ``running`` event; ignored, the
    rest waited for ``POLL`` (made long here: no timing measured), with free slots."""
    monkeypatch.setattr(dispatcher_module, "BATCH", 2)
    monkeypatch.setattr(dispatcher_module, "POLL", 600.0)
    for lane in sorted(set(lanes)):
        await engine.add_lane(lane, 5)
        await engine.add_schedule(spec(f"job-{lane}", lane=lane, overlap="parallel:5"))
    for lane in lanes:  # queued before the dispatcher starts: no wake-up pending
        await engine.start(f"job-{lane}")
    launched: list[dict[str, Any]] = []
    dispatcher = Counted(engine, launched.append)
    dispatcher.start()
    try:
        await until(lambda: len(launched) == len(lanes), what="every queued instance claimed")
        assert sorted(r["lane"] for r in launched) == sorted(lanes)
    finally:
        await dispatcher.stop()


async def test_a_round_that_filled_its_lane_starts_no_other(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that filled the lane's last slot (a wave of 500 on a lane of 500) leaves
    nothing claimable: no round follows it at once (an empty claim round is a write
    transaction, held while the wave starts)."""
    monkeypatch.setattr(dispatcher_module, "BATCH", 2)
    monkeypatch.setattr(dispatcher_module, "POLL", 600.0)
    await engine.add_lane("pool", 2)
    await engine.add_schedule(spec("job", lane="pool", overlap="parallel:5"))
    for _ in range(3):
        await engine.start("job")
    launched: list[dict[str, Any]] = []
    dispatcher = Counted(engine, launched.append)
    dispatcher.start()
    try:
        await until(lambda: len(launched) == 2, what="the lane filled")
        await asyncio.sleep(0.3)  # a round at once would come within ms; the poll in 600 s
        assert (dispatcher.rounds, len(launched)) == (1, 2)
    finally:
        await dispatcher.stop()


class Together(Counted):
    """A dispatcher whose first round computes its room (load balancing) at the same time
    as another node's: two nodes woken by the same event, each seeing the other below the
    threshold, before either claims."""

    barrier: asyncio.Barrier | None = None

    async def _room(self, conn: AsyncConnection) -> int:
        room = await super()._room(conn)
        barrier, self.barrier = self.barrier, None
        if barrier is not None:
            await barrier.wait()
        return room


async def test_a_node_held_back_by_the_threshold_claims_once_every_node_is_full(
    engine: Engine,
    open_engine: Callable[..., Awaitable[Engine]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """load_balance_threshold 2, two live worker nodes, six queued on a lane of 10: both
    see the other below 2 and claim 2 each; then everyone is full, so both may claim
    again (runtime.py: holding back could stall waiting parents). What tells a node held
    back that the other became full is that node's claim, a ``running`` event (through
    the feed); ignored, the last two waited for the fallback poll (long here)."""
    monkeypatch.setattr(dispatcher_module, "POLL", 600.0)
    other = await open_engine()
    await engine.add_lane("work", 10)
    await engine.add_schedule(spec("job", lane="work", overlap="parallel:10"))
    for _ in range(6):
        await engine.start("job")
    now = engine.clock.now()
    for node in (engine, other):
        async with node.tx() as tx:
            await node_q.register(
                tx.conn,
                {
                    "id": node.node_id,
                    "mode": "serve",
                    "host": HOST,
                    "pid": os.getpid(),
                    "proc_start_time": own_start_time(),
                    "started_at": now,
                    "heartbeat_at": now,
                },
            )
        await node.start_feed(interval=0.02)
    barrier = asyncio.Barrier(2)
    launched: list[dict[str, Any]] = []
    dispatchers = [Together(node, launched.append) for node in (engine, other)]
    for dispatcher in dispatchers:
        dispatcher.threshold, dispatcher.barrier = 2, barrier
        dispatcher.start()
    try:
        await until(lambda: len(launched) == 6, what="every queued instance claimed")
    finally:
        for dispatcher in dispatchers:
            await dispatcher.stop()
