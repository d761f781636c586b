"""Waits: on a condition (re-checked, timing out), until a time, for nothing at all, and
several at once in parallel branches. The clock only moves when the test moves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from engine.helpers import BASE, instance_row, until, wait_status
from engine.process.helpers import journal, publish, variables
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

CONDITION = """
process: poller
variables:
  ready: {type: boolean, default: false}
  after: {type: string}
start: s
states:
  s:
    actions:
      - wait: {condition: "ready", every: 1s, timeout: 10s}
      - assign: {after: passed}
"""


async def test_a_condition_that_never_holds_times_out_in_error(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, CONDITION)
    await runtime(engine)
    instance_id = await engine.start_process("poller")
    row = await wait_status(engine, instance_id, "waiting", "error")
    assert row["status"] == "waiting", row["reason"]
    assert row["waiting_on"] == "condition"
    assert row["wake_at"] == BASE + timedelta(seconds=1)
    assert row["node_id"] == engine.node_id  # its node owns it while it waits
    # a re-check before the deadline: still false, waits again (next check 1 s later)
    clock.at = BASE + timedelta(seconds=4)

    async def rechecked() -> dict | None:
        r = await instance_row(engine, instance_id)
        return r if r["status"] == "waiting" and r["wake_at"] > clock.at else None

    row = await until(rechecked, what="the condition to be re-checked")
    assert row["wake_at"] == BASE + timedelta(seconds=5)
    # the last check is never later than the deadline
    clock.at = BASE + timedelta(seconds=9, milliseconds=500)
    row = await until(rechecked, what="the check before the deadline")
    assert row["wake_at"] == BASE + timedelta(seconds=10)
    clock.at = BASE + timedelta(seconds=11)
    row = await wait_status(engine, instance_id, "error", "completed")
    assert row["status"] == "error"
    assert "timed out" in row["reason"]
    assert row["error_step"] == "0:s/0"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["status"] == "error"
    assert "timed out" in steps["0:s/0"]["error"]
    assert "0:s/1" not in steps
    assert (await variables(engine, instance_id))["after"] is None


async def test_a_condition_that_holds_at_once_never_leaves_the_lane(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, CONDITION)
    await runtime(engine)
    instance_id = await engine.start_process("poller", {"ready": "true"})
    row = await wait_status(engine, instance_id, "completed", "error", "waiting")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, instance_id))["after"] == "passed"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["status"] == "done"
    assert row["wake_at"] is None


TIMES = """
process: alarm
variables:
  when: {type: datetime}
  note: {type: string}
start: s
states:
  s:
    actions:
      - wait: {until: "2027-03-01T08:00:00+00:00"}
      - assign: {note: fixed}
      - wait: {until: "{{ when }}"}
      - assign: {note: "from variable"}
      - wait: {until: "2027-03-01T07:00:00"}
      - assign: {note: done}
"""


async def test_waits_until_a_literal_time_a_variable_time_and_a_past_time(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, TIMES)
    await runtime(engine)
    when = BASE + timedelta(hours=5)
    instance_id = await engine.start_process("alarm", {"when": when.isoformat()})
    row = await wait_status(engine, instance_id, "waiting", "error")
    assert row["status"] == "waiting", row["reason"]
    assert (row["waiting_on"], row["wake_at"]) == ("timer", datetime(2027, 3, 1, 8, tzinfo=UTC))
    clock.at = datetime(2027, 3, 1, 7, 59, 59, tzinfo=UTC)  # a second early: nothing moves
    sentinel = await engine.start_process("alarm", {"when": BASE.isoformat()})
    await wait_status(engine, sentinel, "waiting")
    assert (await instance_row(engine, instance_id))["status"] == "waiting"
    clock.at = datetime(2027, 3, 1, 8, tzinfo=UTC)

    async def on_second_wait() -> dict | None:
        r = await instance_row(engine, instance_id)
        return r if r["status"] == "waiting" and r["wake_at"] == when else None

    await until(on_second_wait, what="the wait on the variable's time")
    assert (await variables(engine, instance_id))["note"] == "fixed"
    clock.at = when
    # 07:00 (naive: UTC) is past by then: no wait
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, instance_id))["note"] == "done"
    steps = await journal(engine, instance_id)
    assert all(s["status"] == "done" for s in steps.values())
    history = (await engine.instance_detail(instance_id)).history
    assert history[0].kind == "started" and history[-1].kind == "completed"


ZERO = """
process: zero
start: s
states:
  s:
    actions:
      - wait: {until: "2000-01-01T00:00:00Z"}
      - end_process: "no wait"
"""


async def test_a_wait_of_zero_is_refused_and_a_wait_until_the_past_does_not_suspend(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    for zero in ("0", "0s"):
        text = ZERO.replace('{until: "2000-01-01T00:00:00Z"}', f"{{for: {zero}}}")
        with pytest.raises(DefinitionError, match=r"states\.s\.actions\[0\]\.wait\.for.*zero"):
            await publish(engine, tmp_path, text)
    assert await engine.processes() == []
    await publish(engine, tmp_path, ZERO)
    await runtime(engine)
    instance_id = await engine.start_process("zero")
    row = await wait_status(engine, instance_id, "completed", "error", "waiting")
    assert row["status"] == "completed", row["reason"]
    assert row["outcome"] == "no wait"
    assert row["waiting_on"] is None


BAD_UNTIL = """
process: badtime
variables:
  at: {type: string, default: "next tuesday"}
  zero: {type: integer, default: 0}
  mode: {type: string, default: time}
start: s
states:
  s:
    actions:
      - if: "mode == 'time'"
        then:
          - wait: {until: "{{ at }}"}
        else:
          - wait: {condition: "1 / zero == 1", every: 1s}
"""


async def test_a_wait_until_a_value_that_is_not_a_time_fails_the_step(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, BAD_UNTIL)
    await runtime(engine)
    bad_time = await engine.start_process("badtime")
    bad_condition = await engine.start_process("badtime", {"mode": "condition"})
    row = await wait_status(engine, bad_time, "error", "completed", "waiting")
    assert row["status"] == "error"
    assert "not a time" in row["reason"]
    assert "next tuesday" not in row["reason"]  # values never go into the journal
    assert row["error_step"] == "0:s/0/then/0"
    # a condition that divides by zero: an error, not a wait for ever
    row = await wait_status(engine, bad_condition, "error", "completed", "waiting")
    assert row["status"] == "error", row["reason"]
    assert "division by zero" in row["reason"]
    assert row["error_step"] == "0:s/0/else/0"


PARALLEL_WAITS = """
process: two_timers
variables:
  a: {type: string}
  b: {type: string}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - [wait: {for: 10m}, assign: {a: woke}]
            - [wait: {for: 20m}, assign: {b: woke}]
      - end_process: both
"""


async def test_parallel_waits_suspend_until_the_earliest_and_resume_only_what_is_left(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, PARALLEL_WAITS)
    await runtime(engine)
    instance_id = await engine.start_process("two_timers")
    row = await wait_status(engine, instance_id, "waiting", "error")
    assert row["status"] == "waiting", row["reason"]
    assert row["wake_at"] == BASE + timedelta(minutes=10)
    clock.at = BASE + timedelta(minutes=10)

    async def second() -> dict | None:
        r = await instance_row(engine, instance_id)
        ok = r["status"] == "waiting" and r["wake_at"] == BASE + timedelta(minutes=20)
        return r if ok else None

    await until(second, what="the second timer")
    assert await variables(engine, instance_id) == {"a": "woke", "b": None}
    clock.at = BASE + timedelta(minutes=20)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert await variables(engine, instance_id) == {"a": "woke", "b": "woke"}
    steps = await journal(engine, instance_id)
    assigns = [k for k, s in steps.items() if s["kind"] == "assign"]
    assert sorted(assigns) == ["0:s/0/b0/1", "0:s/0/b1/1"]  # each once
