"""The group writer's statements sent straight to SQLite's driver (``executemany``).

SQLAlchemy rebuilds an executed statement's parameters row by row on the event loop
(cache lookup, parameter construction, type processing): about a third of a step's CPU
in bench/engine.py. A ``RawStatement`` is compiled ONCE per statement object and set of
parameter names, with SQLAlchemy's own compiler and bind processors (JSON, datetimes),
so the rows sent are exactly what SQLAlchemy would send; a batch's rows of one statement
then go to aiosqlite's ``executemany`` inside the writer's transaction (``BEGIN
IMMEDIATE`` from the store). A statement this cannot reproduce (Python-side defaults,
``RETURNING``, a parameter given by no row) is marked unusable and runs through
SQLAlchemy as before. PostgreSQL always goes through SQLAlchemy.

``run_batch`` goes one step further: a whole batch (``BEGIN IMMEDIATE``, the ownership
fence, every statement's rows, the events, ``COMMIT``) is ONE function call on aiosqlite's
thread (``Store.on_sqlite_writer``), instead of a thread round trip per statement and
three more for the transaction; an INSERT's rows go as multi-row INSERTs. Each round
trip waits for the event loop to come back to the writer, which it does only after every
instance task queued before it has run its step; with one call, the commit proceeds on
SQLite's thread while the loop computes the next instances' steps. It reaches
aiosqlite's thread through ``switchyard.store.db.on_driver_thread`` (the one place that
knows aiosqlite's insides);
without it the batch goes statement by statement as above."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from switchyard.store.core import UTCDateTime
from switchyard.store.db import NoDriverThread, Store

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class RawStatement:
    sql: str
    names: tuple[str, ...]  # parameter names in positional order
    processors: tuple[Processor, ...]
    constants: dict[str, Any]  # values bound in the statement itself (``where status = 'x'``)
    _getter: Callable[[dict[str, Any]], Any] | None = field(init=False, repr=False)
    _processing: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False)

    _insert_head: str | None = field(init=False, repr=False)
    # rows of this many keys are of the compiled shape as soon as ``row`` finds every name
    # (each name read from the row, no constants); None: the keys are compared
    _width: int | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # the row's values in one C call when every name comes from the row, and the
        # positions that need processing: built once, used for every row of every batch
        getter = itemgetter(*self.names) if self.names and not self.constants else None
        object.__setattr__(self, "_getter", getter)
        processing = tuple((i, p) for i, p in enumerate(self.processors) if p is not None)
        object.__setattr__(self, "_processing", processing)
        # an INSERT of plain placeholders: many rows go as one multi-row INSERT
        head, sep, tail = self.sql.partition(" VALUES ")
        plain = "(" + ", ".join("?" * len(self.names)) + ")"
        multi = head.startswith("INSERT INTO ") and sep and tail == plain
        object.__setattr__(self, "_insert_head", head if multi else None)
        object.__setattr__(self, "_width", len(set(self.names)) if getter is not None else None)

    def same_shape(self, rows: list[tuple[int | None, dict[str, Any]]]) -> bool:
        """Whether every row has the keys the statement was compiled for (those of the
        first row). When ``row`` reads each of them by name, a row of as many keys is
        of that shape or lacks a name, and ``row`` raises KeyError then (``run_batch``
        rolls back and leaves the batch to SQLAlchemy): a length per row instead of
        comparing a dozen keys, ~8 us of the loop per instance in bench/engine.py."""
        first = rows[0][1]
        width = self._width
        if width is not None and width == len(first):
            return all(len(params) == width for _, params in rows)
        keys = first.keys()
        return all(params.keys() == keys for _, params in rows)

    def run(self, db: Any, rows: list[tuple[Any, ...]]) -> None:
        """``rows`` on SQLite's DBAPI connection ``db``. An INSERT's rows go as multi-row
        INSERTs (chunks of 256, 64, 16, 4, 1 rows: few distinct statements to prepare):
        ``executemany`` steps the statement once per row, and each step hands the GIL
        over and waits to get it back, up to the switch interval while the event loop
        computes; one statement for many rows hands it over once."""
        head = self._insert_head
        if head is None or len(rows) < 4:
            db.executemany(self.sql, rows)
            return
        width = len(self.names)
        start = 0
        for size in _CHUNKS:
            while len(rows) - start >= size:
                part = rows[start : start + size]
                start += size
                if size == 1:
                    db.execute(self.sql, part[0])
                    continue
                marks = ", ".join(["(" + ", ".join("?" * width) + ")"] * size)
                db.execute(f"{head} VALUES {marks}", [value for row in part for value in row])

    def row(self, params: dict[str, Any], memo: dict[Any, Any]) -> tuple[Any, ...]:
        """One row's values in order, processed as SQLAlchemy does; a timestamp (and a
        None) is processed once per ``memo`` (a batch: a step's start, end and the
        instance's ``updated_at`` are the same instant)."""
        getter = self._getter
        if getter is None:
            constants = self.constants
            out = [params[name] if name in params else constants[name] for name in self.names]
        elif len(self.names) == 1:
            out = [getter(params)]
        else:
            out = list(getter(params))
        for position, process in self._processing:
            value = out[position]
            if value is None or type(value) is datetime:
                key = (process, value)
                done = memo.get(key, _MISSING)
                if done is _MISSING:
                    done = memo[key] = process(value)  # None too, as SQLAlchemy does
                out[position] = done
            else:
                out[position] = process(value)
        return tuple(out)


_MISSING = object()
_CHUNKS = (256, 64, 16, 4, 1)  # rows per multi-row INSERT (at most 256 x columns values)


def compile_raw(stmt: Any, params: dict[str, Any], dialect: Dialect) -> RawStatement | None:
    """``stmt`` compiled for SQLite's DBAPI with the parameter names of ``params`` (one
    row), or None when only SQLAlchemy can run it."""
    keys = list(params)
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.returning:
        return None  # Python-side defaults or RETURNING: SQLAlchemy's execution context
    given = set(keys)
    try:  # raises when a parameter is given neither by the row nor by the statement
        bound = compiled.construct_params(params)
    except sa_exc.InvalidRequestError:
        return None
    constants = {name: value for name, value in bound.items() if name not in given}
    names = tuple(compiled.positiontup)
    if any(name not in given and name not in constants for name in names):
        return None
    processors: list[Processor] = []
    for name in names:  # SQLAlchemy's own type processing, by name
        process = compiled._bind_processors.get(name)
        if process is not None and not callable(process):
            return None  # a tuple type's processors: SQLAlchemy's job
        bind = compiled.binds.get(name)
        if process is not None and bind is not None and type(bind.type) is UTCDateTime:
            processors.append(shared_timestamps(dialect))
        else:
            processors.append(process)
    return RawStatement(compiled.string, names, tuple(processors), constants)


_TIMESTAMPS: dict[int, tuple[Dialect, Callable[[Any], Any]]] = {}


def shared_timestamps(dialect: Dialect) -> Callable[[Any], Any]:
    """SQLAlchemy's bind processor of a ``UTCDateTime`` column for ``dialect``, ONE object
    for every such column of every statement. SQLAlchemy makes one per column, and a
    batch's timestamp cache (``RawStatement.row``'s memo) is keyed by processor and value:
    a step's ``started_at`` and ``ended_at``, the completion's ``ended_at`` and
    ``updated_at``, the history row's ``at``, often the same instant, were formatted once
    per column. The text is SQLAlchemy's own (the same type, the same dialect)."""
    hit = _TIMESTAMPS.get(id(dialect))
    if hit is None or hit[0] is not dialect:
        process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        assert process is not None
        hit = _TIMESTAMPS[id(dialect)] = (dialect, process)
    return hit[1]


class RawWriter:
    """Compiled statements by (statement object, parameter names), kept for the process."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[int, tuple[str, ...]], tuple[Any, RawStatement | None]] = {}

    def prepare(self, stmt: Any, params: dict[str, Any], dialect: Dialect) -> RawStatement | None:
        key = (id(stmt), tuple(params))
        hit = self._compiled.get(key)
        if hit is None:
            # the statement is kept with its compiled form so its id is never reused
            hit = (stmt, compile_raw(stmt, params, dialect))
            self._compiled[key] = hit
        return hit[1]

    async def execute(self, conn: AsyncConnection, stmt: Any, rows: list[dict[str, Any]]) -> None:
        """Run ``stmt`` for every row in the transaction of ``conn`` (SQLite).

        The rows are built lazily by ``executemany`` itself, on aiosqlite's thread: while
        a batch commits, the event loop has nothing to do (every instance in it waits for
        this commit), so the type processing costs the loop nothing there."""
        raw = self.prepare(stmt, rows[0], conn.dialect)
        keys = rows[0].keys()
        if raw is None or any(params.keys() != keys for params in rows):
            # not reproducible, or rows of different shapes: SQLAlchemy decides
            await conn.execute(stmt, rows if len(rows) > 1 else rows[0])
            return
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        memo: dict[Any, Any] = {}
        await driver.executemany(raw.sql, (raw.row(params, memo) for params in rows))


#: a batch: per statement, its rows as (owner instance id or None, params), in order
Plan = list[tuple[Any, list[tuple[int | None, dict[str, Any]]]]]
Fence = Callable[[Any, list[int]], set[int]]  # (DBAPI connection, owners) -> lost owners


async def run_batch(
    writer: RawWriter, store: Store, plan: Plan, owners: Sequence[int], fence: Fence
) -> set[int] | None:
    """Run ``plan`` as one transaction in one call on aiosqlite's thread (the store's
    writer connection, ``Store.on_sqlite_writer``): ``BEGIN IMMEDIATE``, the fence
    (``fence`` gives the owners no longer running here), every statement's rows except
    the lost owners', ``COMMIT`` (``ROLLBACK`` and the error on any failure). Returns the
    lost owners, or None when the plan cannot go this way (a statement SQLAlchemy must
    run, rows of different shapes, another driver): nothing was run then."""
    prepared: list[tuple[RawStatement, list[tuple[int | None, dict[str, Any]]]]] = []
    for stmt, rows in plan:
        raw = writer.prepare(stmt, rows[0][1], store.dialect)
        if raw is None or not raw.same_shape(rows):
            return None
        prepared.append((raw, rows))
    wanted = list(owners)

    def work(db: Any) -> set[int]:
        db.execute("BEGIN IMMEDIATE")
        try:
            lost = fence(db, wanted) if wanted else set()
            memo: dict[Any, Any] = {}
            for raw, rows in prepared:
                try:
                    built = [raw.row(params, memo) for owner, params in rows if owner not in lost]
                except KeyError as exc:  # a row of another shape (same_shape)
                    raise _Reshaped from exc
                raw.run(db, built)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return lost

    try:
        return await store.on_sqlite_writer(work)
    except (NoDriverThread, _Reshaped):
        return None  # nothing ran (or it was rolled back): the caller writes through SQLAlchemy


class _Reshaped(Exception):
    """A batch's row lacks a name its statement reads: SQLAlchemy's way, not this one."""
