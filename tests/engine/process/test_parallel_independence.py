"""Parallel branches progress on their own: a wait, a work item or a child in one branch is
never held up by a command running in another (issue 16, defect 2).

The node runs on the system clock. The command branch runs until the other branch
touches ``go`` (or, on code where branches hold each other up, until its ``LIMIT`` of about
3 s runs out). The assertions are on the order the journal recorded, never on durations:
the action after the wait / item / child is journalled before the command's step ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.helpers import BASE, instance_row, until, wait_status
from engine.process.helpers import journal, publish, variables
from engine.process.tools import CrashableNode, age_node, group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock, SystemClock
from switchyard.engine.node.runtime import Runtime

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

# runs until {{ dir }}/go exists, or for about 3 s (150 x 20 ms) at most
LIMIT = (
    "echo $$ > {{ dir }}/cmd.pid; i=0;"
    " while [ ! -e {{ dir }}/go ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i+1)); done"
)
COMMAND = f"run: {{command: [sh, -c, '{LIMIT}']}}"
GO = 'run: {command: [touch, "{{ dir }}/go"]}'


async def system_node(open_engine: OpenEngine, runtime: StartRuntime) -> Engine:
    engine = await open_engine(clock=SystemClock())
    await runtime(engine)
    return engine


def ended(steps: dict[str, dict[str, Any]], key: str) -> datetime:
    at = steps[key]["ended_at"]
    assert at is not None, f"step {key} has not ended: {steps[key]}"
    return at  # type: ignore[no-any-return]


async def finish(engine: Engine, instance_id: int, tmp_path: Path) -> None:
    try:
        row = await wait_status(engine, instance_id, "completed", "error", within=15)
    finally:
        kill_group(await read_pid(tmp_path / "cmd.pid"))
    assert row["status"] == "completed", row["reason"]


WAIT_ALL = f"""
process: wait_all
variables:
  dir: {{type: string, required: true}}
  a: {{type: string}}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - wait: {{for: 1s}}
              - assign: {{a: woke}}
              - {GO}
            - - {COMMAND}
"""


async def test_join_all_a_wait_beside_a_command_goes_on_while_the_command_runs(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await system_node(open_engine, runtime)
    await publish(engine, tmp_path, WAIT_ALL)
    instance_id = await engine.start_process("wait_all", {"dir": str(tmp_path)})
    await finish(engine, instance_id, tmp_path)
    steps = await journal(engine, instance_id)
    # the assign after the wait was journalled while the command still ran
    assert ended(steps, "0:s/0/b0/1") < ended(steps, "0:s/0/b1/0")
    assert ended(steps, "0:s/0/b0/0") < ended(steps, "0:s/0/b1/0")
    assert (await variables(engine, instance_id))["a"] == "woke"


TIMER_FIRST = f"""
process: timer_first
variables:
  dir: {{type: string, required: true}}
  winner: {{type: string}}
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - {COMMAND}
              - assign: {{winner: command}}
            - - wait: {{for: 1s}}
              - assign: {{winner: timer}}
"""


async def test_join_first_a_timer_beats_a_longer_command_which_is_killed(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await system_node(open_engine, runtime)
    await publish(engine, tmp_path, TIMER_FIRST)
    instance_id = await engine.start_process("timer_first", {"dir": str(tmp_path)})
    pgid = await read_pid(tmp_path / "cmd.pid")
    try:
        row = await wait_status(engine, instance_id, "completed", "error", within=15)
        assert row["status"] == "completed", row["reason"]
        # the loser's command does not run on: its process group is gone
        assert not group_alive(pgid)
    finally:
        kill_group(pgid)
    assert (await variables(engine, instance_id))["winner"] == "timer"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["decision"]["winner"] == 1
    assert steps["0:s/0/b0/0"]["status"] == "cancelled"
    assert steps["0:s/0/b0/0"]["ended_at"] is not None
    assert "0:s/0/b0/1" not in steps
    assert ended(steps, "0:s/0/b1/0") <= ended(steps, "0:s/0/b0/0")


ITEM = f"""
process: item_beside
variables:
  dir: {{type: string, required: true}}
  a: {{type: string}}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - send_work_item: {{form: ok, to: {{user: bob}}}}
              - assign: {{a: answered}}
              - {GO}
            - - {COMMAND}
forms:
  ok:
    fields: [{{name: reply, type: text}}]
    buttons:
      Ok: []
"""


async def test_a_work_item_completed_in_a_branch_is_acted_on_while_the_sibling_command_runs(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await system_node(open_engine, runtime)
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, ITEM)
    instance_id = await engine.start_process("item_beside", {"dir": str(tmp_path)})

    async def the_item() -> int | None:
        page = await engine.work_items("all")
        return page.rows[0].id if page.rows else None

    item_id = await until(the_item, what="the branch's work item")
    bob = await open_engine(user="bob", clock=SystemClock())
    await bob.complete_work_item(item_id, "Ok", {"reply": "yes"})
    await finish(engine, instance_id, tmp_path)
    steps = await journal(engine, instance_id)
    assert ended(steps, "0:s/0/b0/1") < ended(steps, "0:s/0/b1/0")
    assert (await variables(engine, instance_id))["a"] == "answered"


CANCEL_BUTTON = f"""
process: stoppable
variables:
  dir: {{type: string, required: true}}
  how: {{type: string}}
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - {COMMAND}
              - assign: {{how: finished}}
            - - send_work_item: {{form: stop, to: {{user: bob}}}}
forms:
  stop:
    fields: []
    buttons:
      Cancel: [assign: {{how: cancelled}}]
"""


async def test_a_cancel_button_in_a_join_first_sibling_cancels_the_running_branch(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    # cancel activity: the person's button ends the branch that runs, command and all
    engine = await system_node(open_engine, runtime)
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, CANCEL_BUTTON)
    instance_id = await engine.start_process("stoppable", {"dir": str(tmp_path)})
    pgid = await read_pid(tmp_path / "cmd.pid")

    async def the_item() -> int | None:
        page = await engine.work_items("all")
        return page.rows[0].id if page.rows else None

    item_id = await until(the_item, what="the cancel item")
    try:
        bob = await open_engine(user="bob", clock=SystemClock())
        await bob.complete_work_item(item_id, "Cancel")
        row = await wait_status(engine, instance_id, "completed", "error", within=15)
        assert row["status"] == "completed", row["reason"]
        assert not group_alive(pgid)
    finally:
        kill_group(pgid)
    assert (await variables(engine, instance_id))["how"] == "cancelled"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["decision"]["winner"] == 1
    assert steps["0:s/0/b0/0"]["status"] == "cancelled"
    assert "0:s/0/b0/1" not in steps


CHILD = """
process: kid
variables:
  out: {type: string}
start: s
states:
  s:
    actions:
      - assign: {out: grown}
"""

PARENT = f"""
process: parent
variables:
  dir: {{type: string, required: true}}
  got: {{type: string}}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - start_process: {{process: kid, wait: true, into: {{got: out}}}}
              - assign: {{got: "{{{{ got }}}}!"}}
              - {GO}
            - - {COMMAND}
"""


async def test_a_child_ending_in_a_branch_is_taken_up_while_the_sibling_command_runs(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await system_node(open_engine, runtime)
    await engine.add_lane("wide", 4)  # room for the child beside its running parent
    await publish(engine, tmp_path, CHILD, name="kid.yaml")
    await publish(engine, tmp_path, PARENT, name="parent.yaml")
    instance_id = await engine.start_process("parent", {"dir": str(tmp_path)}, lane="wide")
    await finish(engine, instance_id, tmp_path)
    steps = await journal(engine, instance_id)
    assert ended(steps, "0:s/0/b0/1") < ended(steps, "0:s/0/b1/0")
    assert (await variables(engine, instance_id))["got"] == "grown!"


CRASH = """
process: crash_wait
variables:
  dir: {type: string, required: true}
  a: {type: string}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - wait: {until: "2027-03-01T08:00:00+00:00"}
              - assign: {a: woke}
            - - run:
                  command: [sh, -c, "echo run >> {{ dir }}/runs; [ -e {{ dir }}/go ] && exit 0; echo $$ > {{ dir }}/cmd.pid; exec sleep 30"]
                idempotent: true
"""


async def test_kill_9_while_a_branch_waits_in_memory_resumes_its_wait_from_the_journal(
    engine: Engine,
    runtime: StartRuntime,
    tmp_path: Path,
    db_url: str,
    data_dir: Path,
    clock: FixedClock,
) -> None:
    # the crashing node runs on the system clock; the restoring one on the test's clock
    # (BASE, before the wait's end)
    await publish(engine, tmp_path, CRASH)
    instance_id = await engine.start_process("crash_wait", {"dir": str(tmp_path)})
    async with CrashableNode(db_url, data_dir, tmp_path) as node:
        group = await read_pid(tmp_path / "cmd.pid", within=15)

        async def waiting_in_memory() -> dict[str, Any] | None:
            steps = await journal(engine, instance_id)
            wait = steps.get("0:s/0/b0/0")
            return steps if wait is not None and wait["status"] == "started" else None

        before = await until(waiting_in_memory, what="the wait beside the command")
        assert (await instance_row(engine, instance_id))["status"] == "running"
        await node.crash()
    await age_node(engine, node.node_id, BASE - timedelta(hours=1))
    try:
        (tmp_path / "go").touch()
        await runtime(engine)
        row = await wait_status(engine, instance_id, "waiting", "completed", "error")
        assert row["status"] == "waiting", row["reason"]
        # the wait's journalled deadline, not a new one
        assert (row["waiting_on"], row["wake_at"]) == ("timer", datetime(2027, 3, 1, 8, tzinfo=UTC))
        after = await journal(engine, instance_id)
        assert after["0:s/0/b0/0"]["decision"] == before["0:s/0/b0/0"]["decision"]
        assert after["0:s/0/b1/0"]["status"] == "done"
        clock.at = datetime(2027, 3, 1, 8, tzinfo=UTC)
        row = await wait_status(engine, instance_id, "completed", "error")
        assert row["status"] == "completed", row["reason"]
    finally:
        kill_group(group)
    assert (await variables(engine, instance_id))["a"] == "woke"
    assert (tmp_path / "runs").read_text().split() == ["run", "run"]
