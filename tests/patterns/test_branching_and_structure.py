"""Workflow patterns 6, 7 (multi-choice, structured synchronising merge), 10 (arbitrary
cycles) and 11 (implicit termination), on a real node with real commands."""

from __future__ import annotations

from pathlib import Path

from engine.helpers import wait_status
from switchyard.engine.api import Engine

from patterns.trace import StartRuntime, Trace, publish

MULTI_CHOICE = """
process: p06-multi-choice
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
  fire: {type: boolean, default: false}
  flood: {type: boolean, default: false}
  theft: {type: boolean, default: false}
start: s
states:
  s:
    actions:
      - parallel:
          join: all
          branches:
            - {when: "fire", do: [ACT(Firemen, -, 0.3)]}
            - {when: "flood", do: [ACT(Pumps)]}
            - {when: "theft", do: [ACT(Police)]}
      - ACT(Report)
"""

CYCLES = """
process: p10-cycles
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
  n: {type: integer, default: 0}
start: draft
states:
  draft:
    actions:
      - ACT(Draft)
      - assign: {n: "{{ n + 1 }}"}
      - change_state: review
  review:
    actions:
      - ACT(Review)
      - if: "n < 3"
        then: [change_state: draft]
        else: [change_state: publish]
  publish:
    actions:
      - ACT(Publish)
"""

IMPLICIT = """
process: p11-implicit
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
            - - ACT(Short)
            - - ACT(Long, -, 0.3)
"""


async def _start(engine: Engine, name: str, variables: dict[str, object]) -> dict[str, object]:
    instance_id = await engine.start_process(name, variables)
    return await wait_status(engine, instance_id, "completed", "error")


async def test_p06_p07_multi_choice_runs_the_chosen_branches_and_the_merge_waits_for_them(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, MULTI_CHOICE)
    await runtime(engine)
    row = await _start(engine, "p06-multi-choice", {**trace.vars, "fire": True, "theft": True})
    assert row["status"] == "completed", row["reason"]
    assert sorted(trace.started()) == ["Firemen", "Police", "Report"]  # 6: two of three
    # 7: the merge synchronises exactly the branches that were chosen, once
    assert trace.at("Report start") > max(trace.at("Firemen end"), trace.at("Police end"))
    assert trace.count("Report start") == 1
    trace.file.write_text("")
    row = await _start(engine, "p06-multi-choice", {**trace.vars, "flood": True})
    assert row["status"] == "completed", row["reason"]
    assert trace.started() == ["Pumps", "Report"]


async def test_p10_arbitrary_cycles_loop_back_between_states(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, CYCLES)
    await runtime(engine)
    row = await _start(engine, "p10-cycles", trace.vars)
    assert row["status"] == "completed", row["reason"]
    assert trace.started() == ["Draft", "Review"] * 3 + ["Publish"]


async def test_p11_implicit_termination_ends_when_nothing_is_left_to_do(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, IMPLICIT)
    await runtime(engine)
    row = await _start(engine, "p11-implicit", trace.vars)
    assert row["status"] == "completed", row["reason"]
    # no end_process anywhere: the instance completed once both activities had ended
    assert {"Short end", "Long end"} <= set(trace.events())
    assert row["outcome"] in (None, "")
