"""Process instances run through the real node: control flow, tasks, loops, parallel
branches, waits, children, variables — every step journaled once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from engine.helpers import wait_status
from engine.process.helpers import journal, publish, variables
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

COUNTER = """
process: counter
variables:
  n: {type: integer, default: 5}
  count: {type: integer, default: 0}
  parity: {type: string}
start: counting
states:
  counting:
    actions:
      - loop:
          while: "count < n"
          max: 100
          do:
            - assign: {count: "{{ count + 1 }}"}
      - if: "count % 2 == 0"
        then:
          - assign: {parity: even}
        else:
          - assign: {parity: odd}
      - change_state: done
  done:
    actions:
      - end_process: "counted {{ count }}"
"""


async def test_a_loop_counts_in_committed_steps_and_the_instance_completes(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, COUNTER)
    await runtime(engine)
    instance_id = await engine.start_process("counter", {"n": "7"})
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert row["outcome"] == "counted 7"
    assert await variables(engine, instance_id) == {"n": 7, "count": 7, "parity": "odd"}
    steps = await journal(engine, instance_id)
    increments = [k for k, s in steps.items() if s["kind"] == "assign" and "/0/" in k]
    assert len(increments) == 7  # each pass once, keyed apart
    assert all(s["status"] == "done" for s in steps.values())
    detail = await engine.instance_detail(instance_id)
    assert [h.kind for h in detail.history][:1] == ["started"]
    assert detail.history[-1].kind == "completed"
    assert any(h.kind == "state" and h.detail["to"] == "done" for h in detail.history)


TASKS = """
process: shipping
variables:
  weight: {type: decimal, required: true}
  tier: {type: string, default: standard}
  price: {type: decimal}
  items: {type: list, default: [a, b, c]}
  seen: {type: string, default: ""}
start: quote
tasks:
  price_for:
    inputs:
      kg: {type: decimal, required: true}
      rate: {type: decimal, required: true}
    outputs:
      total: {type: decimal}
    variables:
      base: {type: decimal, default: "2.50"}
    actions:
      - assign: {total: "{{ base + kg * rate }}"}
states:
  quote:
    actions:
      - switch: tier
        cases:
          express:
            - call: {task: price_for, with: {kg: "{{ weight }}", rate: "3"}, into: {price: total}}
        default:
          - call: {task: price_for, with: {kg: "{{ weight }}", rate: "1.5"}, into: {price: total}}
      - loop:
          for_each: items
          as: item
          do:
            - assign: {seen: "{{ seen ~ item }}"}
"""


async def test_switch_task_calls_and_for_each(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, TASKS)
    await runtime(engine)
    express = await engine.start_process("shipping", {"weight": "2", "tier": "express"})
    standard = await engine.start_process("shipping", {"weight": "2"})
    for instance_id in (express, standard):
        row = await wait_status(engine, instance_id, "completed", "error")
        assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, express))["price"] == "8.50"
    assert (await variables(engine, standard))["price"] == "5.50"
    assert (await variables(engine, standard))["seen"] == "abc"
    assert "__frames__" not in (await engine.instance(standard)).__dict__


PARALLEL = """
process: fanout
variables:
  a: {type: integer, default: 0}
  b: {type: integer, default: 0}
  c: {type: integer, default: 0}
  winner: {type: string}
start: go
states:
  go:
    actions:
      - parallel:
          join: all
          branches:
            - [assign: {a: 1}]
            - [assign: {b: 2}]
            - {when: "a > 100", do: [assign: {c: 3}]}
      - parallel:
          join: first
          branches:
            - [assign: {winner: quick}]
            - [wait: {for: 1h}, assign: {winner: slow}]
"""


async def test_parallel_join_all_multi_choice_and_join_first(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, PARALLEL)
    await runtime(engine)
    instance_id = await engine.start_process("fanout")
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert await variables(engine, instance_id) == {"a": 1, "b": 2, "c": 0, "winner": "quick"}


WAITS = """
process: sleeper
variables:
  ready: {type: boolean, default: false}
  note: {type: string}
start: s
states:
  s:
    actions:
      - wait: {for: 10m}
      - assign: {note: woke}
"""


async def test_a_wait_leaves_the_lane_and_a_due_timer_resumes_it(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, WAITS)
    await runtime(engine)
    instance_id = await engine.start_process("sleeper")
    row = await wait_status(engine, instance_id, "waiting", "error")
    assert row["status"] == "waiting", row["reason"]
    assert row["waiting_on"] == "timer"
    assert row["wake_at"] == clock.at + timedelta(minutes=10)
    assert row["node_id"] == engine.node_id  # owned while waiting (node list), no lane slot
    clock.at += timedelta(minutes=11)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, instance_id))["note"] == "woke"


CHILDREN = """
process: parent
variables:
  got: {type: integer}
start: s
states:
  s:
    actions:
      - start_process: {process: child, vars: {x: 20}, wait: true, into: {got: y}}
"""

CHILD = """
process: child
variables:
  x: {type: integer, required: true}
  y: {type: integer}
start: s
states:
  s:
    actions:
      - assign: {y: "{{ x * 2 }}"}
"""


async def test_a_parent_waits_for_its_child_and_takes_its_outputs(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    (tmp_path / "c.yaml").write_text(CHILD.lstrip())
    (tmp_path / "p.yaml").write_text(CHILDREN.lstrip())
    await engine.publish([tmp_path / "c.yaml", tmp_path / "p.yaml"])
    await runtime(engine)
    parent = await engine.start_process("parent")
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, parent))["got"] == 40
    detail = await engine.instance_detail(parent)
    assert len(detail.children) == 1
    child = await engine.instance_detail(detail.children[0])
    assert child.parent_id == parent and child.instance.status == "completed"


FAILING = """
process: flaky
variables:
  limit: {type: integer, default: 0}
  after: {type: string}
start: s
states:
  s:
    actions:
      - if: "limit < 3"
        then:
          - raise: "limit {{ limit }} is too low"
      - assign: {after: "went on with {{ limit }}"}
"""


async def test_error_then_retry_with_a_variable_edit_or_skip(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FAILING)
    await runtime(engine)
    first = await engine.start_process("flaky")
    row = await wait_status(engine, first, "error", "completed")
    assert row["status"] == "error"
    assert "limit 0 is too low" in row["reason"]
    assert row["error_step"] == "0:s/0/then/0"
    # retry the failed step after fixing the variable: raise runs again and fails again,
    # because the `if` keeps the branch it chose (decisions are not re-evaluated)
    await engine.retry(first, {"limit": "5"})
    row = await wait_status(engine, first, "error", "completed")
    assert row["status"] == "error"
    assert "limit 5 is too low" in row["reason"]
    await engine.skip(first)
    row = await wait_status(engine, first, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, first))["after"] == "went on with 5"
    kinds = [h.kind for h in (await engine.instance_detail(first)).history]
    assert kinds.count("error") == 2 and "retry" in kinds and "skip" in kinds
    who = [h.user for h in (await engine.instance_detail(first)).history if h.kind == "retry"]
    assert who == [engine.user]


async def test_versions_published_on_change_only_and_instances_keep_theirs(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    first = await publish(engine, tmp_path, WAITS)
    same = await publish(engine, tmp_path, WAITS)
    assert (first.version, first.changed) == (1, True)
    assert (same.version, same.changed) == (1, False)
    await runtime(engine)
    old = await engine.start_process("sleeper")
    await wait_status(engine, old, "waiting")
    second = await publish(engine, tmp_path, WAITS.replace("woke", "woke up"))
    assert (second.version, second.changed) == (2, True)
    new = await engine.start_process("sleeper")
    pinned = await engine.start_process("sleeper", version=1)
    assert (await engine.instance_detail(old)).version == 1
    assert (await engine.instance_detail(new)).version == 2
    assert (await engine.instance_detail(pinned)).version == 1
    assert [p.versions for p in await engine.processes()] == [2]
