"""Workflow patterns 12 (multiple instances without synchronisation) and 13 (multiple
instances with a priori design-time knowledge), with child process instances on a lane
wide enough to run them together."""

from __future__ import annotations

from pathlib import Path

from engine.helpers import instance_rows, wait_status
from switchyard.engine.api import Engine

from patterns.trace import StartRuntime, Trace, publish

CHILD = """
process: p12-child
lane: wide
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
  name: {type: string, required: true}
  meet: {type: string, default: "-"}
start: s
states:
  s:
    actions:
      - run: {command: [sh, "{{ act }}", "{{ trace }}", "{{ name }}", "{{ meet }}"]}
"""

NO_SYNC = """
process: p12-no-sync
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
  names: {type: list, default: [c1, c2, c3]}
start: s
states:
  s:
    actions:
      - loop:
          for_each: names
          as: n
          do:
            - start_process:
                process: p12-child
                vars: {act: "{{ act }}", trace: "{{ trace }}", name: "{{ n }}", meet: Go}
                wait: false
      - ACT(Parent)
"""

DESIGN_TIME = """
process: p13-design-time
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
            - - start_process:
                  process: p12-child
                  vars: {act: "{{ act }}", trace: "{{ trace }}", name: x1, meet: x2}
                  wait: true
            - - start_process:
                  process: p12-child
                  vars: {act: "{{ act }}", trace: "{{ trace }}", name: x2, meet: x3}
                  wait: true
            - - start_process:
                  process: p12-child
                  vars: {act: "{{ act }}", trace: "{{ trace }}", name: x3, meet: x1}
                  wait: true
      - ACT(After)
"""


async def _setup(engine: Engine, runtime: StartRuntime, tmp_path: Path, *texts: str) -> Trace:
    trace = Trace(tmp_path)
    await engine.add_lane("wide", 5)
    for text in texts:
        await publish(engine, tmp_path, text)
    await runtime(engine)
    return trace


async def test_p12_children_started_without_waiting_run_on_their_own(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _setup(engine, runtime, tmp_path, CHILD, NO_SYNC)
    parent = await engine.start_process("p12-no-sync", trace.vars)
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    children = [r for r in await instance_rows(engine) if r["process"] == "p12-child"]
    assert len(children) == 3
    # no synchronisation: the parent completed while its children still wait for "Go"
    assert all(r["status"] in ("queued", "running") for r in children), children
    with trace.file.open("a") as fh:
        fh.write("Go start\n")
    for child in children:
        done = await wait_status(engine, child["id"], "completed", "error")
        assert done["status"] == "completed", done["reason"]
    assert sorted(trace.started()) == ["Go", "Parent", "c1", "c2", "c3"]
    assert trace.at("Parent end") < min(trace.at(f"{c} end") for c in ("c1", "c2", "c3"))
    assert not [e for e in trace.events() if e.endswith("lonely")]


async def test_p13_a_fixed_number_of_instances_run_together_and_are_joined(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _setup(engine, runtime, tmp_path, CHILD, DESIGN_TIME)
    parent = await engine.start_process("p13-design-time", trace.vars)
    row = await wait_status(engine, parent, "completed", "error")
    assert row["status"] == "completed", (row["reason"], trace.events())
    # x1 meets x2 meets x3 meets x1: only three instances running at once pass
    assert not [e for e in trace.events() if e.endswith("lonely")]
    assert trace.at("After start") > max(trace.at(f"{x} end") for x in ("x1", "x2", "x3"))
