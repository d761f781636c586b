"""Variables: start values checked and named, typed values (decimal, date, datetime) that
survive the store across a suspension, reporting history only for ``report: true``, and
the journal (steps), history and change feed never holding a variable's value."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from engine.helpers import BASE, instance_rows, until, wait_status
from engine.process.helpers import publish, variables
from engine.process.tools import history_rows, step_rows
from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.store.models import Event

StartRuntime = Callable[..., Awaitable[Runtime]]

TYPED = """
process: typed
variables:
  who: {type: string, required: true}
  amount: {type: decimal, required: true}
  day: {type: date, required: true}
  at: {type: datetime}
  count: {type: integer, default: 1}
  flag: {type: boolean, default: false}
  total: {type: decimal}
  next_day: {type: date}
  later: {type: datetime}
  exact: {type: boolean}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
      - assign:
          total: "{{ amount * 3 + Decimal('0.2') }}"
          next_day: "{{ day + days(1) }}"
          later: "{{ at + hours(1) }}"
          exact: "{{ amount + Decimal('0.2') == Decimal('10.30') }}"
      - wait: {for: 1h}
      - assign: {count: "{{ count + 1 }}", next_day: "{{ next_day + days(1) }}"}
"""


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({"who": "ann", "amount": "1", "day": "2027-01-01", "colour": "red"}, ["colour"]),
        ({"who": "ann", "amount": "lots", "day": "2027-01-01"}, ["amount"]),
        ({"who": "ann", "amount": "1", "day": "2027-02-30"}, ["day"]),
        ({"who": "ann", "amount": "1", "day": "2027-01-01", "count": "1.5"}, ["count"]),
        ({"who": "ann", "amount": "1", "day": "2027-01-01", "flag": "maybe"}, ["flag"]),
        ({"who": "ann", "amount": "1", "day": "2027-01-01", "at": "noon"}, ["at"]),
        ({"amount": "1", "day": "2027-01-01"}, ["who"]),
        ({"who": "ann"}, ["amount", "day"]),  # every problem at once
    ],
)
async def test_start_values_that_do_not_fit_are_refused_naming_the_variable(
    engine: Engine, tmp_path: Path, given: dict[str, str], names: list[str]
) -> None:
    await publish(engine, tmp_path, TYPED)
    with pytest.raises(SwitchyardError) as caught:
        await engine.start_process("typed", given)
    for name in names:
        assert name in str(caught.value)
    if names == ["colour"]:
        assert "unknown variable" in str(caught.value)
    if names == ["who"]:
        assert "required" in str(caught.value)
    assert await instance_rows(engine) == []  # nothing was started


async def test_decimal_date_and_datetime_values_survive_the_store_across_waits(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, TYPED)
    await runtime(engine)
    instance_id = await engine.start_process(
        "typed",
        {"who": "ann", "amount": "10.10", "day": "2027-02-28", "at": "2027-03-01T10:00:00"},
    )
    await wait_status(engine, instance_id, "waiting")
    stored = (await instance_rows(engine))[0]["variables"]
    assert stored["amount"] == "10.10"  # a decimal is stored exactly, as text
    assert stored["day"] == "2027-02-28"
    assert stored["at"] == "2027-03-01T10:00:00+00:00"  # naive: UTC
    clock.at = BASE + timedelta(hours=1)

    async def second_wait() -> bool:
        r = (await instance_rows(engine))[0]
        return r["status"] == "waiting" and r["wake_at"] == BASE + timedelta(hours=2)

    await until(second_wait, what="the second wait")
    middle = await variables(engine, instance_id)
    assert (middle["total"], middle["next_day"]) == ("30.50", "2027-03-01")
    clock.at = BASE + timedelta(hours=2)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    found = await variables(engine, instance_id)
    assert found["total"] == "30.50"  # Decimal arithmetic, no float in between
    assert found["exact"] is True
    assert found["next_day"] == "2027-03-02"  # 28 Feb + 1 day (+1 after the 2nd wait)
    assert found["later"] == "2027-03-01T11:00:00+00:00"
    assert found["count"] == 2


REPORTING = """
process: reporting
variables:
  decision: {type: string, report: true}
  amount: {type: decimal, report: true, default: "0"}
  private: {type: string}
start: s
tasks:
  inner:
    outputs:
      result: {type: string}
    actions:
      - assign: {result: "INNER-4410"}
states:
  s:
    actions:
      - assign: {decision: approved, private: "PRIVATE-5512"}
      - assign: {amount: "12.50"}
      - call: {task: inner, into: {private: result}}
      - assign: {decision: paid}
"""


async def test_only_report_variables_reach_the_history(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, REPORTING)
    await runtime(engine)
    instance_id = await engine.start_process("reporting")
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    history = await history_rows(engine, instance_id)
    reports = [h["detail"] for h in history if h["kind"] == "report"]
    assert reports == [
        {"name": "decision", "value": "approved"},
        {"name": "amount", "value": "12.50"},
        {"name": "decision", "value": "paid"},
    ]
    text = json.dumps([{**h, "at": None} for h in history], default=str)
    assert "PRIVATE-5512" not in text and "INNER-4410" not in text
    assert (await variables(engine, instance_id))["private"] == "INNER-4410"


MARKER = "MARKER-7731"

LEAKY = """
process: leaky
variables:
  secretish: {type: string, required: true}
  items: {type: list}
  copy: {type: string}
  joined: {type: string, default: ""}
  hits: {type: integer, default: 0}
  got: {type: string}
  dir: {type: string, required: true}
start: s
tasks:
  echo:
    inputs:
      text: {type: string, required: true}
      also: {type: list}
    outputs:
      back: {type: string}
    actions:
      - assign: {back: "{{ text }}/{{ also | length }}"}
states:
  s:
    actions:
      - assign: {copy: "{{ secretish }}", items: "{{ [secretish, secretish ~ '-2'] }}"}
      - loop:
          for_each: items
          as: item
          do:
            - assign: {joined: "{{ joined ~ item }}"}
            - call: {task: echo, with: {text: "{{ item }}", also: "{{ items }}"}, into: {copy: back}}
      - loop:
          while: "hits < 2 and secretish != ''"
          max: 5
          do:
            - assign: {hits: "{{ hits + 1 }}"}
      - if: "secretish == 'MARKER-7731'"
        then:
          - log: "seen {{ secretish }}"
      - switch: secretish
        cases:
          other: [assign: {hits: 0}]
        default: [assign: {hits: 9}]
      - parallel:
          branches:
            - [wait: {condition: "secretish != ''", every: 1s}]
            - {when: "secretish != ''", do: [assign: {got: "{{ secretish }}"}]}
      - run:
          command: [sh, -c, 'echo "$V" > {{ dir }}/env.txt']
          env: {V: "{{ secretish }}"}
      - start_process: {process: leaky_child, vars: {v: "{{ secretish }}"}, into: {got: w}}
      - end_process: "done"
"""

LEAKY_CHILD = """
process: leaky_child
variables:
  v: {type: string, required: true}
  w: {type: string}
start: s
states:
  s:
    actions:
      - assign: {w: "{{ v }}!"}
"""


def _leaks(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [
        (column, row[column])
        for row in rows
        for column in columns
        if MARKER in json.dumps(row.get(column), default=str)
    ]


async def _events(engine: Engine) -> list[dict[str, Any]]:
    table = Event.__table__
    async with engine.store.read() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


async def test_the_journal_history_and_feed_never_hold_a_variable_value(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(LEAKY.lstrip())
    (tmp_path / "b.yaml").write_text(LEAKY_CHILD.lstrip())
    await engine.publish([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    await runtime(engine)
    instance_id = await engine.start_process("leaky", {"secretish": MARKER, "dir": str(tmp_path)})
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    found = await variables(engine, instance_id)
    assert found["joined"] == f"{MARKER}{MARKER}-2"
    assert found["got"] == f"{MARKER}!"
    assert found["hits"] == 9
    assert (tmp_path / "env.txt").read_text().strip() == MARKER
    steps = await step_rows(engine)
    assert {s["kind"] for s in steps} >= {"loop", "call", "if", "switch", "parallel", "wait"}
    columns = ("key", "kind", "path", "label", "status", "decision", "note", "error")
    assert _leaks(steps, columns) == []
    assert _leaks(await history_rows(engine), ("kind", "user", "detail")) == []
    assert _leaks(await _events(engine), ("kind", "entity_id", "data")) == []


FAILS_WITH_VALUE = """
process: fails
variables:
  text: {type: string, required: true}
  base: {type: string, default: "http://127.0.0.1:9"}
  n: {type: integer}
  how: {type: string, required: true}
start: s
states:
  s:
    actions:
      - switch: how
        cases:
          assign: [assign: {n: "{{ text }}"}]
          expression: [assign: {n: "{{ int(text) }}"}]
          until: [wait: {until: "{{ text }}"}]
          child: [start_process: {process: numbers, vars: {k: "{{ text }}"}}]
          http: [http: {url: "{{ base }}/{{ text }}"}]
"""

NUMBERS = """
process: numbers
variables:
  k: {type: integer, required: true}
start: s
states:
  s:
    actions:
      - log: "{{ k }}"
"""

VALUE_IN_MESSAGE = "BUG: the failure message quotes the variable's value"


@pytest.mark.parametrize(
    "how",
    [
        "assign",
        "expression",
        "until",
        "child",
        "http",
    ],
)
async def test_a_failure_never_copies_a_variable_value_into_the_journal_or_history(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, how: str
) -> None:
    (tmp_path / "a.yaml").write_text(FAILS_WITH_VALUE.lstrip())
    (tmp_path / "b.yaml").write_text(NUMBERS.lstrip())
    await engine.publish([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    await runtime(engine)
    instance_id = await engine.start_process("fails", {"text": MARKER, "how": how})
    row = await wait_status(engine, instance_id, "error", "completed", "waiting")
    assert row["status"] == "error", row["reason"]
    case = ["assign", "expression", "until", "child", "http"].index(how)
    assert row["error_step"] == f"0:s/0/cases.{case}.actions/0"
    leaks = _leaks(await step_rows(engine, instance_id), ("decision", "note", "error"))
    leaks += _leaks(await history_rows(engine, instance_id), ("detail",))
    leaks += [("reason", row["reason"])] if MARKER in (row["reason"] or "") else []
    assert leaks == [], VALUE_IN_MESSAGE
