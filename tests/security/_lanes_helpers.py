"""Lane-limit probes shared by the lane tests: a store sampler (running rows per lane,
polled every few milliseconds) and the journal's run intervals (the steps table's run
steps, plus command instances' own start/end), checked with a sweep line."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from switchyard.engine.api import Engine

RUN_KIND = "run"
SAMPLE_EVERY = 0.005  # seconds between two store samples

_RUNNING_PER_LANE = text(
    "SELECT lane, count(*) FROM instances WHERE status = 'running' GROUP BY lane"
)
_RUN_STEPS = text(
    "SELECT s.instance_id, s.started_at, s.ended_at FROM steps s "
    "JOIN instances i ON i.id = s.instance_id "
    "WHERE i.lane = :lane AND s.kind = :kind AND s.started_at IS NOT NULL"
)
_COMMAND_RUNS = text(
    "SELECT id, started_at, ended_at FROM instances "
    "WHERE lane = :lane AND definition_id IS NULL AND process IS NULL "
    "AND started_at IS NOT NULL"
)
_RESTORED_AT = text("SELECT instance_id, at FROM instance_history WHERE kind = 'restored'")
_LEFT_RUNNING_AT = text("SELECT id, ended_at, updated_at FROM instances WHERE lane = :lane")


@dataclass
class Sampler:
    """Counts ``running`` rows per lane as often as it can, until stopped."""

    engine: Engine
    peaks: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def sample(self) -> dict[str, int]:
        async with self.engine.store.read() as conn:
            counts = {str(k): int(n) for k, n in (await conn.execute(_RUNNING_PER_LANE)).all()}
        for lane, n in counts.items():
            self.peaks[lane] = max(self.peaks.get(lane, 0), n)
        self.samples += 1
        return counts

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(SAMPLE_EVERY)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sample()


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one instant (an end and a start at the same instant do
    not overlap)."""
    points = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    points.sort(key=lambda p: (p[0], p[1]))  # ends (-1) before starts (+1) at equal times
    most = now = 0
    for _, delta in points:
        now += delta
        most = max(most, now)
    return most


async def run_intervals(engine: Engine, lane: str) -> list[tuple[datetime, datetime]]:
    """When something ran on ``lane``, from the journal: every run step of a process
    instance and every command instance. A step a dead node left in flight ran until its
    instance was restored (recovery kills the leftover command first), even if the step
    is closed later by the node that resumes the instance."""
    async with engine.store.read() as conn:
        steps = (await conn.execute(_RUN_STEPS, {"lane": lane, "kind": RUN_KIND})).all()
        commands = (await conn.execute(_COMMAND_RUNS, {"lane": lane})).all()
        restores: dict[int, list[datetime]] = {}
        for instance_id, at in (await conn.execute(_RESTORED_AT)).all():
            restores.setdefault(int(instance_id), []).append(at)
        left = {
            int(i): ended or updated
            for i, ended, updated in (await conn.execute(_LEFT_RUNNING_AT, {"lane": lane})).all()
        }
    out: list[tuple[datetime, datetime]] = []
    for instance_id, started, ended in [*steps, *commands]:
        ends = [at for at in restores.get(int(instance_id), []) if at > started]
        if ended is not None:
            ends.append(ended)
        end = min(ends, default=left.get(int(instance_id)))
        assert end is not None, f"instance {instance_id}: a run with no end"
        out.append((started, end))
    return out


async def until(
    probe: Callable[[], Any | Awaitable[Any]],
    *,
    within: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {within:g}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)


async def statuses(engine: Engine, lane: str) -> dict[int, str]:
    async with engine.store.read() as conn:
        rows = (
            await conn.execute(
                text("SELECT id, status FROM instances WHERE lane = :lane"), {"lane": lane}
            )
        ).all()
    return {int(i): str(s) for i, s in rows}
