"""Lanes: concurrency limits and queue order, with a real Runtime running real commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError
from switchyard.engine.schedules.scheduler import Scheduler
from switchyard.store.models import COMPLETED, QUEUED, RUNNING

from engine.helpers import BASE, Gates, instance_rows, spec, wait_status


async def test_seed_example_a_late_job_waits_for_the_one_still_running(
    engine: Engine, clock, runtime, gates: Gates
) -> None:
    """Lane concurrency 1: the 6:45 job still runs at 7:00, so the 7:00 job waits."""
    await engine.add_lane("nightly", 1)
    clock.at = BASE.replace(hour=6, minute=30)
    await engine.add_schedule(
        spec("export", gates.command(), cron="45 6 * * *", lane="nightly", overlap="parallel:5")
    )
    await engine.add_schedule(
        spec("report", gates.command(), cron="0 7 * * *", lane="nightly", overlap="parallel:5")
    )
    rt = await runtime(engine)
    scheduler = Scheduler(engine)

    clock.at = BASE.replace(hour=6, minute=45)
    assert await scheduler.fire_due() == 1
    [first] = await instance_rows(engine, "export")
    await gates.wait_started(first["id"])
    first = await wait_status(engine, first["id"], RUNNING)

    clock.at = BASE.replace(hour=7, minute=0)
    assert await scheduler.fire_due() == 1
    [second] = await instance_rows(engine, "report")
    # give the dispatcher every chance: the lane is full, so nothing may be claimed
    assert await rt.dispatcher.dispatch_once() == 0
    assert (await engine.instance(second["id"])).status == QUEUED
    lane = next(v for v in await engine.lanes() if v.name == "nightly")
    assert (lane.running, lane.queued) == (1, 1)
    entries, total = await engine.queue()
    assert total == 2
    assert [(e.instance.id, e.position) for e in entries] == [
        (first["id"], None),
        (second["id"], 1),
    ]
    assert gates.started() == [first["id"]]

    clock.at = BASE.replace(hour=7, minute=5)
    gates.release(first["id"])
    await gates.wait_started(second["id"])
    done_first = await wait_status(engine, first["id"], COMPLETED)
    running_second = await wait_status(engine, second["id"], RUNNING)
    gates.release(second["id"])
    done_second = await wait_status(engine, second["id"], COMPLETED)

    assert gates.lines() == [
        f"start {first['id']}",
        f"end {first['id']}",
        f"start {second['id']}",
        f"end {second['id']}",
    ]
    assert done_first["started_at"] == BASE.replace(hour=6, minute=45)
    assert running_second["started_at"] == BASE.replace(hour=7, minute=5)
    assert running_second["started_at"] >= done_first["ended_at"]
    assert done_second["exit_code"] == 0


async def test_concurrency_two_runs_two_at_once_not_three(
    engine: Engine, runtime, gates: Gates
) -> None:
    await engine.add_lane("pair", 2)
    await engine.add_schedule(spec("job", gates.command(), lane="pair", overlap="parallel:10"))
    rt = await runtime(engine)
    ids = [await engine.start("job") for _ in range(3)]

    await gates.wait_started(ids[0])
    await gates.wait_started(ids[1])
    assert await rt.dispatcher.dispatch_once() == 0
    assert [(await engine.instance(i)).status for i in ids] == [RUNNING, RUNNING, QUEUED]
    assert sorted(gates.started()) == ids[:2]

    gates.release(ids[1])
    await gates.wait_started(ids[2])
    assert (await engine.instance(ids[0])).status == RUNNING
    gates.release(ids[0])
    gates.release(ids[2])
    for i in ids:
        await wait_status(engine, i, COMPLETED)

    # never more than two between a start and its end in the journal
    live, peak = 0, 0
    for line in gates.lines():
        live += 1 if line.startswith("start") else -1
        peak = max(peak, live)
    assert peak == 2


async def test_raising_concurrency_lets_waiting_work_start(
    engine: Engine, runtime, gates: Gates
) -> None:
    await engine.add_lane("grow", 1)
    await engine.add_schedule(spec("job", gates.command(), lane="grow", overlap="parallel:10"))
    await runtime(engine)
    a, b = await engine.start("job"), await engine.start("job")
    await gates.wait_started(a)
    assert (await engine.instance(b)).status == QUEUED
    await engine.set_lane_concurrency("grow", 2)
    await gates.wait_started(b)
    gates.release(a)
    gates.release(b)
    await wait_status(engine, b, COMPLETED)


async def test_queue_order_is_fire_order(engine: Engine, clock) -> None:
    """Schedules due in one wake-up are queued by fire time, not by name or creation."""
    await engine.add_lane("ordered", 1)
    clock.at = BASE.replace(hour=7, minute=0)
    # created in the order c, a, b; due at 7:03, 7:01, 7:02
    for name, minute in (("c", 3), ("a", 1), ("b", 2)):
        await engine.add_schedule(spec(name, cron=f"{minute} 7 * * *", lane="ordered"))
    clock.at = BASE.replace(hour=7, minute=3, second=30)
    assert await Scheduler(engine).fire_due() == 3
    entries, _ = await engine.queue()
    assert [e.instance.schedule for e in entries] == ["a", "b", "c"]
    assert [e.position for e in entries] == [1, 2, 3]
    fire_times = [e.instance.fire_at for e in entries]
    assert fire_times == sorted(fire_times)


async def test_queue_order_is_fire_order_across_catch_up_fires(engine: Engine, clock) -> None:
    """Catching up missed fires of several schedules interleaves them by fire time."""
    await engine.add_lane("catchup", 1)
    clock.at = BASE.replace(hour=7, minute=0)
    await engine.add_schedule(
        spec("odd", cron="1,3 7 * * *", lane="catchup", misfire="each", overlap="parallel:9")
    )
    await engine.add_schedule(
        spec("even", cron="2,4 7 * * *", lane="catchup", misfire="each", overlap="parallel:9")
    )
    clock.at = BASE.replace(hour=7, minute=10)
    assert await Scheduler(engine).fire_due() == 4
    rows = [r for r in await instance_rows(engine) if r["status"] == QUEUED]
    assert [(r["schedule_name"], r["fire_at"].minute) for r in rows] == [
        ("odd", 1),
        ("even", 2),
        ("odd", 3),
        ("even", 4),
    ]


async def test_lane_commands_refuse_bad_input(engine: Engine) -> None:
    with pytest.raises(SwitchyardError) as bad:
        await engine.add_lane("zero", 0)
    assert bad.value.field == "concurrency"
    with pytest.raises(SwitchyardError) as bad_name:
        await engine.add_lane("has space", 1)
    assert bad_name.value.field == "name"
    await engine.add_lane("once", 1)
    with pytest.raises(Conflict) as dup:
        await engine.add_lane("once", 3)
    assert dup.value.field == "name"
    with pytest.raises(NotFound):
        await engine.set_lane_concurrency("nowhere", 2)
    with pytest.raises(SwitchyardError) as neg:
        await engine.set_lane_concurrency("once", -1)
    assert neg.value.field == "concurrency"
    lanes = {v.name: v.concurrency for v in await engine.lanes()}
    assert lanes == {"default": 1, "once": 1}


async def test_time_is_not_real_time(engine: Engine, clock) -> None:
    """Guard: the clock fixture really drives the engine (the tests above rely on it)."""
    clock.at = BASE + timedelta(days=400)
    instance_id = await engine.start((await engine.add_schedule(spec("t"))).name)
    assert (await engine.instance(instance_id)).queued_at == BASE + timedelta(days=400)


async def test_queue_pages_number_each_lanes_waiting_work(engine: Engine) -> None:
    from switchyard.engine.runs.dispatcher import Dispatcher

    for lane in ("east", "west"):
        await engine.add_lane(lane, 1)
        await engine.add_schedule(spec(f"job-{lane}", lane=lane, overlap="parallel:9"))
    ids = {lane: [await engine.start(f"job-{lane}") for _ in range(3)] for lane in ("west", "east")}
    claimed: list[dict] = []
    await Dispatcher(engine, claimed.append).dispatch_once()
    assert sorted(r["id"] for r in claimed) == sorted([ids["east"][0], ids["west"][0]])

    entries, total = await engine.queue()
    assert total == 6
    assert [(e.instance.lane, e.instance.id, e.position) for e in entries] == [
        ("east", ids["east"][0], None),
        ("east", ids["east"][1], 1),
        ("east", ids["east"][2], 2),
        ("west", ids["west"][0], None),
        ("west", ids["west"][1], 1),
        ("west", ids["west"][2], 2),
    ]
    page, _ = await engine.queue(limit=2, offset=4)
    assert [(e.instance.id, e.position) for e in page] == [(ids["west"][1], 1), (ids["west"][2], 2)]
    await engine.cancel(ids["west"][1])
    page, total = await engine.queue(limit=10, offset=3)
    assert total == 5
    assert [(e.instance.id, e.position) for e in page] == [
        (ids["west"][0], None),
        (ids["west"][2], 1),
    ]
