"""Step programs (engine/process/program.py, fast_steps.py) store exactly what the walk
stores: the same definitions run with them and without (``Runtime.step_programs``), and
every row they leave is compared: the instance, its journal, its history, its variables
index and its events (the clock is fixed, so timestamps compare too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from engine.helpers import wait_status
from engine.process.helpers import journal as step_journal
from engine.process.helpers import publish
from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.store.models import Event, HistoryEntry, Instance, InstanceVar, Step, table_of

StartRuntime = Callable[..., Awaitable[Runtime]]

MIX = """
process: mix
variables:
  a: {type: integer, default: 1}
  b: {type: integer}
  r: {type: integer, report: true}
  s: {type: string}
  t: {type: string}
  n: {type: decimal, default: "1.5"}
  items: {type: list, default: [1, 2]}
  flag: {type: boolean}
  total: {type: decimal}
start: one
tasks:
  twice:
    inputs:
      k: {type: decimal, required: true}
    outputs:
      out: {type: decimal}
    variables:
      tmp: {type: decimal}
    actions:
      - assign: {tmp: "{{ k * 2 }}"}
      - assign: {out: "{{ tmp + 1 }}"}
states:
  one:
    actions:
      - assign: {a: "{{ a + 1 }}", b: 7}
      - assign: {r: "{{ a * 10 }}", s: "done {{ a }}"}
      - assign: {t: "{{ s | upper }}"}
      - assign: {n: "{{ n * 2 }}", flag: "{{ a > 1 and not (b < 3) }}"}
      - log: "between {{ a }}"
      - assign: {a: "{{ a + 100 }}"}
      - if: "a > 100"
        then:
          - assign: {b: "{{ b + 1 }}"}
          - assign: {r: "{{ r + b }}"}
      - loop:
          for_each: items
          as: x
          do:
            - assign: {b: "{{ b + x }}"}
            - assign: {s: "{{ s ~ x }}"}
      - call: {task: twice, with: {k: "{{ n }}"}, into: {total: out}}
      - change_state: two
  two:
    actions:
      - assign: {a: "{{ a - 1 }}"}
      - assign: {t: "at {{ instance.state }} with {{ a }}"}
"""

FAILS = """
process: fails
variables:
  a: {type: integer, default: 1}
  z: {type: integer, default: 0}
  q: {type: integer}
  w: {type: integer}
start: s
states:
  s:
    actions:
      - assign: {a: "{{ a + 1 }}"}
      - assign: {a: "{{ a * 3 }}"}
      - assign: {q: "{{ 10 // z }}"}
      - assign: {w: "{{ q + a }}"}
"""

PARTIAL = """
process: partial
variables:
  a: {type: integer, default: 1}
  x: {type: integer}
  y: {type: integer}
  word: {type: string, default: "not a number"}
start: s
states:
  s:
    actions:
      - assign: {a: "{{ a + 1 }}"}
      - assign: {x: "{{ a * 2 }}", y: "{{ word }}"}
      - assign: {a: 0}
"""

# max_variables_bytes is 1,024 here: the second step passes it in the middle of the run
TOO_BIG = """
process: too_big
variables:
  p: {type: string, default: ""}
  q: {type: string, default: ""}
start: s
states:
  s:
    actions:
      - assign: {p: "{{ 'x' * 600 }}"}
      - assign: {q: "{{ 'y' * 600 }}"}
      - assign: {p: ""}
"""

# the first step's value alone is over the limit, the second would shrink it again:
# the value in between is checked too (it is refused at the first step), as on the walk
INTERMEDIATE = """
process: intermediate
variables:
  p: {type: string, default: ""}
  n: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - assign: {n: 1}
      - assign: {p: "{{ 'x' * 2000 }}"}
      - assign: {p: ""}
      - assign: {n: 2}
"""


async def _rows(engine: Engine, instance_id: int) -> dict[str, Any]:
    """Everything an instance left in the store, without its id (the two runs differ)."""
    inst, steps, hist = table_of(Instance), table_of(Step), table_of(HistoryEntry)
    ivars, events = table_of(InstanceVar), table_of(Event)
    async with engine.store.read() as conn:
        row = dict(
            (await conn.execute(select(inst).where(inst.c.id == instance_id))).one()._mapping
        )
        journal = [
            dict(r._mapping)
            for r in await conn.execute(
                select(steps).where(steps.c.instance_id == instance_id).order_by(steps.c.id)
            )
        ]
        history = [
            dict(r._mapping)
            for r in await conn.execute(
                select(hist).where(hist.c.instance_id == instance_id).order_by(hist.c.id)
            )
        ]
        index = sorted(
            tuple(r)
            for r in await conn.execute(
                select(ivars.c.name, ivars.c.num, ivars.c.text).where(
                    ivars.c.instance_id == instance_id
                )
            )
        )
        feed = [
            (r.kind, r.node_id, r.at, r.data)
            for r in await conn.execute(
                select(events)
                .where(events.c.entity_id == str(instance_id), events.c.kind.like("instance%"))
                .order_by(events.c.id)
            )
        ]
    for name in ("id", "fire_key", "queued_at", "log_path"):
        row.pop(name)
    for entry in journal + history:
        entry.pop("id")
        entry.pop("instance_id")
    for _, _, _, data in feed:
        if data.get("ids") == [instance_id]:
            data["ids"] = ["this"]
    return {"instance": row, "journal": journal, "history": history, "index": index, "events": feed}


async def _run(
    engine: Engine, rt: Runtime, process: str, *, programs: bool, retry: dict[str, str] | None
) -> dict[str, Any]:
    rt.step_programs = programs
    host = await rt.refresh_host()
    iid = await engine.start_process(process)
    await wait_status(engine, iid, "completed", "error")
    if retry is not None:
        await engine.retry(iid, retry)
        await wait_status(engine, iid, "completed", "error")
    if programs:  # the runs did go the fast way
        assert sum(p.taken for p in host._programs.values()) > 0
    return await _rows(engine, iid)


async def _compare(
    engine: Engine,
    runtime: StartRuntime,
    tmp_path: Path,
    text: str,
    process: str,
    *,
    retry: dict[str, str] | None = None,
) -> dict[str, Any]:
    await publish(engine, tmp_path, text)
    rt = await runtime(engine)
    walked = await _run(engine, rt, process, programs=False, retry=retry)
    fast = await _run(engine, rt, process, programs=True, retry=retry)
    for part in ("instance", "journal", "history", "index", "events"):
        assert fast[part] == walked[part], part
    return fast


async def test_a_definition_stores_the_same_rows_with_and_without_step_programs(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    rows = await _compare(engine, runtime, tmp_path, MIX, "mix")
    assert rows["instance"]["status"] == "completed", rows["instance"]["reason"]
    assert rows["instance"]["variables"]["t"] == "at two with 101"
    assert [h["kind"] for h in rows["history"]].count("report") == 2


async def test_a_failing_step_in_a_run_and_its_retry_store_the_same(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    rows = await _compare(engine, runtime, tmp_path, FAILS, "fails", retry={"z": "5"})
    assert rows["instance"]["status"] == "completed", rows["instance"]["reason"]
    assert rows["instance"]["variables"] == {"a": 6, "z": 5, "q": 2, "w": 8}


async def test_a_failing_step_stores_the_variables_of_the_step_before_it(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FAILS)
    rt = await runtime(engine)
    host = await rt.refresh_host()
    iid = await engine.start_process("fails")
    row = await wait_status(engine, iid, "completed", "error")
    assert sum(p.taken for p in host._programs.values()) == 1
    assert row["status"] == "error" and row["error_step"] == "0:s/2", row
    assert row["variables"] == {"a": 6, "z": 0, "q": None, "w": None}
    journal = await step_journal(engine, iid)
    assert [journal[f"0:s/{i}"]["status"] for i in range(3)] == ["done", "done", "error"]
    assert "0:s/3" not in journal


async def test_a_value_of_the_wrong_type_fails_the_same(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    rows = await _compare(engine, runtime, tmp_path, PARTIAL, "partial")
    assert rows["instance"]["status"] == "error"
    assert rows["instance"]["error_step"] == "0:s/1"


async def test_the_size_limit_refuses_the_same_step_in_the_middle_of_a_run(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await engine.set_param("max_variables_bytes", 1024)
    rows = await _compare(engine, runtime, tmp_path, TOO_BIG, "too_big")
    assert rows["instance"]["status"] == "error"
    assert rows["instance"]["error_step"] == "0:s/1"
    assert "max_variables_bytes limit of 1,024 bytes" in rows["instance"]["reason"]
    assert rows["instance"]["variables"] == {"p": "x" * 600, "q": ""}


async def test_an_intermediate_value_of_a_shared_run_is_checked(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await engine.set_param("max_variables_bytes", 1024)
    rows = await _compare(engine, runtime, tmp_path, INTERMEDIATE, "intermediate")
    assert rows["instance"]["status"] == "error"
    assert rows["instance"]["error_step"] == "0:s/1"
    assert rows["instance"]["variables"] == {"p": "", "n": 1}


async def test_a_bug_inside_a_run_ends_the_instance_in_error(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything unexpected inside a run (here the size bookkeeping raising, as a bug would)
    ends the instance in ``error``, never leaves it ``running``."""
    from switchyard.engine.definitions import values

    def broken(value: Any) -> int:
        raise RuntimeError("a bug")

    await publish(engine, tmp_path, FAILS)
    await runtime(engine)
    monkeypatch.setattr(values, "json_len", broken)
    iid = await engine.start_process("fails")
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "error", row
    assert "internal error: RuntimeError: a bug" in row["reason"]
