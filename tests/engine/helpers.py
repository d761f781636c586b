"""Shared helpers for the engine tests (imported as ``engine.helpers``: pytest names this
folder's modules ``engine.*`` under --import-mode=importlib).

- ``until``: poll a probe with a timeout instead of sleeping a fixed time.
- ``spec``: a ScheduleSpec with test defaults (on demand unless a trigger is given).
- ``instance_rows`` / ``count_rows``: raw rows straight from the store.
- ``Gates``: commands that log their start/end to a journal and wait until the test
  releases them (one gate file per instance), so a test decides when a run ends.
"""

from __future__ import annotations

import asyncio
import inspect
import shlex
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from switchyard.engine.api import Engine
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.models import Event, Instance, Schedule

# A Monday; 06:30 UTC. Every clock-driven test starts here.
BASE = datetime(2027, 3, 1, 6, 30, tzinfo=UTC)
HANG = 20.0  # only there so a broken engine fails instead of hanging


def at(hour: int, minute: int = 0, second: int = 0, *, days: int = 0) -> datetime:
    """A wall-clock time (UTC) on BASE's day, or ``days`` after it."""
    return BASE.replace(hour=hour, minute=minute, second=second) + timedelta(days=days)


_TRIGGERS = ("cron", "every", "at", "on_demand", "continuous")


async def until(
    probe: Callable[[], Any | Awaitable[Any]],
    *,
    within: float = HANG,
    interval: float = 0.02,
    what: str = "condition",
) -> Any:
    """Call ``probe`` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {value!r}")
        await asyncio.sleep(interval)


def spec(name: str, command: list[str] | None = None, **kw: Any) -> ScheduleSpec:
    if not any(kw.get(k) for k in _TRIGGERS):
        kw["on_demand"] = True
    return ScheduleSpec(name=name, command=command if command is not None else ["true"], **kw)


async def instance_rows(engine: Engine, schedule: str | None = None) -> list[dict[str, Any]]:
    table = Instance.__table__
    stmt = select(table).order_by(table.c.id)
    if schedule is not None:
        stmt = stmt.where(table.c.schedule_name == schedule)
    async with engine.store.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def instance_row(engine: Engine, instance_id: int) -> dict[str, Any]:
    table = Instance.__table__
    async with engine.store.read() as conn:
        row = (await conn.execute(select(table).where(table.c.id == instance_id))).mappings().one()
    return dict(row)


async def count_rows(engine: Engine, model: type = Instance) -> int:
    async with engine.store.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(model.__table__))).scalar())


async def schedule_row(engine: Engine, name: str) -> dict[str, Any]:
    table = Schedule.__table__
    async with engine.store.read() as conn:
        row = (await conn.execute(select(table).where(table.c.name == name))).mappings().one()
    return dict(row)


async def status_of(engine: Engine, instance_id: int) -> str:
    return (await engine.instance(instance_id)).status


async def wait_status(
    engine: Engine, instance_id: int, *statuses: str, within: float = HANG
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        row = await instance_row(engine, instance_id)
        return row if row["status"] in statuses else None

    return await until(probe, within=within, what=f"instance {instance_id} in {statuses}")


async def event_count(engine: Engine) -> int:
    return await count_rows(engine, Event)


class Gates:
    """Gate-controlled commands.

    ``command()`` is an argv for a run that appends ``start <id>`` to the journal, waits for
    the file ``gates/<id>``, appends ``end <id>`` and exits with the code written in it.
    """

    def __init__(self, root: Path) -> None:
        self.dir = root / "gates"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.journal = root / "journal.txt"
        self.journal.touch()

    def command(self) -> list[str]:
        gate = shlex.quote(str(self.dir)) + '/"$SWITCHYARD_INSTANCE_ID"'
        journal = shlex.quote(str(self.journal))
        script = (
            f'echo "start $SWITCHYARD_INSTANCE_ID" >> {journal}; '
            f"while [ ! -e {gate} ]; do sleep 0.02; done; "
            f'echo "end $SWITCHYARD_INSTANCE_ID" >> {journal}; '
            f'exit "$(cat {gate})"'
        )
        return ["sh", "-c", script]

    def release(self, instance_id: int, exit_code: int = 0) -> None:
        tmp = self.dir / f".{instance_id}.tmp"
        tmp.write_text(str(exit_code))
        tmp.rename(self.dir / str(instance_id))  # atomic: the run never reads an empty file

    def release_all(self, ids: list[int]) -> None:
        for i in ids:
            if not (self.dir / str(i)).exists():
                self.release(i)

    def lines(self) -> list[str]:
        return self.journal.read_text().splitlines()

    def started(self) -> list[int]:
        return [int(line.split()[1]) for line in self.lines() if line.startswith("start ")]

    async def wait_started(self, instance_id: int, within: float = HANG) -> None:
        await until(
            lambda: f"start {instance_id}" in self.lines(),
            within=within,
            what=f"run {instance_id} to start",
        )
