"""The events feed: other processes' changes reach this engine's bus, once each."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.store.models import Event
from switchyard.store.queries import events as event_rows

from engine.helpers import BASE, count_rows


async def manual_feed(engine: Engine) -> ev.EventFeed:
    """A feed polled only by the test: started (cursor set) and its background task stopped,
    so neither its poll timer nor a PostgreSQL NOTIFY can poll behind the test's back."""
    feed = ev.EventFeed(engine.store, engine.bus, engine.node_id, interval=3600)
    await feed.start()
    await feed.stop()
    return feed


def drain(queue: asyncio.Queue) -> list[ev.EngineEvent]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_another_engines_events_arrive_within_a_second(open_engine) -> None:
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    await a.start_feed()
    async with a.bus.subscribe() as queue:
        started = time.monotonic()
        await b.add_lane("remote", 4)
        event = await asyncio.wait_for(queue.get(), timeout=1.0)
        assert time.monotonic() - started < 1.0
    assert (event.kind, event.entity_id) == (ev.LANE_CHANGED, "remote")
    assert event.node_id == b.node_id
    assert event.data == {"concurrency": 4}
    assert event.id is not None


async def test_own_events_are_published_once(open_engine) -> None:
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    feed = await manual_feed(a)
    async with a.bus.subscribe() as queue:
        await a.add_lane("mine", 2)
        await b.add_lane("theirs", 3)
        for _ in range(3):
            await feed.poll_once()
        events = drain(queue)
    assert [(e.kind, e.entity_id, e.node_id) for e in events] == [
        (ev.LANE_CHANGED, "mine", a.node_id),  # local bus, straight after the commit
        (ev.LANE_CHANGED, "theirs", b.node_id),  # through the feed, once
    ]


async def test_repeated_polls_never_republish(open_engine) -> None:
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    feed = await manual_feed(a)
    async with a.bus.subscribe() as queue:
        for n in range(5):
            await b.add_lane(f"lane{n}", 1)
            assert await feed.poll_once() == 1
        assert await feed.poll_once() == 0
        events = drain(queue)
    assert [e.entity_id for e in events] == [f"lane{n}" for n in range(5)]


async def test_events_from_before_the_feed_started_are_not_replayed(open_engine) -> None:
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    for n in range(3):
        await b.add_lane(f"old{n}", 1)
    feed = await manual_feed(a)
    async with a.bus.subscribe() as queue:
        assert await feed.poll_once() == 0
        await b.add_lane("new", 1)
        assert await feed.poll_once() == 1
        assert [e.entity_id for e in drain(queue)] == ["new"]


async def test_a_lower_id_committed_late_is_still_delivered(open_engine, db_url: str) -> None:
    """PostgreSQL hands out ids at insert but commits in any order: the feed looks back."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: ids commit in order")
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    c: Engine = await open_engine()
    feed = await manual_feed(a)
    async with a.bus.subscribe() as queue:
        async with b.store.write() as conn:  # takes the lower id, commits last
            await event_rows.append_many(
                conn,
                [
                    {
                        "at": BASE,
                        "kind": "test.slow",
                        "entity_id": "slow",
                        "node_id": b.node_id,
                        "data": {},
                    }
                ],
            )
            await c.add_lane("fast", 1)
            assert await feed.poll_once() == 1
        assert await feed.poll_once() == 1
        assert await feed.poll_once() == 0
        events = drain(queue)
    assert [e.entity_id for e in events] == ["fast", "slow"]
    assert events[1].id < events[0].id


async def test_prune_removes_old_events_only(engine: Engine, open_engine, clock) -> None:
    await engine.add_lane("early", 1)
    early = await count_rows(engine, Event)
    clock.at = BASE + timedelta(hours=2)
    await engine.add_lane("late", 1)
    total = await count_rows(engine, Event)
    assert total > early > 0
    async with engine.store.write() as conn:
        removed = await event_rows.prune(conn, BASE + timedelta(hours=1))
    assert removed == early
    assert await count_rows(engine, Event) == total - early

    # a feed started after pruning carries on from the newest event
    other: Engine = await open_engine()
    feed = await manual_feed(other)
    async with other.bus.subscribe() as queue:
        await engine.add_lane("after-prune", 1)
        assert await feed.poll_once() == 1
        assert [e.entity_id for e in drain(queue)] == ["after-prune"]
