"""Secrets: only ciphertext is stored; the engine holds the key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Secret, table_of
from switchyard.store.upsert import insert_ignore

secrets = table_of(Secret)


async def put(conn: AsyncConnection, key: str, ciphertext: bytes, now: datetime) -> None:
    await conn.execute(delete(secrets).where(secrets.c.key == key))
    await conn.execute(
        insert_ignore(conn, secrets, ["key"]).values(key=key, ciphertext=ciphertext, updated_at=now)
    )


async def get(conn: AsyncConnection, key: str) -> bytes | None:
    return (await conn.execute(select(secrets.c.ciphertext).where(secrets.c.key == key))).scalar()


async def all_ciphertexts(conn: AsyncConnection) -> dict[str, bytes]:
    return {
        k: v for k, v in (await conn.execute(select(secrets.c.key, secrets.c.ciphertext))).all()
    }


async def list_keys(conn: AsyncConnection) -> list[tuple[str, datetime | None]]:
    rows = await conn.execute(select(secrets.c.key, secrets.c.updated_at).order_by(secrets.c.key))
    return [(k, t) for k, t in rows.all()]


async def remove(conn: AsyncConnection, key: str) -> int:
    return (await conn.execute(delete(secrets).where(secrets.c.key == key))).rowcount
