"""The step journal and the audit/reporting history of process instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import (
    STEP_CANCELLED,
    STEP_DONE,
    STEP_SKIPPED,
    STEP_STARTED,
    HistoryEntry,
    Step,
    table_of,
)

steps = table_of(Step)
history = table_of(HistoryEntry)

# Statements the group writer runs with executemany (one round trip per batch).
INSERT_STEP = insert(steps)
INSERT_HISTORY = insert(history)


def end_step_stmt() -> Any:
    """UPDATE a step by (instance_id, key); bind names are prefixed ``b_``."""
    from sqlalchemy import bindparam

    return (
        update(steps)
        .where(
            steps.c.instance_id == bindparam("b_instance_id"),
            steps.c.key == bindparam("b_key"),
        )
        .values(
            status=bindparam("status"),
            ended_at=bindparam("ended_at"),
            note=bindparam("note"),
            error=bindparam("error"),
            decision=bindparam("decision"),
        )
    )


async def journal(conn: AsyncConnection, instance_id: int) -> dict[str, dict[str, Any]]:
    stmt = select(steps).where(steps.c.instance_id == instance_id)
    return {r["key"]: dict(r) for r in (await conn.execute(stmt)).mappings()}


async def journals(
    conn: AsyncConnection, instance_ids: list[int]
) -> dict[int, dict[str, dict[str, Any]]]:
    """The journals of several instances in one query (most are empty: fresh starts)."""
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for start in range(0, len(instance_ids), 500):
        chunk = instance_ids[start : start + 500]
        stmt = select(steps).where(steps.c.instance_id.in_(chunk))
        for r in (await conn.execute(stmt)).mappings():
            out.setdefault(int(r["instance_id"]), {})[r["key"]] = dict(r)
    return out


async def list_steps(
    conn: AsyncConnection, instance_id: int, *, limit: int = 500
) -> list[dict[str, Any]]:
    stmt = select(steps).where(steps.c.instance_id == instance_id).order_by(steps.c.id).limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def get_step(conn: AsyncConnection, instance_id: int, key: str) -> dict[str, Any] | None:
    stmt = select(steps).where(steps.c.instance_id == instance_id, steps.c.key == key)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def set_step(
    conn: AsyncConnection, instance_id: int, key: str, values: dict[str, Any]
) -> int:
    stmt = (
        update(steps).where(steps.c.instance_id == instance_id, steps.c.key == key).values(**values)
    )
    return (await conn.execute(stmt)).rowcount


async def forget_step(conn: AsyncConnection, instance_id: int, key: str) -> int:
    """Remove a failed step so that the instance runs it again (retry)."""
    stmt = delete(steps).where(steps.c.instance_id == instance_id, steps.c.key == key)
    return (await conn.execute(stmt)).rowcount


async def add_history(
    conn: AsyncConnection,
    instance_id: int,
    kind: str,
    at: datetime,
    user: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        insert(history).values(
            instance_id=instance_id, kind=kind, at=at, user=user, detail=detail or {}
        )
    )


async def list_history(
    conn: AsyncConnection, instance_id: int, *, limit: int = 500
) -> list[dict[str, Any]]:
    stmt = (
        select(history)
        .where(history.c.instance_id == instance_id)
        .order_by(history.c.id)
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def close_started(conn: AsyncConnection, instance_id: int, now: datetime) -> int:
    """Steps under way of an instance cancelled while it waited: they are over."""
    stmt = (
        update(steps)
        .where(steps.c.instance_id == instance_id, steps.c.status == STEP_STARTED)
        .values(status=STEP_CANCELLED, ended_at=now)
    )
    return (await conn.execute(stmt)).rowcount


async def done_keys(conn: AsyncConnection, instance_id: int) -> set[str]:
    """Keys of the instance's steps that finished (done or skipped)."""
    stmt = select(steps.c.key).where(
        steps.c.instance_id == instance_id, steps.c.status.in_([STEP_DONE, STEP_SKIPPED])
    )
    return {str(k) for k in (await conn.execute(stmt)).scalars()}
