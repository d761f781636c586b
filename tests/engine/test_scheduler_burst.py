"""The fast pass moving a burst's schedules on in bulk, whatever their triggers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import update
from switchyard.engine.api import Engine
from switchyard.engine.schedules import fast_pass
from switchyard.engine.schedules.firing import fire_key
from switchyard.engine.schedules.scheduler import Scheduler
from switchyard.engine.schedules.triggers import Trigger
from switchyard.store.models import QUEUED, Schedule
from switchyard.store.queries import schedule_advance
from switchyard.store.queries import schedule_fires as fires_q

from engine.helpers import BASE, instance_rows, schedule_row, spec

FIRST_FIRE = BASE.replace(hour=7, minute=0)  # BASE is Mon 06:30
# 70 distinct crons, all matching 07:00, with 70 distinct next fires after it: more than
# the 64 distinct triggers the fast pass used to move on in bulk.
CRONS = [f"0,{m} 7 * * *" for m in range(1, 60)] + [f"0 7,{h} * * *" for h in range(8, 19)]


async def test_a_burst_of_many_distinct_triggers_is_moved_on_in_bulk(
    open_engine, clock, monkeypatch
) -> None:
    monkeypatch.setattr(fast_pass, "CHUNK", 16)  # several chunks
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    names = [f"c{i:02d}" for i in range(len(CRONS))]
    for name, cron in zip(names, CRONS, strict=True):
        await a.add_schedule(spec(name, ["run", name], cron=cron))
    await a.add_schedule(spec("paused", cron=CRONS[0]))
    await a.set_paused("paused", True)
    clock.at = FIRST_FIRE + timedelta(milliseconds=300)
    planned: list[str] = []  # schedules the planning pass had to take
    plain = Scheduler._fire_batch

    async def fire_batch(self, tx, rows, fresh):  # type: ignore[no-untyped-def]
        planned.extend(r["name"] for r in rows)
        return await plain(self, tx, rows, fresh)

    monkeypatch.setattr(Scheduler, "_fire_batch", fire_batch)
    counts = await asyncio.gather(Scheduler(a).fire_due(), Scheduler(b).fire_due())
    assert sum(counts) == len(names)  # each fire once, whichever node queued it
    rows = await instance_rows(a)
    assert Counter(r["schedule_name"] for r in rows) == Counter(names)
    for name, cron in zip(names, CRONS, strict=True):
        sched = await schedule_row(a, name)
        row = next(r for r in rows if r["schedule_name"] == name)
        assert (row["fire_key"], row["status"]) == (fire_key(sched["id"], FIRST_FIRE), QUEUED)
        assert sched["next_fire_at"] == Trigger.build(cron=cron).next_fire(FIRST_FIRE), name
        assert sched["last_fire_at"] == FIRST_FIRE
    assert (await schedule_row(a, "paused"))["next_fire_at"] == FIRST_FIRE  # untouched
    assert planned == []  # all moved on in bulk by the fast pass, none one by one
    assert await Scheduler(a).fire_due() == 0


@pytest.mark.parametrize("count", [6, 12])  # one UPDATE per next fire / one per schedule
async def test_a_trigger_changed_before_its_schedule_is_moved_on_is_left_to_planning(
    engine: Engine, clock, monkeypatch, count: int
) -> None:
    """Between the fast pass reading the burst's triggers and moving it on, a schedule's
    trigger changes: the guarded update leaves it alone (it does not get the old
    trigger's next fire) and the planning pass moves it on with its new trigger."""
    for i, cron in enumerate(CRONS[:count]):
        await engine.add_schedule(spec(f"c{i:02d}", cron=cron))
    clock.at = FIRST_FIRE + timedelta(milliseconds=300)
    plain = fires_q.due_triggers

    async def read_then_edit(conn, fire_at, limit):  # type: ignore[no-untyped-def]
        found = await plain(conn, fire_at, limit)  # the burst's triggers, before moving on
        table = Schedule.__table__
        fields = Trigger.build(cron="0 * * * *").to_fields()
        async with engine.store.write() as other:
            stmt = update(table).where(table.c.name == "c00").values(trigger=fields)
            await other.execute(stmt)
        return found

    monkeypatch.setattr(fires_q, "due_triggers", read_then_edit)
    assert await Scheduler(engine).fire_due() == count
    assert (await schedule_row(engine, "c00"))["next_fire_at"] == FIRST_FIRE + timedelta(hours=1)
    assert (await schedule_row(engine, "c01"))["next_fire_at"] == FIRST_FIRE + timedelta(minutes=2)


async def test_a_burst_found_late_but_within_the_grace_goes_by_the_fast_pass(
    engine: Engine, clock, monkeypatch
) -> None:
    """The node wakes 5 s after the fires (a busy machine): they are on time, so the fast
    pass queues them in bulk; only a trigger with more fires due since needs planning."""
    for i, cron in enumerate(CRONS[:12]):
        await engine.add_schedule(spec(f"c{i:02d}", cron=cron))
    clock.at = FIRST_FIRE - timedelta(seconds=1)
    await engine.add_schedule(spec("every2s", every="2s"))  # anchored then: 07:00:01, :03, :05
    clock.at = FIRST_FIRE + timedelta(seconds=5)
    planned: list[str] = []
    plain = Scheduler._fire_batch

    async def fire_batch(self, tx, rows, fresh):  # type: ignore[no-untyped-def]
        planned.extend(r["name"] for r in rows)
        return await plain(self, tx, rows, fresh)

    monkeypatch.setattr(Scheduler, "_fire_batch", fire_batch)
    assert await Scheduler(engine).fire_due() == 12 + 3
    assert planned == ["every2s"]
    for i, cron in enumerate(CRONS[:12]):
        sched = await schedule_row(engine, f"c{i:02d}")
        assert sched["next_fire_at"] == Trigger.build(cron=cron).next_fire(FIRST_FIRE)
    fires = [r["fire_at"] for r in await instance_rows(engine, "every2s")]
    assert fires == [FIRST_FIRE + timedelta(seconds=s) for s in (1, 3, 5)]
    assert await Scheduler(engine).fire_due() == 0


async def test_a_bursts_triggers_are_read_and_written_once_not_once_a_chunk(
    engine: Engine, clock, monkeypatch
) -> None:
    """Moving a burst on chunk by chunk, the fast pass reads the burst's distinct triggers
    once (not each chunk's), and on SQLite writes the (trigger, next fire) pairs to the
    driver's side once per burst; a second burst gets its own pairs."""
    monkeypatch.setattr(fast_pass, "CHUNK", 4)  # 12 schedules: 3 chunks
    # 12 distinct next fires each, after 08:00: the first burst is not due again at 08:00
    at7 = [f"0 7,{h} * * *" for h in range(9, 21)]
    at8 = [f"0 8,{h} * * *" for h in range(9, 21)]  # the second burst, at 08:00
    for i, cron in enumerate(at7 + at8):
        await engine.add_schedule(spec(f"c{i:02d}", cron=cron))
    reads: list[str] = []
    plain_due, plain_fired = fires_q.due_triggers, fires_q.fired_triggers

    async def due(conn, fire_at, limit):  # type: ignore[no-untyped-def]
        reads.append("burst")
        return await plain_due(conn, fire_at, limit)

    async def fired(conn, **kw):  # type: ignore[no-untyped-def]
        reads.append("pairs" if kw.get("ids") else "chunk")
        return await plain_fired(conn, **kw)

    monkeypatch.setattr(fires_q, "due_triggers", due)
    monkeypatch.setattr(fires_q, "fired_triggers", fired)
    statements: list[str] = []  # SQLite: what ran on the driver's thread
    plain_door = schedule_advance.on_driver_thread

    async def traced(conn, fn):  # type: ignore[no-untyped-def]
        def run(db):  # type: ignore[no-untyped-def]
            db.set_trace_callback(statements.append)
            try:
                return fn(db)
            finally:
                db.set_trace_callback(None)

        return await plain_door(conn, run)

    monkeypatch.setattr(schedule_advance, "on_driver_thread", traced)
    planned: list[str] = []
    plain = Scheduler._fire_batch

    async def fire_batch(self, tx, rows, fresh):  # type: ignore[no-untyped-def]
        planned.extend(r["name"] for r in rows)
        return await plain(self, tx, rows, fresh)

    monkeypatch.setattr(Scheduler, "_fire_batch", fire_batch)
    for hour, crons in ((7, at7), (8, at8)):
        reads.clear()
        statements.clear()
        fire_at = FIRST_FIRE.replace(hour=hour)
        clock.at = fire_at + timedelta(milliseconds=300)
        assert await Scheduler(engine).fire_due() == 12
        assert "chunk" not in reads and reads.count("burst") == 1
        if engine.store.backend == "sqlite":
            inserts = [s for s in statements if s.startswith("INSERT INTO temp.")]
            assert len([s for s in inserts if "fire_nexts (" in s]) == 12  # once, not 3 times
        for i, cron in enumerate(crons):
            sched = await schedule_row(engine, f"c{i + (hour - 7) * 12:02d}")
            assert sched["next_fire_at"] == Trigger.build(cron=cron).next_fire(fire_at)
            assert sched["last_fire_at"] == fire_at
    assert planned == []
