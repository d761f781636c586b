"""Self-test of the database fixtures in tests/conftest.py."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def test_select_1_via_sqlalchemy(db_url: str) -> None:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("select 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_select_1_via_driver(db_url: str) -> None:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        import aiosqlite

        async with aiosqlite.connect(url.database) as db, db.execute("select 1") as cur:
            assert await cur.fetchone() == (1,)
        return
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_database()") == url.database
    finally:
        await conn.close()


async def _table_names(db_url: str) -> set[str]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


_seen: dict[str, str] = {}


# Both steps in one pytest-xdist worker, in order (make test runs `--dist loadgroup`).
@pytest.mark.xdist_group("fresh-database-steps")
@pytest.mark.parametrize("step", ["first", "second"])
async def test_each_test_gets_a_fresh_empty_database(db_url: str, step: str) -> None:
    backend = make_url(db_url).get_backend_name()
    assert await _table_names(db_url) == set(), "database is not empty"
    if step == "first":
        _seen[backend] = db_url
        engine = create_async_engine(db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("create table leftover (id integer primary key)"))
        finally:
            await engine.dispose()
        assert await _table_names(db_url) == {"leftover"}
    else:
        if backend not in _seen:
            pytest.skip("needs the 'first' step of this test to have run")
        assert db_url != _seen[backend]
