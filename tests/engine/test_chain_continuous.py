"""Chaining (``after``) and continuous schedules, run by a real Runtime."""

from __future__ import annotations

from datetime import timedelta

from switchyard.engine.api import Engine
from switchyard.engine.instances.completion import CONTINUOUS_RESTART_AFTER_FAILURE
from switchyard.engine.runs.dispatcher import Dispatcher
from switchyard.engine.schedules.scheduler import Scheduler
from switchyard.store.models import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING

from engine.helpers import (
    BASE,
    Gates,
    at,
    instance_rows,
    schedule_row,
    spec,
    until,
    wait_status,
)

# ------------------------------------------------------------------------------ chaining


async def test_a_completed_run_starts_the_chained_schedules(engine: Engine, runtime) -> None:
    await engine.add_schedule(spec("extract", ["true"]))
    await engine.add_schedule(spec("load", ["true"], after="extract"))
    await engine.add_schedule(spec("report", ["true"], after="load"))
    await engine.add_schedule(spec("paused-one", ["true"], after="extract"))
    await engine.set_paused("paused-one", True)
    await runtime(engine)

    first = await engine.start("extract")
    await wait_status(engine, first, COMPLETED)
    [load] = await until(lambda: instance_rows(engine, "load"), what="a chained instance")
    # (reason says "after extract #id" while queued; the run's end overwrites it)
    assert load["origin"] == "chain"
    assert load["fire_key"] == f"chain:{first}:{load['schedule_id']}"
    await wait_status(engine, load["id"], COMPLETED)
    [report] = await until(lambda: instance_rows(engine, "report"), what="the chain's next link")
    assert report["origin"] == "chain"
    assert report["fire_key"] == f"chain:{load['id']}:{report['schedule_id']}"
    await wait_status(engine, report["id"], COMPLETED)
    assert await instance_rows(engine, "paused-one") == []
    assert (await engine.schedule("load")).after == "extract"


async def test_a_failed_or_cancelled_run_starts_nothing(engine: Engine, runtime) -> None:
    await engine.add_schedule(spec("flaky", ["false"]))
    await engine.add_schedule(spec("after-flaky", ["true"], after="flaky"))
    await engine.add_schedule(spec("slow", ["sleep", "30"]))
    await engine.add_schedule(spec("after-slow", ["true"], after="slow"))
    rt = await runtime(engine)

    failed = await engine.start("flaky")
    row = await wait_status(engine, failed, FAILED, COMPLETED)
    assert row["status"] == FAILED and row["exit_code"] == 1
    # the chain is decided in the same commit as the end: nothing can come later
    assert await instance_rows(engine, "after-flaky") == []

    slow = await engine.start("slow")
    await until(lambda: slow in rt.running, what="the slow command to start")
    await engine.cancel(slow)
    await wait_status(engine, slow, CANCELLED)
    assert await rt.dispatcher.dispatch_once() == 0
    assert await instance_rows(engine, "after-slow") == []


async def test_chain_fires_once_per_completed_run(engine: Engine) -> None:
    """The chain key makes a repeated end (two nodes racing) start the next link once."""
    from switchyard.engine.instances.completion import after_end

    await engine.add_schedule(spec("a"))
    await engine.add_schedule(spec("b", after="a"))
    instance_id = await engine.start("a")
    row = (await instance_rows(engine, "a"))[0]
    assert row["id"] == instance_id
    for _ in range(2):
        async with engine.tx() as tx:
            await after_end(tx, row, COMPLETED)
    [chained] = await instance_rows(engine, "b")
    assert (chained["status"], chained["origin"]) == (QUEUED, "chain")
    assert chained["reason"] == f"after a #{instance_id}"


# ---------------------------------------------------------------------------- continuous

WINDOW = "08:00-18:00"


async def test_continuous_keeps_one_running_and_restarts_it(
    engine: Engine, clock, runtime, gates: Gates
) -> None:
    clock.at = at(7)
    await engine.add_schedule(spec("worker", gates.command(), continuous=True, window=WINDOW))
    sched = await schedule_row(engine, "worker")
    assert sched["next_fire_at"] == at(8)
    await runtime(engine)
    scheduler = Scheduler(engine)

    clock.at = at(7, 59)
    assert await scheduler.fire_due() == 0
    assert await instance_rows(engine, "worker") == []

    clock.at = at(8)
    assert await scheduler.fire_due() == 1
    [first] = await until(lambda: instance_rows(engine, "worker"), what="a continuous run")
    await gates.wait_started(first["id"])
    clock.at = at(9)
    assert await scheduler.fire_due() == 0  # waiting for the run to end
    # even when due (pause + resume looks at it at once), a running one means no second
    await engine.set_paused("worker", True)
    await engine.set_paused("worker", False)
    assert (await schedule_row(engine, "worker"))["next_fire_at"] == clock.at
    assert await scheduler.fire_due() == 0
    assert len(await instance_rows(engine, "worker")) == 1

    # it ends well: a new one starts at once
    gates.release(first["id"])
    await wait_status(engine, first["id"], COMPLETED)
    assert (await schedule_row(engine, "worker"))["next_fire_at"] == clock.at
    assert await scheduler.fire_due() == 1
    second = await until(lambda: _nth(engine, 1), what="the restarted run")
    await gates.wait_started(second["id"])
    assert second["origin"] == "schedule"

    # it fails: the restart waits CONTINUOUS_RESTART_AFTER_FAILURE (no spinning)
    gates.release(second["id"], exit_code=3)
    await wait_status(engine, second["id"], FAILED)
    restart_at = await until(lambda: _next_fire(engine, "worker"), what="a scheduled restart")
    assert restart_at == clock.at + CONTINUOUS_RESTART_AFTER_FAILURE
    assert await scheduler.fire_due() == 0
    assert len(await instance_rows(engine, "worker")) == 2
    clock.at += CONTINUOUS_RESTART_AFTER_FAILURE
    assert await scheduler.fire_due() == 1
    third = await until(lambda: _nth(engine, 2), what="the run after the failure")
    await gates.wait_started(third["id"])

    # it ends after the window closed: nothing starts until the window opens again
    clock.at = at(19)
    gates.release(third["id"])
    await wait_status(engine, third["id"], COMPLETED)
    tomorrow_eight = at(8, days=1)
    assert (await schedule_row(engine, "worker"))["next_fire_at"] == clock.at
    assert await scheduler.fire_due() == 0
    assert (await schedule_row(engine, "worker"))["next_fire_at"] == tomorrow_eight
    assert len(await instance_rows(engine, "worker")) == 3
    assert (await engine.schedule("worker")).next_fire_at == tomorrow_eight


async def _nth(engine: Engine, n: int) -> dict | None:
    rows = await instance_rows(engine, "worker")
    return rows[n] if len(rows) > n else None


async def _next_fire(engine: Engine, name: str):
    return (await schedule_row(engine, name))["next_fire_at"]


async def test_continuous_outside_its_window_waits_for_the_opening(engine: Engine, clock) -> None:
    clock.at = at(20)
    await engine.add_schedule(spec("night-off", continuous=True, window=WINDOW))
    opening = at(8, days=1)
    assert (await engine.schedule("night-off")).next_fire_at == opening
    clock.at = at(23, 59)
    assert await Scheduler(engine).fire_due() == 0
    clock.at = opening
    assert await Scheduler(engine).fire_due() == 1
    [row] = await instance_rows(engine, "night-off")
    assert row["status"] == QUEUED


async def test_continuous_window_across_midnight(engine: Engine, clock) -> None:
    clock.at = at(12)
    await engine.add_schedule(spec("nightly", continuous=True, window="22:00-06:00"))
    assert (await engine.schedule("nightly")).next_fire_at == at(22)
    clock.at = at(23)
    assert await Scheduler(engine).fire_due() == 1


async def test_a_cancelled_queued_continuous_run_is_replaced(engine: Engine, clock) -> None:
    """Cancelling the queued instance must not leave the schedule with no next fire."""
    await engine.add_schedule(spec("keeper", continuous=True))
    scheduler = Scheduler(engine)
    assert await scheduler.fire_due() == 1
    [row] = await instance_rows(engine, "keeper")
    assert (await schedule_row(engine, "keeper"))["next_fire_at"] is None  # waits for the end
    await engine.cancel(row["id"])
    next_fire = (await schedule_row(engine, "keeper"))["next_fire_at"]
    assert next_fire is not None
    clock.at = next_fire
    assert await scheduler.fire_due() == 1
    rows = await instance_rows(engine, "keeper")
    assert [r["status"] for r in rows] == [CANCELLED, QUEUED]


async def test_continuous_run_claimed_and_ended_restarts_at_once(engine: Engine, clock) -> None:
    """Without a runtime: the end of a run sets next_fire_at to now (completed)."""
    from switchyard.engine.instances.completion import finish

    await engine.add_schedule(spec("loop", continuous=True))
    await Scheduler(engine).fire_due()
    claimed: list[dict] = []
    await Dispatcher(engine, claimed.append).dispatch_once()
    [row] = claimed
    assert row["status"] == RUNNING
    clock.at = BASE + timedelta(minutes=3)
    async with engine.tx() as tx:
        await finish(tx, row, COMPLETED, "exit code 0", 0)
    assert (await schedule_row(engine, "loop"))["next_fire_at"] == clock.at
    assert await Scheduler(engine).fire_due() == 1
