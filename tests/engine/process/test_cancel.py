"""Cancelling process instances wherever they are: mid-command (the whole process group
dies), waiting on a timer, waiting on a child (the children go too), inside parallel
branches. Real commands, real store, both backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from engine.helpers import instance_row, until, wait_status
from engine.process.helpers import journal, publish
from engine.process.tools import group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

SLEEPER = """
process: sleeper
start: s
states:
  s:
    actions:
      - assign: {note: before}
      - run: {command: [sh, -c, "sleep 60 & sleep 60; wait"]}
      - assign: {note: after}
variables:
  note: {type: string}
"""


async def test_cancel_of_a_running_command_step_kills_the_group_and_is_audited(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, SLEEPER)
    await runtime(engine)
    instance_id = await engine.start_process("sleeper")

    async def pgid() -> int | None:
        row = await instance_row(engine, instance_id)
        return row["pgid"] if row["status"] == "running" else None

    group = int(await until(pgid, what="the command to start"))
    try:
        # both sleeps (the leader's background child too) are in the group
        await until(lambda: group_alive(group), what="the group to be alive")
        view = await engine.cancel(instance_id)
        assert view.status in ("running", "cancelled")
        row = await wait_status(engine, instance_id, "cancelled", "error", "completed", within=5)
        assert row["status"] == "cancelled", row["reason"]
        assert row["reason"] == f"cancelled by {engine.user}"
        # the engine reports cancelled only once the group is gone
        assert not group_alive(group)
    finally:
        kill_group(group)
    detail = await engine.instance_detail(instance_id)
    cancels = [h for h in detail.history if h.kind == "cancel"]
    assert [h.user for h in cancels] == [engine.user]
    steps = await journal(engine, instance_id)
    assert steps["0:s/1"]["status"] == "cancelled"
    assert "0:s/2" not in steps  # nothing ran after the cancel
    assert detail.variables["note"] == "before"
    with pytest.raises(Conflict, match="nothing to cancel"):
        await engine.cancel(instance_id)


WAITER = """
process: waiter
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
      - assign: {done: true}
variables:
  done: {type: boolean, default: false}
"""

QUICK_WAITER = """
process: quick
start: s
states:
  s:
    actions:
      - wait: {for: 2h}
"""


async def test_cancel_of_a_waiting_instance_is_final_even_when_its_timer_comes_due(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, WAITER)
    await publish(engine, tmp_path, QUICK_WAITER, name="q.yaml")
    await runtime(engine)
    instance_id = await engine.start_process("waiter")
    sentinel = await engine.start_process("quick")
    await wait_status(engine, instance_id, "waiting")
    await wait_status(engine, sentinel, "waiting")
    view = await engine.cancel(instance_id)
    assert view.status == "cancelled"
    # both timers come due; the sentinel waking proves the timers loop has looked
    clock.at += timedelta(hours=3)
    row = await wait_status(engine, sentinel, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    row = await instance_row(engine, instance_id)
    assert row["status"] == "cancelled"
    assert row["reason"] == f"cancelled by {engine.user}"
    detail = await engine.instance_detail(instance_id)
    assert detail.variables["done"] is False
    assert [(h.kind, h.user) for h in detail.history if h.kind == "cancel"] == [
        ("cancel", engine.user)
    ]
    assert (await journal(engine, instance_id))["0:s/0"]["status"] != "done"


PARENT = """
process: parent
start: s
states:
  s:
    actions:
      - start_process: {process: middle, wait: true}
"""

MIDDLE = """
process: middle
start: s
states:
  s:
    actions:
      - start_process: {process: leaf, wait: true}
"""

LEAF = """
process: leaf
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""


async def _publish_all(engine: Engine, tmp_path: Path, **texts: str) -> None:
    paths = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text.lstrip())
        paths.append(path)
    await engine.publish(paths)


async def test_cancelling_a_parent_cancels_its_waiting_descendants(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await _publish_all(engine, tmp_path, parent=PARENT, middle=MIDDLE, leaf=LEAF)
    await runtime(engine)
    parent = await engine.start_process("parent")

    async def leaf_waiting() -> list[int] | None:
        detail = await engine.instance_detail(parent)
        if not detail.children:
            return None
        middle = await engine.instance_detail(detail.children[0])
        if not middle.children:
            return None
        leaf = await instance_row(engine, middle.children[0])
        return [detail.children[0], leaf["id"]] if leaf["status"] == "waiting" else None

    middle_id, leaf_id = await until(leaf_waiting, what="the grandchild to wait")
    await wait_status(engine, parent, "waiting")
    await wait_status(engine, middle_id, "waiting")
    await engine.cancel(parent)
    assert (await instance_row(engine, parent))["status"] == "cancelled"
    for child in (middle_id, leaf_id):
        row = await wait_status(engine, child, "cancelled", "error", "completed", within=5)
        assert row["status"] == "cancelled"
        assert "cancelled" in (row["reason"] or "")
    # the leaf's timer coming due must not bring anything back
    clock.at += timedelta(hours=2)
    sentinel = await engine.start_process("leaf")
    await wait_status(engine, sentinel, "waiting")
    clock.at += timedelta(hours=2)
    await wait_status(engine, sentinel, "completed")
    for other in (parent, middle_id, leaf_id):
        assert (await instance_row(engine, other))["status"] == "cancelled"


BUSY_CHILD = """
process: busy
start: s
states:
  s:
    actions:
      - run: {command: [sh, -c, "echo $$ > {{ pidfile }}; exec sleep 60"]}
variables:
  pidfile: {type: string, required: true}
"""

BUSY_PARENT = """
process: boss
start: s
variables:
  pidfile: {type: string, required: true}
states:
  s:
    actions:
      - start_process: {process: busy, vars: {pidfile: "{{ pidfile }}"}, wait: true}
"""


async def test_cancelling_a_waiting_parent_kills_its_running_childs_command(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await _publish_all(engine, tmp_path, busy=BUSY_CHILD, boss=BUSY_PARENT)
    await engine.add_lane("wide", 4)
    await runtime(engine)
    pidfile = tmp_path / "child.pid"
    parent = await engine.start_process("boss", {"pidfile": str(pidfile)}, lane="wide")
    group = await read_pid(pidfile)
    try:
        assert group_alive(group)
        await wait_status(engine, parent, "waiting")
        child = (await engine.instance_detail(parent)).children[0]
        assert (await instance_row(engine, child))["status"] == "running"
        await engine.cancel(parent)
        row = await wait_status(engine, child, "cancelled", "error", "completed", within=5)
        assert row["status"] == "cancelled", row["reason"]
        assert not group_alive(group)
        assert (await instance_row(engine, parent))["status"] == "cancelled"
    finally:
        kill_group(group)


PARALLEL_COMMANDS = """
process: twins
start: s
variables:
  dir: {type: string, required: true}
states:
  s:
    actions:
      - parallel:
          branches:
            - [run: {command: [sh, -c, "echo $$ > {{ dir }}/a.pid; exec sleep 60"]}]
            - - call: {task: nested, with: {dir: "{{ dir }}"}}
tasks:
  nested:
    inputs:
      dir: {type: string, required: true}
    actions:
      - loop:
          for_each: "[1, 2]"
          as: n
          do:
            - run: {command: [sh, -c, "echo $$ > {{ dir }}/b{{ n }}.pid; exec sleep 60"]}
"""


async def test_cancel_inside_parallel_branches_kills_every_command_under_way(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, PARALLEL_COMMANDS)
    await runtime(engine)
    instance_id = await engine.start_process("twins", {"dir": str(tmp_path)})
    groups = [await read_pid(tmp_path / "a.pid"), await read_pid(tmp_path / "b1.pid")]
    try:
        assert all(group_alive(g) for g in groups)
        await engine.cancel(instance_id)
        row = await wait_status(engine, instance_id, "cancelled", "error", "completed", within=5)
        assert row["status"] == "cancelled", row["reason"]
        assert not any(group_alive(g) for g in groups)
        assert not (tmp_path / "b2.pid").exists()  # the loop did not go on
    finally:
        for g in groups:
            kill_group(g)
    steps = await journal(engine, instance_id)
    assert not [k for k, s in steps.items() if s["status"] == "started"], steps
    detail = await engine.instance_detail(instance_id)
    assert detail.call_stack == []


async def test_cancel_of_a_queued_instance_never_runs_it(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, SLEEPER)
    instance_id = await engine.start_process("sleeper")  # no node yet: stays queued
    await engine.cancel(instance_id)
    await runtime(engine)
    other = await engine.start_process("sleeper")
    await until(
        lambda: _running_with_pgid(engine, other), what="a later instance to start its command"
    )
    assert (await instance_row(engine, instance_id))["status"] == "cancelled"
    assert await journal(engine, instance_id) == {}
    await engine.cancel(other)
    await wait_status(engine, other, "cancelled", within=5)


async def _running_with_pgid(engine: Engine, instance_id: int) -> bool:
    row = await instance_row(engine, instance_id)
    return bool(row["status"] == "running" and row["pgid"])


async def test_cancel_of_a_waiting_instance_closes_its_steps_under_way(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, WAITER)
    await runtime(engine)
    instance_id = await engine.start_process("waiter")
    await wait_status(engine, instance_id, "waiting")
    assert (await engine.instance_detail(instance_id)).call_stack == ["states.s.actions[0]"]
    await engine.cancel(instance_id)
    detail = await engine.instance_detail(instance_id)
    assert detail.instance.status == "cancelled"
    assert [s.status for s in detail.steps] == ["cancelled"]
    assert detail.call_stack == []


async def test_cancelling_a_waiting_child_fails_its_waiting_parent(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await _publish_all(engine, tmp_path, parent=PARENT, middle=MIDDLE, leaf=LEAF)
    await runtime(engine)
    middle = await engine.start_process("middle")

    async def leaf_id() -> int | None:
        children = (await engine.instance_detail(middle)).children
        if not children:
            return None
        row = await instance_row(engine, children[0])
        return children[0] if row["status"] == "waiting" else None

    leaf = await until(leaf_id, what="the child to wait")
    await wait_status(engine, middle, "waiting")
    await engine.cancel(leaf)
    row = await wait_status(engine, middle, "error", "completed", "cancelled", within=5)
    assert row["status"] == "error"
    assert f"child instance {leaf} ended cancelled" in row["reason"]
