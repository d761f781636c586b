"""The event_log statements: append, then pages newest first filtered by kind and time,
keyset-paged on id; and the params statements (insert, then replace)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from switchyard.store.db import Store, open_store
from switchyard.store.queries import eventlog as eventlog_q
from switchyard.store.queries import params as params_q

T0 = datetime(2027, 3, 1, 6, 30, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    store = await open_store(db_url)
    try:
        yield store
    finally:
        await store.close()


async def fill(store: Store) -> list[int]:
    """Six entries a minute apart: node, param, node, secret, param, node."""
    kinds = ["node.started", "param.changed", "node.stopped", "secret.changed"]
    kinds += ["param.changed", "node.started"]
    ids = []
    async with store.write() as conn:
        for i, kind in enumerate(kinds):
            ids.append(
                await eventlog_q.append(
                    conn,
                    T0 + timedelta(minutes=i),
                    kind,
                    "n-1",
                    "root" if i % 2 else None,
                    f"entry {i}",
                    {"i": i},
                )
            )
    return ids


async def test_append_then_read_back_newest_first(store: Store) -> None:
    ids = await fill(store)
    assert ids == sorted(ids) and len(set(ids)) == 6
    async with store.read() as conn:
        rows = await eventlog_q.page(conn)
    assert [r["id"] for r in rows] == ids[::-1]
    newest = rows[0]
    assert newest["kind"] == "node.started" and newest["message"] == "entry 5"
    assert newest["at"] == T0 + timedelta(minutes=5)
    assert newest["node_id"] == "n-1" and newest["login"] == "root"
    assert newest["detail"] == {"i": 5}
    assert rows[-1]["login"] is None


async def test_filters_by_kind_and_time_and_pages_on_id(store: Store) -> None:
    ids = await fill(store)
    async with store.read() as conn:
        params = await eventlog_q.page(conn, kinds=["param.changed"])
        nodes = await eventlog_q.page(conn, kinds=["node.started", "node.stopped"])
        window = await eventlog_q.page(
            conn, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=4)
        )
        first = await eventlog_q.page(conn, limit=2)
        second = await eventlog_q.page(conn, limit=2, before_id=first[-1]["id"])
        none = await eventlog_q.page(conn, kinds=[])
    assert [r["message"] for r in params] == ["entry 4", "entry 1"]
    assert [r["message"] for r in nodes] == ["entry 5", "entry 2", "entry 0"]
    # since is inclusive, until exclusive
    assert [r["message"] for r in window] == ["entry 3", "entry 2", "entry 1"]
    assert [r["id"] for r in first + second] == ids[::-1][:4]
    assert none == []


async def test_params_are_inserted_then_replaced(store: Store) -> None:
    async with store.write() as conn:
        await params_q.put(conn, "depth_threshold", 12, T0)
        await params_q.put(conn, "block_launch_during_restore", False, T0)
    async with store.write() as conn:
        await params_q.put(conn, "depth_threshold", 20, T0 + timedelta(hours=1))
    async with store.read() as conn:
        stored = await params_q.stored(conn)
    assert stored == {
        "depth_threshold": {"value": 20, "updated_at": T0 + timedelta(hours=1)},
        "block_launch_during_restore": {"value": False, "updated_at": T0},
    }
