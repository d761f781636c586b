"""Consecutive plain assigns share one commit (executor.shares_commit), and a shared step
is never lost or applied twice when the step after it fails instead of writing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.helpers import wait_status
from engine.process.helpers import journal, publish, variables
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

CHILD = """
process: child
variables:
  x: {type: integer, default: 1}
start: s
states:
  s:
    actions:
      - assign: {x: "{{ x + 1 }}"}
      - assign: {x: "{{ x * 10 }}"}
"""

PARENT = """
process: parent
variables:
  got: {type: integer}
start: s
states:
  s:
    actions:
      - start_process: {process: child, wait: true, into: {got: x}}
"""

THREE = """
process: three
variables:
  a: {type: integer, default: 1}
  b: {type: integer}
  c: {type: integer}
start: s
states:
  s:
    actions:
      - assign: {a: "{{ a + 1 }}"}
      - assign: {b: "{{ a * 10 }}"}
      - assign: {c: "{{ b + a }}"}
"""

THEN_FAIL = """
process: then_fail
variables:
  a: {type: integer, default: 1}
  z: {type: integer, default: 0}
  q: {type: integer}
start: s
states:
  s:
    actions:
      - assign: {a: "{{ a + 1 }}"}
      - assign: {q: "{{ 10 // z }}"}
"""


async def test_three_assigns_are_one_commit_and_all_journaled(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, THREE)
    rt = await runtime(engine)
    iid = await engine.start_process("three")
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert await variables(engine, iid) == {"a": 2, "b": 20, "c": 22}
    steps = await journal(engine, iid)
    assert [steps[k]["status"] for k in ("0:s/0", "0:s/1", "0:s/2")] == ["done"] * 3
    # the two first assigns ride along with the third's write, and the third (the state's
    # last) with the completion's: the whole instance is one commit
    assert rt.writer.writes == 1, rt.writer.writes


async def test_a_shared_step_before_a_failing_one_is_journaled_once(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, THEN_FAIL)
    await runtime(engine)
    iid = await engine.start_process("then_fail")
    row = await wait_status(engine, iid, "error", "completed")
    assert row["status"] == "error" and row["error_step"] == "0:s/1", row
    steps = await journal(engine, iid)
    assert steps["0:s/0"]["status"] == "done"  # written on the way out, with its variables
    assert (await variables(engine, iid))["a"] == 2
    await engine.retry(iid, {"z": "5"})
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    # the first assign is not run again: a is incremented once
    assert (await variables(engine, iid))["a"] == 2
    assert (await variables(engine, iid))["q"] == 2


async def test_a_child_ending_with_shared_assigns_commits_them_before_its_end(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, CHILD, "child.yaml")
    await publish(engine, tmp_path, PARENT, "parent.yaml")
    await runtime(engine)
    parent = await engine.start_process("parent")
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, parent))["got"] == 20
    child = (await journal(engine, parent))["0:s/0"]["decision"]["child"]
    steps = await journal(engine, child)
    assert [steps[k]["status"] for k in ("0:s/0", "0:s/1")] == ["done", "done"]
    assert (await variables(engine, child))["x"] == 20
