"""The group writer's raw SQLite path (engine/process/raw_writes.py) stores exactly what
SQLAlchemy stores for the same statements (JSON, datetimes, NULLs, constants)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from engine.helpers import wait_status
from engine.process.helpers import publish
from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.process import journal as j
from switchyard.engine.process.raw_writes import RawWriter
from switchyard.store.models import HistoryEntry, Instance, Step

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


def rows(instance_id: int, note: str | None) -> list[j.Statement]:
    now = datetime(2027, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    return [
        j.step_row(instance_id, "0:s/9", {"kind": "assign"}, status="done", now=now, ended=True),
        j.end_step(instance_id, "0:s/9", now=now, note=note, decision={"x": [1, "é"]}),
        j.history(instance_id, "report", now, None, {"name": "a", "value": 2.5}),
        j.touch(
            instance_id,
            variables={"a": 2, "s": "é", "n": None},
            current_action=None,
            current_state="s",
            visit=3,
            now=now,
        ),
        j.cancel_step(instance_id, "0:s/9", now=now, decision=None),  # a constant in WHERE
    ]


async def snapshot(engine: Engine, instance_id: int) -> list[Any]:
    out: list[Any] = []
    async with engine.store.read() as conn:
        for model, where in ((Step, "instance_id"), (HistoryEntry, "instance_id")):
            table = model.__table__  # type: ignore[attr-defined]
            found = await conn.execute(
                select(table).where(table.c[where] == instance_id, table.c.kind != "started")
            )
            out += [
                {k: v for k, v in r.items() if k not in ("id", where)} for r in found.mappings()
            ]
        table = Instance.__table__  # type: ignore[attr-defined]
        found = await conn.execute(
            select(
                table.c.variables, table.c.current_state, table.c.visit, table.c.updated_at
            ).where(table.c.id == instance_id)
        )
        out += [dict(r) for r in found.mappings()]
    return out


async def test_raw_rows_equal_sqlalchemy_rows(engine: Engine, tmp_path: Path) -> None:
    if not engine.store.is_sqlite:
        pytest.skip("the raw path is SQLite's")
    await publish(engine, tmp_path, ONE)
    first = await engine.start_process("one")
    second = await engine.start_process("one")
    raw = RawWriter()
    async with engine.store.write() as conn:
        for stmt, params in rows(first, "n1"):
            await conn.execute(stmt, params)
        for stmt, params in rows(second, "n1"):
            await raw.execute(conn, stmt, [params])
        dialect = conn.dialect
    # every one of them went the raw way (none fell back to SQLAlchemy)
    assert all(
        raw.prepare(stmt, params, dialect) is not None for stmt, params in rows(second, "n1")
    )
    assert await snapshot(engine, first) == await snapshot(engine, second)
    assert len(await snapshot(engine, first)) == 3
    await wait_status(engine, first, "queued")


async def test_a_batch_is_one_call_on_sqlites_thread_and_fences_lost_owners(
    engine: Engine, tmp_path: Path
) -> None:
    """The group writer's SQLite batch (raw_writes.run_batch): the fence, every statement
    and the events in one call on aiosqlite's thread; a write of an instance that no longer
    runs on this node fails with LostOwnership and leaves nothing, the others commit."""
    if not engine.store.is_sqlite:
        pytest.skip("the one-call batch is SQLite's")
    from sqlalchemy import update
    from switchyard.engine.kernel.events import INSTANCES_CHANGED, EngineEvent
    from switchyard.engine.process.writer import GroupWriter, LostOwnership
    from switchyard.store.queries import events as event_q

    await publish(engine, tmp_path, ONE)
    mine = await engine.start_process("one")
    other = await engine.start_process("one")
    table = Instance.__table__  # type: ignore[attr-defined]
    async with engine.store.write() as conn:  # as a claim leaves them (the test's setup)
        await conn.execute(
            update(table).where(table.c.id == mine).values(status="running", node_id=engine.node_id)
        )
        await conn.execute(
            update(table).where(table.c.id == other).values(status="running", node_id="elsewhere")
        )
        before = await event_q.last_id(conn)
        driver = (await conn.get_raw_connection()).driver_connection
    calls: list[Any] = []
    real = driver._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await real(fn, *args, **kwargs)

    driver._execute = counted
    writer = GroupWriter(engine)
    writer.start()
    try:

        def event(iid: int) -> list[EngineEvent]:
            return [EngineEvent(INSTANCES_CHANGED, str(iid), {"ids": [iid]}, engine.node_id)]

        import asyncio

        results = await asyncio.gather(
            writer.write(rows(mine, "m")[:4], event(mine), owner=mine),
            writer.write(rows(other, "o")[:4], event(other), owner=other),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
        driver._execute = real
    assert results[0] is None and isinstance(results[1], LostOwnership), results
    assert writer.batches == 1 and writer.writes == 1
    # the batch, BEGIN IMMEDIATE to COMMIT, is one call (each hand-off waits for the loop);
    # besides it only the pool's reset when the connection goes back (a no-op rollback)
    assert [getattr(c, "func", c).__name__ for c in calls] == ["work", "rollback"], calls
    assert len(await snapshot(engine, mine)) == 3
    assert len(await snapshot(engine, other)) == 1  # only the instance row, untouched
    async with engine.store.read() as conn:
        feed = await event_q.since(conn, before)
    assert [e["entity_id"] for e in feed] == [str(mine)]


async def test_rows_of_another_shape_leave_the_batch_to_sqlalchemy(
    engine: Engine, tmp_path: Path
) -> None:
    """run_batch checks a statement's rows by their number of keys when the statement
    reads every key by name; a row with as many keys but another one is found while the
    rows are built, and the whole batch is rolled back (nothing of it stays) and left to
    SQLAlchemy (None); a row with a key more is refused before anything runs."""
    if not engine.store.is_sqlite:
        pytest.skip("the one-call batch is SQLite's")
    from switchyard.engine.process.raw_writes import run_batch
    from switchyard.store.queries.steps import INSERT_HISTORY

    await publish(engine, tmp_path, ONE)
    iid = await engine.start_process("one")
    now = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)

    def entry(kind: str) -> dict[str, Any]:
        return j.history(iid, kind, now, None, {"n": 1})[1]

    async def kinds() -> list[str]:
        table = HistoryEntry.__table__  # type: ignore[attr-defined]
        async with engine.store.read() as conn:
            found = await conn.execute(select(table.c.kind).where(table.c.instance_id == iid))
            return sorted(found.scalars())

    def nobody_lost(db: Any, owners: list[int]) -> set[int]:
        return set()

    before = await kinds()
    renamed = entry("b")
    renamed["login"] = renamed.pop("user")  # as many keys, one of them another
    more = {**entry("c"), "extra": 1}
    writer = RawWriter()
    for bad in (renamed, more):
        plan: list[Any] = [
            (INSERT_HISTORY, [(None, entry("a"))]),  # runs first, then is rolled back
            (INSERT_HISTORY, [(None, entry("a2")), (None, bad)]),
        ]
        assert await run_batch(writer, engine.store, plan, [], nobody_lost) is None
        assert await kinds() == before
    plan = [(INSERT_HISTORY, [(None, entry("a")), (None, entry("a2"))])]
    assert await run_batch(writer, engine.store, plan, [], nobody_lost) == set()
    assert await kinds() == sorted([*before, "a", "a2"])


def test_timestamp_columns_share_one_processor_with_sqlalchemys_text() -> None:
    """Every UTCDateTime column of the raw statements is processed by ONE function, so a
    batch formats an instant once whatever column carries it (a step's started_at and
    ended_at, the completion's ended_at and updated_at); the text is SQLAlchemy's own."""
    from datetime import timedelta, timezone

    from sqlalchemy import insert
    from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
    from switchyard.store.core import UTCDateTime

    dialect = aiosqlite_dialect()  # the store's
    paris = datetime(2027, 7, 1, 14, 0, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    row = {
        "instance_id": 1,
        "key": "0:s/1",
        "kind": "assign",
        "path": "s",
        "label": "",
        "status": "done",
        "attempt": 1,
        "started_at": paris,
        "ended_at": datetime(1, 1, 1, tzinfo=UTC),
    }
    raw = RawWriter().prepare(insert(Step.__table__), row, dialect)
    assert raw is not None
    started = raw.processors[raw.names.index("started_at")]
    ended = raw.processors[raw.names.index("ended_at")]
    assert started is not None and started is ended
    own = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)  # as SQLAlchemy does
    assert own is not None
    built = raw.row(row, {})
    assert built[raw.names.index("started_at")] == own(paris)
    assert own(paris) == "2027-07-01 12:00:00.000000"
    assert built[raw.names.index("ended_at")] == own(row["ended_at"])
