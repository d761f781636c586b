"""`switchyard migrate`: a real SQLite store copied into a real PostgreSQL database (the
session's server, a fresh database per test), driven through the real command line.

The source is built with the engine's own API and the command line, with a real node
run, so instances are in real states; the migrated store is then run to completion by a
`switchyard serve` on PostgreSQL. Crash safety is checked with a real `kill -9` of the
migrating process mid-copy."""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SWITCHYARD = Path(os.sys.executable).parent / "switchyard"  # type: ignore[attr-defined]


class Target:
    """A fresh, empty PostgreSQL database: its URLs and a way to read it directly."""

    def __init__(self, server: Any, name: str) -> None:
        self.server = server
        self.name = name
        self.url = f"postgresql://postgres@127.0.0.1:{server.port}/{name}"  # as people type it
        self.async_url = server.url(name)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.server.dsn(self.name), autocommit=True) as conn:
            cur = conn.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []

    def tables(self) -> set[str]:
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


@pytest.fixture
def target(pg_server: Any) -> Iterator[Target]:
    name = f"switchyard_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(
        user="postgres", host="127.0.0.1", port=pg_server.port, dbname=name, version=None
    ):
        yield Target(pg_server, name)


@pytest.fixture
def data_dir_src(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
async def src(harness_for: Any, tmp_path: Path, data_dir_src: Path) -> Any:
    """The SQLite source store, made by the engine (its first admin is this login)."""
    return await harness_for(f"sqlite+aiosqlite:///{tmp_path / 'switchyard.db'}", data_dir_src)


def migrate(src: Any, target: Target, *extra: str, expect: int | None = 0) -> Any:
    return src.cli("migrate", "--to", target.url, *extra, expect=expect)


def sqlite(src: Any, sql: str, *args: Any) -> None:
    path = src.db_url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute(sql, args)


# ---------------------------------------------------------------- refusals
async def test_refuses_while_a_node_runs_on_the_source(src: Any, target: Target) -> None:
    serve = await src.serve()
    done = migrate(src, target, expect=4)
    assert done.stderr.startswith("error: from: 1 node(s) running on ")
    assert done.stderr.count("\n") == 1
    assert serve.node_id in done.stderr and "stop them first" in done.stderr
    assert target.tables() == set()  # nothing written
    serve.send(signal.SIGTERM)
    assert await serve.exited() == 0
    migrate(src, target)  # stopped: now it goes


async def test_refuses_a_target_holding_switchyard_data(src: Any, target: Target) -> None:
    src.cli("--db", target.url, "init")  # a store of its own: a user and the default lane
    before = target.query("SELECT login FROM users")
    done = migrate(src, target, expect=4)
    assert done.stderr.startswith("error: to: ")
    assert "already holds Switchyard data (1 lanes, " in done.stderr
    assert "1 users" in done.stderr and done.stderr.count("\n") == 1  # one line
    assert target.query("SELECT login FROM users") == before
    assert "migration_progress" not in target.tables()


async def test_refuses_a_foreign_database_and_a_bad_target(src: Any, target: Target) -> None:
    target.query("CREATE TABLE invoices (id int)")
    done = migrate(src, target, expect=4)
    assert "not empty and not a Switchyard store (tables: invoices)" in done.stderr
    assert target.tables() == {"invoices"}
    bad = src.cli("migrate", "--to", "sqlite:///elsewhere.db", expect=2)
    assert bad.stderr.startswith("error: to: give a PostgreSQL URL")
    missing = src.cli("migrate", "--to", target.url, "--from", "/nonexistent/x.db", expect=3)
    assert missing.stderr.startswith("error: ")


async def test_needs_the_admin_right(src: Any, target: Target) -> None:
    src.cli("user", "add", "dave")
    done = src.cli("--as", "dave", "migrate", "--to", target.url, expect=4)
    assert "migrate the store" in done.stderr
    assert target.tables() == set()
