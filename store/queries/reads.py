"""The read-only command line's queries (``lane list``, ``instances``, ``schedule next``,
through engine/reads.py), over SQLAlchemy Core tables that name only the columns these
queries read.

Why not the tables of store/models.py: building every SQLModel class (and importing
SQLModel and pydantic) is ~0.2-0.3 s, as long as the whole command should take (issue 14).
These ``Table`` objects live in a MetaData of their own, never used to create or migrate
anything; tests/store/test_reads_tables.py checks that each column here exists in the
model's table with the same type, so a renamed or retyped column fails a test, not a
command. The statements are the ones store/queries/{lanes,instances,people,processes,
schedules}.py send for the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.core import (
    ACTIVE_STATUSES,
    RUNNING,
    SUBJECT_GROUP,
    SUBJECT_USER,
    UTCDateTime,
)

metadata = MetaData()  # these tables' own: never created, never migrated

lanes = Table(
    "lanes",
    metadata,
    Column("name", String, primary_key=True),
    Column("concurrency", Integer),
)
instances = Table(
    "instances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("schedule_name", String),
    Column("process", String),
    Column("lane", String),
    Column("status", String),
    Column("reason", Text),
    Column("origin", String),
    Column("originator", String),
    Column("fire_at", UTCDateTime()),
    Column("queued_at", UTCDateTime()),
    Column("started_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("exit_code", Integer),
    Column("node_id", String),
    Column("command", JSON),
    Column("current_state", String),
    Column("current_action", String),
    Column("definition_id", Integer),
    Column("variables", JSON),
)
schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("trigger", JSON),
)
users = Table(
    "users",
    metadata,
    Column("login", String, primary_key=True),
    Column("name", String),
    Column("licence", String),
    Column("admin", Boolean),
    Column("roles", JSON),
)
members = Table(
    "group_members",
    metadata,
    Column("group", String, primary_key=True),
    Column("login", String, primary_key=True),
)
rights = Table(
    "rights",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("process", String),
    Column("subject_kind", String),
    Column("subject", String),
    Column("launch", Boolean),
    Column("view", Boolean),
    Column("manage", Boolean),
)
secspecs = Table(
    "secspecs",
    metadata,
    Column("name", String, primary_key=True),
    Column("users", JSON),
    Column("groups", JSON),
    Column("roles", JSON),
)
definitions = Table(
    "process_definitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("doc", JSON),
)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in result.mappings()]


# ------------------------------------------------------------------------ people
async def user_and_groups(
    conn: AsyncConnection, login: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """The user row and the groups it is a member of, in one statement (people.py's)."""
    stmt = (
        select(users, members.c.group.label("_group"))
        .select_from(users.outerjoin(members, members.c.login == users.c.login))
        .where(users.c.login == login)
        .order_by(members.c.group)
    )
    found = (await conn.execute(stmt)).mappings().all()
    if not found:
        return None, []
    row = dict(found[0])
    row.pop("_group")
    return row, [str(r["_group"]) for r in found if r["_group"] is not None]


async def all_rights_of(
    conn: AsyncConnection, login: str, member_of: Sequence[str]
) -> list[dict[str, Any]]:
    """The rights rows given to ``login`` or to one of its groups (people.py's)."""
    mine = and_(rights.c.subject_kind == SUBJECT_USER, rights.c.subject == login)
    if member_of:
        theirs = and_(rights.c.subject_kind == SUBJECT_GROUP, rights.c.subject.in_(list(member_of)))
        return _rows(await conn.execute(select(rights).where(or_(mine, theirs))))
    return _rows(await conn.execute(select(rights).where(mine)))


def visible_instances(
    login: str,
    *,
    all_processes: bool,
    processes: Sequence[str],
    schedules: Sequence[str],
    command_runs: bool,
) -> ColumnElement[bool]:
    """What a viewer may see, as a WHERE clause on ``instances`` (the same clause as
    people.py's ``visible_instances``; its docstring says what each argument means)."""
    is_process = instances.c.process.is_not(None)
    clauses: list[ColumnElement[bool]] = [instances.c.originator == login]
    if all_processes:
        clauses.append(is_process)
    elif processes:
        clauses.append(instances.c.process.in_(list(processes)))
    if command_runs:
        clauses.append(instances.c.process.is_(None))
    elif schedules:
        clauses.append(
            and_(instances.c.process.is_(None), instances.c.schedule_name.in_(list(schedules)))
        )
    return or_(false(), *clauses)


async def secspecs_named(conn: AsyncConnection, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    stmt = select(secspecs).where(secspecs.c.name.in_(list(names)))
    return {r["name"]: r for r in _rows(await conn.execute(stmt))}


async def definition_docs(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each published definition's document by id (missing ids: absent)."""
    if not ids:
        return {}
    stmt = select(definitions.c.id, definitions.c.doc).where(definitions.c.id.in_(list(ids)))
    return {int(r["id"]): dict(r["doc"] or {}) for r in _rows(await conn.execute(stmt))}


# ------------------------------------------------------------------------- lanes
async def has_lane(conn: AsyncConnection, name: str) -> bool:
    stmt = select(lanes.c.name).where(lanes.c.name == name)
    return (await conn.execute(stmt)).first() is not None


async def lanes_with_counts(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every lane with how many instances run and wait on it (lanes.py's statement)."""
    running = func.sum(case((instances.c.status == RUNNING, 1), else_=0))
    counts = (
        select(
            instances.c.lane,
            func.count().label("active"),
            running.label("running"),
        )
        .where(instances.c.status.in_(ACTIVE_STATUSES))
        .group_by(instances.c.lane)
        .subquery()
    )
    stmt = (
        select(
            lanes.c.name,
            lanes.c.concurrency,
            func.coalesce(counts.c.running, 0).label("running"),
            func.coalesce(counts.c.active - func.coalesce(counts.c.running, 0), 0).label("queued"),
        )
        .select_from(lanes.outerjoin(counts, counts.c.lane == lanes.c.name))
        .order_by(lanes.c.name)
    )
    return _rows(await conn.execute(stmt))


# --------------------------------------------------------------------- instances
async def search_instances(
    conn: AsyncConnection,
    *,
    statuses: Sequence[str] | None,
    schedule: str | None,
    lane: str | None,
    limit: int,
    where: ColumnElement[bool] | None,
) -> list[dict[str, Any]]:
    """A first page of instances, newest first (instances.py's ``search``)."""
    stmt = select(instances)
    if where is not None:
        stmt = stmt.where(where)
    if statuses:
        stmt = stmt.where(instances.c.status.in_(list(statuses)))
    if schedule:
        stmt = stmt.where(instances.c.schedule_name == schedule)
    if lane:
        stmt = stmt.where(instances.c.lane == lane)
    stmt = stmt.order_by(instances.c.id.desc()).limit(limit)
    return _rows(await conn.execute(stmt))


# --------------------------------------------------------------------- schedules
async def schedule_trigger(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    """A schedule's stored trigger fields, or None when there is no such schedule."""
    stmt = select(schedules.c.trigger).where(schedules.c.name == name)
    row = (await conn.execute(stmt)).first()
    return None if row is None else dict(row[0])
