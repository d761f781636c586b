"""People: users, groups and their members, rights per process, security specifications,
the audit log, and the filter that limits instance listings to what a viewer may see."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    false,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import (
    ALL_PROCESSES,
    SUBJECT_GROUP,
    SUBJECT_USER,
    AuditEntry,
    Group,
    GroupMember,
    Instance,
    Right,
    SecSpec,
    User,
    table_of,
)
from switchyard.store.queries import params as params_q
from switchyard.store.upsert import insert_ignore

users = table_of(User)
groups = table_of(Group)
members = table_of(GroupMember)
rights = table_of(Right)
secspecs = table_of(SecSpec)
audit = table_of(AuditEntry)
instances = table_of(Instance)

FIRST_ADMIN_LOCK = 0x5357_5553  # pg advisory lock key held while making the first admin


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in result.mappings()]


# ------------------------------------------------------------------------- users
async def get_user(conn: AsyncConnection, login: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(users).where(users.c.login == login))).mappings().first()
    return dict(row) if row else None


async def user_and_groups(
    conn: AsyncConnection, login: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """``get_user`` and ``groups_of`` in one statement (a user row per group, or one)."""
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


async def user_groups_and_changes(
    conn: AsyncConnection, login: str
) -> tuple[dict[str, Any] | None, list[str], Any]:
    """``user_and_groups`` and the store's change token (params.py) in one statement: the
    token vouches for exactly the user and groups read with it."""
    stmt = (
        select(
            users,
            members.c.group.label("_group"),
            params_q.changes_token().label("_changes"),
        )
        .select_from(users.outerjoin(members, members.c.login == users.c.login))
        .where(users.c.login == login)
        .order_by(members.c.group)
    )
    found = (await conn.execute(stmt)).mappings().all()
    if not found:
        return None, [], await params_q.changes(conn)
    row = dict(found[0])
    row.pop("_group")
    token = row.pop("_changes")
    return row, [str(r["_group"]) for r in found if r["_group"] is not None], token


async def list_users(conn: AsyncConnection) -> list[dict[str, Any]]:
    return _rows(await conn.execute(select(users).order_by(users.c.login)))


async def logins(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(users.c.login))).scalars())


async def insert_user(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(users.insert().values(**row))


async def make_first_admin(conn: AsyncConnection, login: str, now: datetime) -> bool:
    """On a store without users, ``login`` becomes an admin with the designer licence.

    Race-safe: the insert only happens while the table is empty (PostgreSQL serialises
    first starts with an advisory lock; SQLite writers are serialised by BEGIN IMMEDIATE),
    and a second insert of the same login is ignored. Returns True when it was made."""
    if (await conn.execute(select(users.c.login).limit(1))).first() is not None:
        return False  # the common case: no lock, no write
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FIRST_ADMIN_LOCK})
    values = select(
        literal(login).label("login"),
        literal("designer").label("licence"),
        literal(True).label("admin"),
        literal([], type_=users.c.roles.type).label("roles"),
        literal(now, type_=users.c.created_at.type).label("created_at"),
    ).where(~exists(select(users.c.login)))
    stmt = insert_ignore(conn, users, ["login"]).from_select(
        ["login", "licence", "admin", "roles", "created_at"], values
    )
    return (await conn.execute(stmt)).rowcount == 1


async def update_user(conn: AsyncConnection, login: str, values: dict[str, Any]) -> int:
    return (
        await conn.execute(update(users).where(users.c.login == login).values(**values))
    ).rowcount


async def delete_user(conn: AsyncConnection, login: str) -> int:
    """Removes the user, their memberships and the rights granted to them."""
    await conn.execute(delete(members).where(members.c.login == login))
    await conn.execute(
        delete(rights).where(rights.c.subject_kind == SUBJECT_USER, rights.c.subject == login)
    )
    return (await conn.execute(delete(users).where(users.c.login == login))).rowcount


async def count_admins(conn: AsyncConnection) -> int:
    stmt = select(users.c.login).where(users.c.admin.is_(True))
    return len(list((await conn.execute(stmt)).scalars()))


# ------------------------------------------------------------------------ groups
async def get_group(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(groups).where(groups.c.name == name))).mappings().first()
    return dict(row) if row else None


async def list_groups(conn: AsyncConnection) -> list[dict[str, Any]]:
    return _rows(await conn.execute(select(groups).order_by(groups.c.name)))


async def group_names(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(groups.c.name))).scalars())


async def insert_group(conn: AsyncConnection, name: str, now: datetime) -> None:
    await conn.execute(groups.insert().values(name=name, created_at=now))


async def delete_group(conn: AsyncConnection, name: str) -> int:
    """Removes the group, its memberships and the rights granted to it."""
    await conn.execute(delete(members).where(members.c.group == name))
    await conn.execute(
        delete(rights).where(rights.c.subject_kind == SUBJECT_GROUP, rights.c.subject == name)
    )
    return (await conn.execute(delete(groups).where(groups.c.name == name))).rowcount


async def add_member(conn: AsyncConnection, group: str, login: str) -> int:
    stmt = insert_ignore(conn, members, ["group", "login"]).values(group=group, login=login)
    return (await conn.execute(stmt)).rowcount


async def remove_member(conn: AsyncConnection, group: str, login: str) -> int:
    stmt = delete(members).where(members.c.group == group, members.c.login == login)
    return (await conn.execute(stmt)).rowcount


async def memberships(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Every (group, login) pair, ordered."""
    stmt = select(members.c.group, members.c.login).order_by(members.c.group, members.c.login)
    return [(str(g), str(u)) for g, u in (await conn.execute(stmt)).all()]


async def groups_of(conn: AsyncConnection, login: str) -> list[str]:
    stmt = select(members.c.group).where(members.c.login == login).order_by(members.c.group)
    return list((await conn.execute(stmt)).scalars())


# ------------------------------------------------------------------------ rights
def _subject_is(login: str, member_of: Sequence[str]) -> ColumnElement[bool]:
    mine = and_(rights.c.subject_kind == SUBJECT_USER, rights.c.subject == login)
    if not member_of:
        return mine
    theirs = and_(rights.c.subject_kind == SUBJECT_GROUP, rights.c.subject.in_(list(member_of)))
    return or_(mine, theirs)


async def rights_of(
    conn: AsyncConnection, login: str, member_of: Sequence[str], processes: Sequence[str]
) -> list[dict[str, Any]]:
    """The rights rows that apply to a user (directly or through a group) on ``processes``."""
    stmt = select(rights).where(
        rights.c.process.in_(list(processes)), _subject_is(login, member_of)
    )
    return _rows(await conn.execute(stmt))


async def all_rights_of(
    conn: AsyncConnection, login: str, member_of: Sequence[str]
) -> list[dict[str, Any]]:
    return _rows(await conn.execute(select(rights).where(_subject_is(login, member_of))))


async def get_right(
    conn: AsyncConnection, process: str, kind: str, subject: str
) -> dict[str, Any] | None:
    stmt = select(rights).where(
        rights.c.process == process, rights.c.subject_kind == kind, rights.c.subject == subject
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def insert_right(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(rights.insert().values(**row))


async def update_right(conn: AsyncConnection, right_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(rights).where(rights.c.id == right_id).values(**values))


async def delete_right(conn: AsyncConnection, right_id: int) -> None:
    await conn.execute(delete(rights).where(rights.c.id == right_id))


async def list_rights(conn: AsyncConnection, process: str | None = None) -> list[dict[str, Any]]:
    stmt = select(rights).order_by(rights.c.process, rights.c.subject_kind, rights.c.subject)
    if process is not None:
        stmt = stmt.where(rights.c.process.in_([process, ALL_PROCESSES]))
    return _rows(await conn.execute(stmt))


# --------------------------------------------------------------------- secspecs
async def get_secspec(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(secspecs).where(secspecs.c.name == name))).mappings().first()
    return dict(row) if row else None


async def get_secspecs(conn: AsyncConnection, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    stmt = select(secspecs).where(secspecs.c.name.in_(list(names)))
    return {r["name"]: r for r in _rows(await conn.execute(stmt))}


async def list_secspecs(conn: AsyncConnection) -> list[dict[str, Any]]:
    return _rows(await conn.execute(select(secspecs).order_by(secspecs.c.name)))


async def secspec_names(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(secspecs.c.name))).scalars())


async def insert_secspec(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(secspecs.insert().values(**row))


async def update_secspec(conn: AsyncConnection, name: str, values: dict[str, Any]) -> int:
    stmt = update(secspecs).where(secspecs.c.name == name).values(**values)
    return (await conn.execute(stmt)).rowcount


async def delete_secspec(conn: AsyncConnection, name: str) -> int:
    return (await conn.execute(delete(secspecs).where(secspecs.c.name == name))).rowcount


# ------------------------------------------------------------------------- audit
async def add_audit(
    conn: AsyncConnection,
    *,
    at: datetime,
    login: str,
    as_login: str | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        audit.insert().values(
            at=at,
            login=login,
            as_login=as_login,
            action=action,
            target=target,
            detail=detail or {},
        )
    )


async def list_audit(
    conn: AsyncConnection, *, limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Newest first, keyset-paged on id."""
    stmt = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(audit.c.id < before_id)
    return _rows(await conn.execute(stmt))


# ------------------------------------------------------------ who sees which instance
def visible_instances(
    login: str,
    *,
    all_processes: bool,
    processes: Sequence[str],
    schedules: Sequence[str],
    command_runs: bool,
) -> ColumnElement[bool]:
    """A WHERE clause on ``instances``: what a viewer may see (a filter in the query, so
    paging stays exact). ``all_processes``: a view right on "*"; ``processes``: processes
    with a view right; ``command_runs``: every command-schedule instance (monitor licence);
    ``schedules``: command schedules with a view right; the originator always sees theirs."""
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
