"""The fast pass for fires found after the grace (a node that was down): the rows the
planning pass would write, in bulk, in fire order; and moving many distinct triggers on
one by one in one call on SQLite's thread, or through SQLAlchemy without it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from switchyard.engine.api import Engine
from switchyard.engine.schedules import fast_pass
from switchyard.engine.schedules.firing import fire_key
from switchyard.engine.schedules.scheduler import GRACE, Scheduler
from switchyard.engine.schedules.triggers import Trigger
from switchyard.store import db as store_db
from switchyard.store.models import MISSED, QUEUED, SKIPPED, Instance, Schedule
from switchyard.store.queries import schedule_advance
from switchyard.store.queries import schedule_fires as fires_q

from engine.helpers import BASE, instance_rows, schedule_row, spec

FIRST_FIRE = BASE.replace(hour=7, minute=0)  # BASE is Mon 06:30
LATE = GRACE + timedelta(seconds=5)
POLICIES = ("once", "each:3", "skip")
SAME = ("lane", "status", "reason", "overlap_limit", "origin", "shell", "cwd", "started_at")
SAME += ("timeout_seconds", "exit_code", "node_id", "cancel_requested", "originator")
SAME += ("process", "variables", "visit")


def burst_spec(name: str, cron: str, **kw: Any) -> Any:
    return spec(name, ["run", name], cron=cron, cwd="/srv", env={"N": name}, timeout="5m", **kw)


def record_planned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the schedules the planning pass takes, from now on."""
    planned: list[str] = []
    plain = Scheduler._fire_batch

    async def fire_batch(self, tx, rows, fresh):  # type: ignore[no-untyped-def]
        planned.extend(r["name"] for r in rows)
        return await plain(self, tx, rows, fresh)

    monkeypatch.setattr(Scheduler, "_fire_batch", fire_batch)
    return planned


async def test_fires_found_after_the_grace_get_the_planning_rows_in_bulk(
    engine: Engine, clock, monkeypatch
) -> None:
    """Each policy's schedules fired once by the planning pass alone (07:00, found at
    07:01:05) and once by the scheduler (08:00, found at 08:01:05): the same rows, the same
    next fires, and the second time the planning pass had nothing to do."""
    monkeypatch.setattr(fast_pass, "CHUNK", 2)  # several chunks
    names = [f"{p}-{i}" for p in POLICIES for i in range(3)]
    for name in names:
        misfire = name.split("-")[0]
        await engine.add_schedule(burst_spec(f"planned-{name}", "0 7 * * *", misfire=misfire))
        await engine.add_schedule(burst_spec(f"fast-{name}", "0 8 * * *", misfire=misfire))
    clock.at = FIRST_FIRE + LATE
    planning_only = Scheduler(engine)

    async def no_fast_pass(now: object, fresh: set) -> int:
        return 0

    planning_only._fire_fresh = no_fast_pass  # type: ignore[method-assign]
    assert await planning_only.fire_due() == 6  # once and each run it; skip records it
    planned = record_planned(monkeypatch)
    clock.at = FIRST_FIRE + timedelta(hours=1) + LATE
    assert await Scheduler(engine).fire_due() == 6
    assert planned == []  # all by the fast pass
    rows = {r["schedule_name"]: r for r in await instance_rows(engine)}
    table = Instance.__table__
    for name in names:
        for kind, fire in (("planned", FIRST_FIRE), ("fast", FIRST_FIRE + timedelta(hours=1))):
            row, sched = rows[f"{kind}-{name}"], await schedule_row(engine, f"{kind}-{name}")
            found = fire + LATE
            assert row["fire_at"] == fire and row["fire_key"] == fire_key(sched["id"], fire)
            assert (row["queued_at"], row["updated_at"]) == (found, found)
            assert row["ended_at"] == (found if row["status"] == MISSED else None)
            assert (row["command"], row["env"]) == (
                ["run", f"{kind}-{name}"],
                {"N": row["schedule_name"]},
            )
            assert sched["next_fire_at"] == fire + timedelta(days=1)
            assert sched["last_fire_at"] == fire
            # times stored as the store stores them: equal in SQL too
            same = [table.c.id == row["id"], table.c.fire_at == fire, table.c.queued_at == found]
            async with engine.store.read() as conn:
                assert (await conn.execute(select(func.count()).where(*same))).scalar() == 1
        planned_row, fast_row = rows[f"planned-{name}"], rows[f"fast-{name}"]
        assert {k: fast_row[k] for k in SAME} == {k: planned_row[k] for k in SAME}, name
    statuses = {n: rows[f"fast-{n}"]["status"] for n in names}
    assert statuses == {n: MISSED if n.startswith("skip") else QUEUED for n in names}
    assert await Scheduler(engine).fire_due() == 0


async def test_late_fires_are_queued_in_fire_order(engine: Engine, clock, monkeypatch) -> None:
    """Found at 09:31:05: "daily" (07:00) goes in bulk; "hourly" has 08:00 and 09:00 due,
    so the fast pass stops there and "later" (09:30, one fire) waits for the planning pass
    to queue those first: queue order is fire order."""
    await engine.add_schedule(burst_spec("daily", "0 7 * * *"))
    await engine.add_schedule(burst_spec("hourly", "0 8-23 * * *", misfire="each"))
    await engine.add_schedule(burst_spec("later", "30 9 * * *"))
    planned = record_planned(monkeypatch)
    clock.at = BASE.replace(hour=9, minute=30) + LATE
    assert await Scheduler(engine).fire_due() == 4
    assert sorted(set(planned)) == ["hourly", "later"]
    rows = await instance_rows(engine)  # in id order: queue order
    assert [(r["schedule_name"], r["fire_at"].hour, r["status"]) for r in rows] == [
        ("daily", 7, QUEUED),
        ("hourly", 8, QUEUED),
        ("hourly", 9, QUEUED),
        ("later", 9, QUEUED),
    ]


async def test_a_late_fire_with_no_misfire_room_keeps_fire_order(engine: Engine, clock) -> None:
    """A ``once`` schedule with ``misfire_limit`` 0 (an import can store one) is not in the
    fast pass's late insert, so its 07:00 fire is the planning pass's: the fast pass must
    stop there, not go on to queue "later"'s (also late) 09:30 fire before it."""
    await engine.add_schedule(burst_spec("old", "0 7 * * *", misfire="once"))
    await engine.add_schedule(burst_spec("later", "30 9 * * *"))
    table = Schedule.__table__
    async with engine.store.write() as conn:
        await conn.execute(table.update().where(table.c.name == "old").values(misfire_limit=0))
    clock.at = BASE.replace(hour=9, minute=30) + LATE
    await Scheduler(engine).fire_due()
    rows = await instance_rows(engine)  # in id order: queue order
    assert [(r["schedule_name"], r["fire_at"].hour) for r in rows] == [("old", 7), ("later", 9)]


async def test_a_late_fire_of_a_busy_overlap_skip_schedule_is_skipped(
    engine: Engine, clock, monkeypatch
) -> None:
    """Overlap skip with a run still active: left to the planning pass, which records the
    late fire as skipped; the same schedule with no run active goes in bulk."""
    await engine.add_schedule(burst_spec("busy", "50 6,8 * * *", overlap="skip"))
    await engine.add_schedule(burst_spec("free", "0 8 * * *", overlap="skip"))
    clock.at = BASE.replace(minute=50) + timedelta(milliseconds=300)
    assert await Scheduler(engine).fire_due() == 1  # busy's 06:50 run: still queued
    planned = record_planned(monkeypatch)
    clock.at = BASE.replace(hour=8, minute=50) + LATE
    assert await Scheduler(engine).fire_due() == 1
    assert planned == ["busy"]
    busy = [(r["fire_at"].hour, r["status"]) for r in await instance_rows(engine, "busy")]
    assert busy == [(6, QUEUED), (8, SKIPPED)]
    [free] = await instance_rows(engine, "free")
    assert (free["status"], free["origin"]) == (QUEUED, "misfire")
    for name in ("busy", "free"):
        assert (await schedule_row(engine, name))["next_fire_at"] > clock.at


# 12 distinct crons matching 07:00 with 12 distinct next fires: more than RANGE_GROUPS.
CRONS = [f"0,{m} 7 * * *" for m in range(1, 13)]


@pytest.mark.parametrize("path", ["driver thread", "sqlalchemy"])
async def test_many_distinct_triggers_are_moved_on_one_by_one(
    engine: Engine, clock, monkeypatch, path: str
) -> None:
    """On SQLite the per-row move reads and writes in one call on the driver's thread (no
    read through SQLAlchemy); without that door (and on PostgreSQL) it goes through
    SQLAlchemy: the same schedules moved on, a paused or edited one left alone."""
    monkeypatch.setattr(fast_pass, "CHUNK", 10)  # a chunk of 10 distinct next fires, one of 3
    for i, cron in enumerate(CRONS):
        await engine.add_schedule(spec(f"c{i:02d}", cron=cron))
    await engine.add_schedule(spec("paused", cron=CRONS[0]))
    await engine.set_paused("paused", True)
    if path == "sqlalchemy":

        async def no_door(conn: object, fn: object) -> None:
            raise store_db.NoDriverThread("test")

        monkeypatch.setattr(schedule_advance, "on_driver_thread", no_door)
    pair_reads: list[bool] = []
    plain = fires_q.fired_triggers

    async def count_reads(conn, **kw):  # type: ignore[no-untyped-def]
        pair_reads.append(kw.get("ids", False))
        return await plain(conn, **kw)

    monkeypatch.setattr(fires_q, "fired_triggers", count_reads)
    clock.at = FIRST_FIRE + timedelta(milliseconds=300)
    planned = record_planned(monkeypatch)
    assert await Scheduler(engine).fire_due() == len(CRONS)
    assert planned == []
    table = Schedule.__table__
    for i, cron in enumerate(CRONS):
        sched = await schedule_row(engine, f"c{i:02d}")
        next_fire = Trigger.build(cron=cron).next_fire(FIRST_FIRE)
        assert sched["next_fire_at"] == next_fire
        assert sched["last_fire_at"] == FIRST_FIRE
        # stored as the store stores times: equal in SQL too, not only once read back
        same = [table.c.id == sched["id"], table.c.next_fire_at == next_fire]
        same += [table.c.last_fire_at == FIRST_FIRE, table.c.updated_at == clock.at]
        async with engine.store.read() as conn:
            assert (await conn.execute(select(func.count()).where(*same))).scalar() == 1
    assert (await schedule_row(engine, "paused"))["next_fire_at"] == FIRST_FIRE
    through_sqlalchemy = path == "sqlalchemy" or engine.store.backend != "sqlite"
    assert (True in pair_reads) == through_sqlalchemy
