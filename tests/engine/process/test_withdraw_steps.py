"""Issue 16 defect 6: when a branch ends the instance, the steps its suspended siblings
had under way end too (cancelled): no step of an ended instance is left ``started``; and a
child such a sibling still waited for is cancelled with it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from engine.helpers import until, wait_status
from engine.process.helpers import journal, publish
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.store.models import STEP_CANCELLED, STEP_STARTED

StartRuntime = Callable[..., Awaitable[Runtime]]

SLEEPER = """
process: sleeper
start: s
states:
  s:
    actions:
      - wait: {for: 1d}
"""

EARLY = """
process: early
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - wait: {for: 1d}
              - log: never
            - - start_process: {process: sleeper, wait: true}
            - - wait: {for: 1h}
              - end_process: early
"""


async def test_a_branch_ending_the_instance_ends_its_siblings_steps_and_children(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, SLEEPER, name="sleeper.yaml")
    await publish(engine, tmp_path, EARLY, name="early.yaml")
    await runtime(engine)
    parent = await engine.start_process("early")

    async def the_child() -> int | None:
        children = (await engine.instance_detail(parent)).children
        return children[0] if children else None

    child = await until(the_child, what="the child")
    await wait_status(engine, child, "waiting")
    await wait_status(engine, parent, "waiting")
    clock.at += timedelta(hours=1, seconds=1)
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    steps = await journal(engine, parent)
    assert [k for k, e in steps.items() if e["status"] == STEP_STARTED] == []
    assert steps["0:s/0/b0/0"]["status"] == STEP_CANCELLED  # the sibling's wait
    assert steps["0:s/0/b1/0"]["status"] == STEP_CANCELLED  # the sibling's child step
    child_row = await wait_status(engine, child, "cancelled", "completed", "error")
    assert child_row["status"] == "cancelled"
    assert f"#{parent} completed" in (child_row["reason"] or "")
