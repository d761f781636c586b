"""Schedules, as the facade offers them (mixed into ``Engine``): add, edit, pause, remove,
list, and preview fires; every field checked by spec.py, references (lane, chained
schedule, process, secrets) checked in the same transaction as the write."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from switchyard.engine.errors import Conflict, NotFound, SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.rules import (
    anyone,
    launch_schedule,
    licence,
    rule,
)
from switchyard.engine.schedules.firing import instance_row
from switchyard.engine.schedules.spec import ScheduleSpec, secret_refs
from switchyard.engine.schedules.triggers import (
    Trigger,
    TriggerError,
    dst_note,
    instant_in_zone,
)
from switchyard.engine.schedules.view import first_fire, schedule_view
from switchyard.engine.views import (
    FirePreview,
    ScheduleView,
)
from switchyard.store.models import QUEUED
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import schedules as sched_q
from switchyard.store.queries import secrets as secret_q


class SchedulesApi(Guard):
    # ------------------------------------------------------------ schedules
    async def _check_references(self, tx: Tx, row: dict[str, Any], *, name: str) -> None:
        if not await lane_q.get(tx.conn, row["lane"]):
            raise SwitchyardError(
                "lane", f"unknown lane '{row['lane']}' (add it: switchyard lane add {row['lane']})"
            )
        if row["after"] and not await sched_q.get_by_name(tx.conn, row["after"]):
            raise SwitchyardError("after", f"unknown schedule '{row['after']}'")
        if row.get("process") and not await proc_q.latest(tx.conn, row["process"]):
            raise SwitchyardError(
                "process",
                f"unknown process '{row['process']}' (publish it: switchyard process publish)",
            )
        for key in secret_refs(row["env"]):
            if await secret_q.get(tx.conn, key) is None:
                raise SwitchyardError(
                    "env", f"unknown secret '{key}' (set it: switchyard secret set {key})"
                )

    @rule(licence("designer", "add schedules"))
    async def add_schedule(self, spec: ScheduleSpec) -> ScheduleView:
        now = self.clock.now()
        trigger, row = spec.to_row(now)
        spec.check_not_past(trigger, now)
        async with self.tx() as tx:
            if await sched_q.get_by_name(tx.conn, spec.name):
                raise Conflict("name", f"schedule '{spec.name}' exists already")
            await self._check_references(tx, row, name=spec.name)
            row.update(next_fire_at=first_fire(trigger, now), created_at=now, updated_at=now)
            schedule_id = await sched_q.insert(tx.conn, row)
            tx.emit(ev.SCHEDULE_CHANGED, schedule_id, name=spec.name)
        return await self.schedule(spec.name)

    @rule(licence("designer", "edit schedules"))
    async def update_schedule(self, name: str, spec: ScheduleSpec) -> ScheduleView:
        now = self.clock.now()
        trigger, row = spec.to_row(now)
        async with self.tx() as tx:
            current = await self._schedule_row(tx, name)
            if spec.name != name and await sched_q.get_by_name(tx.conn, spec.name):
                raise Conflict("name", f"schedule '{spec.name}' exists already")
            await self._check_references(tx, row, name=spec.name)
            if current["trigger"].get("anchor") and trigger.kind == "every":
                row["trigger"]["anchor"] = current["trigger"]["anchor"]
                trigger = Trigger.from_fields(row["trigger"])
            row.update(next_fire_at=first_fire(trigger, now), updated_at=now)
            await sched_q.update_fields(tx.conn, current["id"], row)
            tx.emit(ev.SCHEDULE_CHANGED, current["id"], name=spec.name)
        return await self.schedule(spec.name)

    async def _schedule_row(self, tx: Tx, name: str) -> dict[str, Any]:
        row = await sched_q.get_by_name(tx.conn, name)
        if row is None:
            raise NotFound("schedule", f"unknown schedule '{name}'")
        return row

    @rule(anyone)
    async def schedules(self) -> list[ScheduleView]:
        async with self.store.read() as conn:
            rows = await sched_q.list_all(conn)
            last = await inst_q.last_result(conn, [r["id"] for r in rows])
        return [schedule_view(r, last.get(r["id"])) for r in rows]

    @rule(anyone)
    async def schedule(self, name: str) -> ScheduleView:
        async with self.store.read() as conn:
            row = await sched_q.get_by_name(conn, name)
            if row is None:
                raise NotFound("schedule", f"unknown schedule '{name}'")
            last = await inst_q.last_result(conn, [row["id"]])
        return schedule_view(row, last.get(row["id"]))

    @rule(anyone)
    async def schedule_spec(self, name: str) -> ScheduleSpec:
        """The editable form of a stored schedule (for the console's edit form)."""
        async with self.store.read() as conn:
            row = await sched_q.get_by_name(conn, name)
        if row is None:
            raise NotFound("schedule", f"unknown schedule '{name}'")
        from switchyard.engine.schedules.view import spec_from_row

        return spec_from_row(row)

    @rule(licence("designer", "pause or resume schedules"))
    async def set_paused(self, name: str, paused: bool) -> ScheduleView:
        async with self.tx() as tx:
            row = await self._schedule_row(tx, name)
            values: dict[str, Any] = {"paused": paused, "updated_at": tx.now}
            if not paused:  # fires skipped while paused were skipped on purpose: not misfires
                values["next_fire_at"] = first_fire(Trigger.from_fields(row["trigger"]), tx.now)
            await sched_q.update_fields(tx.conn, row["id"], values)
            tx.emit(ev.SCHEDULE_CHANGED, row["id"], name=name, paused=paused)
        return await self.schedule(name)

    @rule(licence("designer", "remove schedules"))
    async def remove_schedule(self, name: str) -> None:
        async with self.tx() as tx:
            row = await self._schedule_row(tx, name)
            chained = await sched_q.chained_after(tx.conn, name)
            if chained:
                names = ", ".join(sorted(c["name"] for c in chained))
                raise Conflict("schedule", f"'{name}' is chained to by {names}; change those first")
            await sched_q.remove(tx.conn, row["id"])
            tx.emit(ev.SCHEDULE_REMOVED, row["id"], name=name)

    def preview(
        self, trigger: Trigger, count: int = 10, start: datetime | None = None
    ) -> list[FirePreview]:
        start = start or self.clock.now()
        zone = ZoneInfo(trigger.tz)
        return [
            FirePreview(at, at.astimezone(zone), dst_note(at, trigger.tz, trigger.cron))
            for at in trigger.fires(start, count)
        ]

    def preview_spec(self, spec: ScheduleSpec, count: int = 10) -> list[FirePreview]:
        """Next fires of a schedule being typed; raises SwitchyardError naming the bad field."""
        return self.preview(spec.trigger(self.clock.now()), count)

    def check_spec(self, spec: ScheduleSpec) -> None:
        """Check every field of a spec without touching the store (pure; for as-you-type
        validation). Raises SwitchyardError naming the first bad field. References (lane,
        after, secrets) are checked by add_schedule/update_schedule."""
        spec.to_row(self.clock.now())

    @rule(anyone)
    async def next_fires(
        self, name: str, count: int = 10, start: datetime | None = None
    ) -> list[FirePreview]:
        if count < 1 or count > 10_000:
            raise SwitchyardError("count", f"must be between 1 and 10000, got {count}")
        async with self.store.read() as conn:
            row = await sched_q.get_by_name(conn, name)
        if row is None:
            raise NotFound("schedule", f"unknown schedule '{name}'")
        try:
            trigger = Trigger.from_fields(row["trigger"])
        except TriggerError as exc:  # pragma: no cover - stored rows were validated
            raise SwitchyardError(exc.field, exc.message) from exc
        if start is not None:  # without an offset: wall time in the schedule's zone
            start = instant_in_zone(start, trigger.tz)
        return self.preview(trigger, count, start)

    @rule(launch_schedule, arg="schedule")
    async def start(self, schedule: str) -> int:
        """Run a schedule now (queued on its lane like any fire); returns the instance id."""
        async with self.tx() as tx:
            row = await self._schedule_row(tx, schedule)
            values = instance_row(
                row, now=tx.now, fire_at=tx.now, origin="manual", originator=self.user
            )
            instance_id = await inst_q.insert_one(tx.conn, values)
            assert instance_id is not None
            tx.emit(
                ev.INSTANCES_CHANGED,
                instance_id,
                ids=[instance_id],
                status=QUEUED,
                lane=row["lane"],
            )
        return instance_id
