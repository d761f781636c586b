"""Claiming runnable work: the ONE way an instance becomes ``running``.

Every route to ``running`` goes through ``claim``: a fresh start, a process instance
resuming after a wait, a parent woken by its child, a work item answered, an operator's
retry or skip, a process instance requeued after its node died. All of them put the
instance back to ``queued``; only the dispatcher's claim moves it on, under the lane's lock.

The lane's limit is enforced in one transaction per claim round:

1. the lane row is locked (PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite: the write
   transaction is ``BEGIN IMMEDIATE``, one writer at a time). A lane that has no row yet
   (an instance naming a lane nobody added) gets one on demand, concurrency 1, so there
   is always a row to lock;
2. the lane's ``running`` rows are counted: ALL of them, also those of a node that died
   and has not been restored yet (its commands may still run as orphans until recovery
   kills them), so the store never shows more than ``concurrency`` running;
3. up to the free slots are picked in queue order (a queued instance whose schedule
   already has ``overlap_limit`` running instances is passed over; later ones may run);
4. exactly those ids are moved to ``running`` (``AND status = 'queued'``: an instance
   cancelled meanwhile is not taken).

Why not one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)``: on
PostgreSQL the planner may put that subquery on the inner side of a nested loop and rescan
it once per outer row; each rescan skips the rows the UPDATE itself has just changed, so
``LIMIT n`` yields n *new* rows every time and the statement claimed every queued
instance of the lane (issue 11: 7 running on a lane of 2). Ids are picked first, then
updated by a plain id list.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import QUEUED, RUNNING, UTCDateTime
from switchyard.store.queries import instances
from switchyard.store.queries import lanes as lane_q

SCAN = 200  # queued rows read at least per read while picking

_LOCK_LANE = {
    "postgresql": text("SELECT concurrency FROM lanes WHERE name = :lane FOR UPDATE"),
    "sqlite": text("SELECT concurrency FROM lanes WHERE name = :lane"),
}
_RUNNING_IN_LANE = text("SELECT count(*) FROM instances WHERE lane = :lane AND status = 'running'")
_RUNNING_OF_SCHEDULE = text(
    "SELECT count(*) FROM instances WHERE schedule_id = :schedule AND status = 'running'"
)
_QUEUED = text(
    "SELECT id, schedule_id, overlap_limit FROM instances "
    "WHERE lane = :lane AND status = 'queued' AND id > :after "
    "AND (schedule_id IS NULL OR overlap_limit = 0 OR schedule_id NOT IN :full) "
    "ORDER BY id LIMIT :scan"
).bindparams(bindparam("full", expanding=True))
_TABLE = instances.instances
# the claimed rows come back from the UPDATE itself (RETURNING every column, decoded as
# get_many decodes them): no second read of 500 rows (bench/README.md engine round 7)
_CLAIM = (
    update(_TABLE)
    .where(
        _TABLE.c.id.in_(bindparam("ids", expanding=True)),
        _TABLE.c.lane == bindparam("claim_lane"),
        _TABLE.c.status == QUEUED,
    )
    .values(
        status=RUNNING,
        node_id=bindparam("claim_node"),
        host=bindparam("claim_host"),
        started_at=bindparam("claim_now", type_=UTCDateTime()),
        updated_at=bindparam("claim_now", type_=UTCDateTime()),
    )
    .returning(*_TABLE.c)
)


async def lock_lane(conn: AsyncConnection, lane: str, now: datetime) -> int:
    """Lock ``lane`` for the rest of the transaction (creating it on demand, concurrency 1)
    and return its concurrency."""
    lock = _LOCK_LANE["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    concurrency = (await conn.execute(lock, {"lane": lane})).scalar()
    if concurrency is None:
        await lane_q.ensure(conn, lane, now)
        concurrency = (await conn.execute(lock, {"lane": lane})).scalar()
    return int(concurrency or 0)


async def running_in_lane(conn: AsyncConnection, lane: str) -> int:
    """Every ``running`` row of the lane, whichever node (alive or dead) holds it."""
    return int((await conn.execute(_RUNNING_IN_LANE, {"lane": lane})).scalar() or 0)


async def claim(
    conn: AsyncConnection,
    *,
    lane: str,
    node_id: str,
    host: str,
    now: datetime,
    most: int,
    clock: Callable[[], datetime] | None = None,
) -> list[dict[str, Any]]:
    """Move up to ``most`` queued instances of ``lane`` to running on ``node_id``, never
    past the lane's concurrency; returns the claimed rows in queue order.

    ``clock``: the claimed rows' ``started_at`` is read from it once the lane is locked
    and its running rows counted, not ``now`` (the transaction's time, read before it
    waited for the lock). The run whose end freed the slot may have ended after ``now``;
    on record, the next run must not start before it ended (two at once on a lane of 1,
    on paper: tests/engine/test_claims.py)."""
    rows, _ = await claim_batch(
        conn, lane=lane, node_id=node_id, host=host, now=now, most=most, clock=clock
    )
    return rows


async def claim_batch(
    conn: AsyncConnection,
    *,
    lane: str,
    node_id: str,
    host: str,
    now: datetime,
    most: int,
    clock: Callable[[], datetime] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """``claim``, and whether it stopped at ``most`` with slots of the lane left free:
    more may be claimable at once (the dispatcher's next round, not its poll)."""
    concurrency = await lock_lane(conn, lane, now)
    slots = concurrency - await running_in_lane(conn, lane)
    free = min(slots, most)
    if free <= 0:
        return [], False
    picked = await _pick(conn, lane, free)
    if not picked:
        return [], False
    if clock is not None:
        now = max(now, clock())
    params = {
        "ids": picked,
        "claim_lane": lane,
        "claim_node": node_id,
        "claim_host": host,
        "claim_now": now,
    }
    rows = instances.as_dicts(await conn.execute(_CLAIM, params))
    return sorted(rows, key=lambda r: r["id"]), slots > most and len(picked) == most


async def claim_next(
    conn: AsyncConnection, *, lane: str, node_id: str, host: str, now: datetime
) -> dict[str, Any] | None:
    """The next runnable instance of ``lane`` (``claim`` of one)."""
    rows = await claim(conn, lane=lane, node_id=node_id, host=host, now=now, most=1)
    return rows[0] if rows else None


async def _pick(conn: AsyncConnection, lane: str, free: int) -> list[int]:
    """Up to ``free`` queued ids in queue order, passing over instances whose schedule
    is at its overlap limit (counting the ones picked in this round)."""
    picked: list[int] = []
    running: dict[int, int] = {}  # schedule id -> running (+ picked) instances
    full: set[int] = set()  # schedules at their limit: left out of the next scans
    after = 0
    scan = max(SCAN, free)  # a round's free slots in one read when nothing is passed over
    while len(picked) < free:
        params = {"lane": lane, "after": after, "scan": scan, "full": sorted(full)}
        rows = (await conn.execute(_QUEUED, params)).all()
        for row_id, schedule_id, overlap_limit in rows:
            after = int(row_id)
            if overlap_limit and schedule_id is not None:
                if schedule_id not in running:
                    found = (
                        await conn.execute(_RUNNING_OF_SCHEDULE, {"schedule": schedule_id})
                    ).scalar()
                    running[schedule_id] = int(found or 0)
                if running[schedule_id] >= overlap_limit:
                    full.add(int(schedule_id))
                    continue
                running[schedule_id] += 1
            picked.append(int(row_id))
            if len(picked) == free:
                break
        if len(rows) < scan:
            break
    return picked
