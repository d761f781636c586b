"""The joins of ``parallel`` beyond all / first (issue 16): multi-merge (``join: each``),
the non-cancelling discriminator (``join: first`` + ``cancel_rest: false``) and
interleaved parallel routing (``interleaved: true``).

A real node on the system clock; commands append marker lines (``start B N`` / ``end B
N``) and the assertions are on the recorded order, never on durations. A command that
"holds" waits until ``{{ dir }}/go`` exists (at most ~3 s, so a broken engine fails rather
than hangs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from engine.helpers import until, wait_status
from engine.process.helpers import journal, publish, variables
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.definitions.parse import parse_definition
from switchyard.engine.kernel.clock import SystemClock
from switchyard.engine.node.runtime import Runtime

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

HOLD = "i=0; while [ ! -e {{ dir }}/go ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i+1)); done"


def mark(what: str, hold: bool = False, pause: bool = False) -> str:
    """A command writing ``start WHAT`` and ``end WHAT`` (holding or pausing between)."""
    middle = HOLD if hold else ("sleep 0.05" if pause else "true")
    return (
        f"run: {{command: [sh, -c, 'echo start {what} >> {{{{ dir }}}}/m; {middle};"
        f" echo end {what} >> {{{{ dir }}}}/m']}}"
    )


GO = 'run: {command: [touch, "{{ dir }}/go"]}'


def markers(tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "m"
    if not path.exists():
        return []
    return [
        (line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in path.read_text().splitlines()
    ]


async def node(open_engine: OpenEngine, runtime: StartRuntime) -> Engine:
    engine = await open_engine(clock=SystemClock())
    await runtime(engine)
    return engine


async def run_to_end(engine: Engine, tmp_path: Path, text: str) -> tuple[int, dict[str, Any]]:
    await publish(engine, tmp_path, text)
    iid = await engine.start_process("p", {"dir": str(tmp_path)})
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "completed", row["reason"]
    return iid, await journal(engine, iid)


HEAD = """
process: p
variables:
  dir: {type: string, required: true}
  n: {type: integer, default: 0}
start: s
states:
  s:
    actions:
"""

EACH = (
    HEAD
    + f"""
      - parallel:
          join: each
          branches:
            - - {mark("b0")}
            - - {mark("b1", hold=True)}
          then:
            - assign: {{n: "{{{{ n + 1 }}}}"}}
            - {GO}
      - log: after
"""
)


async def test_join_each_runs_the_tail_once_per_branch_without_killing_the_others(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await node(open_engine, runtime)
    iid, steps = await run_to_end(engine, tmp_path, EACH)
    assert (await variables(engine, iid))["n"] == 2  # once per arriving branch
    # b0's tail ran (and let b1 go) while b1 was still running: b1 was not killed
    # (its then/1 is GO, which releases b1: the two end records may come in either order)
    assert steps["0:s/0/b0/then/1"]["started_at"] <= steps["0:s/0/b1/0"]["ended_at"]
    assert steps["0:s/0/b1/0"]["status"] == "done"
    assert steps["0:s/0/b1/then/0"]["started_at"] >= steps["0:s/0/b1/0"]["ended_at"]
    assert ("end", "b1") in markers(tmp_path)
    assert steps["0:s/1"]["started_at"] >= steps["0:s/0/b1/then/1"]["ended_at"]


DISCRIMINATOR = (
    HEAD
    + f"""
      - parallel:
          join: first
          cancel_rest: false
          branches:
            - - {mark("b0", hold=True)}
            - - {mark("b1")}
            - - {mark("b2", hold=True)}
          then:
            - assign: {{n: "{{{{ n + 1 }}}}"}}
            - {GO}
      - log: after
"""
)


async def test_first_without_cancelling_lets_the_others_finish_and_ignores_them(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await node(open_engine, runtime)
    iid, steps = await run_to_end(engine, tmp_path, DISCRIMINATOR)
    decision = steps["0:s/0"]["decision"]
    assert decision["winner"] == 1 and decision["cancel_rest"] is False
    # `then` ran once, after the first branch, while the others were still running
    assert (await variables(engine, iid))["n"] == 1
    # (then/1 is GO: it releases b0, so b0's command ends after GO's began; the two end
    # records are written by two tasks at about the same moment, in either order: CI saw
    # b0's recorded 46 us before GO's)
    assert steps["0:s/0/then/1"]["started_at"] <= steps["0:s/0/b0/0"]["ended_at"]
    # the others were not cancelled: they finished, their commands ended on their own
    for b in ("b0", "b2"):
        assert steps[f"0:s/0/{b}/0"]["status"] == "done"
        assert ("end", b) in markers(tmp_path)
    # and what follows the parallel waited for them: the instance ends only after them
    assert steps["0:s/1"]["started_at"] >= steps["0:s/0/b0/0"]["ended_at"]
    assert steps["0:s/1"]["started_at"] >= steps["0:s/0/b2/0"]["ended_at"]


INTERLEAVED = (
    HEAD
    + f"""
      - parallel:
          interleaved: true
          branches:
            - - {mark("b0.0", pause=True)}
              - {mark("b0.1", pause=True)}
            - - {mark("b1.0", pause=True)}
              - {mark("b1.1", pause=True)}
            - - {mark("b2.0", pause=True)}
              - {mark("b2.1", pause=True)}
"""
)


def intervals_never_overlap(lines: list[tuple[str, str]]) -> None:
    assert [w for w, _ in lines] == ["start", "end"] * (len(lines) // 2), lines
    for k in range(0, len(lines), 2):
        assert lines[k][1] == lines[k + 1][1], lines  # each ends before the next starts


async def test_interleaved_branches_never_overlap_but_all_run_interleaved(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await node(open_engine, runtime)
    await run_to_end(engine, tmp_path, INTERLEAVED)
    lines = markers(tmp_path)
    intervals_never_overlap(lines)
    order = [what for w, what in lines if w == "start"]
    assert sorted(order) == ["b0.0", "b0.1", "b1.0", "b1.1", "b2.0", "b2.1"]
    for b in ("b0", "b1", "b2"):  # each branch's own order holds
        assert order.index(f"{b}.0") < order.index(f"{b}.1")
    # the branches take turns (first come, first served), not one branch after another
    assert order[:3] == ["b0.0", "b1.0", "b2.0"], order


INTERLEAVED_ITEM = (
    HEAD
    + f"""
      - parallel:
          interleaved: true
          branches:
            - - send_work_item: {{form: ok, to: {{user: bob}}}}
              - {mark("b0.1")}
            - - {mark("b1.0")}
"""
    + """
forms:
  ok:
    fields: [{name: reply, type: text}]
    buttons:
      Ok: []
"""
)


async def test_an_interleaved_work_item_holds_the_others_and_the_instance_waits(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await node(open_engine, runtime)
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, INTERLEAVED_ITEM)
    iid = await engine.start_process("p", {"dir": str(tmp_path)})
    # b0's work item is an activity under way: b1's command does not start meanwhile,
    # and the instance leaves its lane (waits durably) instead of holding it
    row = await wait_status(engine, iid, "waiting", "error", within=30)
    assert row["status"] == "waiting", row["reason"]
    assert markers(tmp_path) == []

    async def the_item() -> int | None:
        page = await engine.work_items("all")
        return page.rows[0].id if page.rows else None

    item_id = await until(the_item, what="the branch's work item")
    bob = await open_engine(user="bob", clock=SystemClock())
    await bob.complete_work_item(item_id, "Ok", {"reply": "yes"})
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "completed", row["reason"]
    lines = markers(tmp_path)
    intervals_never_overlap(lines)
    assert sorted(what for w, what in lines if w == "start") == ["b0.1", "b1.0"]


async def test_interleaving_does_not_serialise_other_instances_on_the_lane(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    one = f"""
process: p
lane: wide
variables:
  dir: {{type: string, required: true}}
start: s
states:
  s:
    actions:
      - parallel:
          interleaved: true
          branches:
            - - {mark("{{ instance.id }}", hold=True)}
            - - log: x
"""
    engine = await node(open_engine, runtime)
    await engine.add_lane("wide", concurrency=2)
    await publish(engine, tmp_path, one)
    ids = [await engine.start_process("p", {"dir": str(tmp_path)}) for _ in range(2)]
    # both instances' holding commands are under way at once
    await until(lambda: len(markers(tmp_path)) >= 2, what="both instances' commands")
    (tmp_path / "go").touch()
    for iid in ids:
        row = await wait_status(engine, iid, "completed", "error", within=30)
        assert row["status"] == "completed", row["reason"]
    assert [w for w, _ in markers(tmp_path)][:2] == ["start", "start"]


BAD_PARALLEL = [
    ("join: each", "join: each needs 'then'"),
    ("join: 3", "join: 3 of only 2 branches"),
    ("join: some", "join must be 'all', 'first', 'each' or a number"),
    ("cancel_rest: false", "cancel_rest is only used with join: first or a number"),
    ("then: [log: x]", "'then' is only used with join: each"),
    ("join: first\n          interleaved: true", "interleaved branches join all of them"),
    (
        "join: first\n          cancel_rest: false\n          then: [change_state: s]",
        "change_state",
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD_PARALLEL)
def test_bad_join_options_are_refused_at_publish(extra: str, message: str) -> None:
    text = (
        HEAD
        + f"""
      - parallel:
          {extra}
          branches: [[log: a], [log: b]]
"""
    )
    with pytest.raises(DefinitionError) as info:
        parse_definition(text.lstrip(), "p.yaml")
    shown = str(info.value)
    assert message in shown, shown
    assert "p.yaml:" in shown and "states.s.actions[0].parallel" in shown
