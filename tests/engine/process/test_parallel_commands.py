"""Parallel branches that run real commands: the branches that lose a ``join: first`` or
outlive a failing sibling in ``join: all`` are killed (process group and all), and the
journal says what became of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import wait_status
from engine.process.helpers import journal, publish, variables
from engine.process.tools import group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

GATE = "until [ -e {{ dir }}/go ]; do sleep 0.02; done"

FIRST = f"""
process: race
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
            - - run: {{command: [sh, -c, "echo $$ > {{{{ dir }}}}/loser.pid; sleep 30 & wait"]}}
              - assign: {{winner: slow}}
            - - run: {{command: [sh, -c, "{GATE}"]}}
              - assign: {{winner: quick}}
      - assign: {{winner: "{{{{ winner }}}}!"}}
"""


async def test_join_first_kills_the_losing_branchs_command(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FIRST)
    await runtime(engine)
    instance_id = await engine.start_process("race", {"dir": str(tmp_path)})
    loser = await read_pid(tmp_path / "loser.pid")
    try:
        assert group_alive(loser)
        (tmp_path / "go").touch()
        row = await wait_status(engine, instance_id, "completed", "error", within=5)
        assert row["status"] == "completed", row["reason"]
        assert not group_alive(loser)
    finally:
        kill_group(loser)
    assert (await variables(engine, instance_id))["winner"] == "quick!"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["decision"]["winner"] == 1
    assert "0:s/0/b0/1" not in steps  # the loser never went on


async def test_join_first_leaves_no_step_of_the_loser_marked_in_flight(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FIRST)
    await runtime(engine)
    instance_id = await engine.start_process("race", {"dir": str(tmp_path)})
    loser = await read_pid(tmp_path / "loser.pid")
    try:
        (tmp_path / "go").touch()
        row = await wait_status(engine, instance_id, "completed", "error", within=5)
        assert row["status"] == "completed", row["reason"]
    finally:
        kill_group(loser)
    steps = await journal(engine, instance_id)
    # the loser's command was killed by the engine itself: it is over, not "in flight"
    # (a step left "started" is what a crash leaves behind; recovery and the interrupt
    # path treat it as the step to restore or retry)
    assert steps["0:s/0/b0/0"]["status"] == "cancelled"
    assert steps["0:s/0/b0/0"]["ended_at"] is not None


FIRST_THEN_SLEEP = f"""
process: race_on
variables:
  dir: {{type: string, required: true}}
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - [run: {{command: [sh, -c, "echo $$ > {{{{ dir }}}}/loser.pid; exec sleep 30"]}}]
            - [run: {{command: [sh, -c, "{GATE}"]}}]
      - run: {{command: [sh, -c, "echo $$ > {{{{ dir }}}}/after.pid; exec sleep 30"]}}
"""


async def test_a_node_stopping_after_a_join_first_interrupts_the_step_really_in_flight(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FIRST_THEN_SLEEP)
    node = await runtime(engine, kill_grace=0.5)
    instance_id = await engine.start_process("race_on", {"dir": str(tmp_path)})
    groups = [await read_pid(tmp_path / "loser.pid")]
    try:
        (tmp_path / "go").touch()
        groups.append(await read_pid(tmp_path / "after.pid"))
        await node.stop(grace=0.1)
        row = await wait_status(engine, instance_id, "error", "completed", within=5)
        assert "interrupted" in row["reason"]
        assert not group_alive(groups[1])
    finally:
        for g in groups:
            kill_group(g)
    # the step to retry is the command after the parallel, not the killed loser
    assert row["error_step"] == "0:s/1"


ALL = f"""
process: fail_fast
variables:
  dir: {{type: string, required: true}}
  a: {{type: string}}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - run: {{command: [sh, -c, "echo $$ > {{{{ dir }}}}/sibling.pid; sleep 30 & wait"]}}
              - assign: {{a: sibling}}
            - - run: {{command: [sh, -c, "{GATE}"]}}
              - raise: "branch two broke"
"""


async def test_join_all_with_a_failing_branch_errors_and_kills_the_sibling_command(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, ALL)
    await runtime(engine)
    instance_id = await engine.start_process("fail_fast", {"dir": str(tmp_path)})
    sibling = await read_pid(tmp_path / "sibling.pid")
    try:
        assert group_alive(sibling)
        (tmp_path / "go").touch()
        row = await wait_status(engine, instance_id, "error", "completed", within=5)
        assert row["status"] == "error"
        assert "branch two broke" in row["reason"]
        assert row["error_step"] == "0:s/0/b1/1"
        assert not group_alive(sibling)
    finally:
        kill_group(sibling)
    assert (await variables(engine, instance_id))["a"] is None
    steps = await journal(engine, instance_id)
    assert steps["0:s/0/b1/1"]["status"] == "error"


@pytest.mark.parametrize("how", ["retry", "skip"])
async def test_after_a_join_all_failure_the_killed_sibling_runs_again(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, how: str
) -> None:
    # the sibling's command was killed by the engine (not lost in a crash): when the
    # operator retries or skips the failed step, the sibling must simply run again, not
    # come back "restored in error"
    text = ALL.replace("sleep 30 & wait", "[ -e {{ dir }}/go2 ] || sleep 30")
    await publish(engine, tmp_path, text)
    await runtime(engine)
    instance_id = await engine.start_process("fail_fast", {"dir": str(tmp_path)})
    sibling = await read_pid(tmp_path / "sibling.pid")
    try:
        (tmp_path / "go").touch()
        await wait_status(engine, instance_id, "error", "completed", within=5)
        (tmp_path / "go2").touch()
        if how == "retry":
            await engine.retry(instance_id)
            row = await wait_status(engine, instance_id, "error", "completed", within=5)
            assert row["status"] == "error"
            assert "branch two broke" in row["reason"], row["reason"]
            await engine.skip(instance_id)
        else:
            await engine.skip(instance_id)
        row = await wait_status(engine, instance_id, "error", "completed", within=5)
        assert row["status"] == "completed", row["reason"]
    finally:
        kill_group(sibling)
    assert (await variables(engine, instance_id))["a"] == "sibling"


JUMP = f"""
process: jumper
variables:
  dir: {{type: string, required: true}}
  where: {{type: string}}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - [run: {{command: [sh, -c, "echo $$ > {{{{ dir }}}}/busy.pid; exec sleep 30"]}}]
            - - run: {{command: [sh, -c, "{GATE}"]}}
              - assign: {{where: elsewhere}}
              - end_process: ended by a branch
      - assign: {{where: "never here"}}
"""


# change_state inside a branch is refused at publish (test_withdraw_branch_state.py);
# end_process in a branch ends the instance, the parallel and its siblings with it
async def test_a_branch_ending_the_process_ends_the_parallel_and_kills_its_siblings(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, JUMP)
    await runtime(engine)
    instance_id = await engine.start_process("jumper", {"dir": str(tmp_path)})
    busy = await read_pid(tmp_path / "busy.pid")
    try:
        (tmp_path / "go").touch()
        row = await wait_status(engine, instance_id, "completed", "error", within=5)
        assert row["status"] == "completed", row["reason"]
        assert row["outcome"] == "ended by a branch"
        assert not group_alive(busy)
    finally:
        kill_group(busy)
    assert (await variables(engine, instance_id))["where"] == "elsewhere"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["status"] == "done"
    assert steps["0:s/0/b0/0"]["status"] == "cancelled"
    assert "0:s/1" not in steps
    assert all(s["status"] != "started" for s in steps.values())


TWO_IN_FLIGHT = """
process: pair
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - [run: {command: [sh, -c, "echo x >> {{ dir }}/a.runs; [ -e {{ dir }}/go ] || { echo $$ > {{ dir }}/a.pid; exec sleep 30; }"]}]
            - [run: {command: [sh, -c, "echo x >> {{ dir }}/b.runs; [ -e {{ dir }}/go ] || { echo $$ > {{ dir }}/b.pid; exec sleep 30; }"]}]
"""


async def test_one_retry_after_a_node_stop_reruns_every_command_the_stop_killed(
    engine: Engine,
    runtime: StartRuntime,
    tmp_path: Path,
    open_engine: Callable[..., Awaitable[Engine]],
) -> None:
    await publish(engine, tmp_path, TWO_IN_FLIGHT)
    node = await runtime(engine, kill_grace=0.5)
    instance_id = await engine.start_process("pair", {"dir": str(tmp_path)})
    groups = [await read_pid(tmp_path / "a.pid"), await read_pid(tmp_path / "b.pid")]
    try:
        await node.stop(grace=0.1)
        row = await wait_status(engine, instance_id, "error", "completed", within=5)
        assert "interrupted" in row["reason"]
        assert not any(group_alive(g) for g in groups)
    finally:
        for g in groups:
            kill_group(g)
    (tmp_path / "go").touch()
    await runtime(await open_engine())  # the next node
    await engine.retry(instance_id)
    row = await wait_status(engine, instance_id, "completed", "error", within=5)
    assert row["status"] == "completed", row["reason"]
    assert (tmp_path / "a.runs").read_text().count("x") == 2
    assert (tmp_path / "b.runs").read_text().count("x") == 2
