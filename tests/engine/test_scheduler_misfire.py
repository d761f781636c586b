"""Misfire policies and idempotent firing, driven by a fixed clock and ``fire_due()``."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select, update
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.engine.schedules import fast_pass
from switchyard.engine.schedules.firing import fire_key
from switchyard.engine.schedules.scheduler import GRACE, Scheduler
from switchyard.store.models import MISSED, QUEUED, Instance, Schedule

from engine.helpers import BASE, count_rows, instance_rows, schedule_row, spec

HOURLY = "0 * * * *"
# created at BASE (Mon 06:30); three days later 72 hourly fires (Mon 07:00 .. Thu 06:00) are due
THREE_DAYS_LATER = BASE + timedelta(days=3)
FIRST_FIRE = BASE.replace(hour=7, minute=0)
LAST_DUE = THREE_DAYS_LATER.replace(minute=0)


async def add_hourly(engine: Engine, name: str = "hourly", misfire: str = "once") -> None:
    await engine.add_schedule(spec(name, cron=HOURLY, misfire=misfire, overlap="parallel:1000"))


async def by_status(engine: Engine, name: str = "hourly") -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in await instance_rows(engine, name):
        out.setdefault(row["status"], []).append(row)
    return out


async def test_once_runs_the_latest_missed_fire_and_records_the_rest(engine: Engine, clock) -> None:
    await add_hourly(engine, misfire="once")
    clock.at = THREE_DAYS_LATER
    assert await Scheduler(engine).fire_due() == 1

    rows = await by_status(engine)
    assert set(rows) == {QUEUED, MISSED}
    [run] = rows[QUEUED]
    assert run["fire_at"] == LAST_DUE
    assert run["origin"] == "misfire"
    assert "late" in run["reason"]
    missed = rows[MISSED]
    assert len(missed) == 71
    expected = [FIRST_FIRE + timedelta(hours=h) for h in range(71)]
    assert sorted(r["fire_at"] for r in missed) == expected
    assert all("missed" in r["reason"] and "once" in r["reason"] for r in missed)
    assert all(r["ended_at"] == THREE_DAYS_LATER and r["started_at"] is None for r in missed)

    sched = await schedule_row(engine, "hourly")
    assert sched["next_fire_at"] == LAST_DUE + timedelta(hours=1)
    assert sched["last_fire_at"] == LAST_DUE
    # nothing more is due at the same instant
    assert await Scheduler(engine).fire_due() == 0
    assert await count_rows(engine) == 72


async def test_each_runs_every_missed_fire_in_order(engine: Engine, clock) -> None:
    await add_hourly(engine, misfire="each")
    clock.at = BASE.replace(hour=11, minute=30)  # 07:00 .. 11:00: five fires, all late
    assert await Scheduler(engine).fire_due() == 5
    rows = await instance_rows(engine, "hourly")
    assert [r["status"] for r in rows] == [QUEUED] * 5
    assert [r["fire_at"].hour for r in rows] == [7, 8, 9, 10, 11]
    assert all(r["origin"] == "misfire" and "each" in r["reason"] for r in rows)


async def test_each_is_bounded_by_its_limit(engine: Engine, clock) -> None:
    await add_hourly(engine, misfire="each:3")
    assert (await engine.schedule("hourly")).misfire == "each:3"
    seen: list[ev.EngineEvent] = []
    async with engine.bus.subscribe() as queue:
        clock.at = THREE_DAYS_LATER
        assert await Scheduler(engine).fire_due() == 3
        while not queue.empty():
            seen.append(queue.get_nowait())
    rows = await by_status(engine)
    assert len(rows[QUEUED]) == 3
    assert [r["fire_at"] for r in rows[QUEUED]] == [
        FIRST_FIRE + timedelta(hours=h) for h in range(3)
    ]
    assert len(rows.get(MISSED, [])) <= 3  # bounded rows, however much was missed
    assert any(e.kind == ev.SCHEDULE_CHANGED and e.data.get("overflow") for e in seen)
    assert (await schedule_row(engine, "hourly"))["next_fire_at"] == LAST_DUE + timedelta(hours=1)


async def test_skip_records_every_missed_fire_and_runs_none(engine: Engine, clock) -> None:
    await add_hourly(engine, misfire="skip")
    clock.at = THREE_DAYS_LATER
    assert await Scheduler(engine).fire_due() == 0
    rows = await by_status(engine)
    assert set(rows) == {MISSED}
    assert len(rows[MISSED]) == 72
    assert max(r["fire_at"] for r in rows[MISSED]) == LAST_DUE
    assert all("skip" in r["reason"] for r in rows[MISSED])
    assert (await engine.schedule("hourly")).last_result == MISSED


async def test_a_month_of_missed_seconds_writes_bounded_rows_quickly(engine: Engine, clock) -> None:
    for policy in ("once", "each", "skip"):
        await engine.add_schedule(spec(f"s-{policy}", every="1s", misfire=policy))
    clock.at = BASE + timedelta(days=30)  # ~2.6 million fires per schedule
    started = time.monotonic()
    queued = await Scheduler(engine).fire_due()
    assert time.monotonic() - started < 10
    assert queued == 1 + 100 + 0
    rows = await instance_rows(engine)
    per = {p: [r for r in rows if r["schedule_name"] == f"s-{p}"] for p in ("once", "each", "skip")}
    assert len(per["once"]) <= 101 and sum(r["status"] == QUEUED for r in per["once"]) == 1
    assert len(per["each"]) <= 200 and sum(r["status"] == QUEUED for r in per["each"]) == 100
    assert len(per["skip"]) <= 100 and all(r["status"] == MISSED for r in per["skip"])
    for policy in per:
        sched = await schedule_row(engine, f"s-{policy}")
        assert sched["next_fire_at"] > clock.at
        assert sched["next_fire_at"] - clock.at <= timedelta(seconds=1)
    # the next wake-up at the same instant has nothing left to do
    assert await Scheduler(engine).fire_due() == 0


async def test_a_fire_within_the_grace_simply_runs(engine: Engine, clock) -> None:
    await add_hourly(engine, misfire="skip")  # skip would drop it if it counted as missed
    clock.at = FIRST_FIRE + GRACE - timedelta(seconds=1)
    assert await Scheduler(engine).fire_due() == 1
    [row] = await instance_rows(engine, "hourly")
    assert (row["status"], row["origin"], row["reason"]) == (QUEUED, "schedule", None)
    assert row["fire_at"] == FIRST_FIRE

    clock.at = FIRST_FIRE + timedelta(hours=1) + GRACE + timedelta(seconds=1)
    assert await Scheduler(engine).fire_due() == 0
    assert [r["status"] for r in await instance_rows(engine, "hourly")] == [QUEUED, MISSED]


async def test_on_time_fire_is_not_a_misfire_under_once(engine: Engine, clock) -> None:
    await add_hourly(engine, misfire="once")
    clock.at = FIRST_FIRE
    assert await Scheduler(engine).fire_due() == 1
    [row] = await instance_rows(engine, "hourly")
    assert row["origin"] == "schedule" and row["reason"] is None


async def test_fires_skipped_while_paused_are_not_misfires(engine: Engine, clock) -> None:
    await add_hourly(engine, misfire="each")
    await engine.set_paused("hourly", True)
    clock.at = THREE_DAYS_LATER
    assert await Scheduler(engine).fire_due() == 0
    view = await engine.set_paused("hourly", False)
    assert view.next_fire_at == LAST_DUE + timedelta(hours=1)
    assert await Scheduler(engine).fire_due() == 0
    assert await count_rows(engine) == 0


async def test_two_schedulers_at_the_same_instant_fire_once(open_engine, clock) -> None:
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    await add_hourly(a, "h1", misfire="once")
    await add_hourly(a, "h2", misfire="each:5")
    await a.add_schedule(spec("cont", continuous=True))
    clock.at = THREE_DAYS_LATER
    await asyncio.gather(Scheduler(a).fire_due(), Scheduler(b).fire_due(), Scheduler(a).fire_due())
    rows = await instance_rows(a)
    keys = [r["fire_key"] for r in rows]
    assert len(keys) == len(set(keys))
    h1 = [r for r in rows if r["schedule_name"] == "h1"]
    assert len(h1) == 72 and sum(r["status"] == QUEUED for r in h1) == 1
    h2 = [r for r in rows if r["schedule_name"] == "h2"]
    assert sum(r["status"] == QUEUED for r in h2) == 5
    assert len([r for r in rows if r["schedule_name"] == "cont"]) == 1


async def test_a_stale_scheduler_refiring_creates_no_duplicates(open_engine, clock) -> None:
    """A node that read the schedule before another node advanced it fires the same times:
    the fire keys make its inserts no-ops and the guarded update leaves the schedule alone."""
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    await add_hourly(a, misfire="once")
    clock.at = THREE_DAYS_LATER
    await Scheduler(a).fire_due()
    before = await instance_rows(a)
    advanced = await schedule_row(a, "hourly")
    # rewind next_fire_at as a stale reader would have seen it
    table = Schedule.__table__
    async with a.store.write() as conn:
        await conn.execute(
            update(table).where(table.c.name == "hourly").values(next_fire_at=FIRST_FIRE)
        )
    await Scheduler(b).fire_due()
    after = await instance_rows(a)
    assert [(r["id"], r["status"], r["fire_key"]) for r in after] == [
        (r["id"], r["status"], r["fire_key"]) for r in before
    ]
    assert (await schedule_row(a, "hourly"))["next_fire_at"] == advanced["next_fire_at"]


async def test_racing_schedulers_start_one_run_of_a_continuous_schedule(open_engine, clock) -> None:
    engines: list[Engine] = [await open_engine() for _ in range(3)]
    for n in range(8):
        await engines[0].add_schedule(spec(f"cont{n}", continuous=True))
    for _ in range(5):
        await asyncio.gather(*(Scheduler(e).fire_due() for e in engines * 2))
        rows = await instance_rows(engines[0])
        per_schedule = Counter(r["schedule_name"] for r in rows if r["status"] == QUEUED)
        assert per_schedule == {f"cont{n}": 1 for n in range(8)}
        # end them all; each schedule must come back due and start exactly one again
        for row in rows:
            if row["status"] == QUEUED:
                await engines[0].cancel(row["id"])
        clock.at += timedelta(seconds=10)


# ------------------------------------------------------------------ the fast pass
# Fires just due (less than scheduler.FRESH ago) are queued by one INSERT ... SELECT per
# chunk of schedules; the planning pass then only moves those schedules on.

SAME_FIELDS = ("lane", "status", "reason", "overlap_limit", "origin", "command", "shell")
SAME_FIELDS += ("cwd", "env", "timeout_seconds", "started_at", "ended_at", "exit_code")
SAME_FIELDS += ("node_id", "cancel_requested", "originator", "process", "variables", "visit")


def burst_spec(name: str, cron: str = HOURLY, **kw: object) -> object:
    return spec(name, ["run", name], cron=cron, cwd="/srv", env={"N": name}, timeout="5m", **kw)


async def test_a_fresh_burst_is_queued_once_in_chunks(open_engine, clock, monkeypatch) -> None:
    monkeypatch.setattr(fast_pass, "CHUNK", 4)  # several chunks, and a gap in the ids
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    names = [f"b{n:02d}" for n in range(15)]
    for name in [*names, "removed"]:
        await a.add_schedule(burst_spec(name))
    await a.remove_schedule("removed")
    await a.add_schedule(burst_spec("late-comer"))
    await a.add_schedule(burst_spec("paused"))
    await a.set_paused("paused", True)
    await a.add_schedule(spec("cont", continuous=True))  # continuous: the planning pass's
    clock.at = FIRST_FIRE + timedelta(milliseconds=300)
    seen: list[ev.EngineEvent] = []
    async with a.bus.subscribe() as qa, b.bus.subscribe() as qb:
        counts = await asyncio.gather(Scheduler(a).fire_due(), Scheduler(b).fire_due())
        for queue in (qa, qb):
            while not queue.empty():
                seen.append(queue.get_nowait())
    assert sum(counts) == 16 + 1  # each fire once, whichever node queued it; + cont
    rows = {r["schedule_name"]: r for r in await instance_rows(a)}
    assert sorted(rows) == sorted([*names, "late-comer", "cont"])
    for name in [*names, "late-comer"]:
        row = rows[name]
        sched = await schedule_row(a, name)
        assert row["fire_key"] == fire_key(sched["id"], FIRST_FIRE)
        assert (row["fire_at"], row["queued_at"], row["updated_at"]) == (
            FIRST_FIRE,
            *[clock.at] * 2,
        )
        assert (row["status"], row["origin"], row["reason"]) == (QUEUED, "schedule", None)
        assert (row["command"], row["env"], row["cwd"]) == (["run", name], {"N": name}, "/srv")
        assert (row["timeout_seconds"], row["schedule_id"]) == (300, sched["id"])
        assert sched["next_fire_at"] == FIRST_FIRE + timedelta(hours=1)
        assert sched["last_fire_at"] == FIRST_FIRE
    assert (await schedule_row(a, "paused"))["next_fire_at"] == FIRST_FIRE  # untouched
    queued = [e for e in seen if e.kind == ev.INSTANCES_CHANGED and e.data["status"] == QUEUED]
    assert sum(e.data["count"] for e in queued) == 17
    assert len([e for e in queued if e.data["ids"] == []]) >= 4  # fast-pass chunks (no ids)
    moved = [e for e in seen if e.kind == ev.SCHEDULE_CHANGED and e.data.get("count")]
    assert sum(e.data["count"] for e in moved) == 16  # moved on in bulk, not one by one
    assert await Scheduler(a).fire_due() == 0


async def test_fast_and_planned_fires_make_the_same_rows(engine: Engine, clock) -> None:
    await engine.add_schedule(burst_spec("fast", cron="0 8 * * *"))
    await engine.add_schedule(burst_spec("planned", cron="0 7 * * *"))
    clock.at = FIRST_FIRE + timedelta(seconds=5)
    planning_only = Scheduler(engine)

    async def no_fast_pass(now: object, fresh: set) -> int:
        return 0

    planning_only._fire_fresh = no_fast_pass  # type: ignore[method-assign]
    assert await planning_only.fire_due() == 1
    clock.at = FIRST_FIRE + timedelta(hours=1)
    assert await Scheduler(engine).fire_due() == 1
    planned, fast = await instance_rows(engine)
    assert planned["schedule_name"] == "planned" and fast["schedule_name"] == "fast"
    assert {k: planned[k] for k in SAME_FIELDS} == {
        **{k: fast[k] for k in SAME_FIELDS},
        "command": ["run", "planned"],
        "env": {"N": "planned"},
    }
    table = Instance.__table__
    for row, fire in ((planned, FIRST_FIRE), (fast, FIRST_FIRE + timedelta(hours=1))):
        assert row["fire_at"] == fire
        assert row["fire_key"] == fire_key(row["schedule_id"], fire)
        # times stored as the store stores them: equal in SQL too, not only once read back
        same = [table.c.id == row["id"]]
        same += [table.c[c] == row[c] for c in ("fire_at", "queued_at", "updated_at")]
        async with engine.store.read() as conn:
            assert (await conn.execute(select(func.count()).where(*same))).scalar() == 1


async def test_the_planning_pass_fires_what_the_fast_pass_did_not_see(engine, clock) -> None:
    """A schedule committed (or resumed) just after the fast pass read its chunk is due at a
    time the fast pass covered: the planning pass finds no instance and queues it."""
    await add_hourly(engine)
    clock.at = FIRST_FIRE
    scheduler = Scheduler(engine)

    async def saw_nothing(now: object, fresh: set) -> int:
        fresh.add(FIRST_FIRE)
        return 0

    scheduler._fire_fresh = saw_nothing  # type: ignore[method-assign]
    assert await scheduler.fire_due() == 1
    [row] = await instance_rows(engine, "hourly")
    assert (row["fire_at"], row["status"], row["origin"]) == (FIRST_FIRE, QUEUED, "schedule")
    assert (await schedule_row(engine, "hourly"))["next_fire_at"] == FIRST_FIRE + timedelta(hours=1)
