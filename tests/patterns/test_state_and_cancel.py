"""Workflow patterns 16 (deferred choice), 19 (cancel activity) and 20 (cancel case): the
choice is made by the environment (whoever answers first), the losing offer is withdrawn,
and cancelling leaves nothing running (commands killed, children cancelled, items
withdrawn)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import instance_rows, until, wait_status
from switchyard.engine.api import Engine
from switchyard.engine.errors import Withdrawn
from switchyard.engine.kernel.clock import SystemClock

from patterns.trace import StartRuntime, Trace, publish

OpenEngine = Callable[..., Awaitable[Engine]]

FORMS = """
forms:
  offer:
    fields: []
    buttons:
      Take: []
  stop:
    fields: []
    buttons:
      Cancel: []
"""

DEFERRED = (
    """
process: p16-deferred
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - send_work_item: {form: offer, to: {user: bob}}
              - ACT(ByBob)
            - - send_work_item: {form: offer, to: {user: carol}}
              - ACT(ByCarol)
      - ACT(After)
"""
    + FORMS
)

CANCEL_ACTIVITY = (
    """
process: p19-cancel-activity
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - ACT(Work, Never)
            - - send_work_item: {form: stop, to: {user: bob}}
      - ACT(After)
"""
    + FORMS
)

CHILD = """
process: p20-child
lane: wide
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
start: s
states:
  s:
    actions:
      - run: {command: [sh, "{{ act }}", "{{ trace }}", ChildWork, Never]}
"""

CASE = (
    """
process: p20-case
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          join: all
          branches:
            - - ACT(Work, Never)
            - - start_process: {process: p20-child, vars: {act: "{{ act }}", trace: "{{ trace }}"}, wait: true}
            - - send_work_item: {form: offer, to: {user: bob}}
      - ACT(After)
"""
    + FORMS
)


async def _items(engine: Engine, count: int) -> dict[str, int]:
    async def probe() -> dict[str, int] | None:
        rows = (await engine.work_items("all")).rows
        return {f"{r.form}:{r.user}": r.id for r in rows} if len(rows) >= count else None

    return await until(probe, what=f"{count} work items")


async def _node(open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path) -> Engine:
    engine = await open_engine(clock=SystemClock())
    await engine.add_lane("wide", 5)
    for login in ("bob", "carol"):
        await engine.add_user(login, licence="direct")
    await runtime(engine)
    return engine


async def test_p16_deferred_choice_the_first_answer_wins_and_the_other_offer_is_withdrawn(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await _node(open_engine, runtime, tmp_path)
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, DEFERRED)
    instance_id = await engine.start_process("p16-deferred", trace.vars)
    items = await _items(engine, 2)  # both offered: the choice is not made yet
    carol = await open_engine(user="carol", clock=SystemClock())
    await carol.complete_work_item(items["offer:carol"], "Take")
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert trace.started() == ["ByCarol", "After"]
    assert (await engine.work_item(items["offer:bob"])).item.status == "cancelled"
    bob = await open_engine(user="bob", clock=SystemClock())
    with pytest.raises(Withdrawn):
        await bob.complete_work_item(items["offer:bob"], "Take")


async def test_p19_cancel_activity_a_button_cancels_the_running_activity(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await _node(open_engine, runtime, tmp_path)
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, CANCEL_ACTIVITY)
    instance_id = await engine.start_process("p19-cancel-activity", trace.vars)
    await trace.until("Work start")
    items = await _items(engine, 1)
    bob = await open_engine(user="bob", clock=SystemClock())
    await bob.complete_work_item(items["stop:bob"], "Cancel")
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert "Work end" not in trace.events() and "Work lonely" not in trace.events()
    assert trace.started() == ["Work", "After"]


async def test_p20_cancel_case_stops_commands_children_and_items(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await _node(open_engine, runtime, tmp_path)
    trace = Trace(tmp_path)
    for text in (CHILD, CASE):
        await publish(engine, tmp_path, text)
    instance_id = await engine.start_process("p20-case", trace.vars)
    await trace.until("Work start")
    await trace.until("ChildWork start")
    items = await _items(engine, 1)
    await engine.cancel(instance_id)
    row = await wait_status(engine, instance_id, "cancelled")
    assert row["status"] == "cancelled"
    child = next(r for r in await instance_rows(engine) if r["process"] == "p20-child")
    assert (await wait_status(engine, child["id"], "cancelled"))["status"] == "cancelled"
    assert (await engine.work_item(items["offer:bob"])).item.status == "cancelled"
    # nothing of the case runs on: neither activity ever ends, After never starts
    await until(lambda: _no_act_running(tmp_path), what="no act.sh left")
    assert "After start" not in trace.events()
    assert "Work end" not in trace.events() and "ChildWork end" not in trace.events()


async def _no_act_running(root: Path) -> bool | None:
    script = str(root / "act.sh")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if script.encode() in cmdline:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
            if state != "Z":
                return None
    return True
