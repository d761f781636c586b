"""Cancel: queued at once, running by killing its process group, finished refused, and
from another process (Engine) through the events feed."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import psutil
import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict, NotFound
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST
from switchyard.engine.schedules.firing import instance_row as new_instance_row
from switchyard.store.models import CANCELLED, COMPLETED, RUNNING
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q

from engine.helpers import event_count, instance_row, schedule_row, spec, until, wait_status


def gone(pid: int) -> bool:
    """Dead, or a zombie waiting for its parent."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_cancel_a_queued_instance_at_once(engine: Engine, clock) -> None:
    await engine.add_schedule(spec("job"))
    instance_id = await engine.start("job")
    async with engine.bus.subscribe() as queue:
        view = await engine.cancel(instance_id)
        event = queue.get_nowait()
    assert view.status == CANCELLED
    assert view.reason == f"cancelled by {engine.user}"
    assert view.ended_at == clock.at
    assert (event.kind, event.data["status"]) == (ev.INSTANCES_CHANGED, CANCELLED)
    assert (await engine.instance(instance_id)).status == CANCELLED


async def test_cancel_a_running_command_kills_its_process_group(engine: Engine, runtime) -> None:
    await engine.add_schedule(spec("sleeper", ["sh", "-c", "sleep 30 & sleep 30; wait"]))
    rt = await runtime(engine)
    instance_id = await engine.start("sleeper")
    row = await until(lambda: _with_pgid(engine, instance_id), what="the command's process group")
    pgid = row["pgid"]
    members = await until(lambda: _group(pgid, 3), what="the shell and both sleeps")

    view = await engine.cancel(instance_id)
    assert view.status == RUNNING  # the owning node ends it
    ended = await wait_status(engine, instance_id, CANCELLED, COMPLETED)
    assert ended["status"] == CANCELLED
    assert "cancel" in ended["reason"]
    assert ended["exit_code"] is not None and ended["exit_code"] < 0
    assert all(gone(p.pid) for p in members)
    assert instance_id not in rt.running


async def test_cancel_a_finished_instance_is_a_conflict(engine: Engine, runtime) -> None:
    await engine.add_schedule(spec("quick", ["true"]))
    await runtime(engine)
    instance_id = await engine.start("quick")
    done = await wait_status(engine, instance_id, COMPLETED)
    events_before = await event_count(engine)
    with pytest.raises(Conflict) as err:
        await engine.cancel(instance_id)
    assert err.value.field == "id"
    assert err.value.message == f"instance {instance_id} is completed: nothing to cancel"
    assert await instance_row(engine, instance_id) == done
    assert await event_count(engine) == events_before
    with pytest.raises(NotFound) as missing:
        await engine.cancel(instance_id + 100)
    assert missing.value.field == "id"


async def test_cancel_twice_is_a_conflict_the_second_time(engine: Engine) -> None:
    await engine.add_schedule(spec("job"))
    instance_id = await engine.start("job")
    await engine.cancel(instance_id)
    with pytest.raises(Conflict, match="is cancelled: nothing to cancel"):
        await engine.cancel(instance_id)


async def test_cancel_from_another_engine_reaches_the_running_node(
    engine: Engine, open_engine, runtime
) -> None:
    await engine.add_schedule(spec("sleeper", ["sleep", "30"]))
    await runtime(engine)
    instance_id = await engine.start("sleeper")
    row = await until(lambda: _with_pgid(engine, instance_id), what="the command to start")

    await engine.add_user("operator2", licence="designer")  # designers cancel command runs
    other: Engine = await open_engine(user="operator2")  # another process: its own store
    assert other.node_id != engine.node_id and other.feed is None
    async with engine.bus.subscribe() as queue:
        view = await other.cancel(instance_id)
        assert view.status == RUNNING
        event = await until(lambda: _next_of(queue, ev.CANCEL_REQUESTED), what="the request")
    assert event.node_id == other.node_id  # came in through the feed, from the other engine
    assert event.entity_id == str(instance_id)
    assert event.data == {"node": engine.node_id, "by": "operator2"}
    ended = await wait_status(engine, instance_id, CANCELLED, COMPLETED, within=10)
    assert ended["status"] == CANCELLED
    assert gone(row["pgid"])


async def test_cancel_a_run_whose_node_died_kills_the_leftover_group(engine: Engine, clock) -> None:
    await engine.add_schedule(spec("orphan", ["sleep", "60"]))
    proc = spawn_sleep()
    try:
        started = psutil.Process(proc.pid).create_time()
        async with engine.tx() as tx:
            await node_q.register(
                tx.conn,
                {
                    "id": "dead-node",
                    "mode": "serve",
                    "host": HOST,
                    "pid": proc.pid,  # alive, but its heartbeat is long gone
                    "proc_start_time": started,
                    "started_at": clock.at - timedelta(hours=2),
                    "heartbeat_at": clock.at - timedelta(hours=1),
                },
            )
            values = new_instance_row(
                await schedule_row(engine, "orphan"), now=tx.now, fire_at=tx.now, origin="manual"
            )
            values.update(
                status=RUNNING,
                node_id="dead-node",
                host=HOST,
                pgid=proc.pid,
                proc_start_time=started,
                started_at=tx.now,
            )
            instance_id = await inst_q.insert_one(tx.conn, values)
        view = await engine.cancel(instance_id)
        assert view.status == CANCELLED
        assert proc.wait(timeout=10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def spawn_sleep() -> subprocess.Popen[bytes]:
    """A leftover command: `sleep` leading its own session, as the runner starts them."""
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


async def _with_pgid(engine: Engine, instance_id: int) -> dict | None:
    row = await instance_row(engine, instance_id)
    return row if row["status"] == RUNNING and row["pgid"] else None


def _group(pgid: int, size: int) -> list[psutil.Process] | None:
    members = []
    for proc in psutil.process_iter():
        try:
            if proc.pid and os.getpgid(proc.pid) == pgid and not gone(proc.pid):
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members if len(members) >= size else None


def _next_of(queue, kind: str):
    while not queue.empty():
        event = queue.get_nowait()
        if event.kind == kind:
            return event
    return None


async def test_cancel_racing_a_claim_does_not_report_a_false_cancel(
    engine: Engine, monkeypatch
) -> None:
    """The instance was claimed between cancel's read and its update: say so, change nothing."""
    from switchyard.engine.runs.dispatcher import Dispatcher

    await engine.add_schedule(spec("job"))
    instance_id = await engine.start("job")
    stale = await instance_row(engine, instance_id)
    claimed: list[dict] = []
    await Dispatcher(engine, claimed.append).dispatch_once()
    assert [r["id"] for r in claimed] == [instance_id]

    real_get = inst_q.get

    async def stale_get(conn, wanted):
        return dict(stale) if wanted == instance_id else await real_get(conn, wanted)

    monkeypatch.setattr(inst_q, "get", stale_get)
    async with engine.bus.subscribe() as queue:
        with pytest.raises(Conflict, match="just started; cancel it again"):
            await engine.cancel(instance_id)
        assert queue.empty()
    monkeypatch.undo()
    assert (await instance_row(engine, instance_id))["status"] == RUNNING
