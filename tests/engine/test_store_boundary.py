"""The engine's door for store failures (engine/kernel/boundary.py): what the store layer, its
driver or the OS raise leaves ``Engine`` as an engine error (``StoreUnavailable`` and its
kinds), with the command line's exit code kept; the console catches nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError
from switchyard.engine.api import Engine
from switchyard.engine.errors import (
    NoStore,
    NotAStore,
    SharedModeRefused,
    StoreUnavailable,
)
from switchyard.engine.kernel.boundary import store_failure
from switchyard.store import db


def _not_store_layer(exc: BaseException) -> None:
    assert not isinstance(exc, db.StoreError | SQLAlchemyError), type(exc)


async def test_a_file_that_is_not_a_store_is_not_a_store_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database at all, " * 200)
    path.chmod(0o600)
    with pytest.raises(NotAStore) as caught:
        await Engine.open(str(path), data_dir=tmp_path / "data", create=False)
    _not_store_layer(caught.value)
    assert caught.value.exit_code == 2
    assert "is not a Switchyard store" in str(caught.value)


async def test_no_store_without_create_is_exit_3(tmp_path: Path) -> None:
    with pytest.raises(NoStore) as caught:
        await Engine.open(str(tmp_path / "none.db"), data_dir=tmp_path / "data", create=False)
    _not_store_layer(caught.value)
    assert caught.value.exit_code == 3
    assert str(caught.value).startswith("db: no store at")


async def test_a_bad_db_url_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await Engine.open("mysql://x/y", data_dir=tmp_path / "data")
    _not_store_layer(caught.value)
    assert caught.value.exit_code == 2
    assert "unsupported database" in str(caught.value)


async def test_a_store_others_may_read_is_refused_exit_2(sqlite_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = await Engine.open(sqlite_url, data_dir=data)
    await engine.close()
    store_file = Path(sqlite_url.split("///", 1)[1])
    store_file.chmod(0o644)
    with pytest.raises(SharedModeRefused) as caught:
        await Engine.open(sqlite_url, data_dir=data)
    assert caught.value.exit_code == 2
    assert "readable or writable by others" in str(caught.value)


async def test_a_postgres_host_that_does_not_answer_is_exit_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_CONNECT_TIMEOUT", "2")
    with pytest.raises(StoreUnavailable) as caught:
        await Engine.open("postgresql://nobody@127.0.0.1:1/none", data_dir=tmp_path / "data")
    _not_store_layer(caught.value)
    assert caught.value.exit_code == 5
    assert "unreachable" in str(caught.value)


async def test_a_driver_error_during_an_operation_leaves_as_store_unavailable(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A real driver error (a table dropped behind the engine's back) from a read and
    from a write: StoreUnavailable, the driver error as its cause."""
    engine = await Engine.open(sqlite_url, data_dir=tmp_path / "data")
    try:
        with sqlite3.connect(sqlite_url.split("///", 1)[1]) as raw:
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute("DROP TABLE lanes")
        with pytest.raises(StoreUnavailable) as read:
            await engine.lanes()
        with pytest.raises(StoreUnavailable) as write:
            await engine.add_lane("fresh")
    finally:
        await engine.close()
    for caught in (read, write):
        _not_store_layer(caught.value)
        assert isinstance(caught.value.__cause__, SQLAlchemyError)
        assert "lanes" in str(caught.value)


def test_what_is_not_a_store_failure_is_left_alone() -> None:
    assert store_failure(RuntimeError("boom")) is None
    assert store_failure(KeyError("x")) is None
