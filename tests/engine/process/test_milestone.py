"""Issue 16, workflow pattern 18 (milestone): a work item or a wait guarded by
``when_milestone`` is offered only once the milestone is reached, and withdrawn when a
sibling branch leaves it (the item cancelled with the reason, completing it refused, the
step ended); milestones are journaled with the step that changes them, so a node killed
with ``kill -9`` resumes knowing them; unknown milestone names are refused at publish."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from engine.conftest import BASE
from engine.helpers import instance_row, until, wait_status
from engine.process.helpers import journal, publish
from engine.process.tools import CrashableNode, age_node, group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.errors import Withdrawn
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

FORM = """
forms:
  reroute:
    fields: [{name: route, type: text}]
    buttons:
      Ok:
        - assign: {rerouted: "{{ route }}"}
"""

AIRLINE = (
    """
process: airline
variables:
  rerouted: {type: string, default: ""}
  still_booked: {type: boolean}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - wait: {for: 1m}
              - milestone: booked
              - wait: {for: 1h}
              - milestone: {leave: booked}
              - log: ticket issued
            - - send_work_item: {form: reroute, to: {user: bob}}
                when_milestone: booked
              - assign: {still_booked: "{{ 'booked' in instance.milestones }}"}
      - log: done
"""
    + FORM
)

GUARDED_WAIT = """
process: guarded_wait
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - wait: {for: 10m}
              - milestone: open
              - wait: {for: 1h}
              - milestone: {leave: open}
            - - wait: {for: 2h}
                when_milestone: open
              - log: after the guarded wait
"""

NEVER = (
    """
process: never
variables:
  go: {type: boolean, default: false}
  rerouted: {type: string, default: ""}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - if: go
                then:
                  - milestone: booked
            - - send_work_item: {form: reroute, to: {user: bob}}
                when_milestone: booked
"""
    + FORM
)

GUARD = "0:s/0/b1/0"  # the guarded step's key in each definition above


async def _items(engine: Engine) -> list[int]:
    return [row.id for row in (await engine.work_items("all")).rows]


async def _history(engine: Engine, instance_id: int) -> list[tuple[str, dict[str, object]]]:
    return [(h.kind, dict(h.detail)) for h in (await engine.instance_detail(instance_id)).history]


async def test_a_guarded_item_is_offered_only_while_the_milestone_holds_and_withdrawn_when_left(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, AIRLINE)
    await runtime(engine)
    instance_id = await engine.start_process("airline")
    row = await wait_status(engine, instance_id, "waiting")
    assert await _items(engine) == []  # not offered before the milestone is reached
    assert "milestone" in (row["waiting_on"] or "")
    assert GUARD not in await journal(engine, instance_id)

    clock.at += timedelta(minutes=1, seconds=1)  # booked is reached
    item_id = (await until(lambda: _items(engine), what="the reroute item"))[0]
    await until(lambda: _waiting_on_timer(engine, instance_id), what="the instance to wait again")
    assert (await journal(engine, instance_id))[GUARD]["status"] == "started"

    clock.at += timedelta(hours=1, seconds=1)  # the ticket is issued: booked is left
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    item = (await engine.work_item(item_id)).item
    assert item.status == "cancelled"
    assert item.held_reason == "withdrawn: milestone 'booked' was left"
    with pytest.raises(Withdrawn) as refused:
        await engine.complete_work_item(item_id, "Ok", {"route": "AMS-CDG"})
    assert refused.value.exit_code == 4
    assert "milestone 'booked' was left" in str(refused.value)
    steps = await journal(engine, instance_id)
    assert steps[GUARD]["status"] == "skipped"
    assert steps[GUARD]["note"] == "withdrawn: milestone 'booked' was left"
    assert steps["0:s/0/b1/1"]["status"] == "done"  # the branch went on
    history = await _history(engine, instance_id)
    assert [d["op"] for k, d in history if k == "milestone"] == ["reached", "left"]
    assert any(k == "workitem" and d.get("op") == "withdrawn" for k, d in history)
    found = (await engine.instance_detail(instance_id)).variables
    assert found["rerouted"] == "" and found["still_booked"] is False


async def _waiting_on_timer(engine: Engine, instance_id: int) -> bool:
    row = await instance_row(engine, instance_id)
    return row["status"] == "waiting" and "timer" in (row["waiting_on"] or "")


async def test_an_item_completed_while_the_milestone_holds_counts(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, AIRLINE)
    await runtime(engine)
    instance_id = await engine.start_process("airline")
    await wait_status(engine, instance_id, "waiting")
    clock.at += timedelta(minutes=1, seconds=1)
    item_id = (await until(lambda: _items(engine), what="the reroute item"))[0]
    await engine.complete_work_item(item_id, "Ok", {"route": "AMS-CDG"})
    await until(lambda: _done(engine, instance_id, "0:s/0/b1/1"), what="the branch to go on")
    clock.at += timedelta(hours=1, seconds=1)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    found = (await engine.instance_detail(instance_id)).variables
    assert found["rerouted"] == "AMS-CDG" and found["still_booked"] is True
    assert (await journal(engine, instance_id))[GUARD]["status"] == "done"


async def _done(engine: Engine, instance_id: int, key: str) -> bool:
    return (await journal(engine, instance_id)).get(key, {}).get("status") == "done"


async def test_a_guarded_wait_starts_at_the_milestone_and_is_withdrawn_when_it_is_left(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, GUARDED_WAIT)
    await runtime(engine)
    start = clock.at
    instance_id = await engine.start_process("guarded_wait")
    await wait_status(engine, instance_id, "waiting")
    assert GUARD not in await journal(engine, instance_id)  # not before the milestone

    clock.at += timedelta(minutes=10, seconds=1)  # open is reached: the 2 h wait starts
    await until(lambda: _started(engine, instance_id), what="the guarded wait to start")
    until_at = (await journal(engine, instance_id))[GUARD]["decision"]["until"]
    assert until_at.startswith((start + timedelta(minutes=10, seconds=1, hours=2)).isoformat()[:16])

    clock.at += timedelta(hours=1)  # open is left after 1 h: the 2 h wait is withdrawn
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    steps = await journal(engine, instance_id)
    assert steps[GUARD]["status"] == "skipped"
    assert steps[GUARD]["note"] == "withdrawn: milestone 'open' was left"
    assert steps["0:s/0/b1/1"]["status"] == "done"


async def _started(engine: Engine, instance_id: int) -> bool:
    entry = (await journal(engine, instance_id)).get(GUARD)
    row = await instance_row(engine, instance_id)
    return entry is not None and entry["status"] == "started" and row["status"] == "waiting"


async def test_a_milestone_never_reached_gives_the_guarded_step_up(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, NEVER)
    await runtime(engine)
    instance_id = await engine.start_process("never")
    row = await wait_status(engine, instance_id, "completed", "error", "waiting")
    assert row["status"] == "completed", row["reason"]
    assert await _items(engine) == []
    steps = await journal(engine, instance_id)
    assert steps[GUARD]["status"] == "skipped"
    assert steps[GUARD]["note"] == "withdrawn: milestone 'booked' was never reached"


BAD_NAMES = (
    """
process: typo
variables:
  rerouted: {type: string}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - milestone: booked
              - milestone: {leave: boked}
            - - send_work_item: {form: reroute, to: {user: bob}}
                when_milestone: bookd
            - - log: no guard here
                when_milestone: booked
"""
    + FORM
)


async def test_unknown_milestone_names_and_misplaced_guards_are_refused_at_publish(
    engine: Engine, tmp_path: Path
) -> None:
    await engine.add_user("bob", licence="direct")
    with pytest.raises(DefinitionError) as caught:
        await publish(engine, tmp_path, BAD_NAMES)
    found = {(i.line, i.col, i.message) for i in caught.value.issues}
    assert (
        11,
        36,
        "unknown milestone 'boked' (did you mean 'booked'?): no action reaches it "
        "(reach it with '- milestone: NAME')",
    ) in found
    assert any((line, col) == (13, 33) and "milestone 'bookd'" in m for line, col, m in found)
    assert any(
        line == 15 and m == "when_milestone guards send_work_item or wait, not log"
        for line, _, m in found
    )
    assert len(found) == 3, found
    assert (await engine.processes()) == []


CRASHY = (
    """
process: crashy
variables:
  dir: {type: string, required: true}
  rerouted: {type: string, default: ""}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - milestone: booked
              - run:
                  command: [sh, -c, "[ -e {{ dir }}/go ] && exit 0; echo $$ > {{ dir }}/cmd.pid; exec sleep 30"]
                idempotent: true
              - milestone: {leave: booked}
            - - send_work_item: {form: reroute, to: {user: bob}}
                when_milestone: booked
"""
    + FORM
)


async def test_a_node_killed_9_while_the_milestone_holds_resumes_knowing_it(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, CRASHY)
    instance_id = await engine.start_process("crashy", {"dir": str(tmp_path)})
    async with CrashableNode(db_url, data_dir, tmp_path) as node:
        group = await read_pid(tmp_path / "cmd.pid", within=15)
        await until(lambda: _recorded(engine, instance_id, group), what="the group to be recorded")
        item_id = (await until(lambda: _items(engine), what="the reroute item"))[0]
        await node.crash()  # mid-command, the item open, booked reached and committed
    try:
        await age_node(engine, node.node_id, BASE - timedelta(hours=1))
        (tmp_path / "go").touch()
        await runtime(engine)  # restores it: the command runs again, then booked is left
        row = await wait_status(engine, instance_id, "completed", "error", within=10)
        assert row["status"] == "completed", row["reason"]
        await until(lambda: not group_alive(group), within=5, what="the orphan to die")
    finally:
        kill_group(group)
    item = (await engine.work_item(item_id)).item
    assert item.status == "cancelled"
    assert item.held_reason == "withdrawn: milestone 'booked' was left"  # not "never reached"
    history = await _history(engine, instance_id)
    assert [d["op"] for k, d in history if k == "milestone"] == ["reached", "left"]


async def _recorded(engine: Engine, instance_id: int, group: int) -> bool:
    """The node has recorded the command's group (it does so just after the spawn: a
    crash in between leaves an orphan the store does not know about)."""
    return bool((await instance_row(engine, instance_id))["pgid"] == group)
