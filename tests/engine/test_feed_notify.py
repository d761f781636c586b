"""On PostgreSQL, LISTEN/NOTIFY wakes other processes' feeds without waiting for a poll."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev


async def test_notify_wakes_a_slow_polling_feed(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite polls")
    writer = await Engine.open(db_url, data_dir=tmp_path / "a")
    reader = await Engine.open(db_url, data_dir=tmp_path / "b")
    try:
        await reader.start_feed(interval=60.0)  # a poll would come far too late
        async with reader.bus.subscribe() as queue:
            await writer.add_lane("night", 2)
            event = await asyncio.wait_for(queue.get(), timeout=10.0)
        assert event.kind == ev.LANE_CHANGED
        assert event.entity_id == "night"
        assert event.node_id == writer.node_id
    finally:
        await writer.close()
        await reader.close()


async def test_a_wake_during_a_poll_polls_again_at_once(engine: Engine) -> None:
    """A NOTIFY that arrives while the feed is reading is for rows that read may not have
    seen: the feed polls again at once instead of waiting out its interval (CI once lost
    such a wake: the reader above waited its 60 s poll). The wake is given the way the
    LISTEN callback gives it, from inside the first poll."""
    feed = ev.EventFeed(engine.store, engine.bus, engine.node_id, interval=60.0)
    polls = 0
    again = asyncio.Event()
    plain = feed.poll_once

    async def poll_once() -> int:
        nonlocal polls
        polls += 1
        published = await plain()
        if polls == 1:
            feed._nudge.set()  # the NOTIFY callback, while this poll was under way
        else:
            again.set()
        return published

    feed.poll_once = poll_once  # type: ignore[method-assign]
    await feed.start()
    try:
        await asyncio.wait_for(again.wait(), 10)  # not after the 60 s interval
    finally:
        await feed.stop()
    assert polls >= 2
