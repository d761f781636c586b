"""Durable 5-step process instances per second on SQLite: the real engine vs two baselines.

Run: ``.venv/bin/python bench/engine.py [--instances 3000] [--concurrency 500]``

Three contenders, one after the other, each on a fresh SQLite file (WAL, synchronous=NORMAL),
doing the same durable work: N instances of 5 steps, every step committed before the next.

* switchyard - the real engine: a published YAML definition (five assigns with
  expressions), instances started through the API, a real node (dispatcher, executor, group
  writer) runs them on a lane of the given concurrency. Timed from the node's start until
  every instance is completed.
* raw group commit - a hand-written prototype: ``concurrency`` coroutines each run
  instances, writing per step one journal row and one instance update through a
  single-writer task that commits whatever is waiting as one transaction
  (executemany), each coroutine awaiting its commit before its next step.
* one commit per step - the same writes, each step its own transaction.

Goals: switchyard >= 50 % of raw group commit and >= 20x one commit per step.
It prints numbers and ratios; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiosqlite
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime

STEPS = 5
DEFINITION = """
process: five
variables:
  a: {type: integer, default: 1}
  b: {type: integer}
  c: {type: integer}
  d: {type: integer}
  e: {type: string}
start: s
states:
  s:
    actions:
      - assign: {b: "{{ a + 1 }}"}
      - assign: {c: "{{ b * 2 }}"}
      - assign: {d: "{{ c + b }}"}
      - assign: {a: "{{ d - 1 }}"}
      - assign: {e: "done {{ a }}"}
"""

SCHEMA = """
CREATE TABLE instances (id INTEGER PRIMARY KEY, status TEXT, variables TEXT, step INTEGER,
                        updated_at TEXT);
CREATE TABLE steps (id INTEGER PRIMARY KEY, instance_id INTEGER, key TEXT, kind TEXT,
                    status TEXT, started_at TEXT, ended_at TEXT,
                    UNIQUE (instance_id, key));
"""


async def open_raw(path: Path) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.executescript(SCHEMA)
    return db


def step_writes(instance_id: int, step: int, variables: dict[str, Any]) -> list[tuple[str, tuple]]:
    now = time.time()
    return [
        (
            "INSERT INTO steps (instance_id, key, kind, status, started_at, ended_at) "
            "VALUES (?, ?, 'assign', 'done', ?, ?)",
            (instance_id, f"0:s/{step}", now, now),
        ),
        (
            "UPDATE instances SET variables = ?, step = ?, updated_at = ? WHERE id = ?",
            (json.dumps(variables), step, now, instance_id),
        ),
    ]


async def raw(path: Path, instances: int, concurrency: int, *, group: bool) -> float:
    db = await open_raw(path)
    await db.executemany(
        "INSERT INTO instances (id, status, variables, step) VALUES (?, 'queued', '{}', 0)",
        [(i,) for i in range(1, instances + 1)],
    )
    queue: asyncio.Queue[tuple[list[tuple[str, tuple]], asyncio.Future[None]]] = asyncio.Queue()

    async def writer() -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            await db.execute("BEGIN IMMEDIATE")
            by_sql: dict[str, list[tuple]] = {}
            for writes, _ in batch:
                for sql, params in writes:
                    by_sql.setdefault(sql, []).append(params)
            for sql, rows in by_sql.items():
                await db.executemany(sql, rows)
            await db.execute("COMMIT")
            for _, fut in batch:
                fut.set_result(None)

    lock = asyncio.Lock()

    async def commit(writes: list[tuple[str, tuple]]) -> None:
        if group:
            fut = asyncio.get_running_loop().create_future()
            queue.put_nowait((writes, fut))
            await fut
            return
        async with lock:  # one writer, one transaction per step
            await db.execute("BEGIN IMMEDIATE")
            for sql, params in writes:
                await db.execute(sql, params)
            await db.execute("COMMIT")

    todo = list(range(1, instances + 1))

    async def worker() -> None:
        while todo:
            instance_id = todo.pop()
            variables = {"a": 1}
            for step in range(STEPS):
                variables[f"v{step}"] = step  # the work of a step
                await commit(step_writes(instance_id, step, variables))
            await commit(
                [("UPDATE instances SET status = 'completed' WHERE id = ?", (instance_id,))]
            )

    task = asyncio.create_task(writer()) if group else None
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if task:
        task.cancel()
    await db.close()
    return instances / elapsed


async def switchyard(path: Path, instances: int, concurrency: int) -> tuple[float, str]:
    data = path.parent / "data"
    engine = await Engine.open(f"sqlite+aiosqlite:///{path}", data_dir=data)
    definition = path.parent / "five.yaml"
    definition.write_text(textwrap.dedent(DEFINITION))
    await engine.publish([definition])
    await engine.add_lane("bench", concurrency)
    for _ in range(instances):
        await engine.start_process("five", lane="bench")
    runtime = Runtime(engine)
    started = time.perf_counter()
    await runtime.start()
    await runtime.scheduler.stop()
    while True:
        counts = {lane.name: lane for lane in await engine.lanes()}
        lane = counts["bench"]
        if lane.running == 0 and lane.queued == 0:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    done = len(await engine.instances(status="completed", limit=instances + 10))
    writer = runtime.writer
    note = (
        f"{done} completed; {writer.writes} writes in {writer.batches} commits "
        f"({writer.writes / max(writer.batches, 1):.1f} per commit)"
    )
    await runtime.stop(grace=5)
    await engine.close()
    return instances / elapsed, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sub in ("sy", "group", "single"):
            (root / sub).mkdir()
        print(f"{args.instances} instances x {STEPS} steps, concurrency {args.concurrency}")
        sy_rate, note = asyncio.run(
            switchyard(root / "sy" / "s.db", args.instances, args.concurrency)
        )
        group_rate = asyncio.run(
            raw(root / "group" / "g.db", args.instances, args.concurrency, group=True)
        )
        single_n = max(200, args.instances // 10)
        single_rate = asyncio.run(
            raw(root / "single" / "o.db", single_n, args.concurrency, group=False)
        )
    print(f"{'contender':<28}{'instances/s':>14}")
    print(f"{'switchyard (real engine)':<28}{sy_rate:>14,.0f}   {note}")
    print(f"{'(a) raw group commit':<28}{group_rate:>14,.0f}")
    print(f"{'(b) one commit per step':<28}{single_rate:>14,.0f}   ({single_n} instances)")
    print()
    ratio_a = sy_rate / group_rate
    ratio_b = sy_rate / single_rate
    print(
        f"ratio switchyard / (a): {ratio_a:.2f}   goal >= 0.50   "
        f"{'met' if ratio_a >= 0.5 else 'MISSED'}"
    )
    print(
        f"ratio switchyard / (b): {ratio_b:.1f}x  goal >= 20x    "
        f"{'met' if ratio_b >= 20 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
