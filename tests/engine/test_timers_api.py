"""Timers through the engine API: one list of waits, work item timers and schedule fires;
forced runs scoped to a process, instance, work item or schedule; never two runs of one
timer at once; rights. The clock stands still: only forced runs make timers fire."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import NotFound, Refused
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.node.timers import TimersApi
from switchyard.store.queries import timers as timer_q

from engine.helpers import BASE, instance_row, instance_rows, schedule_row, spec, until, wait_status

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

SLEEPER = """
process: sleeper
variables:
  woke: {type: boolean, default: false}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
      - assign: {woke: true}
      - end_process: rested
"""

POLLER = """
process: poller
variables:
  ready: {type: boolean, default: false}
start: s
states:
  s:
    actions:
      - wait: {condition: "ready", every: 10m}
"""

CHASE = """
process: chase
variables:
  chased: {type: integer}
start: ask
states:
  ask:
    actions:
      - send_work_item:
          form: answer
          to: {user: bob}
          due: 1h
          reminders: [10m]
          escalate: {after: 2h, to: {workgroup: managers}, actions: [assign: {chased: 1}]}
      - end_process: answered
forms:
  answer:
    fields: [{name: reply, type: text}]
    buttons:
      Send: []
"""


async def publish(engine: Engine, tmp_path: Path, text: str) -> None:
    path = tmp_path / f"{text.split()[1]}.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    await engine.publish([path])


async def setup(open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path) -> Engine:
    root = await open_engine()
    await root.add_user("bob", licence="group")
    await root.add_group("managers")
    await root.add_member("managers", "bob")
    for text in (SLEEPER, POLLER, CHASE):
        await publish(root, tmp_path, text)
    await root.add_schedule(spec("nightly", every="1h"))
    await runtime(root)
    return root


async def waiting(engine: Engine, process: str, variables: dict[str, Any] | None = None) -> int:
    instance_id = await engine.start_process(process, variables or {})
    row = await wait_status(engine, instance_id, "waiting", "error", "completed")
    assert row["status"] == "waiting", row["reason"]
    return instance_id


async def the_item(engine: Engine, instance_id: int) -> int:
    page = await engine.work_items("all")
    return next(r.id for r in page.rows if r.instance_id == instance_id)


async def test_one_list_of_waits_work_item_timers_and_schedule_fires(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    sleeper = await waiting(root, "sleeper")
    poller = await waiting(root, "poller")
    chase = await waiting(root, "chase")
    item = await the_item(root, chase)

    timers = await root.timers()
    assert [(t.key, t.what, t.due_at, t.due) for t in timers] == [
        (f"instance:{poller}", "condition", BASE + timedelta(minutes=10), False),
        (f"workitem:{item}", "reminder", BASE + timedelta(minutes=10), False),
        (f"instance:{sleeper}", "wait", BASE + timedelta(hours=1), False),
        ("schedule:nightly", "fire", BASE + timedelta(hours=1), False),
    ]
    assert (timers[1].process, timers[1].instance_id, timers[1].workitem_id) == (
        "chase",
        chase,
        item,
    )
    assert [t.key for t in await root.timers(process="chase")] == [f"workitem:{item}"]
    assert [t.key for t in await root.timers(instance_id=sleeper)] == [f"instance:{sleeper}"]
    assert [t.key for t in await root.timers(workitem_id=item)] == [f"workitem:{item}"]
    assert [t.key for t in await root.timers(schedule="nightly")] == ["schedule:nightly"]
    assert await root.timers(due_only=True) == []
    page = await root.timers(limit=2)
    assert [t.key for t in await root.timers(after=page[-1].cursor)] == [t.key for t in timers[2:]]

    # only what the caller may view: carol sees the sleeper; schedules need monitor
    await root.add_user("carol", licence="direct")
    await root.add_user("mona", licence="monitor")
    await root.grant("sleeper", "carol", view=True)
    carol, mona = await open_engine(user="carol"), await open_engine(user="mona")
    assert [t.key for t in await carol.timers()] == [f"instance:{sleeper}"]
    assert [t.key for t in await mona.timers()] == ["schedule:nightly"]


async def test_forced_runs_touch_only_their_scope(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    first, second = await waiting(root, "sleeper"), await waiting(root, "sleeper")
    poller = await waiting(root, "poller")
    fire_before = (await schedule_row(root, "nightly"))["next_fire_at"]

    result = await root.run_timers(instance_id=first)
    assert (result.fired, result.already_running, result.skipped) == ([f"instance:{first}"], [], {})
    assert result.notes == {f"instance:{first}": "woken"}
    row = await wait_status(root, first, "completed", "error", "waiting")
    assert (row["status"], row["outcome"]) == ("completed", "rested"), row["reason"]
    assert (await root.instance_detail(first)).variables["woke"] is True
    history = [(h.kind, h.user, h.detail) for h in (await root.instance_detail(first)).history]
    assert ("timer", root.user, {"op": "forced", "what": "wait"}) in history
    # the others keep waiting as they were
    assert (await instance_row(root, second))["wake_at"] == BASE + timedelta(hours=1)
    assert (await instance_row(root, poller))["status"] == "waiting"
    assert [r for r in await instance_rows(root) if r["schedule_name"] == "nightly"] == []
    assert (await schedule_row(root, "nightly"))["next_fire_at"] == fire_before

    # a condition is checked again now (still false: it waits for its next check)
    result = await root.run_timers(process="poller")
    assert result.fired == [f"instance:{poller}"]
    assert result.notes[f"instance:{poller}"] == "woken to check its condition"

    async def rechecked() -> bool:
        r = await instance_row(root, poller)
        return r["status"] == "waiting" and r["wake_at"] is not None

    await until(rechecked, what="the condition checked again")
    assert (await instance_row(root, second))["status"] == "waiting"

    # a schedule fires once now; its next regular fire does not move
    result = await root.run_timers(schedule="nightly")
    assert result.fired == ["schedule:nightly"]
    runs = [r for r in await instance_rows(root) if r["schedule_name"] == "nightly"]
    assert (
        len(runs) == 1 and result.notes["schedule:nightly"] == f"instance {runs[0]['id']} started"
    )
    assert (await schedule_row(root, "nightly"))["next_fire_at"] == fire_before

    result = await root.run_timers(process="sleeper")
    assert result.fired == [f"instance:{second}"]
    row = await wait_status(root, second, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    with pytest.raises(NotFound, match="unknown instance 999"):
        await root.run_timers(instance_id=999)


async def test_a_forced_work_item_escalation(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    chase = await waiting(root, "chase")
    item = await the_item(root, chase)
    key = f"workitem:{item}"
    notes = []
    for _ in range(3):  # each run fires the item's next pending timer
        result = await root.run_timers(workitem_id=item)
        assert result.fired == [key], result
        notes.append(result.notes[key])
    assert notes == ["reminder", "work item due", "escalation"]
    assert (await root.run_timers(workitem_id=item)).fired == []  # none left
    view = (await root.work_item(item)).item
    assert (view.status, view.workgroup, view.user, view.escalated) == (
        "queued",
        "managers",
        None,
        True,
    )
    assert view.due_at == BASE  # a forced due date is now

    async def escalated() -> bool:
        detail = await root.instance_detail(chase)
        return detail.variables.get("chased") == 1 and detail.instance.status == "waiting"

    await until(escalated, what="the escalation's actions ran")
    history = (await root.instance_detail(chase)).history
    forced = [h.detail["op"] for h in history if h.kind == "workitem" and h.detail.get("forced")]
    assert forced == ["reminder", "due", "escalate"]


async def test_a_timer_never_runs_twice_at_once(
    open_engine: OpenEngine,
    runtime: StartRuntime,
    tmp_path: Path,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    sleeper = await waiting(root, "sleeper")
    key = f"instance:{sleeper}"

    # a run held by a live (recent) run elsewhere: "already running", nothing done
    async with root.store.write() as conn:
        assert await timer_q.claim_run(
            conn, key, node_id="elsewhere-1-abcdef", login="ann", now=clock.now()
        )
    result = await root.run_timers(instance_id=sleeper)
    assert (result.fired, result.already_running) == ([], [key])
    assert (await instance_row(root, sleeper))["status"] == "waiting"
    # ten minutes on, still young enough to wait for
    clock.at += timedelta(minutes=9)
    assert (await root.run_timers(instance_id=sleeper)).already_running == [key]
    # an abandoned run (old, its node dead) is taken over
    clock.at += timedelta(minutes=2)
    result = await root.run_timers(instance_id=sleeper)
    assert (result.fired, result.already_running) == ([key], [])
    row = await wait_status(root, sleeper, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    async with root.store.read() as conn:
        assert await timer_q.runs(conn) == []  # released when done

    # two runs at once from two processes: the second finds the first under way
    other = await waiting(root, "sleeper")
    gate, entered = asyncio.Event(), asyncio.Event()
    fire = TimersApi._fire_one

    async def gated(self: Engine, me: Any, row: dict[str, Any]) -> str:
        entered.set()
        await gate.wait()
        return await fire(self, me, row)

    monkeypatch.setattr(Engine, "_fire_one", gated)
    second_engine = await open_engine()
    first_run = asyncio.create_task(root.run_timers(instance_id=other))
    await asyncio.wait_for(entered.wait(), 10)
    result = await second_engine.run_timers(instance_id=other)
    assert (result.fired, result.already_running) == ([], [f"instance:{other}"])
    gate.set()
    assert (await first_run).fired == [f"instance:{other}"]
    assert (await wait_status(root, other, "completed", "error"))["status"] == "completed"


async def test_forcing_needs_the_manage_right_or_the_designer_licence(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    sleeper = await waiting(root, "sleeper")
    chase = await waiting(root, "chase")
    item = await the_item(root, chase)
    await root.add_user("carol", licence="monitor")
    await root.add_user("dave", licence="direct")
    await root.grant("sleeper", "carol", view=True, manage=True)
    await root.grant("chase", "carol", view=True)
    carol, dave = await open_engine(user="carol"), await open_engine(user="dave")

    with pytest.raises(Refused, match=r"dave may not force the timers of instance \d+ of sleeper"):
        await dave.run_timers(instance_id=sleeper)
    with pytest.raises(Refused, match="needs the manage right on sleeper"):
        await dave.run_timers(process="sleeper")
    with pytest.raises(
        Refused, match=f"work item {item} of chase: needs the manage right on chase"
    ):
        await carol.run_timers(workitem_id=item)
    with pytest.raises(Refused, match="carol needs the designer licence"):
        await carol.run_timers(schedule="nightly")
    audit = await root.audit()
    assert any(a.action == "refused" and a.detail.get("needs") == "manage" for a in audit)
    assert (await instance_row(root, sleeper))["status"] == "waiting"

    # all timers: carol forces what she manages, the rest is skipped and says why
    result = await carol.run_timers()
    assert result.fired == [f"instance:{sleeper}"]
    assert result.skipped == {
        f"workitem:{item}": "needs the manage right on chase",
        "schedule:nightly": "needs the designer licence",
    }
    assert (await wait_status(root, sleeper, "completed", "error"))["status"] == "completed"
    assert (await dave.run_timers()).fired == []  # he sees none of them
