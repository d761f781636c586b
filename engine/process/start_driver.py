"""A single start on SQLite in one hand-off to the driver's thread.

Through SQLAlchemy a start costs ~19 hand-offs to aiosqlite's thread (each statement:
execute, fetch, close; plus BEGIN and COMMIT), and the hand-offs, not SQL, bound it. When
everything a start reads before writing is cached under the change token
(start_plan.py), what is left is one transaction that needs no decision from the event
loop, so it runs as ONE function on the driver's thread (``Store.on_sqlite_writer``):

    BEGIN IMMEDIATE
    SELECT token, lane            -- the cache's token still current? the lane there?
    INSERT INTO instances ... RETURNING id
    INSERT INTO instance_vars ... -- executemany
    INSERT INTO events ...
    COMMIT

The statements are SQLAlchemy's own, compiled once for the SQLite dialect, and every
value goes through SQLAlchemy's bind processors (JSON, timestamps, booleans) and the
columns' scalar defaults: the rows stored are the ones the SQLAlchemy path stores
(tests/engine/process/test_start_driver.py compares them). When the token moved or the
lane is missing the function rolls back and says so (``None``): the caller takes the
ordinary path, which reads afresh and raises what applies (``StaleIdentity``, the lane's
error). A driver error rolls back and goes the ordinary way too, so errors are reported
by one path only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.events import EngineEvent, EventBus
from switchyard.engine.process import start_plan, starts
from switchyard.store.db import NoDriverThread, Store
from switchyard.store.models import QUEUED
from switchyard.store.queries import events as event_rows
from switchyard.store.queries import instance_vars as var_q

DIALECT = sqlite_dialect.dialect()
Processor = Callable[[Any], Any] | None


def queued_event(instance_id: int, lane: str, node_id: str) -> EngineEvent:
    """The ``instances.changed`` event of a new queued instance: the row in the event log
    and the bus message are the same one."""
    return EngineEvent(
        ev.INSTANCES_CHANGED,
        str(instance_id),
        {"ids": [instance_id], "status": QUEUED, "lane": lane},
        node_id,
    )


@dataclass(frozen=True)
class Compiled:
    """A statement compiled for SQLite's DBAPI: its SQL and, per positional parameter,
    the name, the value when no row gives it (a default, a bound constant) and the bind
    processor."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]
    processors: tuple[Processor, ...]

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, process in zip(self.names, self.processors, strict=True):
            value = row[name] if name in row else self.fixed[name]
            out.append(value if process is None else process(value))
        return tuple(out)


def compile_for_sqlite(stmt: Any, keys: list[str]) -> Compiled | None:
    """``stmt`` compiled with parameters ``keys``; None when a Python-side default is not
    a plain value (only SQLAlchemy's execution context can compute it)."""
    compiled = stmt.compile(dialect=DIALECT, column_keys=keys)
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    try:  # what the statement binds itself (a literal); the rows give ``keys``
        bound = compiled.construct_params(dict.fromkeys(keys))
    except sa_exc.InvalidRequestError:
        return None
    fixed = {k: v for k, v in bound.items() if k not in keys}
    for column in compiled.insert_prefetch:
        default = column.default
        if default is None or not default.is_scalar:
            return None
        fixed[column.key] = default.arg  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup)
    if any(n not in keys and n not in fixed for n in names):
        return None
    processors: list[Processor] = []
    for name in names:
        process = compiled._bind_processors.get(name)
        if process is not None and not callable(process):
            return None  # a tuple type's processors: SQLAlchemy's job
        processors.append(process)
    return Compiled(compiled.string, names, fixed, tuple(processors))


class StartDriver:
    """The compiled statements, per shape (row keys, lane), kept for the engine's life."""

    def __init__(self) -> None:
        self._instance: dict[tuple[str, ...], Compiled | None] = {}
        self._lane: dict[str, Compiled | None] = {}
        self._var = compile_for_sqlite(var_q.INSERT_VAR, ["instance_id", "name", "num", "text"])
        self._event = compile_for_sqlite(
            event_rows.events.insert(), ["at", "kind", "entity_id", "node_id", "data"]
        )

    def _instance_stmt(self, row: dict[str, Any]) -> Compiled | None:
        keys = tuple(row)
        if keys not in self._instance:
            self._instance[keys] = compile_for_sqlite(starts.INSERT_RETURNING_ID, list(keys))
        return self._instance[keys]

    def _lane_stmt(self, lane: str) -> Compiled | None:
        if lane not in self._lane:
            self._lane[lane] = compile_for_sqlite(start_plan.token_and_lane(lane), [])
        return self._lane[lane]

    async def start(
        self,
        store: Store,
        bus: EventBus,
        node_id: str,
        token: object,
        row: dict[str, Any],
        now: datetime,
    ) -> int | None:
        """Insert ``row`` (a new instance) with its indexed variables and its event, if the
        store's change token is still ``token`` and the row's lane exists; its id, or None
        (nothing written: take the ordinary path)."""
        insert, check = self._instance_stmt(row), self._lane_stmt(row["lane"])
        var, event = self._var, self._event
        if insert is None or check is None or var is None or event is None:
            return None
        lane = row["lane"]
        instance_values = insert.values(row)
        check_values = check.values({})
        vars_of = var_q.index_rows

        def run(conn: sqlite3.Connection) -> int | None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = conn.execute(check.sql, check_values).fetchone()
                if found is None or found[0] != token or found[1] is None:
                    conn.execute("ROLLBACK")
                    return None
                instance_id = int(conn.execute(insert.sql, instance_values).fetchone()[0])
                index = [var.values(r) for r in vars_of(instance_id, row["variables"])]
                if index:
                    conn.executemany(var.sql, index)
                changed = queued_event(instance_id, lane, node_id)  # a payload, not a write
                conn.execute(
                    event.sql,
                    event.values(
                        {
                            "at": now,
                            "kind": changed.kind,
                            "entity_id": changed.entity_id,
                            "node_id": node_id,
                            "data": changed.data,
                        }
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return instance_id

        try:
            instance_id = await store.on_sqlite_writer(run)
        except (sqlite3.Error, NoDriverThread):
            return None  # rolled back / not run: the ordinary path runs it, reports what fails
        if instance_id is not None:
            bus.publish_many([queued_event(instance_id, lane, node_id)])
        return instance_id
