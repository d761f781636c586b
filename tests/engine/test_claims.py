"""Claims: several nodes dispatching from one queue never share work or overfill a lane."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select
from switchyard.engine.api import Engine
from switchyard.engine.instances.completion import finish
from switchyard.engine.kernel.tx import transaction
from switchyard.engine.runs.dispatcher import Dispatcher
from switchyard.store.models import COMPLETED, RUNNING, Instance
from switchyard.store.queries import claims

from engine.helpers import instance_rows, spec

instances = Instance.__table__


class Recorder:
    """A dispatcher launch callback that only records what its node claimed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rows: list[dict[str, Any]] = []

    def __call__(self, row: dict[str, Any]) -> None:
        assert row["status"] == RUNNING
        assert row["node_id"] == self.engine.node_id
        self.rows.append(row)


async def running_on(engine: Engine, lane: str) -> int:
    stmt = select(func.count()).where(instances.c.lane == lane, instances.c.status == RUNNING)
    async with engine.store.read() as conn:
        return int((await conn.execute(stmt)).scalar())


async def complete(engine: Engine, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        async with engine.tx() as tx:
            assert await finish(tx, row, COMPLETED, "exit code 0", 0)


async def test_two_nodes_never_claim_the_same_instance(open_engine) -> None:
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    assert a.node_id != b.node_id
    await a.add_lane("pool", 3)
    for n in range(4):
        await a.add_schedule(spec(f"job{n}", lane="pool", overlap="parallel:50"))
    total = 40
    for i in range(total):
        await (a if i % 2 else b).start(f"job{i % 4}")

    recorders = {a.node_id: Recorder(a), b.node_id: Recorder(b)}
    dispatchers = [Dispatcher(e, recorders[e.node_id]) for e in (a, b, a, b)]
    claimed: list[dict[str, Any]] = []
    remaining = sorted(r["id"] for r in await instance_rows(a))
    rounds = 0
    while remaining:
        rounds += 1
        assert rounds <= total, "claiming made no progress"
        before = {node: len(r.rows) for node, r in recorders.items()}
        counts = await asyncio.gather(*(d.dispatch_once() for d in dispatchers))
        fresh = [row for node, r in recorders.items() for row in r.rows[before[node] :]]
        assert sum(counts) == len(fresh)
        # the lane is filled to its concurrency, never beyond, whichever node claimed ...
        assert len(fresh) == min(3, len(remaining))
        assert await running_on(a, "pool") == len(fresh)
        # ... and with the first instances in queue order
        assert sorted(row["id"] for row in fresh) == remaining[: len(fresh)]
        remaining = remaining[len(fresh) :]
        claimed += fresh
        await complete(a if rounds % 2 else b, fresh)

    ids = Counter(row["id"] for row in claimed)
    assert len(ids) == total and max(ids.values()) == 1
    rows = await instance_rows(a)
    assert [r["status"] for r in rows] == [COMPLETED] * total
    assert {r["node_id"] for r in rows} <= {a.node_id, b.node_id}


async def test_concurrent_claims_hold_lane_and_overlap_limits(open_engine) -> None:
    """Many rounds of racing dispatchers on separate engines (separate pools)."""
    engines: list[Engine] = [await open_engine() for _ in range(3)]
    first = engines[0]
    await first.add_lane("tight", 2)
    await first.add_schedule(spec("serial", lane="tight"))  # overlap queue: one at a time
    await first.add_schedule(spec("wide", lane="tight", overlap="parallel:5"))
    for _ in range(6):
        await first.start("serial")
        await first.start("wide")

    recorders = [Recorder(e) for e in engines]
    claim_counts: Counter[int] = Counter()
    rounds = 0
    while True:
        rounds += 1
        assert rounds <= 30, "claiming made no progress"
        before = [len(r.rows) for r in recorders]
        results = await asyncio.gather(
            *(
                Dispatcher(e, rec).dispatch_once()
                for e, rec in zip(engines * 2, recorders * 2, strict=True)
            )
        )
        for rec, n in zip(recorders, before, strict=True):
            claim_counts.update(row["id"] for row in rec.rows[n:])
        running = [r for r in await instance_rows(first) if r["status"] == RUNNING]
        assert len(running) <= 2, running
        assert sum(1 for r in running if r["schedule_name"] == "serial") <= 1
        if not running:
            assert sum(results) == 0
            break
        # end one run per round, so the next race is for a partly full lane
        await complete(first, running[:1])

    assert len(claim_counts) == 12 and max(claim_counts.values()) == 1
    rows = await instance_rows(first)
    assert [r["status"] for r in rows] == [COMPLETED] * 12


async def test_claim_transactions_racing_in_the_open_respect_the_lane(open_engine) -> None:
    """Claims whose transactions overlap (each still open when the others claim) on three
    engines: the lane lock must serialise them, so exactly ``concurrency`` succeed."""
    engines: list[Engine] = [await open_engine() for _ in range(3)]
    first = engines[0]
    await first.add_lane("race", 2)
    await first.add_schedule(spec("wide", lane="race", overlap="parallel:50"))
    ids = [await first.start("wide") for _ in range(10)]

    async def claim(engine: Engine) -> int | None:
        async with engine.tx() as tx:
            row = await claims.claim_next(
                tx.conn, lane="race", node_id=engine.node_id, host="h", now=tx.now
            )
            await asyncio.sleep(0.05)  # keep the transaction open while the others claim
        return None if row is None else int(row["id"])

    got = await asyncio.gather(*(claim(e) for e in engines * 3))
    won = sorted(i for i in got if i is not None)
    assert won == ids[:2]
    assert await running_on(first, "race") == 2


async def test_a_claim_does_not_start_before_the_end_that_freed_its_slot(
    open_engine, clock
) -> None:
    """Node b reads its transaction's time, then waits for the lane (SQLite: the write
    lock; PostgreSQL: the lane row) while another transaction records the lane's running
    instance as ended later than that and commits. b then finds the slot free: its run
    must not start, on record, before the one it follows ended (it did: two runs at once
    on a lane of 1, on paper, in tests/e2e/test_two_nodes.py under load)."""
    a: Engine = await open_engine()
    b: Engine = await open_engine()
    await a.add_lane("solo", 1)
    await a.add_schedule(spec("job", lane="solo", overlap="parallel:5"))
    first, second = await a.start("job"), await a.start("job")
    rec_a, rec_b = Recorder(a), Recorder(b)
    assert await Dispatcher(a, rec_a).dispatch_once() == 1
    assert [r["id"] for r in rec_a.rows] == [first]
    start = clock.at
    async with transaction(a.store, a.bus, a.node_id, start + timedelta(seconds=2)) as tx:
        await claims.lock_lane(tx.conn, "solo", tx.now)  # the lane busy, as in a claim
        clock.at = start + timedelta(seconds=1)
        waiting = asyncio.create_task(Dispatcher(b, rec_b).dispatch_once())
        await asyncio.sleep(0.3)  # b has read its time and waits for the lane
        assert not waiting.done()
        assert await finish(tx, rec_a.rows[0], COMPLETED, "exit code 0", 0)  # ended at +2 s
        clock.at = start + timedelta(seconds=3)
    assert await waiting == 1
    rows = {r["id"]: r for r in await instance_rows(a)}
    assert [r["id"] for r in rec_b.rows] == [second]
    assert rows[first]["ended_at"] == start + timedelta(seconds=2)
    assert rows[second]["started_at"] >= rows[first]["ended_at"]


async def test_a_round_reads_its_free_slots_in_one_scan(open_engine, monkeypatch) -> None:
    """Nothing passed over: a claim round of n free slots reads the queue once, not once
    per SCAN rows (each read is a round trip while the lane is locked); the rows it
    returns are the instances' full rows, as ``mappings()`` gives them."""
    monkeypatch.setattr(claims, "SCAN", 2)
    engine: Engine = await open_engine()
    await engine.add_lane("wide", 5)
    await engine.add_schedule(spec("job", lane="wide", overlap="parallel:50"))
    ids = [await engine.start("job") for _ in range(7)]
    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "status = 'queued' AND id >" in statement:
            reads.append(statement)

    async with engine.tx() as tx:
        event.listen(tx.conn.sync_connection, "before_cursor_execute", count)
        rows = await claims.claim(tx.conn, lane="wide", node_id="n", host="h", now=tx.now, most=50)
        event.remove(tx.conn.sync_connection, "before_cursor_execute", count)
    assert [r["id"] for r in rows] == ids[:5]
    assert len(reads) == 1
    async with engine.store.read() as conn:
        stmt = select(instances).where(instances.c.id.in_(ids[:5])).order_by(instances.c.id)
        assert rows == [dict(r) for r in (await conn.execute(stmt)).mappings()]
