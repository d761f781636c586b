"""Probes for the process-engine stress tests: process groups, raw rows, server parameters,
and a real node in a child process that a test can kill -9 (``CrashableNode``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from engine.helpers import until
from sqlalchemy import delete, select, update
from switchyard.engine.api import Engine
from switchyard.store.models import HistoryEntry, Node, Param, Step
from switchyard.store.queries import params as params_q


def environ_readable(pid: int, within: float = 10.0) -> None:
    """Wait until process ``pid``'s environment reads as set: right after ``Popen`` returns
    the child may still be inside ``execve``, and /proc then shows an empty environment (a
    scan for marks made at once would miss it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            if fh.read():
                return
        time.sleep(0.001)
    raise AssertionError(f"process {pid}: no environment after {within}s")


def group_alive(pgid: int) -> bool:
    """True while process group ``pgid`` has a member that is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def kill_group(pgid: int) -> None:
    """Test clean-up: never leave a stray group behind, whatever the engine did."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def read_pid(path: Path, within: float = 10.0) -> int:
    """A pid a command wrote with ``echo $$ > path`` (waits until it is there)."""

    def probe() -> int | None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return int(text) if text.endswith("\n") and text.strip().isdigit() else None

    return int(await until(probe, within=within, what=f"{path.name} to be written"))


async def set_param(engine: Engine, name: str, value: Any) -> None:
    """Store a server parameter row directly (any value, unchecked), replacing the store's
    change token as every real parameter change does (``Engine.set_param``): caches keyed
    by it (the start's, the monitor's) read the new value."""
    table = Param.__table__
    async with engine.store.write() as conn:
        await conn.execute(delete(table).where(table.c.name == name))
        await conn.execute(
            table.insert().values(name=name, value=value, updated_at=engine.clock.now())
        )
        await params_q.bump_changes(conn, engine.clock.now())


async def step_rows(engine: Engine, instance_id: int | None = None) -> list[dict[str, Any]]:
    table = Step.__table__
    stmt = select(table).order_by(table.c.id)
    if instance_id is not None:
        stmt = stmt.where(table.c.instance_id == instance_id)
    async with engine.store.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def history_rows(engine: Engine, instance_id: int | None = None) -> list[dict[str, Any]]:
    table = HistoryEntry.__table__
    stmt = select(table).order_by(table.c.id)
    if instance_id is not None:
        stmt = stmt.where(table.c.instance_id == instance_id)
    async with engine.store.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def node_rows(engine: Engine) -> list[dict[str, Any]]:
    table = Node.__table__
    async with engine.store.read() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


async def age_node(engine: Engine, node_id: str, heartbeat: datetime) -> None:
    """Make a node's heartbeat look old (a dead node stops beating)."""
    table = Node.__table__
    async with engine.store.write() as conn:
        await conn.execute(
            update(table).where(table.c.id == node_id).values(heartbeat_at=heartbeat)
        )


# A real node in its own OS process: `python node.py URL DATA_DIR` starts a Runtime and
# prints "ready <node id>"; the test kills it with SIGKILL (no handler, no clean-up).
_NODE = """
import asyncio, sys
from pathlib import Path
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime


async def main(url: str, data_dir: str) -> None:
    engine = await Engine.open(url, data_dir=Path(data_dir))
    runtime = Runtime(engine, kill_grace=1.0)
    await runtime.start()
    await runtime.scheduler.stop()
    print("ready", engine.node_id, flush=True)
    await asyncio.Event().wait()


asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


class CrashableNode:
    """``async with CrashableNode(url, data_dir, tmp) as node:`` ... ``await node.crash()``."""

    def __init__(self, url: str, data_dir: Path, tmp: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        self.script = tmp / "crash_node.py"
        self.script.write_text(textwrap.dedent(_NODE))
        self.proc: asyncio.subprocess.Process | None = None
        self.node_id = ""

    async def __aenter__(self) -> CrashableNode:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(self.script),
            self.url,
            str(self.data_dir),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
        assert line.startswith("ready "), f"node did not start: {line!r}"
        self.node_id = line.split()[1]
        return self

    async def crash(self) -> None:
        """SIGKILL: no handler runs, nothing is cleaned up."""
        assert self.proc is not None
        if self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            await self.crash()
