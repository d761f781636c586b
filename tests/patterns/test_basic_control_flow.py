"""Workflow patterns 1-5 (van der Aalst et al., 2003): sequence, parallel split,
synchronisation, exclusive choice, simple merge. Each runs on a real node with real
commands; the assertions read the order of the recorded activities."""

from __future__ import annotations

from pathlib import Path

from engine.helpers import wait_status
from switchyard.engine.api import Engine

from patterns.trace import VARIABLES, StartRuntime, Trace, publish

SEQUENCE = (
    """
process: p01-sequence
start: s
states:
  s:
    actions:
      - ACT(A)
      - ACT(B)
      - ACT(C)
"""
    + VARIABLES
)

SPLIT_AND_SYNC = (
    """
process: p02-split-sync
start: s
states:
  s:
    actions:
      - ACT(A)
      - parallel:
          join: all
          branches:
            - - ACT(B, C, 0.2)
            - - ACT(C, B)
      - ACT(D)
"""
    + VARIABLES
)

CHOICE_AND_MERGE = """
process: p04-choice-merge
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
  amount: {type: integer, required: true}
start: s
states:
  s:
    actions:
      - ACT(A)
      - if: "amount > 100"
        then: [ACT(Big)]
        else: [ACT(Small)]
      - switch: "'gold' if amount > 1000 else 'plain'"
        cases:
          gold: [ACT(Gold)]
        default: [ACT(Plain)]
      - ACT(Merge)
"""


async def _run(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, text: str, **extra: object
) -> Trace:
    trace = Trace(tmp_path)
    await publish(engine, tmp_path, text)
    await runtime(engine)
    name = text.split("process:", 1)[1].split()[0]
    instance_id = await engine.start_process(name, {**trace.vars, **extra})
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", (row["reason"], trace.events())
    return trace


async def test_p01_sequence_runs_each_activity_after_the_one_before(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _run(engine, runtime, tmp_path, SEQUENCE)
    assert trace.events() == ["A start", "A end", "B start", "B end", "C start", "C end"]


async def test_p02_p03_parallel_split_runs_branches_together_and_sync_waits_for_all(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    trace = await _run(engine, runtime, tmp_path, SPLIT_AND_SYNC)
    # split (2): B and C only pass their rendezvous if both run at once
    assert "B lonely" not in trace.events() and "C lonely" not in trace.events()
    assert trace.at("A end") < trace.at("B start") and trace.at("A end") < trace.at("C start")
    # synchronisation (3): D starts after both branches ended, once
    assert trace.at("D start") > max(trace.at("B end"), trace.at("C end"))
    assert trace.count("D start") == 1


async def test_p04_p05_exclusive_choice_takes_one_path_and_simple_merge_joins_it(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    big = await _run(engine, runtime, tmp_path, CHOICE_AND_MERGE, amount=500)
    assert big.started() == ["A", "Big", "Plain", "Merge"]
    (tmp_path / "trace.txt").write_text("")
    gold = await engine.start_process("p04-choice-merge", {**big.vars, "amount": 5000})
    assert (await wait_status(engine, gold, "completed", "error"))["status"] == "completed"
    assert big.started() == ["A", "Big", "Gold", "Merge"]
    (tmp_path / "trace.txt").write_text("")
    small = await engine.start_process("p04-choice-merge", {**big.vars, "amount": 5})
    assert (await wait_status(engine, small, "completed", "error"))["status"] == "completed"
    assert big.started() == ["A", "Small", "Plain", "Merge"]
