"""What an instance's end stores of the run's memory (the variables document, milestones
and task frames in it; the step it names to retry) agrees with the journal that was
committed, also when the end interrupts a write the run had handed to the group writer
(held here: engine/process/held_writer.py).

- a milestone step whose write was handed over when a sibling's failure stopped its
  branch: the write commits (settle), so the milestone holds in the stored variables too
  (it used to be taken back in memory, and the end stored the variables without it: the
  journal said reached, the variables not);
- a node stopping while a task's steps commit: the step to retry is a step that was
  really running (a leaf), never the control-flow step above it; a retry used to forget
  the ``call``'s decision, make a new frame, pass over the task's done steps and copy out
  the frame's defaults (the task's work lost)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine.helpers import instance_row, until, wait_status
from engine.process.held_writer import CANCEL, HeldWriter, release_when_the_end_could_come
from engine.process.helpers import journal, publish, variables
from engine.process.tools import read_pid
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.process import journal as j

StartRuntime = Callable[..., Awaitable[Runtime]]

# branch 0 reaches ``booked`` (its write held); branch 1 fails on its first step
MILESTONE = """
process: reach
variables:
  n: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - milestone: booked
            - - assign: {n: "{{ 1 // n }}"}
"""

# the task's two assigns commit in one write (held); the node stops meanwhile
CALL = """
process: collect
variables:
  total: {type: list, default: []}
start: s
tasks:
  gather:
    outputs:
      out: {type: list, default: []}
    actions:
      - assign: {out: "{{ out + [1] }}"}
      - assign: {out: "{{ out + [2] }}"}
states:
  s:
    actions:
      - call: {task: gather, into: {total: out}}
"""


async def test_a_milestone_a_stopped_branch_reached_is_in_the_stored_variables(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, MILESTONE)
    rt = await runtime(engine)
    iid = await engine.start_process("reach")
    held = HeldWriter(rt.writer, iid, "0:s/0/b0/0")
    await release_when_the_end_could_come(engine, held, iid)
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "error", row["reason"]
    steps = await journal(engine, iid)
    stored = (await instance_row(engine, iid))["variables"]
    assert steps["0:s/0/b0/0"]["status"] == "done", steps.keys()
    assert stored.get("__milestones__") == {"booked": "reached"}, stored


async def test_a_stop_while_a_tasks_steps_commit_keeps_the_call_for_the_retry(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, CALL)
    rt = await runtime(engine)
    iid = await engine.start_process("collect")
    held = HeldWriter(rt.writer, iid, "0:s/0/t/1")
    await held.held.wait()
    await rt.processes[iid].interrupt("interrupted: node stopping (test)")
    await release_when_the_end_could_come(engine, held, iid)
    row = await wait_status(engine, iid, "error", "completed")
    assert row["status"] == "error", row["reason"]
    steps = await journal(engine, iid)
    assert steps["0:s/0/t/1"]["status"] == "done"
    # not the call step (a retry would forget its decision): it goes on from it
    assert row["error_step"] != "0:s/0"
    assert steps["0:s/0"]["status"] == "started"
    await engine.retry(iid)
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, iid))["total"] == [1, 2]


async def test_a_cancel_asked_again_while_the_instance_ends_does_not_stop_its_end(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, CANCEL)
    rt = await runtime(engine)
    iid = await engine.start_process("cancelme")
    held = HeldWriter(rt.writer, iid, "0:s/0")
    await held.held.wait()
    await engine.cancel(iid)
    await until(held.queued_after, what="the cancel's end to wait for the writer")
    await rt._cancel(iid)  # the cancel watcher's poll: the request is still there
    held.go.set()
    row = await wait_status(engine, iid, "cancelled", "error", "completed")
    assert row["status"] == "cancelled"
    assert "nothing was running it" not in row["reason"], row["reason"]
    assert (await variables(engine, iid))["n"] == 2


# three branches' commands under way when the fourth completes the ``first`` join
RACE = """
process: race3
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - [run: {command: [sh, -c, "echo $$ > {{ dir }}/b0.pid; exec sleep 30"]}]
            - [run: {command: [sh, -c, "echo $$ > {{ dir }}/b1.pid; exec sleep 30"]}]
            - [run: {command: [sh, -c, "echo $$ > {{ dir }}/b2.pid; exec sleep 30"]}]
            - [run: {command: [sh, -c, "until [ -e {{ dir }}/go ]; do sleep 0.02; done"]}]
"""


async def test_a_joins_cancelled_steps_are_written_once(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, RACE)
    rt = await runtime(engine, kill_grace=0.2)
    cancels: list[str] = []
    inner = rt.writer.write

    async def write(statements: Any, events: Any = (), *, owner: int | None = None) -> None:
        cancels.extend(p["b_key"] for s, p in statements if s is j.CANCEL_STEP)
        await inner(statements, events, owner=owner)

    rt.writer.write = write  # type: ignore[method-assign]
    iid = await engine.start_process("race3", {"dir": str(tmp_path)})
    for b in range(3):
        await read_pid(tmp_path / f"b{b}.pid")
    (tmp_path / "go").touch()
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert sorted(cancels) == [f"0:s/0/b{b}/0" for b in range(3)]
