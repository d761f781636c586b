"""The planning pass inserts a batch's instances in slices, in fire order."""

from __future__ import annotations

from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.schedules import scheduler as scheduler_mod
from switchyard.engine.schedules.scheduler import Scheduler
from switchyard.store.models import QUEUED
from switchyard.store.queries import instances as inst_q

from engine.helpers import BASE, instance_rows, spec


async def test_the_planning_pass_inserts_in_slices_in_fire_order(
    engine: Engine, clock: Any, monkeypatch: Any
) -> None:
    """Two hourly schedules catching up five fires each (misfire ``each``): ten rows, in
    inserts of at most ``PLAN_SLICE`` (the loop runs between them: each insert's
    parameter work is the loop's), and still queued in fire order across schedules."""
    monkeypatch.setattr(scheduler_mod, "PLAN_SLICE", 3, raising=False)
    for name in ("a", "b"):
        await engine.add_schedule(spec(name, cron="0 * * * *", misfire="each"))
    sizes: list[int] = []
    plain = inst_q.insert_many

    async def insert_many(conn: Any, rows: list[dict[str, Any]]) -> list[int]:
        sizes.append(len(rows))
        return await plain(conn, rows)

    monkeypatch.setattr(inst_q, "insert_many", insert_many)
    clock.at = BASE.replace(hour=11, minute=30)  # 07:00 .. 11:00: five fires each, all late
    assert await Scheduler(engine).fire_due() == 10
    assert sizes == [3, 3, 3, 1]
    rows = await instance_rows(engine)  # by id: the queue's order
    assert [r["status"] for r in rows] == [QUEUED] * 10
    assert [r["fire_at"].hour for r in rows] == [7, 7, 8, 8, 9, 9, 10, 10, 11, 11]
    for hour in range(7, 12):  # both schedules' fire at that hour, side by side
        pair = [r["schedule_name"] for r in rows if r["fire_at"].hour == hour]
        assert sorted(pair) == ["a", "b"]
