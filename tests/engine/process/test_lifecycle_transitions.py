"""Issue 13 (one instance lifecycle) and issue 16 defect 1: what an instance waits on is a
typed value, an ended instance waits on nothing, and every end (a cancelled child too)
runs the end hook that withdraws its open work items."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from engine.helpers import instance_row, until, wait_status
from engine.process.helpers import publish
from switchyard.engine.api import Engine
from switchyard.engine.instances.waiting import WaitingOn, WaitKind
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

QUICK = """
process: quick
start: s
states:
  s:
    actions:
      - assign: {done: true}
variables:
  done: {type: boolean, default: false}
"""

FAN = """
process: fan
start: s
states:
  s:
    actions:
      - parallel:
          join: all
          branches:
            - - start_process: {process: quick, wait: true}
            - - start_process: {process: quick, wait: true}
            - - start_process: {process: quick, wait: true}
"""


def test_waiting_on_reads_every_part_of_a_merged_wait() -> None:
    merged = WaitingOn.parse("child:21,child:22,child:23,workitem:7,timer")
    assert merged.children == (21, 22, 23)
    assert merged.work_items == (7,)
    assert str(merged) == "child:21,child:22,child:23,workitem:7,timer"
    assert WaitingOn.parse(None) is None
    assert WaitingOn.parse("yield").is_yield
    many = WaitingOn.merge([WaitingOn.of(WaitKind.CHILD, 100000 + i) for i in range(40)])
    stored = WaitingOn.parse(str(many))
    assert stored is not None
    assert len(str(many)) <= 200  # the column's size, cut between parts: no id half-kept
    assert 0 < len(stored.children) < 40
    assert set(stored.children) <= set(many.children)


async def test_parallel_branches_each_waiting_on_a_child_complete_without_a_crash(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await publish(engine, tmp_path, QUICK, name="quick.yaml")
    await publish(engine, tmp_path, FAN, name="fan.yaml")
    await runtime(engine)
    with caplog.at_level(logging.ERROR, logger="switchyard"):
        parent = await engine.start_process("fan")
        row = await wait_status(engine, parent, "completed", "error", "cancelled")
    assert row["status"] == "completed", row["reason"]
    crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashes == []


TIMER = """
process: timer
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""


async def test_a_completed_instance_waits_on_nothing(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, TIMER)
    await runtime(engine)
    instance_id = await engine.start_process("timer")
    row = await wait_status(engine, instance_id, "waiting")
    assert row["waiting_on"]
    clock.at += timedelta(hours=2)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert row["waiting_on"] is None
    assert row["wake_at"] is None
    assert (await engine.instance_detail(instance_id)).waiting_on is None


async def test_a_cancelled_waiting_instance_waits_on_nothing(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, TIMER)
    await runtime(engine)
    instance_id = await engine.start_process("timer")
    await wait_status(engine, instance_id, "waiting")
    await engine.cancel(instance_id)
    row = await instance_row(engine, instance_id)
    assert (row["status"], row["waiting_on"], row["wake_at"]) == ("cancelled", None, None)


ASKING_CHILD = """
process: asker
start: s
states:
  s:
    actions:
      - send_work_item: {form: answer, to: {user: bob}}
forms:
  answer:
    fields: [{name: reply, type: text}]
    buttons:
      Send: []
"""

ASKING_PARENT = """
process: boss
start: s
states:
  s:
    actions:
      - start_process: {process: asker, wait: true}
"""


async def test_a_cancelled_child_waiting_on_a_work_item_withdraws_the_item(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, ASKING_CHILD, name="asker.yaml")
    await publish(engine, tmp_path, ASKING_PARENT, name="boss.yaml")
    await runtime(engine)
    parent = await engine.start_process("boss")

    async def the_item() -> tuple[int, int] | None:
        page = await engine.work_items("all")
        return (page.rows[0].instance_id, page.rows[0].id) if page.rows else None

    child, item_id = await until(the_item, what="the child's work item")
    await wait_status(engine, child, "waiting")
    await wait_status(engine, parent, "waiting")
    await engine.cancel(parent)
    row = await wait_status(engine, child, "cancelled", "error", "completed")
    assert row["status"] == "cancelled"
    assert (await engine.work_item(item_id)).item.status == "cancelled"
    assert (await engine.work_items("all")).counts["all"] == 0
    assert row["waiting_on"] is None
