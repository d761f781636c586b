"""Engine fixtures: a movable clock, engines on the per-test store, runtimes, gates.

- ``clock``: a FixedClock at ``helpers.BASE``; set ``clock.at`` to move time.
- ``engine``: an Engine on ``db_url`` (both backends) with that clock, closed afterwards.
- ``open_engine``: factory for more Engines on the same store (other "processes").
- ``runtime``: factory starting a Runtime (a node) for an engine; stopped afterwards.
  Its own scheduler loop is stopped unless asked for, so that only the test fires.
- ``gates``: gate-controlled commands (see helpers.Gates); all released at teardown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

from engine.helpers import BASE, Gates, instance_rows


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(BASE)


@pytest.fixture
def gates(tmp_path: Path) -> Gates:
    return Gates(tmp_path)


@pytest.fixture
async def open_engine(
    db_url: str, data_dir: Path, clock: FixedClock, gates: Gates
) -> AsyncIterator[Callable[..., Awaitable[Engine]]]:
    engines: list[Engine] = []

    async def factory(**kw: object) -> Engine:
        kw.setdefault("data_dir", data_dir)
        kw.setdefault("clock", clock)
        engine = await Engine.open(db_url, **kw)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        with contextlib.suppress(Exception):
            gates.release_all([r["id"] for r in await instance_rows(engine)])
            break
    for engine in reversed(engines):
        with contextlib.suppress(Exception):
            await engine.close()


@pytest.fixture
async def engine(open_engine: Callable[..., Awaitable[Engine]]) -> Engine:
    return await open_engine()


@pytest.fixture
async def runtime(
    gates: Gates, open_engine: Callable[..., Awaitable[Engine]]
) -> AsyncIterator[Callable[..., Awaitable[Runtime]]]:
    # depends on open_engine so that runtimes stop before their engines close
    runtimes: list[Runtime] = []

    async def factory(
        engine: Engine, *, kill_grace: float = 1.0, background_scheduler: bool = False
    ) -> Runtime:
        rt = Runtime(engine, kill_grace=kill_grace)
        await rt.start()
        if not background_scheduler:  # tests fire by hand: Scheduler(engine).fire_due()
            await rt.scheduler.stop()
        runtimes.append(rt)
        return rt

    yield factory
    for rt in runtimes:
        with contextlib.suppress(Exception):
            gates.release_all([r["id"] for r in await instance_rows(rt.engine)])
    for rt in runtimes:
        await rt.stop(grace=5.0)
