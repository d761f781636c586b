"""Workflow patterns 18 (milestone) and 19 (cancel activity, the child form): a work
item is offered only while the instance is at a milestone and withdrawn when it is left;
a cancelled child lets its parent go on down the path the designer chose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import instance_rows, until, wait_status
from switchyard.engine.api import Engine
from switchyard.engine.errors import Withdrawn
from switchyard.engine.kernel.clock import SystemClock

from patterns.trace import StartRuntime, Trace, publish

OpenEngine = Callable[..., Awaitable[Engine]]

MILESTONE = """
process: p18-milestone
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - ACT(Book, Go)
              - milestone: booked
              - ACT(Hold, Release)
              - milestone: {leave: booked}
              - ACT(Issue)
            - - send_work_item: {form: reroute, to: {user: bob}}
                when_milestone: booked
              - ACT(Rerouted)
      - ACT(Done)
forms:
  reroute:
    fields: []
    buttons:
      Ok: []
"""

CHILD = """
process: p19-child
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

CANCEL_CHILD = """
process: p19-cancel-child
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
  stopped: {type: boolean, default: false}
start: s
states:
  s:
    actions:
      - start_process:
          process: p19-child
          vars: {act: "{{ act }}", trace: "{{ trace }}"}
          wait: true
          on_cancel: continue
          cancelled_into: stopped
      - if: "stopped"
        then: [ACT(Compensate)]
        else: [ACT(Ship)]
"""


def _say(trace: Trace, event: str) -> None:
    with trace.file.open("a") as fh:
        fh.write(f"{event}\n")


async def _items(engine: Engine) -> list[int]:
    return [r.id for r in (await engine.work_items("all")).rows]


async def _node(open_engine: OpenEngine, runtime: StartRuntime) -> Engine:
    engine = await open_engine(clock=SystemClock())
    await engine.add_lane("wide", 5)
    await engine.add_user("bob", licence="direct")
    await runtime(engine)
    return engine


@pytest.mark.parametrize("answered", [True, False], ids=["in-time", "too-late"])
async def test_p18_an_item_is_offered_only_while_the_milestone_holds(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path, answered: bool
) -> None:
    engine = await _node(open_engine, runtime)
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, MILESTONE)
    instance_id = await engine.start_process("p18-milestone", trace.vars)
    await trace.until("Book start")
    await wait_status(engine, instance_id, "running", "waiting")
    assert await _items(engine) == []  # the milestone is not reached yet: nothing offered
    _say(trace, "Go start")
    item_id = await until(lambda: _first(engine), what="the item, at the milestone")
    bob = await open_engine(user="bob", clock=SystemClock())
    if answered:
        await bob.complete_work_item(item_id, "Ok")
        await trace.until("Rerouted start")
    _say(trace, "Release start")  # the other branch goes on and leaves the milestone
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", (row["reason"], trace.events())
    if answered:
        assert trace.at("Rerouted start") < trace.at("Issue start")
    else:
        item = (await engine.work_item(item_id)).item
        assert item.status == "cancelled" and "booked" in (item.held_reason or "")
        with pytest.raises(Withdrawn):
            await bob.complete_work_item(item_id, "Ok")
    assert trace.count("Done start") == 1


async def _first(engine: Engine) -> int | None:
    items = await _items(engine)
    return items[0] if items else None


async def test_p19_a_cancelled_child_lets_the_parent_go_on(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await _node(open_engine, runtime)
    trace = Trace(tmp_path)
    for text in (CHILD, CANCEL_CHILD):
        await publish(engine, tmp_path, text)
    parent = await engine.start_process("p19-cancel-child", trace.vars)
    await trace.until("ChildWork start")
    child = next(r for r in await instance_rows(engine) if r["process"] == "p19-child")
    await engine.cancel(child["id"])
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert "ChildWork end" not in trace.events()
    assert trace.started() == ["ChildWork", "Compensate"]  # the path chosen for a cancel
