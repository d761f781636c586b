"""Timer queries on both backends: one list across waiting instances, work items and
schedules, soonest first, filtered and keyset-paged; timer runs held once per key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from switchyard.store.db import Store, open_store
from switchyard.store.models import Instance, Schedule, WorkItem
from switchyard.store.queries import timers as timer_q

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    store = await open_store(db_url)
    try:
        yield store
    finally:
        await store.close()


async def add_instance(store: Store, **kw: Any) -> int:
    row: dict[str, Any] = {
        "lane": "default",
        "status": "waiting",
        "overlap_limit": 0,
        "origin": "manual",
        "command": [],
        "shell": False,
        "env": {},
        "cancel_requested": False,
        "variables": {},
        "visit": 0,
        "depth": 0,
        "process": "pay",
        **kw,
    }
    async with store.write() as conn:
        res = await conn.execute(insert(Instance.__table__).values(**row))
        return int(res.inserted_primary_key[0])


async def add_item(store: Store, instance_id: int, timers: list[dict[str, Any]], **kw: Any) -> int:
    pending = [datetime.fromisoformat(t["at"]) for t in timers if not t.get("done")]
    row: dict[str, Any] = {
        "instance_id": instance_id,
        "step_key": f"k{len(timers)}-{kw.get('title', '')}",
        "process": "pay",
        "form": "f",
        "title": kw.pop("title", ""),
        "status": "queued",
        "workgroup": "clerks",
        "priority": 3,
        "timers": timers,
        "timer_at": min(pending, default=None),
        "escalated": False,
        "draft": {},
        **kw,
    }
    async with store.write() as conn:
        res = await conn.execute(insert(WorkItem.__table__).values(**row))
        return int(res.inserted_primary_key[0])


async def add_schedule(store: Store, name: str, next_fire_at: datetime | None, **kw: Any) -> None:
    row: dict[str, Any] = {
        "name": name,
        "trigger": {"kind": "every", "every": 60},
        "lane": "default",
        "overlap": "queue",
        "overlap_limit": 1,
        "misfire": "once",
        "misfire_limit": 100,
        "command": ["true"],
        "shell": False,
        "env": {},
        "variables": {},
        "paused": False,
        "next_fire_at": next_fire_at,
        **kw,
    }
    async with store.write() as conn:
        await conn.execute(insert(Schedule.__table__).values(**row))


def timer(kind: str, minutes: int, done: bool = False) -> dict[str, Any]:
    return {"kind": kind, "at": at(minutes).isoformat(), **({"done": True} if done else {})}


async def seed(store: Store) -> dict[str, int]:
    ids = {
        "wait": await add_instance(store, wake_at=at(30), waiting_on="timer"),
        "cond": await add_instance(store, wake_at=at(5), waiting_on="condition"),
        "other": await add_instance(store, wake_at=at(10), waiting_on="timer", process="hr"),
        "child": await add_instance(store, waiting_on="child:9"),  # no due time: no timer
        "done": await add_instance(store, status="completed", wake_at=at(1)),
    }
    ids["asks"] = await add_instance(store, waiting_on="workitem:1")
    ids["item"] = await add_item(
        store, ids["asks"], [timer("reminder", 20, done=True), timer("escalate", 40)]
    )
    ids["due_item"] = await add_item(
        store, ids["asks"], [timer("due", 15), timer("escalate", 60)], title="b"
    )
    ids["closed"] = await add_item(store, ids["asks"], [timer("due", 2)], status="completed")
    await add_schedule(store, "nightly", at(45))
    await add_schedule(store, "paused", at(3), paused=True)
    await add_schedule(store, "manual", None)
    return ids


async def test_one_list_across_instances_work_items_and_schedules(store: Store) -> None:
    ids = await seed(store)
    async with store.read() as conn:
        rows = await timer_q.page(conn)
    assert [(r["key"], r["what"], r["due_at"]) for r in rows] == [
        (f"instance:{ids['cond']}", "condition", at(5)),
        (f"instance:{ids['other']}", "wait", at(10)),
        (f"workitem:{ids['due_item']}", "work item due", at(15)),
        (f"instance:{ids['wait']}", "wait", at(30)),
        (f"workitem:{ids['item']}", "escalation", at(40)),
        ("schedule:nightly", "fire", at(45)),
    ]
    item = rows[2]
    assert (item["kind"], item["process"], item["instance_id"], item["workitem_id"]) == (
        "workitem",
        "pay",
        ids["asks"],
        ids["due_item"],
    )
    assert (rows[-1]["kind"], rows[-1]["schedule"], rows[-1]["instance_id"]) == (
        "schedule",
        "nightly",
        None,
    )


async def test_filters_combine_and_leave_out_what_they_do_not_apply_to(store: Store) -> None:
    ids = await seed(store)

    async def keys(**kw: Any) -> list[str]:
        async with store.read() as conn:
            return [r["key"] for r in await timer_q.page(conn, **kw)]

    assert await keys(process="hr") == [f"instance:{ids['other']}"]
    assert await keys(process="pay") == [
        f"instance:{ids['cond']}",
        f"workitem:{ids['due_item']}",
        f"instance:{ids['wait']}",
        f"workitem:{ids['item']}",
    ]
    assert await keys(instance_id=ids["asks"]) == [
        f"workitem:{ids['due_item']}",
        f"workitem:{ids['item']}",
    ]
    assert await keys(instance_id=ids["wait"]) == [f"instance:{ids['wait']}"]
    assert await keys(workitem_id=ids["item"]) == [f"workitem:{ids['item']}"]
    assert await keys(workitem_id=ids["closed"]) == []
    assert await keys(schedule="nightly") == ["schedule:nightly"]
    assert await keys(schedule="paused") == []
    assert await keys(due_by=at(12)) == [f"instance:{ids['cond']}", f"instance:{ids['other']}"]
    assert await keys(due_by=at(12), process="pay") == [f"instance:{ids['cond']}"]
    assert "schedule:nightly" not in await keys(with_schedules=False)
    visible = Instance.__table__.c.process == "hr"
    assert await keys(visible=visible) == [f"instance:{ids['other']}", "schedule:nightly"]


async def test_pages_follow_the_cursor_through_ties(store: Store) -> None:
    # instances, items and schedules all due at the same instants
    expected: list[str] = []
    for minute in (1, 2):
        for _ in range(3):
            expected.append(f"instance:{await add_instance(store, wake_at=at(minute))}")
        asks = await add_instance(store, waiting_on="workitem:1")
        for n in range(2):
            item = await add_item(store, asks, [timer("due", minute)], title=f"{minute}-{n}")
            expected.append(f"workitem:{item}")
        for name in ("b", "a"):
            await add_schedule(store, f"{name}{minute}", at(minute))
        expected += [f"schedule:a{minute}", f"schedule:b{minute}"]
    seen: list[str] = []
    after = None
    while True:
        async with store.read() as conn:
            rows = await timer_q.page(conn, limit=3, after=after)
        seen += [r["key"] for r in rows]
        if len(rows) < 3:
            break
        after = rows[-1]["cursor"]
    assert seen == expected


async def test_a_timer_run_is_held_once_per_key(store: Store) -> None:
    async with store.write() as conn:
        assert await timer_q.claim_run(conn, "instance:1", node_id="n1", login="ann", now=T0)
        assert not await timer_q.claim_run(conn, "instance:1", node_id="n2", login="bob", now=T0)
        assert await timer_q.claim_run(conn, "instance:2", node_id="n2", login="bob", now=T0)
    async with store.read() as conn:
        held = await timer_q.get_run(conn, "instance:1")
        assert held is not None and (held["node_id"], held["login"]) == ("n1", "ann")
        assert [r["key"] for r in await timer_q.runs(conn)] == ["instance:1", "instance:2"]
    async with store.write() as conn:
        # taking over is guarded: only the run that was read, not one that moved since
        moved = {**held, "started_at": T0 - timedelta(seconds=1)}
        assert not await timer_q.take_over_run(
            conn, "instance:1", moved, node_id="n3", login="cy", now=at(20)
        )
        assert await timer_q.take_over_run(
            conn, "instance:1", held, node_id="n3", login="cy", now=at(20)
        )
        assert await timer_q.release_run(conn, "instance:1", "n1") == 0  # not n1's any more
        assert await timer_q.release_run(conn, "instance:1", "n3") == 1
        assert await timer_q.claim_run(conn, "instance:1", node_id="n1", login="ann", now=T0)
