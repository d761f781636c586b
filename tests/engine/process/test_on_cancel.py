"""Issue 16, workflow pattern 19 (cancel activity): a waited-for child that is cancelled
lets its parent go on past the step with ``on_cancel: continue`` (the history says so,
``cancelled_into`` tells the parent), and fails the step with ``on_cancel: error``, the
default (as before); bad ``on_cancel`` settings are refused at publish."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from engine.conftest import BASE
from engine.helpers import instance_row, instance_rows, until, wait_status
from engine.process.helpers import journal, publish, variables
from engine.process.tools import CrashableNode, age_node, group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

CHILD = """
process: ship
variables:
  quick: {type: boolean, default: false}
start: s
states:
  s:
    actions:
      - if: quick
        then: [end_process: shipped]
      - wait: {for: 1h}
"""

PARENT = """
process: order
variables:
  quick: {type: boolean, default: false}
  shipping_cancelled: {type: boolean}
  after: {type: string, default: ""}
start: s
states:
  s:
    actions:
      - start_process: {process: ship, vars: {quick: "{{ quick }}"}, wait: true ON_CANCEL}
      - assign: {after: "went on"}
"""

CONTINUE = ", on_cancel: continue, cancelled_into: shipping_cancelled"


async def _child(engine: Engine, parent: int) -> int:
    async def probe() -> int | None:
        rows = [r for r in await instance_rows(engine) if r["parent_id"] == parent]
        return int(rows[0]["id"]) if rows else None

    child = await until(probe, what="the child")
    await wait_status(engine, child, "waiting")
    await wait_status(engine, parent, "waiting")
    return int(child)


async def _start(engine: Engine, tmp_path: Path, on_cancel: str, **values: str) -> int:
    await publish(engine, tmp_path, CHILD, "ship.yaml")
    await publish(engine, tmp_path, PARENT.replace("ON_CANCEL", on_cancel), "order.yaml")
    return await engine.start_process("order", values or None)


async def test_a_cancelled_child_with_on_cancel_continue_lets_the_parent_complete(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await runtime(engine)
    parent = await _start(engine, tmp_path, CONTINUE)
    child = await _child(engine, parent)
    await engine.cancel(child)
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    found = await variables(engine, parent)
    assert found["after"] == "went on"
    assert found["shipping_cancelled"] is True
    step = (await journal(engine, parent))["0:s/0"]
    assert step["status"] == "done" and step["decision"]["cancelled"] is True
    history = (await engine.instance_detail(parent)).history
    (entry,) = [h for h in history if h.kind == "child"]
    assert dict(entry.detail) == {
        "child": child,
        "op": "cancelled",
        "step": "0:s/0",
        "on_cancel": "continue",
    }


async def test_a_child_that_completes_sets_cancelled_into_false(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await runtime(engine)
    parent = await _start(engine, tmp_path, CONTINUE, quick="true")
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, parent))["shipping_cancelled"] is False


@pytest.mark.parametrize("on_cancel", ["", ", on_cancel: error"])
async def test_a_cancelled_child_with_on_cancel_error_fails_the_parent_as_before(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, on_cancel: str
) -> None:
    await runtime(engine)
    parent = await _start(engine, tmp_path, on_cancel)
    child = await _child(engine, parent)
    await engine.cancel(child)
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "error"
    assert f"child instance {child} ended cancelled" in row["reason"]
    assert (await variables(engine, parent))["after"] == ""


BAD = """
process: bad
variables:
  flag: {type: boolean}
  text: {type: string}
start: s
states:
  s:
    actions:
      - start_process: {process: bad, on_cancel: carry_on}
      - start_process: {process: bad, wait: false, on_cancel: continue}
      - start_process: {process: bad, cancelled_into: flag}
      - start_process: {process: bad, on_cancel: continue, cancelled_into: text}
      - start_process: {process: bad, on_cancel: continue, cancelled_into: flg}
"""


async def test_bad_on_cancel_settings_are_refused_at_publish(
    engine: Engine, tmp_path: Path, clock: FixedClock
) -> None:
    with pytest.raises(DefinitionError) as caught:
        await publish(engine, tmp_path, BAD)
    found = sorted((i.line, i.col, i.message) for i in caught.value.issues)
    assert found == [
        (
            9,
            50,
            "unknown on_cancel 'carry_on' (expected one of: continue, error)",
        ),
        (10, 52, "'on_cancel' needs 'wait: true'"),
        (11, 39, "'cancelled_into' needs 'on_cancel: continue'"),
        (12, 76, "variable 'text' is string: cancelled_into needs a boolean"),
        (13, 76, "unknown variable 'flg' (did you mean 'flag'?)"),
    ]
    assert await engine.processes() == []


AFTER = """
process: order
variables:
  dir: {type: string, required: true}
  shipping_cancelled: {type: boolean}
start: s
states:
  s:
    actions:
      - start_process: {process: ship, wait: true, on_cancel: continue, cancelled_into: shipping_cancelled}
      - run:
          command: [sh, -c, "[ -e {{ dir }}/go ] && exit 0; echo $$ > {{ dir }}/cmd.pid; exec sleep 30"]
        idempotent: true
"""


async def test_a_node_killed_9_after_going_on_does_not_go_on_twice(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await publish(engine, tmp_path, CHILD, "ship.yaml")
    await publish(engine, tmp_path, AFTER, "order.yaml")
    parent = await engine.start_process("order", {"dir": str(tmp_path)})
    async with CrashableNode(db_url, data_dir, tmp_path) as node:
        child = await _child(engine, parent)
        await engine.cancel(child)
        group = await read_pid(tmp_path / "cmd.pid", within=15)  # went on: mid-command
        await until(lambda: _recorded(engine, parent, group), what="the group to be recorded")
        await node.crash()
    try:
        await age_node(engine, node.node_id, BASE - timedelta(hours=1))
        (tmp_path / "go").touch()
        await runtime(engine)
        row = await wait_status(engine, parent, "completed", "error", within=10)
        assert row["status"] == "completed", row["reason"]
        await until(lambda: not group_alive(group), within=5, what="the orphan to die")
    finally:
        kill_group(group)
    assert (await variables(engine, parent))["shipping_cancelled"] is True
    history = (await engine.instance_detail(parent)).history
    assert [dict(h.detail)["child"] for h in history if h.kind == "child"] == [child]
    step = (await journal(engine, parent))["0:s/0"]
    assert step["status"] == "done" and step["decision"]["cancelled"] is True


async def _recorded(engine: Engine, instance_id: int, group: int) -> bool:
    """The node has recorded the command's group (it does so just after the spawn: a
    crash in between leaves an orphan the store does not know about)."""
    return bool((await instance_row(engine, instance_id))["pgid"] == group)
