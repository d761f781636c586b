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
