"""Opening the store: migrate on start (idempotent), refuse a newer schema, SQLite in WAL,
the URL forms people type, and models that agree with the migrations."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import alembic.command
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text
from sqlmodel import SQLModel
from switchyard.store import migrate
from switchyard.store.db import Store, StoreError, normalise_url, open_store
from switchyard.store.models import Lane, Node

# The newest revision, read from the migrations folder (one head).
HEAD = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def test_the_head_constant_is_the_migrations_folders_head() -> None:
    """``migrate.HEAD`` spares an up-to-date store Alembic's import: it must name the
    newest migration (a new migration updates it)."""
    assert migrate.HEAD == HEAD


FUTURE = "9999_from_the_future"


async def version(store: Store) -> list[str]:
    async with store.read() as conn:
        return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


async def tables(store: Store) -> set[str]:
    async with store.read() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_a_fresh_database_is_migrated_to_head(db_url: str) -> None:
    store = await open_store(db_url)
    try:
        assert await version(store) == [HEAD]
        assert {"lanes", "schedules", "instances", "secrets", "nodes", "events", "params"} <= (
            await tables(store)
        )
    finally:
        await store.close()


async def test_opening_twice_is_a_no_op(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await open_store(db_url)
    async with store.write() as conn:
        await conn.execute(insert(Lane.__table__).values(name="kept", concurrency=3))
    before = await tables(store)
    await store.close()

    def no_upgrade(*args: object, **kw: object) -> None:
        raise AssertionError("an up-to-date database must not be upgraded again")

    monkeypatch.setattr(alembic.command, "upgrade", no_upgrade)
    again = await open_store(db_url)
    try:
        assert await version(again) == [HEAD]
        assert await tables(again) == before
        async with again.read() as conn:
            rows = (
                await conn.execute(select(Lane.__table__.c.name, Lane.__table__.c.concurrency))
            ).all()
        assert [tuple(r) for r in rows] == [("kept", 3)]
    finally:
        await again.close()


async def test_a_newer_schema_is_refused_and_left_untouched(db_url: str) -> None:
    store = await open_store(db_url)
    async with store.write() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})
    before = await tables(store)
    await store.close()

    newer = Store(db_url)
    try:
        with pytest.raises(StoreError) as err:
            await newer.open()
        message = str(err.value)
        assert FUTURE in message
        assert "newer Switchyard" in message
        assert f"knows up to {HEAD}" in message
        assert "upgrade this installation" in message
        assert await version(newer) == [FUTURE]
        assert await tables(newer) == before
        async with newer.read() as conn:
            assert (await conn.execute(select(Lane.__table__))).all() == []
    finally:
        await newer.close()


async def test_engine_open_on_a_newer_schema_writes_nothing(db_url: str, tmp_path: Path) -> None:
    from switchyard.engine.api import Engine
    from switchyard.engine.errors import StoreUnavailable

    store = await open_store(db_url)
    async with store.write() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})
    try:
        # the engine's boundary turns the store's error into its own (same exit code, 2)
        with pytest.raises(StoreUnavailable, match="newer Switchyard") as refused:
            await Engine.open(db_url, data_dir=tmp_path / "data")
        assert refused.value.exit_code == 2
        async with store.read() as conn:
            assert (await conn.execute(select(Lane.__table__))).all() == []  # no default lane
            assert (await conn.execute(text("SELECT count(*) FROM events"))).scalar() == 0
    finally:
        await store.close()


async def test_nodes_opening_a_fresh_database_at_once_all_succeed(
    db_url: str, tmp_path: Path
) -> None:
    """Processes started together on a new store: one migrates, none fails (PostgreSQL:
    the migration lock; SQLite: the race to switch a new file to WAL)."""
    urls = [db_url]
    if db_url.startswith("sqlite"):  # the race is cheap to repeat on fresh files
        urls += [f"sqlite+aiosqlite:///{tmp_path / f'again{n}.db'}" for n in range(7)]
    for url in urls:
        stores = [Store(url) for _ in range(3)]
        try:
            await asyncio.gather(*(s.open() for s in stores))
            assert await version(stores[0]) == [HEAD]
            if url.startswith("sqlite"):
                for store in stores:
                    async with store.write() as conn:
                        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        finally:
            for store in stores:
                await store.close()


async def test_models_and_migrations_agree(db_url: str) -> None:
    store = await open_store(db_url)
    try:
        async with store.read() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )
        assert diff == []
    finally:
        await store.close()


async def test_sqlite_runs_in_wal_mode_with_its_pragmas(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    try:
        for door in (store.read, store.write):
            async with door() as conn:
                assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 30_000
                assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
                # durability as documented: NORMAL in WAL mode; checkpoints less often
                assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1
                assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 5_000
        assert store.sqlite_path is not None
        assert Path(f"{store.sqlite_path}-wal").exists()
    finally:
        await store.close()


async def test_times_are_stored_as_utc_and_read_back_aware(db_url: str) -> None:
    store = await open_store(db_url)
    paris_noon = datetime(2027, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    try:
        async with store.write() as conn:
            await conn.execute(
                insert(Node.__table__).values(
                    id="n", mode="serve", host="h", pid=1, heartbeat_at=paris_noon
                )
            )
        async with store.read() as conn:
            beat = (await conn.execute(select(Node.__table__.c.heartbeat_at))).scalar()
        assert beat == datetime(2027, 7, 1, 10, 0, tzinfo=UTC)
        assert beat.tzinfo is UTC
        with pytest.raises(Exception, match="naive datetime"):
            async with store.write() as conn:
                await conn.execute(
                    insert(Node.__table__).values(
                        id="m", mode="serve", host="h", pid=1, heartbeat_at=datetime(2027, 1, 1)
                    )
                )
    finally:
        await store.close()


# ------------------------------------------------------------------------------ URL forms


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
        ("sqlite:////abs/sy.db", "sqlite+aiosqlite:////abs/sy.db"),
        ("sqlite+aiosqlite:////abs/sy.db", "sqlite+aiosqlite:////abs/sy.db"),
        ("postgresql://u:p@db.example:5433/sy", "postgresql+asyncpg://u:p@db.example:5433/sy"),
        ("postgres://u@db/sy", "postgresql+asyncpg://u@db/sy"),
        ("postgresql+asyncpg://u@db/sy", "postgresql+asyncpg://u@db/sy"),
        ("/var/lib/sy/sy.db", "sqlite+aiosqlite:////var/lib/sy/sy.db"),
    ],
)
def test_normalise_url_forms(given: str, expected: str) -> None:
    assert normalise_url(given) == expected
    assert normalise_url(expected) == expected  # idempotent


def test_a_bare_relative_or_home_path_becomes_an_absolute_sqlite_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert normalise_url("sy.db") == f"sqlite+aiosqlite:///{tmp_path / 'sy.db'}"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert normalise_url("~/sy.db") == f"sqlite+aiosqlite:///{tmp_path / 'home' / 'sy.db'}"


def test_an_unsupported_database_is_refused_clearly() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store("mysql+aiomysql://u@h/db")


async def test_a_sqlite_path_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as err:
        await open_store(f"sqlite:///{blocker / 'sub' / 'sy.db'}")
    assert str(blocker) in str(err.value)


async def test_a_sqlite_path_that_is_a_directory_is_a_store_error(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}")
    try:
        with pytest.raises(StoreError, match="cannot open"):
            await store.open()
    finally:
        await store.close()
    # let aiosqlite's worker thread of the failed connection finish while the loop still runs
    deadline = asyncio.get_running_loop().time() + 5
    while any("_connection_worker_thread" in t.name for t in threading.enumerate()):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
