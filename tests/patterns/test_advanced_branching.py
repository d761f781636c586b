"""Workflow patterns 8 (multi-merge), 9 (discriminator, the original non-cancelling form),
14 and 15 (multiple instances with run-time knowledge, and without a-priori knowledge)
and 17 (interleaved parallel routing), on a real node with real commands."""

from __future__ import annotations

from pathlib import Path

from engine.helpers import wait_status
from switchyard.engine.api import Engine

from patterns.trace import StartRuntime, Trace, publish

HEAD = """
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
  orders: {type: list, default: [o1, o2, o3, o4, o5]}
  pairs: {type: map, default: {o1: o2, o2: o1, o3: o4, o4: o3, o5: "-"}}
start: s
"""

MULTI_MERGE = (
    """
process: p08-multi-merge
states:
  s:
    actions:
      - parallel:
          join: each
          branches:
            - - ACT(B1, Tail)
            - - ACT(B2)
          then: [ACT(Tail)]
      - ACT(Done)
"""
    + HEAD
)

DISCRIMINATOR = (
    """
process: p09-discriminator
states:
  s:
    actions:
      - parallel:
          join: first
          cancel_rest: false
          branches:
            - - ACT(Fast)
            - - ACT(Slow, Tail)
          then: [ACT(Tail)]
      - ACT(Done)
"""
    + HEAD
)

RUN_TIME = (
    """
process: p14-run-time
states:
  s:
    actions:
      - loop:
          for_each: orders
          as: o
          parallel: true
          max_concurrency: 2
          do:
            - run: {command: [sh, "{{ act }}", "{{ trace }}", "{{ o }}", "{{ pairs[o] }}"]}
      - ACT(Done)
"""
    + HEAD
)

NO_A_PRIORI = (
    """
process: p15-no-a-priori
states:
  s:
    actions:
      - loop:
          for_each: orders
          as: o
          parallel: true
          grows: true
          max: 10
          do:
            - run: {command: [sh, "{{ act }}", "{{ trace }}", "{{ o }}"]}
            - if: "o == 'o1'"
              then: [assign: {orders: "{{ orders + ['late'] }}"}]
      - ACT(Done)
"""
    + HEAD
)

INTERLEAVED = (
    """
process: p17-interleaved
states:
  s:
    actions:
      - parallel:
          interleaved: true
          branches:
            - - ACT(A1, -, 0.1)
              - ACT(A2, -, 0.1)
            - - ACT(B1, -, 0.1)
            - - ACT(C1, -, 0.1)
      - ACT(Done)
"""
    + HEAD
)


async def _run(engine: Engine, runtime: StartRuntime, tmp_path: Path, text: str) -> Trace:
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, text)
    await runtime(engine)
    name = text.split("process:", 1)[1].split()[0]
    instance_id = await engine.start_process(name, trace.vars)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", (row["reason"], trace.events())
    return trace


def _overlap(trace: Trace, names: list[str]) -> int:
    """The most activities among ``names`` under way at once."""
    running = peak = 0
    for event in trace.events():
        name, what = event.split()
        if name in names:
            running += 1 if what == "start" else -1
            peak = max(peak, running)
    return peak


async def test_p08_multi_merge_runs_the_tail_once_per_arriving_branch(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _run(engine, runtime, tmp_path, MULTI_MERGE)
    # B1 only ends once a tail has started: B2's, run while B1 was still running
    assert trace.count("Tail start") == 2  # once per branch, the siblings not killed
    tails = [i for i, e in enumerate(trace.events()) if e == "Tail start"]
    assert trace.at("B2 end") < tails[0] < trace.at("B1 end") < tails[1]
    assert trace.count("Done start") == 1 and trace.at("Done start") > tails[1]


async def test_p09_discriminator_goes_on_after_the_first_and_ignores_the_rest(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _run(engine, runtime, tmp_path, DISCRIMINATOR)
    # Slow only ends once the tail has started: the tail ran after the first branch
    # (Fast), while the other was still running, and the other was not cancelled
    assert trace.at("Fast end") < trace.at("Tail start") < trace.at("Slow end")
    assert "Slow lonely" not in trace.events()
    assert trace.count("Tail start") == 1  # the second completion is ignored


async def test_p14_multiple_instances_known_at_run_time_run_side_by_side_within_a_cap(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _run(engine, runtime, tmp_path, RUN_TIME)
    orders = ["o1", "o2", "o3", "o4", "o5"]
    assert sorted(trace.started()) == sorted([*orders, "Done"])  # every item ran once
    # o1 meets o2 and o3 meets o4: they ran side by side, and never more than the cap
    assert not [e for e in trace.events() if e.endswith("lonely")]
    assert _overlap(trace, orders) == 2
    assert trace.at("Done start") > max(trace.at(f"{o} end") for o in orders)


async def test_p15_an_instance_added_while_the_others_run_is_joined_too(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _run(engine, runtime, tmp_path, NO_A_PRIORI)
    assert "late start" in trace.events()  # not known when the loop started
    every = ["o1", "o2", "o3", "o4", "o5", "late"]
    assert trace.at("Done start") > max(trace.at(f"{o} end") for o in every)


async def test_p17_interleaved_branches_never_overlap_and_all_run(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _run(engine, runtime, tmp_path, INTERLEAVED)
    names = ["A1", "A2", "B1", "C1"]
    assert sorted(trace.started()) == sorted([*names, "Done"])
    assert _overlap(trace, names) == 1
    assert trace.at("A1 end") < trace.at("A2 start")  # a branch keeps its own order
