"""Issue 16 defects 3 and 6: when a branch loses a join or an instance ends, its open work
items are withdrawn (cancelled, with the reason in the instance history) and completing one
is refused (``Withdrawn``, exit 4, naming why); every step of an ended instance is ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from engine.helpers import until, wait_status
from engine.process.helpers import journal, publish
from switchyard.engine.api import Engine
from switchyard.engine.errors import Withdrawn
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.store.models import STEP_STARTED

StartRuntime = Callable[..., Awaitable[Runtime]]

FORM = """
forms:
  answer:
    fields: [{name: reply, type: text}]
    buttons:
      Ok: []
"""

DEFERRED = (
    """
process: deferred
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - send_work_item: {form: answer, to: {user: bob}}
            - - wait: {for: 1h}
      - log: went on
"""
    + FORM
)

BRANCH_ENDS = (
    """
process: impatient
start: s
states:
  s:
    actions:
      - parallel:
          join: all
          branches:
            - - send_work_item: {form: answer, to: {user: bob}}
              - log: answered
            - - wait: {for: 1h}
              - end_process: gave up
"""
    + FORM
)


async def _the_item(engine: Engine) -> int:
    async def probe() -> int | None:
        page = await engine.work_items("all")
        return page.rows[0].id if page.rows else None

    return await until(probe, what="the work item")


async def _history(engine: Engine, instance_id: int) -> list[dict[str, object]]:
    return [dict(h.detail) for h in (await engine.instance_detail(instance_id)).history]


async def test_the_losing_work_item_of_a_join_first_is_withdrawn(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, DEFERRED)
    await runtime(engine)
    instance_id = await engine.start_process("deferred")
    item_id = await _the_item(engine)
    await wait_status(engine, instance_id, "waiting")
    clock.at += timedelta(hours=1, seconds=1)  # the timer wins
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    item = (await engine.work_item(item_id)).item
    assert item.status == "cancelled"
    assert "another branch" in (item.held_reason or "")
    assert (await engine.work_items("all")).counts["all"] == 0
    withdrawn = [h for h in await _history(engine, instance_id) if h.get("op") == "withdrawn"]
    assert withdrawn and withdrawn[0]["item"] == item_id and withdrawn[0]["reason"]
    with pytest.raises(Withdrawn) as refused:
        await engine.complete_work_item(item_id, "Ok")
    assert refused.value.exit_code == 4
    assert f"work item {item_id} was withdrawn" in str(refused.value)
    assert (await engine.work_item(item_id)).item.status == "cancelled"


async def test_an_instance_that_completes_withdraws_its_open_items_and_ends_its_steps(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, BRANCH_ENDS)
    await runtime(engine)
    instance_id = await engine.start_process("impatient")
    item_id = await _the_item(engine)
    await wait_status(engine, instance_id, "waiting")
    clock.at += timedelta(hours=1, seconds=1)  # the other branch ends the instance
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert row["outcome"] == "gave up"
    item = (await engine.work_item(item_id)).item
    assert item.status == "cancelled"
    assert item.held_reason == f"withdrawn: its instance {instance_id} completed"
    with pytest.raises(Withdrawn) as refused:
        await engine.complete_work_item(item_id, "Ok")
    message = str(refused.value)
    assert f"work item {item_id} was withdrawn: its instance {instance_id} completed" in message
    steps = await journal(engine, instance_id)
    started = [k for k, e in steps.items() if e["status"] == STEP_STARTED]
    assert started == []  # defect 6: nothing of an ended instance is still under way
