"""Issue 11 §1: a lane's concurrency holds on both backends, whatever the route to running.

Several nodes (Engine + Runtime each, in this process, on one store) run process instances
that wait on a timer, start a child and wait for it, retry a flaky command, fail and are
retried by an operator, next to a command schedule on the same lane. Two probes watch:
the store (running rows per lane, sampled every few ms) and the journal (run steps'
started/ended). Neither may ever show more than the lane's concurrency.

On the code before the fix, PostgreSQL overfilled the lane at once: the batch claim's
``UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`` was rescanned per
row and claimed every queued instance (the issue's 3 3 3 7 7 7).
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from security._lanes_helpers import Sampler, max_overlap, run_intervals, statuses, until
from sqlalchemy import text
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.models import COMPLETED, ERROR
from switchyard.store.queries import claims

LANE = "cap"
LIMIT = 2
NODES = 3
PARENTS = 8
COMMANDS = 4

CHILD = """
process: lchild
lane: cap
start: s
states:
  s:
    actions:
      - run: {command: [sleep, "0.3"]}
      - end_process: child done
"""

PARENT = """
process: lpar
lane: cap
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - run: {command: [sleep, "0.2"]}
      - wait: {for: 1s}
      - start_process: {process: lchild, wait: true}
      - run:
          command: [sh, -c, 'if [ -e "$0" ]; then sleep 0.2; else touch "$0"; exit 1; fi', "{{ dir }}/flaky-{{ instance.id }}"]
        retry: 2
      - run: {command: [sh, -c, 'sleep 0.1; test -e "$0"', "{{ dir }}/go"]}
      - end_process: done
"""


@pytest.fixture
async def nodes(db_url: str, data_dir: Path) -> AsyncIterator[list[Runtime]]:
    engines = [await Engine.open(db_url, data_dir=data_dir) for _ in range(NODES)]
    runtimes: list[Runtime] = []
    try:
        for engine in engines:
            runtime = Runtime(engine, kill_grace=1.0)
            await runtime.start()
            runtimes.append(runtime)
        yield runtimes
    finally:
        for runtime in runtimes:
            with contextlib.suppress(Exception):
                await runtime.stop(grace=5.0)
        for engine in engines:
            with contextlib.suppress(Exception):
                await engine.close()


async def publish(engine: Engine, path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    await engine.publish([path])


async def test_many_nodes_waits_children_retries_never_exceed_the_lane(
    nodes: list[Runtime], tmp_path: Path
) -> None:
    engine = nodes[0].engine
    await engine.add_lane(LANE, LIMIT)
    await publish(engine, tmp_path / "child.yaml", CHILD)
    await publish(engine, tmp_path / "parent.yaml", PARENT)
    await engine.add_schedule(
        ScheduleSpec(
            name="lcmd", command=["sleep", "0.2"], on_demand=True, lane=LANE, overlap="parallel:1"
        )
    )
    sampler = Sampler(engine).start()
    try:
        parents = [
            await nodes[i % NODES].engine.start_process("lpar", {"dir": str(tmp_path)})
            for i in range(PARENTS)
        ]
        for _ in range(COMMANDS):
            await engine.start("lcmd")

        # every parent ends in error at its last step (no "go" file yet) ...
        async def all_failed() -> bool:
            seen = await statuses(engine, LANE)
            return all(seen[p] == ERROR for p in parents) and all(
                s in (COMPLETED, ERROR) for s in seen.values()
            )

        await until(all_failed, what="every parent to fail its last step")
        # ... and an operator retries them all at once, from several nodes
        (tmp_path / "go").touch()
        for i, parent in enumerate(parents):
            await nodes[i % NODES].engine.retry(parent)

        async def all_completed() -> bool:
            return set((await statuses(engine, LANE)).values()) == {COMPLETED}

        await until(all_completed, what="every instance to complete")
    finally:
        await sampler.stop()

    done = await statuses(engine, LANE)
    assert len(done) == PARENTS * 2 + COMMANDS  # parents, their children, commands
    assert sampler.peaks.get(LANE, 0) <= LIMIT, (sampler.peaks, sampler.samples)
    intervals = await run_intervals(engine, LANE)
    assert len(intervals) == PARENTS * 3 + PARENTS + COMMANDS  # one step per run action
    assert max_overlap(intervals) == LIMIT  # the lane was full, never over


async def test_a_lane_nobody_added_is_created_on_claim_with_concurrency_one(
    db_url: str, data_dir: Path
) -> None:
    """An instance naming a lane without a row (a child whose definition names a lane
    nobody added) still gets a lane row to lock: concurrency 1, never unlimited, never
    stuck."""
    engine = await Engine.open(db_url, data_dir=data_dir)
    try:
        await engine.add_schedule(ScheduleSpec(name="orphan", command=["true"], on_demand=True))
        ids = [await engine.start("orphan") for _ in range(3)]
        async with engine.tx() as tx:
            for instance_id in ids:
                await tx.conn.execute(
                    text("UPDATE instances SET lane = 'ghost' WHERE id = :id"),
                    {"id": instance_id},
                )
        async with engine.tx() as tx:
            rows = await claims.claim(
                tx.conn, lane="ghost", node_id="n1", host="h", now=tx.now, most=10
            )
        assert [r["id"] for r in rows] == ids[:1]
        ghost = next(v for v in await engine.lanes() if v.name == "ghost")
        assert (ghost.concurrency, ghost.running, ghost.queued) == (1, 1, 2)
    finally:
        await engine.close()


async def test_a_claim_passes_over_a_full_schedule_however_long_its_backlog(
    db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queue order with per-schedule overlap limits, scanned in small pieces: a schedule
    at its limit is passed over (all its backlog), later instances fill the free slots,
    and the lane's limit still caps the round."""
    monkeypatch.setattr(claims, "SCAN", 2)
    engine = await Engine.open(db_url, data_dir=data_dir)
    try:
        await engine.add_lane("mix", 3)
        for name, overlap in (("one", "parallel:1"), ("two", "parallel:2"), ("free", "queue")):
            await engine.add_schedule(
                ScheduleSpec(
                    name=name, command=["true"], on_demand=True, lane="mix", overlap=overlap
                )
            )
        ones = [await engine.start("one") for _ in range(5)]
        twos = [await engine.start("two") for _ in range(3)]
        frees = [await engine.start("free") for _ in range(3)]
        async with engine.tx() as tx:
            rows = await claims.claim(
                tx.conn, lane="mix", node_id="n", host="h", now=tx.now, most=9
            )
        assert [r["id"] for r in rows] == [ones[0], *twos[:2]]  # the lane is full at 3
        async with engine.tx() as tx:  # nothing more while it is full
            assert (
                await claims.claim(tx.conn, lane="mix", node_id="n", host="h", now=tx.now, most=9)
                == []
            )
            await tx.conn.execute(
                text("UPDATE instances SET status = 'completed' WHERE id IN (:a, :b)"),
                {"a": twos[0], "b": twos[1]},
            )
        async with engine.tx() as tx:  # "one" still at its limit, "two" gets 1 more
            rows = await claims.claim(
                tx.conn, lane="mix", node_id="n", host="h", now=tx.now, most=9
            )
        assert [r["id"] for r in rows] == [twos[2], frees[0]]
    finally:
        await engine.close()
