"""The scheduler computes a burst's next fires ahead, while it waits for the burst."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from switchyard.engine.api import Engine
from switchyard.engine.schedules import triggers
from switchyard.engine.schedules.scheduler import Scheduler
from switchyard.engine.schedules.triggers import Trigger

from engine.helpers import BASE, instance_rows, schedule_row, spec, until

FIRST_FIRE = BASE.replace(hour=7, minute=0)  # BASE is Mon 06:30
CRONS = [f"0,{m} 7 * * *" for m in range(1, 13)]  # all match 07:00, each its next fire
ADDED = "0 7,9 * * *"  # added while the scheduler waits


async def test_next_fires_are_computed_while_the_scheduler_waits(
    engine: Engine, clock: Any, monkeypatch: Any
) -> None:
    """Waiting for 07:00, the scheduler computes each due trigger's next fire after 07:00
    (again for a schedule added meanwhile), so the burst computes none: croniter is slow,
    and done in the burst it keeps the loop's thread busy (see fast_pass.FastPass.warm)."""
    for i, cron in enumerate(CRONS):
        await engine.add_schedule(spec(f"c{i:02d}", cron=cron))
    triggers._cron_next.cache_clear()
    computed: list[tuple[str, datetime]] = []  # (cron, after): every next fire computed
    plain = triggers._cron_fires

    def counting(cron: str, zone: ZoneInfo, after: datetime) -> Any:
        computed.append((cron, after))
        return plain(cron, zone, after)

    monkeypatch.setattr(triggers, "_cron_fires", counting)
    scheduler = Scheduler(engine)
    scheduler.start()
    try:
        ahead = {(cron, FIRST_FIRE) for cron in CRONS}
        await until(lambda: ahead <= set(computed), within=5, what="next fires computed ahead")
        await engine.add_schedule(spec("added", cron=ADDED))
        await until(lambda: (ADDED, FIRST_FIRE) in computed, within=5, what="the added one")
    finally:
        await scheduler.stop()
    computed.clear()
    clock.at = FIRST_FIRE + timedelta(milliseconds=300)
    assert await scheduler.fire_due() == len(CRONS) + 1
    assert computed == []  # the burst found every next fire computed
    assert len(await instance_rows(engine)) == len(CRONS) + 1
    for name, cron in [*((f"c{i:02d}", c) for i, c in enumerate(CRONS)), ("added", ADDED)]:
        sched = await schedule_row(engine, name)
        assert sched["next_fire_at"] == Trigger.build(cron=cron).next_fire(FIRST_FIRE), name
        assert sched["last_fire_at"] == FIRST_FIRE
