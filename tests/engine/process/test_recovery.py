"""A node dies for real (kill -9 of a node running in its own OS process) while a process
instance runs a command; another node restores it: the orphaned command's group is
killed, the instance goes back to the queue and resumes after its last committed step —
the command in flight is restored in error, unless it is declared idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from engine.helpers import BASE, instance_row, until, wait_status
from engine.process.helpers import journal, publish, variables
from engine.process.tools import CrashableNode, age_node, group_alive, kill_group, read_pid
from sqlalchemy import update
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.process import journal as j
from switchyard.store.models import Instance

StartRuntime = Callable[..., Awaitable[Runtime]]

COMMAND = """
process: job
variables:
  dir: {type: string, required: true}
  note: {type: string}
start: s
states:
  s:
    actions:
      - assign: {note: before}
      - run:
          command: [sh, -c, "echo run >> {{ dir }}/runs; [ -e {{ dir }}/go ] && exit 0; echo $$ > {{ dir }}/cmd.pid; exec sleep 30"]
        IDEMPOTENT
      - assign: {note: after}
"""


async def _recorded(engine: Engine, instance_id: int, group: int) -> dict:
    """The row once the node has recorded the command's group (it does so just after the
    spawn: a crash in between leaves an orphan the store does not know about)."""

    async def probe() -> dict | None:
        row = await instance_row(engine, instance_id)
        return row if row["pgid"] == group else None

    return await until(probe, within=5, what="the command's group to be recorded")


async def _crash_mid_command(
    engine: Engine, db_url: str, data_dir: Path, tmp_path: Path, instance_id: int
) -> int:
    """Run the instance on a node in its own process; kill -9 it mid-command; returns the
    orphaned command's process group."""
    async with CrashableNode(db_url, data_dir, tmp_path) as node:
        group = await read_pid(tmp_path / "cmd.pid", within=15)
        row = await _recorded(engine, instance_id, group)
        assert (row["status"], row["node_id"]) == ("running", node.node_id)
        assert (await journal(engine, instance_id))["0:s/1"]["status"] == "started"
        await node.crash()
    await age_node(engine, node.node_id, BASE - timedelta(hours=1))
    assert group_alive(group), "the command outlives its node (it has its own group)"
    return group


async def test_a_command_in_flight_when_its_node_died_is_restored_in_error(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await publish(engine, tmp_path, COMMAND.replace("IDEMPOTENT", ""))
    instance_id = await engine.start_process("job", {"dir": str(tmp_path)})
    group = await _crash_mid_command(engine, db_url, data_dir, tmp_path, instance_id)
    try:
        await runtime(engine)  # restores at start
        row = await wait_status(engine, instance_id, "error", "completed", within=10)
        assert row["status"] == "error"
        assert "restored in error" in row["reason"]
        assert row["error_step"] == "0:s/1"
        # SIGKILLed by the restoring node (death itself is asynchronous)
        await until(lambda: not group_alive(group), within=3, what="the orphan to die")
    finally:
        kill_group(group)
    detail = await engine.instance_detail(instance_id)
    restored = [h for h in detail.history if h.kind == "restored"]
    assert len(restored) == 1 and restored[0].detail["killed_leftover_group"] is True
    assert detail.variables["note"] == "before"
    assert (tmp_path / "runs").read_text().count("run") == 1  # not run again by itself
    # the operator retries: the command runs again (and now finishes)
    (tmp_path / "go").touch()
    await engine.retry(instance_id)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, instance_id))["note"] == "after"
    assert (tmp_path / "runs").read_text().count("run") == 2


async def test_an_idempotent_command_in_flight_runs_again_by_itself(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await publish(engine, tmp_path, COMMAND.replace("IDEMPOTENT", "idempotent: true"))
    instance_id = await engine.start_process("job", {"dir": str(tmp_path)})
    group = await _crash_mid_command(engine, db_url, data_dir, tmp_path, instance_id)
    try:
        (tmp_path / "go").touch()
        await runtime(engine)
        row = await wait_status(engine, instance_id, "completed", "error", within=10)
        assert row["status"] == "completed", row["reason"]
        await until(lambda: not group_alive(group), within=3, what="the orphan to die")
    finally:
        kill_group(group)
    assert (tmp_path / "runs").read_text().count("run") == 2
    assert (await variables(engine, instance_id))["note"] == "after"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["kind"] == "assign" and steps["0:s/0"]["status"] == "done"
    assert all(s["status"] == "done" for s in steps.values())


NESTED = """
process: nested
variables:
  dir: {type: string, required: true}
  items: {type: list, default: [a, b, c]}
  seen: {type: string, default: ""}
  tag: {type: string}
start: s
tasks:
  handle:
    inputs:
      item: {type: string, required: true}
      dir: {type: string, required: true}
    outputs:
      tag: {type: string}
    actions:
      - run:
          command: [sh, -c, "echo {{ item }} >> {{ dir }}/runs; [ {{ item }} != b ] || [ -e {{ dir }}/go ] || { echo $$ > {{ dir }}/cmd.pid; exec sleep 30; }"]
        idempotent: true
      - assign: {tag: "<{{ item }}>"}
states:
  s:
    actions:
      - loop:
          for_each: items
          as: item
          do:
            - call: {task: handle, with: {item: "{{ item }}", dir: "{{ dir }}"}, into: {tag: tag}}
            - assign: {seen: "{{ seen ~ tag }}"}
"""


async def test_a_crash_inside_a_task_inside_a_loop_resumes_with_its_frame_and_items(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await publish(engine, tmp_path, NESTED)
    instance_id = await engine.start_process("nested", {"dir": str(tmp_path)})
    async with CrashableNode(db_url, data_dir, tmp_path) as node:
        group = await read_pid(tmp_path / "cmd.pid", within=15)
        await _recorded(engine, instance_id, group)
        await node.crash()
    await age_node(engine, node.node_id, BASE - timedelta(hours=1))
    try:
        (tmp_path / "go").touch()
        await runtime(engine)
        row = await wait_status(engine, instance_id, "completed", "error", within=10)
        assert row["status"] == "completed", row["reason"]
        await until(lambda: not group_alive(group), within=3, what="the orphan to die")
    finally:
        kill_group(group)
    assert (tmp_path / "runs").read_text().split() == ["a", "b", "b", "c"]
    found = await variables(engine, instance_id)
    assert found["seen"] == "<a><b><c>"
    assert "__items__" not in found and "__frames__" not in found
    raw = (await instance_row(engine, instance_id))["variables"]
    assert "__items__" not in raw and "__frames__" not in raw  # cleaned up when done


async def test_cancel_of_an_instance_whose_node_died_kills_the_orphan_at_once(
    engine: Engine, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await publish(engine, tmp_path, COMMAND.replace("IDEMPOTENT", ""))
    instance_id = await engine.start_process("job", {"dir": str(tmp_path)})
    group = await _crash_mid_command(engine, db_url, data_dir, tmp_path, instance_id)
    try:
        view = await engine.cancel(instance_id)  # no node runs anything now
        assert view.status == "cancelled"
        await until(lambda: not group_alive(group), within=5, what="the orphan to die")
    finally:
        kill_group(group)
    history = (await engine.instance_detail(instance_id)).history
    assert [(h.kind, h.user) for h in history if h.kind == "cancel"] == [("cancel", engine.user)]


PURE = """
process: pure
variables:
  count: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - assign: {count: "{{ count + 1 }}"}
      - assign: {count: "{{ count + 10 }}"}
"""


async def test_a_pure_step_found_in_flight_just_runs_again(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    # A pure step leaves no trace until it is done; should one be journaled as started
    # (a node died between its start and its end), resuming simply runs it again.
    definition = await publish(engine, tmp_path, PURE)
    assert definition.version == 1
    instance_id = await engine.start_process("pure")
    action = {"kind": "assign", "path": "states.s.actions[1]", "name": None}
    stmt, params = j.step_row(instance_id, "0:s/1", action, status="started", now=BASE)
    done_stmt, done = j.step_row(
        instance_id,
        "0:s/0",
        {**action, "path": "states.s.actions[0]"},
        status="done",
        now=BASE,
        ended=True,
    )
    async with engine.store.write() as conn:
        await conn.execute(done_stmt, done)
        await conn.execute(stmt, params)
    await runtime(engine)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    # the first step was done (its +1 is "already in the stored variables": none here);
    # the one in flight ran again, once
    assert (await variables(engine, instance_id))["count"] == 10
    steps = await journal(engine, instance_id)
    assert steps["0:s/1"]["status"] == "done" and steps["0:s/1"]["ended_at"] is not None


SPLIT = """
process: split
variables:
  dir: {type: string, required: true}
  note: {type: string}
start: s
states:
  s:
    actions:
      - run: {command: [sh, -c, "until [ -e {{ dir }}/go ]; do sleep 0.02; done"]}
      - assign: {note: "from the stale node"}
"""


async def test_a_node_presumed_dead_cannot_write_to_an_instance_another_node_took_over(
    open_engine: Callable[..., Awaitable[Engine]], runtime: StartRuntime, tmp_path: Path
) -> None:
    engine_a = await open_engine()
    engine_b = await open_engine()
    await publish(engine_a, tmp_path, SPLIT)
    node_a = await runtime(engine_a)
    instance_id = await engine_a.start_process("split", {"dir": str(tmp_path)})

    async def command_started() -> bool:
        row = await instance_row(engine_a, instance_id)
        return bool(row["status"] == "running" and row["pgid"])

    await until(command_started, what="the command to start on node A")
    stale = node_a.processes[instance_id].task
    assert stale is not None
    await node_a.dispatcher.stop()  # a stalled node claims nothing new
    # node A stalls long enough to look dead; it runs on another machine as far as the
    # store knows (so node B cannot kill its command), and node B restores its work
    await age_node(engine_a, engine_a.node_id, BASE - timedelta(hours=1))
    async with engine_a.store.write() as conn:
        await conn.execute(
            update(Instance.__table__)
            .where(Instance.__table__.c.id == instance_id)
            .values(host="elsewhere.example")
        )
    await runtime(engine_b)
    row = await wait_status(engine_b, instance_id, "error", "completed", within=5)
    assert "restored in error" in row["reason"]
    # node A wakes up: its command finishes and it carries on with the instance
    (tmp_path / "go").touch()
    await asyncio.wait_for(asyncio.shield(stale), 5)  # node A is done with the instance
    row = await instance_row(engine_b, instance_id)
    assert row["status"] == "error"
    steps = await journal(engine_b, instance_id)
    assert steps["0:s/0"]["status"] == "error", "node B's verdict stands"
    assert "0:s/1" not in steps, "node A ran no further step"
    kinds = [h.kind for h in (await engine_b.instance_detail(instance_id)).history]
    assert "completed" not in kinds
    assert (await variables(engine_b, instance_id))["note"] is None
