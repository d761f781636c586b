"""Helpers of the bounds tests (tests/security/test_bounds_*.py): the real CLI, an engine
on the test's store, a runtime (node) started and stopped around a test, polling."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.store.models import Instance

SWITCHYARD = Path(sys.executable).parent / "switchyard"


def cli(
    db_url: str, data_dir: Path, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`switchyard ARGS` as a separate process on the test's store and data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    env.update(SWITCHYARD_DB=db_url, SWITCHYARD_DATA=str(data_dir), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [str(SWITCHYARD), *args],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


async def until(
    probe: Callable[[], Any | Awaitable[Any]], *, within: float = 20.0, what: str = "condition"
) -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.02)


async def row(engine: Engine, instance_id: int) -> dict[str, Any]:
    table = Instance.__table__
    async with engine.store.read() as conn:
        found = (await conn.execute(select(table).where(table.c.id == instance_id))).mappings()
        return dict(found.one())


async def ended(engine: Engine, instance_id: int, *statuses: str) -> dict[str, Any]:
    """The instance's row once its status is one of ``statuses`` (default: any end)."""
    wanted = statuses or ("completed", "failed", "error", "cancelled")

    async def probe() -> dict[str, Any] | None:
        current = await row(engine, instance_id)
        return current if current["status"] in wanted else None

    return await until(probe, what=f"instance {instance_id} in {wanted}")  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def node(db_url: str, data_dir: Path) -> AsyncIterator[tuple[Engine, Runtime]]:
    """An engine with a running node on the test's store; stopped afterwards."""
    engine = await Engine.open(db_url, data_dir=data_dir)
    runtime = Runtime(engine, kill_grace=1.0)
    try:
        await runtime.start()
        yield engine, runtime
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop(grace=2.0)
        await engine.close()


async def publish(engine: Engine, tmp_path: Path, text: str, name: str = "p.yaml") -> list[Any]:
    path = tmp_path / name
    path.write_text(text)
    return await engine.publish([path])
