"""Published process definitions: versions, newest first; never updated in place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import ProcessDefinition, table_of

definitions = table_of(ProcessDefinition)


async def latest(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    stmt = (
        select(definitions)
        .where(definitions.c.name == name)
        .order_by(definitions.c.version.desc())
        .limit(1)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def get(conn: AsyncConnection, name: str, version: int) -> dict[str, Any] | None:
    stmt = select(definitions).where(definitions.c.name == name, definitions.c.version == version)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def get_by_id(conn: AsyncConnection, definition_id: int) -> dict[str, Any] | None:
    stmt = select(definitions).where(definitions.c.id == definition_id)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def add_version(
    conn: AsyncConnection,
    *,
    name: str,
    digest: str,
    filename: str | None,
    source: str,
    doc: dict[str, Any],
    now: datetime,
    user: str | None,
) -> tuple[int, int]:
    """Insert the next version of ``name``; returns (id, version). The unique
    (name, version) constraint makes two concurrent publishers collide, never overwrite."""
    current = (
        await conn.execute(
            select(func.max(definitions.c.version)).where(definitions.c.name == name)
        )
    ).scalar()
    version = int(current or 0) + 1
    stmt = (
        insert(definitions)
        .values(
            name=name,
            version=version,
            digest=digest,
            filename=filename,
            source=source,
            doc=doc,
            published_at=now,
            published_by=user,
        )
        .returning(definitions.c.id)
    )
    new_id = int((await conn.execute(stmt)).scalar_one())
    return new_id, version


async def list_latest(conn: AsyncConnection) -> list[dict[str, Any]]:
    """The newest version of every process, with how many versions it has."""
    newest = (
        select(
            definitions.c.name,
            func.max(definitions.c.version).label("version"),
            func.count().label("versions"),
        )
        .group_by(definitions.c.name)
        .subquery()
    )
    stmt = (
        select(definitions, newest.c.versions)
        .join(
            newest,
            (definitions.c.name == newest.c.name) & (definitions.c.version == newest.c.version),
        )
        .order_by(definitions.c.name)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def all_docs(conn: AsyncConnection) -> list[tuple[str, dict[str, Any]]]:
    """``(name, doc)`` of every version of every process, oldest first."""
    stmt = select(definitions.c.name, definitions.c.doc).order_by(definitions.c.id)
    return [(r.name, r.doc or {}) for r in await conn.execute(stmt)]


async def names(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(definitions.c.name).distinct())).scalars())


async def newest_id(conn: AsyncConnection) -> int:
    """The id of the last published definition (0 when none): changes on every publish."""
    return int((await conn.execute(select(func.max(definitions.c.id)))).scalar_one() or 0)
