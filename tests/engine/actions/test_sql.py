"""The ``sql`` action against a real SQLite file database (sqlite+aiosqlite)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.actions import sql as sql_module
from switchyard.engine.actions.base import ActionContext, ActionFailed, Done
from switchyard.engine.actions.sql import SqlAction, dispose_all

MakeCtx = Callable[..., ActionContext]
EVIL = "x'); DROP TABLE t; --"


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Path]:
    """A target database file; every cached engine is disposed after the test."""
    path = tmp_path / "target.db"
    yield path
    await dispose_all()


@pytest.fixture
def sql_ctx(make_ctx: MakeCtx, target: Path) -> Callable[..., ActionContext]:
    def factory(**overrides: Any) -> ActionContext:
        overrides.setdefault("connections", {"target": f"sqlite+aiosqlite:///{target}"})
        return make_ctx(**overrides)

    return factory


def sql_args(query: str, **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "connection": "target",
        "query": query,
        "params": {},
        "into": None,
        "one": False,
    }
    args.update(extra)
    return args


async def run(ctx: ActionContext, query: str, **extra: Any) -> Done:
    done = await SqlAction().execute(sql_args(query, **extra), ctx)
    assert isinstance(done, Done)
    return done


async def create_table(ctx: ActionContext) -> None:
    await run(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC, at TEXT)")


def test_interface() -> None:
    assert SqlAction.kind == "sql"
    assert SqlAction.side_effects is True


async def test_insert_with_params_is_stored_literally(
    sql_ctx: Callable[..., ActionContext], target: Path, log_lines: list[str]
) -> None:
    ctx = sql_ctx(scope={"who": EVIL, "amount": 12.5})
    await create_table(ctx)
    done = await run(
        ctx,
        "INSERT INTO t (name, amount) VALUES (:name, :amount)",
        params={"name": "{{ who }}", "amount": "{{ amount }}"},
        into="inserted",
    )
    assert done.updates == {"inserted": 1}
    with sqlite3.connect(target) as db:  # read back with another driver
        assert db.execute("SELECT name, amount FROM t").fetchall() == [(EVIL, 12.5)]
    assert any("INSERT" in line and "1 row" in line for line in log_lines)
    assert all(EVIL not in line for line in log_lines)


async def test_select_rows_into_variable(sql_ctx: Callable[..., ActionContext]) -> None:
    ctx = sql_ctx(scope={"min": 2})
    await create_table(ctx)
    for i, name in enumerate(["a", "b", "c"], start=1):
        await run(
            ctx, "INSERT INTO t (id, name) VALUES (:id, :name)", params={"id": i, "name": name}
        )
    done = await run(
        ctx,
        "SELECT id, name FROM t WHERE id >= :min ORDER BY id",
        params={"min": "{{ min }}"},
        into="rows",
    )
    assert done.updates == {"rows": [{"id": 2, "name": "b"}, {"id": 3, "name": "c"}]}
    assert done.note == "2 row(s)"


async def test_one_returns_first_row_or_none(sql_ctx: Callable[..., ActionContext]) -> None:
    ctx = sql_ctx()
    await create_table(ctx)
    await run(ctx, "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b')")
    done = await run(ctx, "SELECT id, name FROM t ORDER BY id", one=True, into="row")
    assert done.updates == {"row": {"id": 1, "name": "a"}}
    done = await run(ctx, "SELECT id FROM t WHERE id = :id", params={"id": 99}, one=True, into="r")
    assert done.updates == {"r": None}


async def test_values_are_json_friendly(sql_ctx: Callable[..., ActionContext]) -> None:
    ctx = sql_ctx()
    done = await run(
        ctx,
        "SELECT CURRENT_DATE AS d, 1.5 AS f, X'00ff' AS blob, X'6869' AS text_blob",
        one=True,
        into="row",
    )
    row = done.updates["row"]
    assert isinstance(row["d"], str) and len(row["d"]) == 10
    assert row["f"] == 1.5
    assert row["blob"] == "AP8="  # base64 of non-UTF-8 bytes
    assert row["text_blob"] == "hi"


def test_jsonable_conversions() -> None:
    import datetime as dt
    import uuid
    from decimal import Decimal

    j = sql_module.jsonable
    assert j(dt.datetime(2024, 5, 1, 12, 30)) == "2024-05-01T12:30:00"
    assert j(dt.date(2024, 5, 1)) == "2024-05-01"
    assert j(Decimal("12.34")) == 12.34
    assert j(Decimal("100")) == 100
    assert j(Decimal("0.1234567890123456789")) == "0.1234567890123456789"
    assert j(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert j(dt.timedelta(minutes=1)) == 60.0


async def test_statement_without_rows_stores_rowcount(
    sql_ctx: Callable[..., ActionContext],
) -> None:
    ctx = sql_ctx()
    await create_table(ctx)
    await run(ctx, "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'a'), (3, 'b')")
    done = await run(ctx, "UPDATE t SET name = :n WHERE name = 'a'", params={"n": "z"}, into="n")
    assert done.updates == {"n": 2}


async def test_unknown_connection(sql_ctx: Callable[..., ActionContext]) -> None:
    with pytest.raises(ActionFailed) as info:
        await SqlAction().execute(sql_args("SELECT 1", connection="x"), sql_ctx())
    assert info.value.message == "unknown SQL connection 'x'"
    assert info.value.retryable is False


async def test_bad_sql_reports_driver_message_without_params(
    sql_ctx: Callable[..., ActionContext], log_lines: list[str]
) -> None:
    ctx = sql_ctx()
    with pytest.raises(ActionFailed) as info:
        await run(ctx, "SELEC name FROM t WHERE name = :n", params={"n": "very-private-value"})
    message = info.value.message
    assert "syntax error" in message
    assert message.startswith("SQL on 'target' failed:")
    assert "very-private-value" not in message and "[parameters" not in message
    assert info.value.retryable is False
    assert len(log_lines) == 1 and "failed" in log_lines[0]


async def test_missing_table_and_missing_param_are_not_retryable(
    sql_ctx: Callable[..., ActionContext],
) -> None:
    ctx = sql_ctx()
    with pytest.raises(ActionFailed, match="no such table") as info:
        await run(ctx, "SELECT * FROM missing")
    assert info.value.retryable is False
    with pytest.raises(ActionFailed, match="bind parameter 'n'") as info:
        await run(ctx, "SELECT :n AS n")
    assert info.value.retryable is False


async def test_failed_statement_is_rolled_back(sql_ctx: Callable[..., ActionContext]) -> None:
    ctx = sql_ctx()
    await create_table(ctx)
    await run(ctx, "INSERT INTO t (id, name) VALUES (1, 'a')")
    with pytest.raises(ActionFailed, match="UNIQUE constraint failed"):
        await run(ctx, "INSERT INTO t (id, name) VALUES (2, 'b'), (1, 'dup')")
    done = await run(ctx, "SELECT count(*) AS n FROM t", one=True, into="c")
    assert done.updates == {"c": {"n": 1}}


async def test_engine_is_cached_and_disposed(sql_ctx: Callable[..., ActionContext]) -> None:
    ctx = sql_ctx()
    await run(ctx, "SELECT 1")
    await run(ctx, "SELECT 2")
    engines = [e for per_loop in sql_module._engines.values() for e in per_loop.values()]
    assert len(engines) == 1
    await dispose_all()
    assert not any(sql_module._engines.values())


async def test_bad_connection_url(sql_ctx: Callable[..., ActionContext]) -> None:
    ctx = sql_ctx(connections={"odd": "nosuchdb+driver://u:hunter2@h/db"})
    with pytest.raises(ActionFailed) as info:
        await SqlAction().execute(sql_args("SELECT 1", connection="odd"), ctx)
    assert info.value.retryable is False
    assert "hunter2" not in info.value.message


async def test_timeout(sql_ctx: Callable[..., ActionContext]) -> None:
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000)"
        " SELECT count(*) AS n FROM c"
    )
    started = time.monotonic()
    with pytest.raises(ActionFailed, match=r"timed out after 0\.2s") as info:
        await run(sql_ctx(timeout=0.2), slow)
    assert info.value.retryable is True
    assert time.monotonic() - started < 1.5
    # the interrupted connection went back to the pool in a usable state
    done = await run(sql_ctx(), "SELECT 42 AS n", one=True, into="r")
    assert done.updates == {"r": {"n": 42}}
