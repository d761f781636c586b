"""Issue 16 defect 4: cancelling a branch (it lost a ``join: first``) cancels the child
processes it started (waited for or not, as cancelling the instance does), and their
children."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from engine.helpers import until, wait_status
from engine.process.helpers import publish
from engine.process.tools import group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

GRANDCHILD = """
process: grandchild
start: s
states:
  s:
    actions:
      - wait: {for: 1d}
"""

CHILD = """
process: child
start: s
states:
  s:
    actions:
      - start_process: {process: grandchild, wait: true}
"""

LOOSE = """
process: loose
start: s
states:
  s:
    actions:
      - wait: {for: 1d}
"""

RACE = """
process: race
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - start_process: {process: loose, wait: false}
              - start_process: {process: child, wait: true}
            - - wait: {for: 1h}
      - log: went on
"""


async def _family(engine: Engine, parent: int) -> tuple[list[int], int]:
    """(the parent's children, the grandchild) once they are all waiting."""

    async def probe() -> tuple[list[int], int] | None:
        children = (await engine.instance_detail(parent)).children
        if len(children) < 2:
            return None
        grand = [g for c in children for g in (await engine.instance_detail(c)).children]
        return (children, grand[0]) if grand else None

    return await until(probe, what="the children and the grandchild")


async def test_a_losing_branch_cancels_its_children_and_theirs(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    for name, text in (("g", GRANDCHILD), ("c", CHILD), ("l", LOOSE), ("r", RACE)):
        await publish(engine, tmp_path, text, name=f"{name}.yaml")
    await runtime(engine)
    parent = await engine.start_process("race")
    children, grandchild = await _family(engine, parent)
    loose, child = children
    for waiting in (parent, child, grandchild, loose):
        await wait_status(engine, waiting, "waiting")
    clock.at += timedelta(hours=1, seconds=1)  # the timer branch wins
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    child_row = await wait_status(engine, child, "cancelled", "completed", "error")
    assert child_row["status"] == "cancelled"
    assert f"#{parent}" in (child_row["reason"] or "")
    grand_row = await wait_status(engine, grandchild, "cancelled", "completed", "error")
    assert grand_row["status"] == "cancelled"
    # as cancelling the instance would: the branch's child nobody waited for ends too
    loose_row = await wait_status(engine, loose, "cancelled", "completed", "error")
    assert loose_row["status"] == "cancelled"


BUSY = """
process: busy
lane: work
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - run: {command: [sh, -c, "echo $$ > {{ dir }}/busy.pid; exec sleep 30"]}
"""

RACE_BUSY = """
process: race_busy
lane: work
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - start_process: {process: busy, vars: {dir: "{{ dir }}"}, wait: true}
            - - wait: {for: 1h}
"""


async def test_a_losing_branch_stops_its_running_child_and_kills_its_command(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await engine.add_lane("work", concurrency=2)
    await publish(engine, tmp_path, BUSY, name="busy.yaml")
    await publish(engine, tmp_path, RACE_BUSY, name="race.yaml")
    await runtime(engine)
    parent = await engine.start_process("race_busy", {"dir": str(tmp_path)})
    pid = await read_pid(tmp_path / "busy.pid")
    try:
        await wait_status(engine, parent, "waiting")
        child = (await engine.instance_detail(parent)).children[0]
        clock.at += timedelta(hours=1, seconds=1)
        row = await wait_status(engine, parent, "completed", "error")
        assert row["status"] == "completed", row["reason"]
        child_row = await wait_status(engine, child, "cancelled", "completed", "error")
        assert child_row["status"] == "cancelled"
        await until(lambda: not group_alive(pid), what="the child's command to be killed")
    finally:
        kill_group(pid)
