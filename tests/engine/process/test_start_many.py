"""Starting instances (issue 14): ``Engine.start_many`` writes a batch all or nothing,
naming the bad row; a single start takes at most 8 statements (counted on the store's
connections with a SQLAlchemy event listener, BEGINs included)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from engine.helpers import count_rows, instance_rows
from engine.process.helpers import publish, variables
from sqlalchemy import event
from switchyard.engine.api import Engine
from switchyard.engine.errors import NotFound, SwitchyardError
from switchyard.engine.process.starts import RowRefused
from switchyard.store.models import Event, Instance, InstanceVar

PAY = """
process: pay
variables:
  who: {type: string, required: true}
  amount: {type: decimal, required: true}
  note: {type: string, default: none}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""
MAX_STATEMENTS_PER_START = 8


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement the store's engines send while the block runs."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, stmt: str, *_: Any) -> None:
        seen.append(stmt)

    engines = {id(e): e for e in (engine.store._writer, engine.store._reader)}.values()
    for sa_engine in engines:
        event.listen(sa_engine.sync_engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        for sa_engine in engines:
            event.remove(sa_engine.sync_engine, "before_cursor_execute", listen)


async def test_a_batch_starts_every_row_in_order(engine: Engine, tmp_path: Path) -> None:
    await publish(engine, tmp_path, PAY)
    rows = [{"who": f"p{i}", "amount": f"{i}.50"} for i in range(250)]
    ids = await engine.start_many("pay", rows)
    assert len(ids) == 250 and ids == sorted(ids)
    stored = {r["id"]: r for r in await instance_rows(engine)}
    for i, instance_id in enumerate(ids):
        row = stored[instance_id]
        assert (row["status"], row["process"], row["lane"]) == ("queued", "pay", "default")
        assert row["variables"]["who"] == f"p{i}"
    assert await variables(engine, ids[7]) == {"who": "p7", "amount": "7.50", "note": "none"}
    assert await count_rows(engine, InstanceVar) == 250 * 3  # indexed like single starts


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"who": "x", "amount": "lots"}, "amount: "),
        ({"amount": "1"}, "who: required"),
        ({"who": "x", "amount": "1", "colour": "red"}, "colour: unknown variable"),
        (["not", "an", "object"], "expected an object"),
    ],
)
async def test_one_bad_row_starts_nothing_and_is_named(
    engine: Engine, tmp_path: Path, bad: Any, problem: str
) -> None:
    await publish(engine, tmp_path, PAY)
    before = (await count_rows(engine, Instance), await count_rows(engine, Event))
    rows = [{"who": f"p{i}", "amount": "1"} for i in range(40)]
    rows[16] = bad
    with pytest.raises(RowRefused) as err:
        await engine.start_many("pay", rows)
    assert err.value.index == 16
    assert str(err.value).startswith(f"row 17: {problem}")
    assert err.value.problem.startswith(problem)
    assert (await count_rows(engine, Instance), await count_rows(engine, Event)) == before


async def test_unknown_process_and_lane_are_refused(engine: Engine, tmp_path: Path) -> None:
    await publish(engine, tmp_path, PAY)
    with pytest.raises(NotFound):
        await engine.start_many("nope", [{"who": "a", "amount": "1"}])
    with pytest.raises(SwitchyardError, match="unknown lane 'nowhere'"):
        await engine.start_many("pay", [{"who": "a", "amount": "1"}], lane="nowhere")
    with pytest.raises(SwitchyardError, match="unknown lane 'nowhere'"):
        await engine.start_process("pay", {"who": "a", "amount": "1"}, lane="nowhere")
    assert await count_rows(engine, Instance) == 0
    await engine.add_lane("fast", 2)
    (one,) = await engine.start_many("pay", [{"who": "a", "amount": "1"}], lane="fast")
    assert (await engine.instance(one)).lane == "fast"


async def test_a_single_start_takes_at_most_8_statements(engine: Engine, tmp_path: Path) -> None:
    await publish(engine, tmp_path, PAY)
    await engine.start_process("pay", {"who": "warm", "amount": "1"})  # caches warmed up
    with statements(engine) as seen:
        instance_id = await engine.start_process("pay", {"who": "ann", "amount": "2.5"})
    assert len(seen) <= MAX_STATEMENTS_PER_START, "\n".join(seen)
    assert await variables(engine, instance_id) == {"who": "ann", "amount": "2.5", "note": "none"}


async def test_a_batch_does_not_take_statements_per_row(engine: Engine, tmp_path: Path) -> None:
    await publish(engine, tmp_path, PAY)
    rows = [{"who": f"p{i}", "amount": "1"} for i in range(300)]
    with statements(engine) as seen:
        await engine.start_many("pay", rows)
    assert len(seen) <= 12, "\n".join(seen)  # multi-row INSERTs, not one per row
