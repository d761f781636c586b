"""End-to-end harness: real `switchyard serve` processes and real CLI invocations.

Every test gets ``sy`` (a :class:`Harness`) bound to a fresh store (``db_url``: SQLite and
PostgreSQL) and a fresh data dir. ``sy.cli(...)`` runs the console script as a separate
process; ``sy.serve(...)`` starts `switchyard serve` as a subprocess. Whatever a test
leaves behind is killed at teardown: serve processes, their children, and every command
process group the store knows of (checked by start time, so nothing unrelated is hit).

``sy.engine`` is an in-process observer (an Engine that never runs a node) used for fast
polling and for reading raw rows (pgid, node_id) the CLI does not print.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.runs.leftovers import kill_stale_group
from switchyard.store.models import Instance

SWITCHYARD = Path(sys.executable).parent / "switchyard"
CLI_TIMEOUT = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: drives real processes for seconds of wall time")


async def until(
    probe: Callable[[], Any | Awaitable[Any]],
    *,
    within: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Call ``probe`` (sync or async) until it returns something truthy; return that.

    Fails the test with the last value seen when ``within`` seconds pass.
    """
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


def group_alive(pgid: int) -> bool:
    """True while a non-zombie process is in process group ``pgid``."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ServeProc:
    """One `switchyard serve` subprocess (its own session; stderr captured to a file)."""

    def __init__(self, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.popen = popen
        self.log = log
        self.node_id: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    async def ready(self, within: float = 30.0) -> ServeProc:
        def probe() -> bool:
            if not self.alive():
                pytest.fail(f"serve exited with {self.popen.returncode}:\n{self.output()}")
            return " serving " in self.output()

        await until(probe, within=within, what="serve to be ready")
        for line in self.output().splitlines():
            if line.startswith("switchyard node ") and " serving " in line:
                self.node_id = line.split()[2]
        return self

    def send(self, sig: int) -> None:
        os.kill(self.popen.pid, sig)

    async def exited(self, within: float = 30.0) -> int:
        await until(lambda: not self.alive(), within=within, interval=0.05, what="serve to exit")
        return self.popen.returncode

    def kill_tree(self) -> None:
        """SIGKILL serve and every process group of its descendants."""
        try:
            children = psutil.Process(self.popen.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        own = os.getpgrp()
        for child in children:
            with contextlib.suppress(OSError, psutil.Error):
                pgid = os.getpgid(child.pid)
                if pgid != own:
                    os.killpg(pgid, signal.SIGKILL)
                else:
                    child.kill()


class Harness:
    until = staticmethod(until)
    group_alive = staticmethod(group_alive)
    pid_alive = staticmethod(pid_alive)

    def __init__(self, db_url: str, data_dir: Path, tmp_path: Path, engine: Engine) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.tmp_path = tmp_path
        self.engine = engine
        self.backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
        env.update(SWITCHYARD_DB=db_url, SWITCHYARD_DATA=str(data_dir), PYTHONUNBUFFERED="1")
        self.env = env
        self.serves: list[ServeProc] = []
        self.popens: list[subprocess.Popen[Any]] = []

    # ------------------------------------------------------------ the CLI
    def cli(
        self, *args: str, input: str | None = None, expect: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run `switchyard ARGS` (stdin: ``input`` or nothing); check its exit code."""
        proc = subprocess.run(
            [str(SWITCHYARD), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self.env,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if expect is not None and proc.returncode != expect:
            pytest.fail(
                f"switchyard {' '.join(args)} exited {proc.returncode} (expected {expect})\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def cli_many(
        self, *calls: list[str] | tuple[str, ...], expect: int | None = 0
    ) -> list[subprocess.CompletedProcess[str]]:
        """Independent CLI calls run side by side (each start-up costs ~0.5 s of CPU)."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda args: self.cli(*args, expect=expect), calls))

    def json(self, *args: str) -> Any:
        """`switchyard ARGS --json` (the flag goes before a ``--``), parsed."""
        cut = args.index("--") if "--" in args else len(args)
        return json.loads(self.cli(*args[:cut], "--json", *args[cut:]).stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """A long-running CLI process (e.g. `log --follow`), killed at teardown if left."""
        proc = subprocess.Popen(
            [str(SWITCHYARD), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        self.popens.append(proc)
        return proc

    # -------------------------------------------------------------- serve
    async def serve(self, *args: str, ready: bool = True) -> ServeProc:
        log = self.tmp_path / f"serve-{len(self.serves)}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen(  # noqa: ASYNC220 - we want the real process
                [str(SWITCHYARD), "serve", *args],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        proc = ServeProc(popen, log)
        self.serves.append(proc)
        return await proc.ready() if ready else proc

    # ------------------------------------------------------------- reading
    async def row(self, instance_id: int) -> dict[str, Any]:
        """The raw instance row (with pgid, proc_start_time, node_id ...)."""
        from switchyard.store.queries import instances as inst_q

        async with self.engine.store.read() as conn:
            row = await inst_q.get(conn, instance_id)
        assert row is not None, f"no instance {instance_id}"
        return row

    async def status(self, instance_id: int) -> str:
        return (await self.engine.instance(instance_id)).status

    async def wait_status(self, instance_id: int, *statuses: str, within: float = 15.0) -> Any:
        async def probe() -> Any:
            view = await self.engine.instance(instance_id)
            return view if view.status in statuses else None

        return await until(probe, within=within, what=f"instance {instance_id} -> {statuses}")

    async def wait_running(self, instance_id: int, within: float = 15.0) -> dict[str, Any]:
        """Until the command has started (its pgid is committed); returns the raw row."""

        async def probe() -> Any:
            row = await self.row(instance_id)
            if row["status"] not in ("queued", "running"):
                pytest.fail(f"instance {instance_id} ended early: {row['status']} {row['reason']}")
            return row if row["status"] == "running" and row.get("pgid") else None

        return await until(probe, within=within, what=f"instance {instance_id} to run")

    def log_text(self, instance_id: int) -> str:
        path = self.data_dir / "logs" / f"{instance_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def wait_log(self, instance_id: int, text: str, within: float = 15.0) -> str:
        return await until(
            lambda: text in self.log_text(instance_id) and self.log_text(instance_id),
            within=within,
            what=f"{text!r} in the log of instance {instance_id}",
        )

    # ------------------------------------------------------------ cleanup
    async def cleanup(self) -> None:
        for proc in self.popens:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)
        for serve in self.serves:
            serve.kill_tree()
        # orphans of crashed nodes: every group the store recorded, if still provably ours
        with contextlib.suppress(Exception):
            async with self.engine.store.read() as conn:
                rows = (
                    await conn.execute(
                        select(Instance.__table__).where(Instance.__table__.c.pgid.is_not(None))
                    )
                ).mappings()
                groups = [(r["pgid"], r["proc_start_time"], r["host"]) for r in rows]
            for pgid, start_time, host in groups:
                kill_stale_group(int(pgid), start_time, host or "")


@pytest.fixture
async def sy(db_url: str, data_dir: Path, tmp_path: Path) -> AsyncIterator[Harness]:
    engine = await Engine.open(db_url, data_dir=data_dir)
    harness = Harness(db_url, data_dir, tmp_path, engine)
    try:
        yield harness
    finally:
        try:
            await harness.cleanup()
        finally:
            await engine.close()


@pytest.fixture
async def harness_for(tmp_path: Path) -> AsyncIterator[Callable[[str, Path], Awaitable[Harness]]]:
    """Make more harnesses in one test (e.g. a SQLite source and, after `migrate`, its
    PostgreSQL target): ``await harness_for(db_url, data_dir)``; each is cleaned up."""
    made: list[Harness] = []

    async def make(db_url: str, data_dir: Path) -> Harness:
        folder = tmp_path / f"harness-{len(made)}"
        folder.mkdir()
        engine = await Engine.open(db_url, data_dir=data_dir)
        harness = Harness(db_url, data_dir, folder, engine)
        made.append(harness)
        return harness

    try:
        yield make
    finally:
        for harness in reversed(made):
            try:
                await harness.cleanup()
            finally:
                await harness.engine.close()
