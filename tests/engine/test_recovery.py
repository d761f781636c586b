"""Recovery: a dead node's running instances are restored in error and its leftover
process groups killed, but only groups whose leader's start time matches the record."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psutil
import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel.nodes import HOST, own_start_time
from switchyard.engine.node import recovery
from switchyard.engine.schedules.firing import instance_row as new_instance_row
from switchyard.store.models import ERROR, QUEUED, RUNNING
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q

from engine.helpers import Gates, instance_row, schedule_row, spec, until


@pytest.fixture
def spawn() -> Iterator[Any]:
    """Start `sleep` processes in their own session (as the runner does); kill leftovers."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def add_node(engine: Engine, node_id: str, *, pid: int, beat_ago: timedelta, start=None):
    now = engine.clock.now()
    async with engine.tx() as tx:
        await node_q.register(
            tx.conn,
            {
                "id": node_id,
                "mode": "serve",
                "host": HOST,
                "pid": pid,
                "proc_start_time": start,
                "started_at": now - timedelta(hours=3),
                "heartbeat_at": now - beat_ago,
            },
        )


async def add_running(
    engine: Engine, node_id: str, *, pgid: int | None = None, start: float | None = None
) -> int:
    now = engine.clock.now()
    if not (await engine.schedules()):
        await engine.add_schedule(spec("job", ["sleep", "60"], overlap="parallel:50"))
    values = new_instance_row(
        await schedule_row(engine, "job"), now=now, fire_at=now, origin="manual"
    )
    values.update(status=RUNNING, node_id=node_id, host=HOST, started_at=now)
    values.update(pgid=pgid, proc_start_time=start, current_action="run")
    async with engine.tx() as tx:
        instance_id = await inst_q.insert_one(tx.conn, values)
    assert instance_id is not None
    return instance_id


async def test_a_dead_nodes_run_is_restored_in_error_and_its_group_killed(
    engine: Engine, spawn
) -> None:
    proc = spawn()
    started = psutil.Process(proc.pid).create_time()
    await add_node(engine, "stale-node", pid=os.getpid(), beat_ago=timedelta(minutes=5))
    instance_id = await add_running(engine, "stale-node", pgid=proc.pid, start=started)

    assert await recovery.restore(engine) == 1
    assert proc.wait(timeout=10) == -9
    row = await instance_row(engine, instance_id)
    assert row["status"] == ERROR
    assert recovery.RESTORED in row["reason"]
    assert "stale-node" in row["reason"]
    assert "killed" in row["reason"]
    assert row["ended_at"] == engine.clock.now()
    assert "stale-node" not in {n.id for n in await engine.nodes()}  # marked stopped
    # a second pass finds nothing left to do
    assert await recovery.restore(engine) == 0


async def test_a_node_whose_process_is_gone_counts_as_dead_at_once(engine: Engine, spawn) -> None:
    proc = spawn()
    started = psutil.Process(proc.pid).create_time()
    await add_node(engine, "crashed", pid=dead_pid(), beat_ago=timedelta(seconds=1))
    instance_id = await add_running(engine, "crashed", pgid=proc.pid, start=started)
    assert await recovery.restore(engine) == 1
    assert proc.wait(timeout=10) == -9
    assert (await instance_row(engine, instance_id))["status"] == ERROR


async def test_a_group_whose_start_time_differs_is_not_killed(engine: Engine, spawn) -> None:
    """The pid was reused by an unrelated process: restore the instance, touch nothing."""
    proc = spawn()
    started = psutil.Process(proc.pid).create_time()
    await add_node(engine, "old-node", pid=dead_pid(), beat_ago=timedelta(hours=1))
    instance_id = await add_running(engine, "old-node", pgid=proc.pid, start=started - 1000)
    assert await recovery.restore(engine) == 1
    assert proc.poll() is None  # still running
    assert psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE
    row = await instance_row(engine, instance_id)
    assert row["status"] == ERROR
    assert recovery.RESTORED in row["reason"]
    assert "killed" not in row["reason"]


async def test_live_nodes_and_other_statuses_are_left_alone(engine: Engine, spawn) -> None:
    proc = spawn()
    started = psutil.Process(proc.pid).create_time()
    await add_node(
        engine, "alive", pid=os.getpid(), beat_ago=timedelta(seconds=2), start=own_start_time()
    )
    live_run = await add_running(engine, "alive", pgid=proc.pid, start=started)
    queued = await engine.start("job")
    assert await recovery.restore(engine) == 0
    assert (await instance_row(engine, live_run))["status"] == RUNNING
    assert (await instance_row(engine, queued))["status"] == QUEUED
    assert proc.poll() is None
    assert "alive" in {n.id for n in await engine.nodes() if n.alive}


async def test_a_node_that_registers_and_claims_during_restore_is_not_robbed(
    engine: Engine, monkeypatch
) -> None:
    """A node starting while another restores must not see its fresh run restored in error."""
    await engine.add_schedule(spec("job", ["sleep", "60"]))
    real_running = node_q.running
    newcomer: dict[str, int] = {}

    async def running_then_newcomer(conn):
        rows = await real_running(conn)
        if not newcomer:  # right after restore read the nodes, a new node starts and claims
            await add_node(
                engine,
                "newcomer",
                pid=os.getpid(),
                beat_ago=timedelta(0),
                start=own_start_time(),
            )
            newcomer["id"] = await add_running(engine, "newcomer")
        return rows

    monkeypatch.setattr(node_q, "running", running_then_newcomer)
    await recovery.restore(engine)
    assert (await instance_row(engine, newcomer["id"]))["status"] == RUNNING


async def test_a_stopping_node_interrupts_what_still_runs_in_error(
    engine: Engine, gates: Gates
) -> None:
    from switchyard.engine.node.runtime import Runtime

    await engine.add_schedule(spec("long", gates.command()))
    rt = Runtime(engine, kill_grace=1.0)
    await rt.start()
    try:
        instance_id = await engine.start("long")
        await gates.wait_started(instance_id)
        row = await until(
            lambda: _pgid_recorded(engine, instance_id), what="the process group on record"
        )
    finally:
        await rt.stop(grace=0.2)
    ended = await instance_row(engine, instance_id)
    assert ended["status"] == ERROR
    assert ended["reason"] == f"interrupted: node {engine.node_id} stopped; retry it"
    assert not psutil.pid_exists(row["pgid"]) or psutil.Process(row["pgid"]).status() == "zombie"
    assert engine.node_id not in {n.id for n in await engine.nodes()}  # marked stopped
    assert f"end {instance_id}" not in gates.lines()


async def _pgid_recorded(engine: Engine, instance_id: int) -> dict | None:
    row = await instance_row(engine, instance_id)
    return row if row["pgid"] else None
