"""Moving a burst's schedules on one by one (each its own next fire), for fires whose
schedules have too many distinct next fires for one UPDATE per next fire
(``schedule_fires.advance_fired``).

On SQLite the chunk is moved on by one UPDATE looking each schedule's next fire up by its
trigger in a temporary table, in ONE call on the driver's thread
(``store.db.on_driver_thread``): no row goes through Python on either thread. Elsewhere
(PostgreSQL, or an aiosqlite without that door) the pairs are read through SQLAlchemy and
moved on by the driver's executemany in slices, as before; the same rows either way.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, column, select, table, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.db import NoDriverThread, on_driver_thread
from switchyard.store.queries import schedule_fires as fires_q
from switchyard.store.queries.schedules import schedules

SLICE = 250  # rows per executemany on the SQLAlchemy path (a yield to the loop between)

_advance_each = (
    update(schedules)
    .where(
        schedules.c.id == bindparam("e_id"),
        schedules.c.next_fire_at == bindparam("e_at"),
        schedules.c.paused.is_(False),
        cast(schedules.c.trigger, Text) == bindparam("e_trigger", type_=Text),
    )
    .values(
        next_fire_at=bindparam("e_next"),
        last_fire_at=bindparam("e_at"),
        updated_at=bindparam("e_now"),
    )
)


async def advance_each(
    conn: AsyncConnection,
    rows: list[tuple[int, str, datetime | None]],
    *,
    fire_at: datetime,
    now: datetime,
) -> int:
    """Move on each (id, trigger as stored JSON text, next fire) due at ``fire_at``, in one
    executemany; guarded like ``advance_fired`` (paused, moved on or changed: left alone).
    Returns how many were moved on, where the driver tells (else how many were given)."""
    if not rows:
        return 0
    # Compiled once per dialect and run as the driver's executemany with each distinct
    # time converted once: SQLAlchemy's own executemany converts every parameter of
    # every row (tens of µs a row, on the event loop's thread).
    sql, order, convert = _advance_each_sql(conn.dialect)
    times = _Times(convert)
    common = {"e_at": times(fire_at), "e_now": times(now)}
    params = [
        tuple({**common, "e_id": i, "e_trigger": t, "e_next": times(n)}[k] for k in order)
        for i, t, n in rows
    ]
    count = (await conn.exec_driver_sql(sql, params)).rowcount
    return count if count >= 0 else len(rows)


async def advance_each_fired(
    conn: AsyncConnection,
    nexts: dict[str, datetime | None],
    *,
    fire_at: datetime,
    now: datetime,
    after_id: int,
    before_id: int | None,
    key_prefix: str,
    key_suffix: str,
    token: str | None = None,
) -> int:
    """Move on, each by its own trigger's next fire (``nexts``: by trigger as stored JSON
    text), the schedules ``schedule_fires.fired_triggers(ids=True)`` names (unpaused, due
    at ``fire_at``, id in the chunk, their instance for that fire exists); a schedule
    whose trigger is not in ``nexts`` is left alone. Guarded like ``advance_each``.
    ``token`` names this ``nexts`` (the same for every chunk of a burst): on SQLite the
    pairs are then written to the connection's temporary table once, not once a chunk.
    Returns how many were moved on."""
    params = fires_q.fired_params(fire_at, after_id, before_id, key_prefix, key_suffix)
    if conn.dialect.name == "sqlite":
        try:
            return await _on_driver_thread(
                conn, nexts, params, fire_at=fire_at, now=now, token=token
            )
        except NoDriverThread:
            pass  # nothing ran: the same rows through SQLAlchemy below
    pairs = await fires_q.fired_triggers(
        conn,
        fire_at=fire_at,
        after_id=after_id,
        before_id=before_id,
        key_prefix=key_prefix,
        key_suffix=key_suffix,
        ids=True,
    )
    moved = 0
    for i in range(0, len(pairs), SLICE):
        rows = [(id_, t, nexts[t]) for id_, t in pairs[i : i + SLICE] if t in nexts]
        moved += await advance_each(conn, rows, fire_at=fire_at, now=now)
        await asyncio.sleep(0)  # a slice per turn of the loop
    return moved


async def _on_driver_thread(
    conn: AsyncConnection,
    nexts: dict[str, datetime | None],
    params: dict[str, Any],
    *,
    fire_at: datetime,
    now: datetime,
    token: str | None,
) -> int:
    """The chunk moved on by ONE UPDATE that looks each schedule's next fire up by its
    trigger in a temporary table of (trigger, next fire), filled by one executemany:
    SQLite does the per-row work in C, with the GIL released, so the driver's thread
    holds the GIL for microseconds, not for a Python loop over the rows (which would
    make the event loop wait for it, up to the 5 ms switch interval, at every turn).
    With a ``token`` the table keeps its pairs, marked with it, for the next chunk of
    the same burst (temporary tables are per connection and transactional: a chunk
    rolled back, or another connection, finds no mark and fills it again)."""
    update_sql, update_order, convert = _by_trigger_sql(conn.dialect, "a_before" in params)
    values = {**params, "a_at": convert(fire_at), "a_now": convert(now)}
    update_params = tuple(values[k] for k in update_order)

    def work(db: Any) -> int:  # on aiosqlite's thread, inside the transaction of ``conn``
        db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_NEXTS} (t TEXT PRIMARY KEY, n)")
        db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_MARK} (token TEXT)")
        if token is None or db.execute(f"SELECT token FROM temp.{_MARK}").fetchall() != [(token,)]:
            db.execute(f"DELETE FROM temp.{_NEXTS}")
            db.execute(f"DELETE FROM temp.{_MARK}")
            pairs = ((t, None if n is None else convert(n)) for t, n in nexts.items())
            db.executemany(f"INSERT INTO temp.{_NEXTS} (t, n) VALUES (?, ?)", pairs)
            if token is not None:
                db.execute(f"INSERT INTO temp.{_MARK} (token) VALUES (?)", (token,))
        count = db.execute(update_sql, update_params).rowcount
        if token is None:
            db.execute(f"DELETE FROM temp.{_NEXTS}")
        return int(count)

    return await on_driver_thread(conn, work)


_NEXTS = "switchyard_fire_nexts"  # SQLite: per connection; kept for a burst's chunks
_MARK = "switchyard_fire_nexts_of"  # the token of the burst whose pairs it holds


class _Times:
    """A time converted to what the driver takes, once per distinct time."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self.convert = convert
        self.done: dict[datetime | None, Any] = {None: None}

    def __call__(self, value: datetime | None) -> Any:
        if value not in self.done:
            self.done[value] = self.convert(value)
        return self.done[value]


Compiled = tuple[str, tuple[str, ...], Callable[[Any], Any]]
_compiled: dict[tuple[str, Any], Compiled] = {}


def _compile(key: Any, stmt: Any, dialect: Dialect) -> Compiled:
    """``stmt`` as the driver's SQL, its parameters' order and the conversion of a time to
    what the driver takes (the schedules' time columns' own, cached), once per dialect."""
    found = _compiled.get((dialect.name, key))
    if found is None:
        compiled = stmt.compile(dialect=dialect)
        process = schedules.c.next_fire_at.type.dialect_impl(dialect).bind_processor(dialect)
        # cached: the chunks of one burst share their next fires (~3 µs a conversion)
        convert = functools.lru_cache(maxsize=8192)(process or (lambda v: v))
        found = (compiled.string, tuple(compiled.positiontup or ()), convert)
        _compiled[(dialect.name, key)] = found
    return found


def _advance_each_sql(dialect: Dialect) -> Compiled:
    return _compile("advance_each", _advance_each, dialect)


def _by_trigger_sql(dialect: Dialect, bounded: bool) -> Compiled:
    """SQLite: the UPDATE moving on the schedules ``fired_triggers(ids=True)`` names whose
    trigger is in the temporary table, each to its trigger's next fire there."""
    nexts = table(_NEXTS, column("t", Text), column("n"), schema="temp")
    trigger = cast(schedules.c.trigger, Text)
    stmt = (
        update(schedules)
        .where(*fires_q.fired_where(bounded), trigger.in_(select(nexts.c.t)))
        .values(
            next_fire_at=select(nexts.c.n).where(nexts.c.t == trigger).scalar_subquery(),
            last_fire_at=bindparam("a_at", type_=schedules.c.last_fire_at.type),
            updated_at=bindparam("a_now", type_=schedules.c.updated_at.type),
        )
    )
    return _compile(("by_trigger", bounded), stmt, dialect)
