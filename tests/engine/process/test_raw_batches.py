"""The group writer's rows of one statement through ``RawStatement.run`` (raw_writes.py:
an INSERT's rows as multi-row INSERTs, anything else ``executemany``) leave the same
tables as ``executemany`` of the same rows, on the store's real schema."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine.process.helpers import publish
from switchyard.engine.api import Engine
from switchyard.engine.process import journal as j
from switchyard.engine.process.raw_writes import RawWriter
from switchyard.store.queries import instance_vars as var_q

ONE = """
process: one
variables:
  a: {type: integer, default: 1}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""

NOW = datetime(2027, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def plan(ids: list[int]) -> list[list[j.Statement]]:
    """Per statement, its rows (several per instance, in the writer's order)."""
    later = NOW + timedelta(seconds=1)
    steps = [
        j.step_row(i, f"0:s/{k}", {"kind": "assign", "path": "p"}, status="started", now=NOW)
        for i in ids
        for k in range(3)
    ]
    ends = [
        j.end_step(i, f"0:s/{k}", now=later, note=f"n{i}", decision={"k": k})
        for i in ids
        for k in range(2)
    ]
    # the same step twice: executemany applies both in order, the last wins (a batch
    # where rows hit the same target must not go as one UPDATE ... FROM)
    first, second = (j.end_step(ids[0], "0:s/2", now=later, note=n) for n in ("1st", "2nd"))
    twice = [first, first, first, second]
    again = [second, first, first, first]
    completes = [
        j.complete(i, outcome=f"o{i}", variables={"a": i, "é": [1]}, now=later, state=("s", 2))
        for i in ids
    ]
    deletes = [(var_q.DELETE_VARS, {"b_instance_id": i}) for i in ids + ids[:2]]
    inserts = [
        (var_q.INSERT_VAR, row) for i in ids for row in var_q.index_rows(i, {"a": i, "b": "x"})
    ]
    return [steps, ends, twice, again, completes, deletes, inserts]


def dump(db: sqlite3.Connection) -> dict[str, list[Any]]:
    return {
        table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        for table in ("steps", "instances", "instance_vars")
    }


async def test_many_rows_as_one_statement_store_what_executemany_stores(
    engine: Engine, tmp_path: Path
) -> None:
    if not engine.store.is_sqlite:
        pytest.skip("SQLite's raw path")
    await publish(engine, tmp_path, ONE)
    ids = [await engine.start_process("one") for _ in range(23)]
    path = engine.store.sqlite_path
    assert path is not None
    source = sqlite3.connect(path)
    source.execute("UPDATE instances SET status = 'running'")  # as a claim leaves them
    source.commit()
    copies = []
    for name in ("one_by_one", "batched"):
        copy = sqlite3.connect(tmp_path / f"{name}.db", isolation_level=None)
        source.backup(copy)
        copies.append(copy)
    source.close()
    raw, (plain, batched) = RawWriter(), copies
    for statements in plan(ids):
        stmt, first = statements[0]
        compiled = raw.prepare(stmt, first, engine.store.dialect)
        assert compiled is not None
        memo: dict[Any, Any] = {}
        values = [compiled.row(params, memo) for _, params in statements]
        plain.executemany(compiled.sql, values)
        compiled.run(batched, values)
    assert dump(batched) == dump(plain)
    steps = dump(plain)["steps"]
    assert len(steps) == 3 * len(ids) and ("'1st'" in str(steps))
