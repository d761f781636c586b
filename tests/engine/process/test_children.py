"""Child instances and the server parameters that guard starting: nesting deeper than
``depth_threshold`` is an error, ``block_launch_during_restore`` refuses new starts while
a live node restores; children that fail, that are not waited for, that get bad input."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from engine.helpers import instance_row, instance_rows, wait_status
from engine.process.helpers import publish, variables
from engine.process.tools import set_param
from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.store.queries import nodes as node_q

StartRuntime = Callable[..., Awaitable[Runtime]]

RECURSE = """
process: recurse
variables:
  level: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - start_process: {process: recurse, vars: {level: "{{ level + 1 }}"}, wait: true}
"""


async def test_recursion_deeper_than_depth_threshold_is_an_error_naming_it(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, RECURSE)
    await set_param(engine, "depth_threshold", 3)
    await engine.add_lane("deep", 10)
    await runtime(engine)
    root = await engine.start_process("recurse", lane="deep")
    row = await wait_status(engine, root, "error", "completed")
    assert row["status"] == "error"
    rows = [r for r in await instance_rows(engine) if r["process"] == "recurse"]
    assert [r["depth"] or 0 for r in rows] == [0, 1, 2, 3]  # nothing deeper was started
    deepest = rows[-1]
    assert deepest["status"] == "error"
    assert "depth_threshold" in deepest["reason"]
    assert "3" in deepest["reason"]
    assert (await variables(engine, deepest["id"]))["level"] == 3
    # every ancestor fails because its child did, naming the child
    for parent, child in itertools.pairwise(rows):
        assert parent["status"] == "error"
        assert f"child instance {child['id']} ended error" in parent["reason"]


async def test_the_default_depth_threshold_is_ten(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, RECURSE)
    await engine.add_lane("deep", 20)
    await runtime(engine)
    root = await engine.start_process("recurse", lane="deep")
    await wait_status(engine, root, "error", "completed")
    rows = [r for r in await instance_rows(engine) if r["process"] == "recurse"]
    assert len(rows) == 11
    assert "depth_threshold 10" in rows[-1]["reason"]


PLAIN = """
process: plain
variables:
  level: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""


async def test_block_launch_during_restore_refuses_starts_while_a_live_node_restores(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, PLAIN)
    node = await runtime(engine)
    node_id = engine.node_id
    # restoring, but the parameter is off: starts go ahead
    async with engine.store.write() as conn:
        await node_q.set_restoring(conn, node_id, True)
    assert await engine.start_process("plain", {"level": "50"}) > 0
    await set_param(engine, "block_launch_during_restore", True)
    with pytest.raises(Conflict, match="block_launch_during_restore") as caught:
        await engine.start_process("plain", {"level": "50"})
    assert node_id in str(caught.value)
    # restore finished: starts go ahead again
    async with engine.store.write() as conn:
        await node_q.set_restoring(conn, node_id, False)
    assert await engine.start_process("plain", {"level": "50"}) > 0
    # a node that died while restoring blocks nobody
    async with engine.store.write() as conn:
        await node_q.set_restoring(conn, node_id, True)
    clock.at += timedelta(minutes=5)  # its heartbeat (on the fixed clock) is now old
    assert await engine.start_process("plain", {"level": "50"}) > 0
    clock.at -= timedelta(minutes=5)
    assert node.started


CHILD_FAILS = """
process: boss
variables:
  got: {type: string}
start: s
states:
  s:
    actions:
      - start_process: {process: worker, vars: {n: "{{ 2 }}"}, wait: true, into: {got: out}}
      - assign: {got: "never"}
"""

WORKER = """
process: worker
variables:
  n: {type: integer, required: true}
  out: {type: string}
start: s
states:
  s:
    actions:
      - assign: {out: "worked {{ n }}"}
      - raise: "worker gives up"
"""


async def _publish_pair(engine: Engine, tmp_path: Path, parent: str, child: str) -> None:
    (tmp_path / "parent.yaml").write_text(parent.lstrip())
    (tmp_path / "child.yaml").write_text(child.lstrip())
    await engine.publish([tmp_path / "parent.yaml", tmp_path / "child.yaml"])


async def test_a_failing_child_fails_its_waiting_parent_and_a_skip_lets_it_complete(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await _publish_pair(engine, tmp_path, CHILD_FAILS, WORKER)
    await runtime(engine)
    parent = await engine.start_process("boss")
    row = await wait_status(engine, parent, "error", "completed")
    assert row["status"] == "error"
    child = (await engine.instance_detail(parent)).children[0]
    assert f"child instance {child} ended error" in row["reason"]
    assert (await variables(engine, parent))["got"] is None
    # fix the child (skip its raise): it completes, but the parent already failed on it
    await engine.skip(child)
    assert (await wait_status(engine, child, "completed", "error"))["status"] == "completed"
    # the parent, retried, looks at the same child again (no second child) and goes on
    await engine.retry(parent)
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await engine.instance_detail(parent)).children == [child]
    assert (await variables(engine, parent))["got"] == "never"


NO_WAIT = """
process: fire_and_forget
variables:
  note: {type: string}
start: s
states:
  s:
    actions:
      - start_process: {process: worker, vars: {n: 5}, wait: false}
      - assign: {note: "went on"}
"""


async def test_a_child_not_waited_for_runs_on_its_own(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await _publish_pair(engine, tmp_path, NO_WAIT, WORKER)
    await runtime(engine)
    parent = await engine.start_process("fire_and_forget")
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    child = (await engine.instance_detail(parent)).children[0]
    child_row = await wait_status(engine, child, "error", "completed")
    assert child_row["status"] == "error"  # the worker raises; the parent did not care
    assert (await instance_row(engine, parent))["status"] == "completed"


BAD_CHILD_VARS = """
process: sloppy
variables:
  text: {type: string, default: "twelve"}
start: s
states:
  s:
    actions:
      - start_process: {process: worker, vars: {n: "{{ text }}"}, wait: true}
"""


async def test_a_child_with_bad_start_values_fails_the_parents_step_naming_the_variable(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await _publish_pair(engine, tmp_path, BAD_CHILD_VARS, WORKER)
    await runtime(engine)
    parent = await engine.start_process("sloppy")
    row = await wait_status(engine, parent, "error", "completed")
    assert row["status"] == "error"
    assert "start_process" in row["reason"] and "n:" in row["reason"]
    assert [r["process"] for r in await instance_rows(engine)] == ["sloppy"]
