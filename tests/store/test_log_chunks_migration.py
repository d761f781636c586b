"""Migration 0006 adds ``log_chunks`` to a store made by the previous version, keeping its
data, and its downgrade takes the table away again."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection
from switchyard.store import migrate
from switchyard.store.db import Store, open_store
from switchyard.store.models import Lane, table_of


def _to(revision: str, downgrade: bool = False) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        cfg = migrate.alembic_config(connection)
        (command.downgrade if downgrade else command.upgrade)(cfg, revision)

    return run


async def _tables(store: Store) -> set[str]:
    async with store.read() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_a_store_of_the_previous_version_gains_log_chunks(db_url: str) -> None:
    store = await open_store(db_url)  # at head: step back to 0005, as an older node left it
    async with store.write() as conn:
        await conn.run_sync(_to("0005", downgrade=True))
        await conn.execute(insert(table_of(Lane)).values(name="kept", concurrency=2))
    assert "log_chunks" not in await _tables(store)
    await store.close()

    again = await open_store(db_url)  # opening migrates to head
    try:
        assert "log_chunks" in await _tables(again)
        columns = {c["name"] for c in await _columns(again)}
        assert {"instance_id", "seq", "lines", "line_count", "chars", "created_at"} <= columns
        async with again.read() as conn:
            lanes = (await conn.execute(select(table_of(Lane).c.name))).scalars().all()
        assert "kept" in lanes
    finally:
        await again.close()


async def _columns(store: Store) -> list[dict[str, object]]:
    async with store.read() as conn:
        return list(await conn.run_sync(lambda c: inspect(c).get_columns("log_chunks")))
