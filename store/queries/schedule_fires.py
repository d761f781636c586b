"""The fast pass's statements: a burst of fires inserted and its schedules moved on in bulk,
chunk by chunk of schedule ids, with no schedule row going through Python."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import ACTIVE_STATUSES
from switchyard.store.queries.schedules import instances, schedules
from switchyard.store.upsert import insert_ignore


async def chunk_next(
    conn: AsyncConnection, fire_at: datetime, after_id: int, size: int
) -> int | None:
    """The id starting the chunk after the next ``size`` schedules due at ``fire_at``
    after ``after_id`` (in id order); None when no more than ``size`` are left."""
    stmt = (
        select(schedules.c.id)
        .where(schedules.c.next_fire_at == fire_at, schedules.c.id > after_id)
        .order_by(schedules.c.id)
        .offset(size)
        .limit(1)
    )
    return (await conn.execute(stmt)).scalar()


# Instance columns copied from the schedule by ``insert_fires`` (firing.instance_row's).
_COPIED = {
    "schedule_id": schedules.c.id,
    "schedule_name": schedules.c.name,
    "lane": schedules.c.lane,
    "overlap_limit": schedules.c.overlap_limit,
    "fire_at": schedules.c.next_fire_at,
    "command": schedules.c.command,
    "shell": schedules.c.shell,
    "cwd": schedules.c.cwd,
    "env": schedules.c.env,
    "timeout_seconds": schedules.c.timeout_seconds,
    "process": schedules.c.process,
    "variables": schedules.c.variables,
}


_fires_stmts: dict[tuple[Any, ...], Any] = {}


def _fires_stmt(
    conn: AsyncConnection,
    kinds: tuple[str, ...],
    fields: tuple[tuple[str, bool], ...],
    bounded: bool,
    filtered: bool = False,
    policy: bool = False,
    overlap_guard: bool = True,
) -> Any:
    """The INSERT ... SELECT of ``insert_fires``, built once per shape (values are bound;
    ``fields`` are (name, value is None) pairs)."""
    shape = (conn.dialect.name, kinds, fields, bounded, filtered, policy, overlap_guard)
    stmt = _fires_stmts.get(shape)
    if stmt is not None:
        return stmt
    s = schedules
    key = bindparam("f_prefix", type_=String) + cast(s.c.id, String)
    values: dict[str, Any] = {"fire_key": key + bindparam("f_suffix", type_=String), **_COPIED}
    for name, is_none in fields:
        if name not in values:
            type_ = instances.c[name].type
            values[name] = null() if is_none else bindparam(f"v_{name}", type_=type_)
    active = exists().where(
        instances.c.schedule_id == s.c.id, instances.c.status.in_(ACTIVE_STATUSES)
    )
    query = select(*(v.label(n) for n, v in values.items())).where(
        s.c.next_fire_at == bindparam("f_at", type_=s.c.next_fire_at.type),
        s.c.id > bindparam("f_after", type_=s.c.id.type),
        s.c.paused.is_(False),
        s.c.trigger["kind"].as_string().in_(kinds),
    )
    if overlap_guard:
        query = query.where((s.c.overlap != "skip") | ~active)
    if policy:  # one misfire policy, with room for at least one row (misfire_limit)
        query = query.where(s.c.misfire == bindparam("f_misfire", type_=String))
        query = query.where(s.c.misfire_limit >= 1)
    if bounded:
        query = query.where(s.c.id < bindparam("f_before", type_=s.c.id.type))
    if filtered:
        triggers = bindparam("f_triggers", expanding=True, type_=Text)
        query = query.where(cast(s.c.trigger, Text).in_(triggers))
    stmt = insert_ignore(conn, instances, ["fire_key"]).from_select(
        list(values), query.order_by(s.c.id)
    )
    _fires_stmts[shape] = stmt
    return stmt


async def insert_fires(
    conn: AsyncConnection,
    *,
    fire_at: datetime,
    after_id: int,
    before_id: int | None,
    kinds: tuple[str, ...],
    key_prefix: str,
    key_suffix: str,
    fields: dict[str, Any],
    triggers: list[str] | None = None,
    misfire: str | None = None,
    overlap_guard: bool = True,
) -> int:
    """Insert one instance per unpaused schedule due at ``fire_at`` with an id after
    ``after_id`` (and before ``before_id``), in one INSERT ... SELECT: no row goes through
    Python, which makes it many times faster than inserting prepared rows.

    Only triggers of ``kinds`` fire; a schedule with overlap ``skip`` fires only while none
    of its instances is active. The fire key is ``key_prefix || id || key_suffix``; a key
    that exists already is skipped. ``fields`` are the values every row gets beside the
    ones copied from the schedule. With ``triggers`` (stored JSON text) only schedules
    with one of them fire. With ``misfire`` only the schedules with that misfire policy
    (and a ``misfire_limit`` of at least 1) fire. ``overlap_guard=False`` drops the overlap
    ``skip`` check (for rows that do not run: ``missed``). Returns how many rows were
    inserted.
    """
    shape = tuple((name, value is None) for name, value in fields.items())
    stmt = _fires_stmt(
        conn,
        kinds,
        shape,
        before_id is not None,
        triggers is not None,
        misfire is not None,
        overlap_guard,
    )
    params = {f"v_{name}": value for name, value in fields.items() if value is not None}
    params.update(f_prefix=key_prefix, f_suffix=key_suffix, f_at=fire_at, f_after=after_id)
    if before_id is not None:
        params["f_before"] = before_id
    if triggers is not None:
        params["f_triggers"] = triggers
    if misfire is not None:
        params["f_misfire"] = misfire
    return (await conn.execute(stmt, params)).rowcount


NO_ROOM = "no-room"  # due_policies: a schedule whose misfire_limit leaves no row


async def due_policies(conn: AsyncConnection, fire_at: datetime) -> list[str]:
    """The distinct misfire policies of unpaused schedules due at ``fire_at``; a schedule
    with a ``misfire_limit`` below 1 (only an import can store one) counts as ``NO_ROOM``,
    which no late insert takes (``fire_due(misfire=...)`` needs a limit of at least 1),
    so the fire time is left to the planning pass and queue order stays fire order."""
    policy = case((schedules.c.misfire_limit >= 1, schedules.c.misfire), else_=literal(NO_ROOM))
    stmt = (
        select(policy)
        .where(schedules.c.next_fire_at == fire_at, schedules.c.paused.is_(False))
        .distinct()
    )
    return sorted((await conn.execute(stmt)).scalars())


async def due_triggers(conn: AsyncConnection, fire_at: datetime, limit: int) -> list[str]:
    """The distinct triggers (as stored JSON text) of unpaused schedules due at ``fire_at``."""
    text = cast(schedules.c.trigger, Text)
    stmt = (
        select(text)
        .where(schedules.c.next_fire_at == fire_at, schedules.c.paused.is_(False))
        .distinct()
        .limit(limit)
    )
    return list((await conn.execute(stmt)).scalars())


_fired_triggers_stmts: dict[tuple[bool, bool], Any] = {}


def fired_where(bounded: bool) -> list[Any]:
    """The schedules ``fired_triggers`` and ``advance_fired`` take: unpaused, due at
    ``a_at``, with an id after ``a_after`` (before ``a_before``), and whose instance for
    that fire (key ``a_prefix || id || a_suffix``) exists."""
    s = schedules
    key = bindparam("a_prefix", type_=String) + cast(s.c.id, String)
    where = [
        s.c.next_fire_at == bindparam("a_at", type_=s.c.next_fire_at.type),
        s.c.id > bindparam("a_after", type_=s.c.id.type),
        s.c.paused.is_(False),
        exists().where(instances.c.fire_key == key + bindparam("a_suffix", type_=String)),
    ]
    if bounded:
        where.append(s.c.id < bindparam("a_before", type_=s.c.id.type))
    return where


def fired_triggers_stmt(bounded: bool, ids: bool) -> Any:
    shape = (bounded, ids)
    stmt = _fired_triggers_stmts.get(shape)
    if stmt is None:
        text = cast(schedules.c.trigger, Text)
        where = fired_where(bounded)
        if ids:
            stmt = select(schedules.c.id, text).where(*where)
        else:
            stmt = select(text, func.count()).where(*where).group_by(text)
        _fired_triggers_stmts[shape] = stmt
    return stmt


def fired_params(
    fire_at: Any, after_id: int, before_id: int | None, key_prefix: str, key_suffix: str
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "a_at": fire_at,
        "a_after": after_id,
        "a_prefix": key_prefix,
        "a_suffix": key_suffix,
    }
    if before_id is not None:
        params["a_before"] = before_id
    return params


async def fired_triggers(
    conn: AsyncConnection,
    *,
    fire_at: datetime,
    after_id: int,
    before_id: int | None,
    key_prefix: str,
    key_suffix: str,
    ids: bool = False,
) -> list[tuple[Any, ...]]:
    """The schedules ``advance_fired`` would move on: (trigger as stored JSON text, how
    many), one row per distinct trigger, or with ``ids`` (id, trigger) one row each."""
    stmt = fired_triggers_stmt(before_id is not None, ids)
    params = fired_params(fire_at, after_id, before_id, key_prefix, key_suffix)
    return [tuple(r) for r in await conn.execute(stmt, params)]


_advance_fired_stmts: dict[tuple[Any, ...], Any] = {}


def _advance_fired_stmt(bounded: bool) -> Any:
    shape = (bounded,)
    stmt = _advance_fired_stmts.get(shape)
    if stmt is not None:
        return stmt
    s = schedules
    fire_at = bindparam("a_at", type_=s.c.next_fire_at.type)
    triggers = bindparam("a_triggers", expanding=True, type_=Text)
    stmt = (
        update(s)
        .where(*fired_where(bounded), cast(s.c.trigger, Text).in_(triggers))
        .values(
            next_fire_at=bindparam("a_next", type_=s.c.next_fire_at.type),
            last_fire_at=fire_at,
            updated_at=bindparam("a_now", type_=s.c.updated_at.type),
        )
    )
    _advance_fired_stmts[shape] = stmt
    return stmt


async def advance_fired(
    conn: AsyncConnection,
    *,
    fire_at: datetime,
    trigger_jsons: list[str],
    next_fire: datetime | None,
    now: datetime,
    after_id: int,
    before_id: int | None,
    key_prefix: str,
    key_suffix: str,
) -> int:
    """Move on, in one UPDATE, the unpaused schedules with one of these triggers (stored
    JSON text, all with the same next fire) due at ``fire_at``, with an id after
    ``after_id`` (and before ``before_id``), whose instance for that fire exists (key
    ``key_prefix || id || key_suffix``): next fire ``next_fire``, last fire ``fire_at``.
    Guarded like ``advance_many``: a schedule another node moved on already, or whose
    trigger changed, is left alone. Returns how many were moved on."""
    params: dict[str, Any] = {
        "a_at": fire_at,
        "a_after": after_id,
        "a_triggers": trigger_jsons,
        "a_next": next_fire,
        "a_now": now,
        "a_prefix": key_prefix,
        "a_suffix": key_suffix,
    }
    if before_id is not None:
        params["a_before"] = before_id
    return (await conn.execute(_advance_fired_stmt(before_id is not None), params)).rowcount
