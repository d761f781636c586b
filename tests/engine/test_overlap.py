"""Overlap policies: what a fire does while the schedule's previous instance is active.

The lane is wide (concurrency 5) so that only the schedule's own policy holds work back.
Runs are claimed by a Dispatcher whose launch only records (no processes) and ended with
``completion.finish``, the same path the runner takes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.instances.completion import finish
from switchyard.engine.runs.dispatcher import Dispatcher
from switchyard.engine.schedules.scheduler import Scheduler
from switchyard.store.models import COMPLETED, QUEUED, RUNNING, SKIPPED

from engine.helpers import BASE, instance_rows, spec

T0 = BASE.replace(hour=7, minute=0)


class Node:
    """A scheduler plus a dispatcher that records claims, on one engine and a fixed clock."""

    def __init__(self, engine: Engine, clock: Any) -> None:
        self.engine = engine
        self.clock = clock
        self.scheduler = Scheduler(engine)
        self.claimed: list[dict[str, Any]] = []
        self.dispatcher = Dispatcher(engine, self.claimed.append)

    async def fire_at_minute(self, minute: int) -> int:
        self.clock.at = T0 + timedelta(minutes=minute)
        return await self.scheduler.fire_due()

    async def dispatch(self) -> list[int]:
        before = len(self.claimed)
        await self.dispatcher.dispatch_once()
        return [r["id"] for r in self.claimed[before:]]

    async def complete(self, instance_id: int) -> None:
        row = next(r for r in self.claimed if r["id"] == instance_id)
        async with self.engine.tx() as tx:
            assert await finish(tx, row, COMPLETED, "exit code 0", 0)

    async def statuses(self, name: str) -> list[str]:
        return [r["status"] for r in await instance_rows(self.engine, name)]


async def make(engine: Engine, clock: Any, overlap: str) -> Node:
    await engine.add_lane("wide", 5)
    clock.at = T0
    await engine.add_schedule(spec("job", cron="* * * * *", lane="wide", overlap=overlap))
    return Node(engine, clock)


async def test_queue_runs_the_second_after_the_first(engine: Engine, clock) -> None:
    node = await make(engine, clock, "queue")
    assert await node.fire_at_minute(1) == 1
    [first] = await node.dispatch()
    assert await node.fire_at_minute(2) == 1
    assert await node.dispatch() == []  # lane has room; the policy holds it
    assert await node.statuses("job") == [RUNNING, QUEUED]
    await node.complete(first)
    [second] = await node.dispatch()
    assert second == first + 1
    assert await node.statuses("job") == [COMPLETED, RUNNING]


async def test_skip_records_a_skipped_fire_while_one_is_active(engine: Engine, clock) -> None:
    node = await make(engine, clock, "skip")
    assert await node.fire_at_minute(1) == 1
    assert await node.fire_at_minute(2) == 0  # the first is only queued: still active
    [first] = await node.dispatch()
    assert await node.fire_at_minute(3) == 0  # now it runs
    rows = await instance_rows(engine, "job")
    assert [r["status"] for r in rows] == [RUNNING, SKIPPED, SKIPPED]
    for row, minute in zip(rows[1:], (2, 3), strict=True):
        assert row["fire_at"] == T0 + timedelta(minutes=minute)
        assert "overlap: skip" in row["reason"]
        assert "still active" in row["reason"]
        assert row["ended_at"] == T0 + timedelta(minutes=minute)
        assert row["started_at"] is None
    assert await node.dispatch() == []  # skipped rows are never claimed

    await node.complete(first)
    assert await node.fire_at_minute(4) == 1
    assert await node.statuses("job") == [COMPLETED, SKIPPED, SKIPPED, QUEUED]
    view = await engine.schedule("job")
    assert view.overlap == "skip"
    assert view.last_result == QUEUED
    lane = next(v for v in await engine.lanes() if v.name == "wide")
    assert (lane.running, lane.queued) == (0, 1)


async def test_parallel_two_runs_two_and_the_third_waits(engine: Engine, clock) -> None:
    node = await make(engine, clock, "parallel:2")
    for minute in (1, 2, 3):
        assert await node.fire_at_minute(minute) == 1
    a, b = await node.dispatch()
    assert await node.dispatch() == []
    assert await node.statuses("job") == [RUNNING, RUNNING, QUEUED]
    await node.complete(b)
    [c] = await node.dispatch()
    assert c > b
    assert await node.statuses("job") == [RUNNING, COMPLETED, RUNNING]
    assert (await engine.schedule("job")).overlap == "parallel:2"
    await node.complete(a)
    assert await node.dispatch() == []


async def test_a_held_schedule_does_not_block_others_on_the_lane(engine: Engine, clock) -> None:
    """The queue head waiting on its own overlap policy lets later work on the lane run."""
    node = await make(engine, clock, "queue")
    await engine.add_schedule(spec("other", cron="* * * * *", lane="wide"))
    assert await node.fire_at_minute(1) == 2
    assert len(await node.dispatch()) == 2
    assert await node.fire_at_minute(2) == 2
    completed_other = next(r for r in node.claimed if r["schedule_name"] == "other")
    await node.complete(completed_other["id"])
    [next_id] = await node.dispatch()
    rows = {r["id"]: r for r in await instance_rows(engine)}
    assert rows[next_id]["schedule_name"] == "other"
    assert await node.statuses("job") == [RUNNING, QUEUED]
