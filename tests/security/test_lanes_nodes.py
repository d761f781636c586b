"""Issue 11 §1 with real nodes: the issue's reproduction (`lane add cap2 --concurrency 2`,
a process whose only state runs `/bin/sleep`, `start` ten times) on `switchyard serve`
subprocesses, one of them killed with SIGKILL while it runs work, a third started to take
it over. The lane never shows more than 2 running, in the store or in the journal: a dead
node's rows keep counting until they are restored (its orphaned commands still run until
recovery kills them), and the restore's counts are printed as the event log says them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from security._lanes_helpers import Sampler, max_overlap, run_intervals, statuses, until
from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.kernel import eventlog
from switchyard.engine.runs.leftovers import kill_stale_group
from switchyard.store.models import COMPLETED, ERROR, RUNNING, Instance

SWITCHYARD = Path(sys.executable).parent / "switchyard"
LANE = "cap2"
LIMIT = 2
STARTS = 10
CAPP = """
process: capp
lane: cap2
start: s
states:
  s:
    actions:
      - run: {command: [/bin/sleep, "1"]}
      - end_process: slept
"""
RESTORE_LINE = re.compile(r"restore: (\d+) instance\(s\) requeued, (\d+) restored in error")


class Nodes:
    """`switchyard` subprocesses on one store: CLI calls and serve nodes."""

    def __init__(self, db_url: str, data_dir: Path, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
        env.update(SWITCHYARD_DB=db_url, SWITCHYARD_DATA=str(data_dir), PYTHONUNBUFFERED="1")
        self.env = env
        self.serves: list[tuple[subprocess.Popen[bytes], Path]] = []

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            [str(SWITCHYARD), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    def serve(self) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp_path / f"serve-{len(self.serves)}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen(
                [str(SWITCHYARD), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.serves.append((popen, log))
        return popen, log

    async def ready(self, popen: subprocess.Popen[bytes], log: Path) -> str:
        def node_id() -> str | None:
            assert popen.poll() is None, log.read_text(errors="replace")
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("switchyard node ") and " serving " in line:
                    return line.split()[2]
            return None

        return str(await until(node_id, what="serve to be ready"))

    def cleanup(self) -> None:
        for popen, _ in self.serves:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(popen.pid).children(recursive=True):
                    with contextlib.suppress(OSError):
                        os.killpg(os.getpgid(child.pid), signal.SIGKILL)
            if popen.poll() is None:
                popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(10)


@pytest.fixture
async def observer(db_url: str, data_dir: Path) -> AsyncIterator[Engine]:
    engine = await Engine.open(db_url, data_dir=data_dir)
    try:
        yield engine
    finally:
        with contextlib.suppress(Exception):  # orphans of the killed node, if still ours
            async with engine.store.read() as conn:
                table = Instance.__table__
                rows = (await conn.execute(select(table).where(table.c.pgid.is_not(None)))).all()
            for row in rows:
                kill_stale_group(int(row.pgid), row.proc_start_time, row.host or "")
        await engine.close()


async def running_rows(engine: Engine, node_id: str) -> list[dict[str, Any]]:
    table = Instance.__table__
    stmt = select(table).where(table.c.status == RUNNING, table.c.node_id == node_id)
    async with engine.store.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def test_serve_nodes_one_killed_never_exceed_the_lane(
    observer: Engine, db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    nodes = Nodes(db_url, data_dir, tmp_path)
    sampler = Sampler(observer).start()
    try:
        await observer.add_lane(LANE, LIMIT)
        definition = tmp_path / "capp.yaml"
        definition.write_text(textwrap.dedent(CAPP).lstrip(), encoding="utf-8")
        await observer.publish([definition])
        a, b = nodes.serve(), nodes.serve()
        # the issue's own command once (a CLI start costs a second of CPU), the rest here
        started = asyncio.create_task(asyncio.to_thread(nodes.cli, "start", "capp"))
        node_ids = await asyncio.gather(nodes.ready(*a), nodes.ready(*b))
        by_id = dict(zip(node_ids, (a[0], b[0]), strict=True))
        for _ in range(STARTS - 1):
            await observer.start_process("capp")
        assert int(await started) > 0

        async def victim() -> str | None:  # a node running a command right now
            for node_id in node_ids:
                if any(r.get("pgid") for r in await running_rows(observer, node_id)):
                    return node_id
            return None

        victim_id = await until(victim, what="a node to run a command")
        by_id[victim_id].send_signal(signal.SIGKILL)  # its commands live on, orphaned
        by_id[victim_id].wait(10)
        c = nodes.serve()  # restores the victim's work at start (its pid is gone: dead)
        await nodes.ready(*c)

        async def all_ended() -> bool:
            seen = await statuses(observer, LANE)
            return len(seen) == STARTS and set(seen.values()) <= {COMPLETED, ERROR}

        await until(all_ended, within=60, what="every instance to end")
    finally:
        await sampler.stop()
        nodes.cleanup()

    assert sampler.peaks.get(LANE, 0) <= LIMIT, (sampler.peaks, sampler.samples)
    assert max_overlap(await run_intervals(observer, LANE)) == LIMIT
    # what each node printed about a restore is what the event log says, count for count
    printed = [
        m.groups()
        for _, log in nodes.serves
        for m in RESTORE_LINE.finditer(log.read_text(errors="replace"))
    ]
    logged = [
        (str(e.detail["requeued"]), str(e.detail["restored_in_error"]))
        for e in await observer.event_log(eventlog.RESTORE_FINISHED, limit=1000)
        if e.detail["requeued"] or e.detail["restored_in_error"]
    ]
    assert printed and sorted(printed) == sorted(logged)
    assert sum(int(requeued) for requeued, _ in printed) >= 1
