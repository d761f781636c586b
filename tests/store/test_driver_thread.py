"""store.db.on_driver_thread: the one place that reaches into aiosqlite (the writer's group
commit and a single start run as one call on its thread). If an aiosqlite upgrade removes
what it uses, the callers fall back to SQLAlchemy (slower, same rows) and this test says
so, so the upgrade is noticed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from switchyard.store.db import NoDriverThread, Store, on_driver_thread


async def test_a_function_runs_on_the_drivers_thread_in_the_writers_transaction(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    await store.open(create=True)
    try:

        def work(db: Any) -> int:
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE probe (n INTEGER)")
            db.execute("INSERT INTO probe VALUES (7)")
            db.execute("COMMIT")
            return threading.get_ident()

        ident = await store.on_sqlite_writer(work)
        assert ident != threading.get_ident()  # not the event loop's thread
        async with store.read() as conn:
            rows = (await conn.exec_driver_sql("SELECT n FROM probe")).all()
        assert [tuple(r) for r in rows] == [(7,)]
    finally:
        await store.close()


async def test_a_driver_without_the_thread_call_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    ran: list[int] = []
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            saved = type(raw)._execute
            try:
                del type(raw)._execute  # an aiosqlite without it
                with pytest.raises(NoDriverThread):
                    await on_driver_thread(conn, lambda db: ran.append(1))
            finally:
                type(raw)._execute = saved  # type: ignore[method-assign]
    finally:
        await engine.dispose()
    assert ran == []
