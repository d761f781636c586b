"""A write transaction that carries its events: rows in the same commit, bus after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.kernel.events import CACHED_KINDS, INSTANCE_LOG, EngineEvent, EventBus
from switchyard.store.db import Store
from switchyard.store.queries import events as event_rows
from switchyard.store.queries import params as params_q

LOCAL_ONLY = frozenset({INSTANCE_LOG, "instance.step"})


@dataclass
class Tx:
    conn: AsyncConnection
    node_id: str
    now: datetime
    events: list[EngineEvent] = field(default_factory=list)

    def emit(self, kind: str, entity_id: str | int | None = None, **data: Any) -> None:
        ent = None if entity_id is None else str(entity_id)
        self.events.append(EngineEvent(kind, ent, data, self.node_id))


@asynccontextmanager
async def transaction(
    store: Store, bus: EventBus, node_id: str, now: datetime
) -> AsyncIterator[Tx]:
    async with store.write() as conn:
        tx = Tx(conn, node_id, now)
        yield tx
        await event_rows.append_many(conn, feed_rows(tx.events, now))
        if any(e.kind in CACHED_KINDS for e in tx.events):  # what caches hold changed
            await params_q.bump_changes(conn, now)
    bus.publish_many(tx.events)


def feed_rows(events: list[EngineEvent], now: datetime) -> list[dict[str, Any]]:
    """The events table's rows for ``events`` (local-only kinds, like log lines, stay out)."""
    return [
        {
            "at": now,
            "kind": e.kind,
            "entity_id": e.entity_id,
            "node_id": e.node_id,
            "data": e.data,
        }
        for e in events
        if e.kind not in LOCAL_ONLY
    ]
