"""A parallel for-each over a list known only at run time (patterns 14 and 15): items side
by side, at most ``max_concurrency`` at once, joined all / first / N, and items added while
it runs (issue 16).

A real node on the system clock; the items' commands append ``start N`` / ``end N`` lines
to a markers file, so the assertions are on the recorded order (how many were under way at
once, which ended), never on durations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import until, wait_status
from engine.process.helpers import journal, publish, variables
from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.definitions.parse import parse_definition
from switchyard.engine.kernel.clock import SystemClock
from switchyard.engine.node.runtime import Runtime
from switchyard.store.models import WI_OPEN, WorkItem

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

# an item: "start N", then (unless it is fast) it holds until {{ dir }}/go exists (at
# most ~3 s: 150 x 20 ms, so a broken engine fails instead of hanging), then "end N"
ITEM = (
    'run: {command: [sh, -c, "echo start $0 >> {{ dir }}/m; i=0;'
    " if [ $0 != {{ fast }} ] && [ $0 != {{ fast2 }} ]; then"
    " while [ ! -e {{ dir }}/go ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i+1)); done; fi;"
    ' echo end $0 >> {{ dir }}/m", "{{ x }}"]}'
)


def foreach(join: str = "all", extra: str = "", body: str = "") -> str:
    return f"""
process: fan
variables:
  dir: {{type: string, required: true}}
  items: {{type: list, required: true}}
  fast: {{type: integer, default: -1}}
  fast2: {{type: integer, default: -1}}
  done: {{type: list, default: []}}
start: s
states:
  s:
    actions:
      - loop:
          for_each: items
          as: x
          parallel: true
          join: {join}
          {extra}
          do:
            {body}
            - {ITEM}
            - assign: {{done: "{{{{ done + [x] }}}}"}}
      - log: after
"""


def markers(tmp_path: Path) -> list[tuple[str, int]]:
    path = tmp_path / "m"
    if not path.exists():
        return []
    return [(w, int(n)) for w, n in (line.split() for line in path.read_text().splitlines())]


def most_at_once(lines: list[tuple[str, int]]) -> int:
    under_way, most = 0, 0
    for what, _ in lines:
        under_way += 1 if what == "start" else -1
        most = max(most, under_way)
    return most


async def node(open_engine: OpenEngine, runtime: StartRuntime) -> Engine:
    engine = await open_engine(clock=SystemClock())
    await runtime(engine)
    return engine


async def test_items_run_side_by_side_never_more_than_the_cap(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await node(open_engine, runtime)
    await publish(engine, tmp_path, foreach(extra="max_concurrency: 3"))
    iid = await engine.start_process("fan", {"dir": str(tmp_path), "items": list(range(7))})
    # the first three hold until "go": a fourth may not start meanwhile
    await until(lambda: len(markers(tmp_path)) >= 3, what="three items to start")
    (tmp_path / "go").touch()
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "completed", row["reason"]
    lines = markers(tmp_path)
    assert most_at_once(lines) == 3  # side by side, and never more than the cap
    assert sorted(n for w, n in lines if w == "start") == list(range(7))  # each once
    assert sorted(n for w, n in lines if w == "end") == list(range(7))
    assert sorted((await variables(engine, iid))["done"]) == list(range(7))
    steps = await journal(engine, iid)
    assert steps["0:s/0"]["decision"]["count"] == 7
    assert steps["0:s/0"]["status"] == "done"
    # the action after the loop ran after every item had ended
    assert steps["0:s/1"]["ended_at"] >= max(
        s["ended_at"] for k, s in steps.items() if k.startswith("0:s/0/")
    )


@pytest.mark.parametrize(("join", "fast", "winners"), [("first", [4], [4]), ("2", [1, 5], [1, 5])])
async def test_join_first_or_n_ends_when_enough_items_complete_the_rest_cancelled(
    open_engine: OpenEngine,
    runtime: StartRuntime,
    tmp_path: Path,
    join: str,
    fast: list[int],
    winners: list[int],
) -> None:
    engine = await node(open_engine, runtime)
    await publish(engine, tmp_path, foreach(join=join))
    start = {"dir": str(tmp_path), "items": list(range(6)), "fast": fast[0]}
    if len(fast) > 1:
        start["fast2"] = fast[1]
    iid = await engine.start_process("fan", start)
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "completed", row["reason"]
    steps = await journal(engine, iid)
    assert sorted(steps["0:s/0"]["decision"]["winners"]) == winners
    for n in range(6):
        run = steps[f"0:s/0/{n}/0"]
        assert run["status"] == ("done" if n in winners else "cancelled"), (n, run)
    assert sorted((await variables(engine, iid))["done"]) == winners
    ended = [n for w, n in markers(tmp_path) if w == "end"]
    assert sorted(ended) == winners  # the others' commands were killed, not left to end


async def test_an_item_added_while_the_loop_runs_runs_too(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    # item 1 appends 3 to the list it iterates; the loop takes it before its join completes
    body = '- if: "x == 1"\n              then: [assign: {items: "{{ items + [3] }}"}]'
    engine = await node(open_engine, runtime)
    await publish(engine, tmp_path, foreach(extra="grows: true", body=body))
    (tmp_path / "go").touch()
    iid = await engine.start_process("fan", {"dir": str(tmp_path), "items": [1, 2]})
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "completed", row["reason"]
    assert sorted(n for w, n in markers(tmp_path) if w == "end") == [1, 2, 3]
    assert sorted((await variables(engine, iid))["done"]) == [1, 2, 3]
    steps = await journal(engine, iid)
    assert steps["0:s/0"]["decision"]["count"] == 3
    assert steps["0:s/0/2/1"]["status"] == "done"  # the added item's own steps


async def test_without_grows_an_appended_item_is_not_taken(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    body = '- if: "x == 1"\n              then: [assign: {items: "{{ items + [3] }}"}]'
    engine = await node(open_engine, runtime)
    await publish(engine, tmp_path, foreach(body=body))
    (tmp_path / "go").touch()
    iid = await engine.start_process("fan", {"dir": str(tmp_path), "items": [1, 2]})
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "completed", row["reason"]
    assert sorted((await variables(engine, iid))["done"]) == [1, 2]


BAD = [
    ("all", "max_concurrency: 0", "0 is out of range"),
    ("all", "max_concurrency: 3\n          parallel: false", "'max_concurrency' is only used with"),
    ("each", "", "join must be 'all', 'first' or a number"),
    ("0", "", "must be at least 1"),
    ("first", "cancel_rest: false", "unknown key 'cancel_rest'"),
    ("all", "grows: maybe", "expected true or false"),
]


@pytest.mark.parametrize(("join", "extra", "message"), BAD)
def test_bad_parallel_loop_options_are_refused_at_publish(
    join: str, extra: str, message: str
) -> None:
    text = foreach(join=join, extra=extra)
    if "parallel: false" in extra:  # the option without a parallel loop
        text = text.replace("          parallel: true\n", "")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text.lstrip(), "fan.yaml")
    shown = str(info.value)
    assert message in shown, shown
    assert "fan.yaml:" in shown and "states.s.actions[0].loop" in shown


def test_parallel_needs_for_each_and_change_state_is_refused_in_an_item() -> None:
    text = """
process: p
variables: {n: {type: integer, default: 0}}
start: s
states:
  s:
    actions:
      - loop: {while: "n < 3", parallel: true, do: [log: x]}
      - loop: {for_each: "[1]", as: y, parallel: true, do: [change_state: s]}
"""
    with pytest.raises(DefinitionError) as info:
        parse_definition(text.lstrip(), "p.yaml")
    shown = str(info.value)
    assert "'parallel' is only used with 'for_each'" in shown
    assert "change_state is not allowed inside a parallel branch" in shown


ASK = """
process: ask
variables:
  items: {type: list, required: true}
  done: {type: list, default: []}
start: s
states:
  s:
    actions:
      - loop:
          for_each: items
          as: x
          parallel: true
          max_concurrency: 2
          grows: true
          do:
            - send_work_item: {form: ok, to: {user: bob}}
            - assign: {done: "{{ done + [x] }}"}
forms:
  ok:
    fields: []
    buttons:
      Ok: []
      More: [assign: {items: "{{ items + [len(items) * 10] }}"}]
"""


async def test_waiting_items_hold_their_slots_and_a_button_adds_an_item(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    engine = await node(open_engine, runtime)
    await engine.add_user("bob", licence="direct")
    bob = await open_engine(user="bob", clock=SystemClock())
    await publish(engine, tmp_path, ASK)
    iid = await engine.start_process("ask", {"items": [1, 2, 3]})

    async def offered(n: int) -> dict[str, int] | None:
        """The open work items by the list index of their loop item (``item N``)."""
        table = WorkItem.__table__
        stmt = select(table.c.id, table.c.step_key).where(table.c.status.in_(WI_OPEN))
        async with engine.store.read() as conn:
            rows = (await conn.execute(stmt)).all()
        found = {f"item {key.split('/')[2]}": int(i) for i, key in rows}
        return found if len(found) == n else None

    # two items wait on their work items and keep their slots: the third is not offered,
    # and the instance waits durably (it left its lane)
    first = await until(lambda: offered(2), what="two work items")
    assert set(first) == {"item 0", "item 1"}
    row = await wait_status(engine, iid, "waiting", "error", within=30)
    assert row["status"] == "waiting", row["reason"]
    # a button adds an instance while the loop runs
    await bob.complete_work_item(first["item 0"], "More", {})  # appends 30
    second = await until(lambda: offered(2), what="the third item offered")
    assert set(second) == {"item 1", "item 2"}
    for name in ("item 1", "item 2"):
        await bob.complete_work_item(second[name], "Ok", {})
    third = await until(lambda: offered(1), what="the added item offered")
    assert set(third) == {"item 3"}
    await bob.complete_work_item(third["item 3"], "Ok", {})
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "completed", row["reason"]
    assert sorted((await variables(engine, iid))["done"]) == [1, 2, 3, 30]
    assert (await journal(engine, iid))["0:s/0"]["decision"]["count"] == 4


async def test_a_list_grown_past_the_loops_max_fails_the_loop(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    body = '- if: "x == 1"\n              then: [assign: {items: "{{ items + [5, 6] }}"}]'
    engine = await node(open_engine, runtime)
    await publish(engine, tmp_path, foreach(extra="grows: true\n          max: 2", body=body))
    (tmp_path / "go").touch()
    iid = await engine.start_process("fan", {"dir": str(tmp_path), "items": [1]})
    row = await wait_status(engine, iid, "completed", "error", within=30)
    assert row["status"] == "error"
    assert "for_each grew to 3 items; the loop's max is 2" in row["reason"]
    assert sorted(n for w, n in markers(tmp_path) if w == "end") == [1]  # none added ran
