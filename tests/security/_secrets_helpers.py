"""Shared parts of the secrets tests (tests/security/test_secrets_*.py): engines on the
test's store (as any user), a node running them, the real `switchyard` CLI, and scans of
what a store and a data dir hold on disk. Import the fixtures into the test module."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import processes as proc_q

SWITCHYARD = Path(sys.executable).parent / "switchyard"
TERMINAL = ("completed", "error", "cancelled")
OpenEngine = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def open_engine(db_url: str, data_dir: Path) -> AsyncIterator[OpenEngine]:
    engines: list[Engine] = []
    runtimes: list[Runtime] = []

    async def factory(**kw: Any) -> Engine:
        engine = await Engine.open(db_url, data_dir=data_dir, **kw)
        engines.append(engine)
        return engine

    async def node(engine: Engine) -> Runtime:
        runtime = Runtime(engine, kill_grace=1.0)
        await runtime.start()
        runtimes.append(runtime)
        return runtime

    factory.node = node  # type: ignore[attr-defined]
    yield factory
    for runtime in runtimes:
        await runtime.stop(grace=5.0)
    for engine in reversed(engines):
        with contextlib.suppress(Exception):
            await engine.close()


async def until(probe: Callable[[], Awaitable[Any]], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.05)


async def finished(engine: Engine, instance_id: int, *, waiting: bool = True) -> dict[str, Any]:
    """The row once the instance has ended (or waits, with ``waiting``)."""
    done = (*TERMINAL, "waiting") if waiting else TERMINAL

    async def probe() -> dict[str, Any] | None:
        async with engine.store.read() as conn:
            row = await inst_q.get(conn, instance_id)
        return row if row and row["status"] in done else None

    return await until(probe, f"instance {instance_id} to end or wait")  # type: ignore[no-any-return]


async def publish(engine: Engine, directory: Path, text: str, name: str = "p.yaml") -> None:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    await engine.publish([path])


async def publish_unchecked(engine: Engine, name: str, doc: dict[str, Any]) -> None:
    """A definition stored as a version published before the flow rules existed would be:
    straight into the store, no validation (what masking must still catch)."""
    async with engine.tx() as tx:
        await proc_q.add_version(
            tx.conn,
            name=name,
            digest=f"old-{name}-{time.monotonic_ns()}",
            filename=None,
            source="(published before the flow rules)",
            doc=doc,
            now=tx.now,
            user=engine.user,
        )


class Cli:
    """The real console script against one store and data dir."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(data_dir),
            "SWITCHYARD_DB": db_url,
            "SWITCHYARD_DATA": str(data_dir),
        }

    async def __call__(
        self, *args: str, input: str = "", expect: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run in a thread: the test's own engines keep serving their event loop."""
        return await asyncio.to_thread(self.run, *args, input=input, expect=expect)

    def run(
        self, *args: str, input: str = "", expect: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(SWITCHYARD), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        if expect is not None and proc.returncode != expect:
            raise AssertionError(
                f"switchyard {' '.join(args)} exited {proc.returncode} (expected {expect})\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc


async def store_dump(engine: Engine, db_url: str, data_dir: Path) -> bytes:
    """Everything the store holds: the SQLite file and its WAL as bytes, or (PostgreSQL)
    every row of every table, as JSON."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.split("///", 1)[1])
        parts = [p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()]
        return b"".join(parts)
    meta = MetaData()
    out: list[Any] = []
    async with engine.store.read() as conn:
        await conn.run_sync(meta.reflect)
        for table in meta.sorted_tables:
            rows = (await conn.execute(table.select())).mappings()
            out.extend(dict(r) for r in rows)
    return json.dumps(out, default=str).encode()


def files_text(directory: Path) -> str:
    return "".join(
        p.read_text(errors="replace") for p in sorted(directory.rglob("*")) if p.is_file()
    )
