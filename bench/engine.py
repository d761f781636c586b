"""Durable 5-step process instances per second on SQLite: the real engine vs two baselines.

Run: ``.venv/bin/python bench/engine.py [--quick] [--instances 3000] [--concurrency 500]``

Four contenders, one after the other, each on a fresh SQLite file (WAL, synchronous=NORMAL),
doing the same durable work: N instances of 5 steps, every step committed before the next.

* switchyard - the real engine: a published YAML definition (five assigns with
  expressions), instances started through the API, a real node (dispatcher, executor, group
  writer) runs them on a lane of the given concurrency. Timed from the node's start until
  every instance is completed.
* raw group commit - a hand-written prototype: ``concurrency`` coroutines each run
  instances, writing per step one journal row and one instance update through a
  single-writer task that commits whatever is waiting as one transaction
  (executemany), each coroutine awaiting its commit before its next step.
* spiffworkflow persisted - SpiffWorkflow 3.x (bench extra) running the same five steps
  as BPMN script tasks, its workflow serialised to JSON with its own serializer and
  written to SQLite after each step, one commit per step (how its users persist it).
* one commit per step - the raw writes, each step its own transaction (information only:
  it moves 2x between runs).

Goals (issue 14): switchyard >= 0.30 of raw group commit and >= 4x spiffworkflow persisted.
It prints numbers and ratios; it asserts nothing. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import sqlite3
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiosqlite
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
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


SPIFF_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="five" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="s0"/>
    <bpmn:scriptTask id="s0" scriptFormat="python"><bpmn:script>b = a + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f1" sourceRef="s0" targetRef="s1"/>
    <bpmn:scriptTask id="s1" scriptFormat="python"><bpmn:script>c = b * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="s1" targetRef="s2"/>
    <bpmn:scriptTask id="s2" scriptFormat="python"><bpmn:script>d = c + b</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="s2" targetRef="s3"/>
    <bpmn:scriptTask id="s3" scriptFormat="python"><bpmn:script>a = d - 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="s3" targetRef="s4"/>
    <bpmn:scriptTask id="s4" scriptFormat="python"><bpmn:script>e = f"done {a}"</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f5" sourceRef="s4" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def spiff(path: Path, instances: int) -> float:
    """SpiffWorkflow 3.x: the same five steps as BPMN script tasks; after each script task
    the workflow is serialised (BpmnWorkflowSerializer.serialize_json) and written to
    SQLite (WAL, synchronous=NORMAL) in its own commit, and once more when it completes:
    the 6 commits per instance of the other contenders. It is a synchronous library, so
    instances run one after the other (no concurrency to share a commit)."""
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.specs.defaults import ScriptTask
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

    parser = BpmnParser()
    parser.add_bpmn_str(SPIFF_BPMN.encode())
    spec = parser.get_spec("five")
    serializer = BpmnWorkflowSerializer()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE workflows (id INTEGER PRIMARY KEY, status TEXT, state TEXT)")
    db.executemany(
        "INSERT INTO workflows (id, status, state) VALUES (?, 'queued', '{}')",
        [(i,) for i in range(1, instances + 1)],
    )

    def persist(instance_id: int, workflow: BpmnWorkflow, status: str) -> None:
        state = serializer.serialize_json(workflow)
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "UPDATE workflows SET status = ?, state = ? WHERE id = ?", (status, state, instance_id)
        )
        db.execute("COMMIT")

    started = time.perf_counter()
    for instance_id in range(1, instances + 1):
        workflow = BpmnWorkflow(spec)
        workflow.data["a"] = 1
        workflow.get_tasks()[0].data["a"] = 1  # the start task's data flows down

        def after(task: Any, instance_id: int = instance_id, wf: BpmnWorkflow = workflow) -> None:
            if isinstance(task.task_spec, ScriptTask):
                persist(instance_id, wf, "running")

        workflow.do_engine_steps(did_complete_task=after)
        assert workflow.is_completed(), "spiff workflow did not complete"
        persist(instance_id, workflow, "completed")
    elapsed = time.perf_counter() - started
    last = json.loads(
        db.execute("SELECT state FROM workflows WHERE id = ?", (instances,)).fetchone()[0]
    )
    assert "done 5" in json.dumps(last), "spiff workflow computed something else"
    db.close()
    return instances / elapsed


async def _count_completions(queue: Any, instances: int, ended: asyncio.Event) -> None:
    """Sets ``ended`` once the bus told of ``instances`` completions (the group writer
    publishes each one after its commit)."""
    done: set[int] = set()
    while True:
        event = await queue.get()
        if event.kind == ev.INSTANCES_CHANGED and event.data.get("status") == "completed":
            done.update(event.data.get("ids") or ())
            if len(done) >= instances:
                ended.set()


async def _all_done(engine: Engine, ended: asyncio.Event, poll: bool) -> bool:
    """One wait for the end: ``poll`` asks the lane every 50 ms (rounds 1-4: each ask is
    a few ms of the loop and the end is seen up to 50 ms late); else the completions on
    the bus, with the lane asked once a second in case events were dropped."""
    if not poll:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await ended.wait()
        if ended.is_set():
            return True
    else:
        await asyncio.sleep(0.05)
    lane = {lane.name: lane for lane in await engine.lanes()}["bench"]
    return lane.running == 0 and lane.queued == 0


async def switchyard(
    path: Path, instances: int, concurrency: int, profile: str | None = None, poll: bool = False
) -> tuple[float, str, float]:
    data = path.parent / "data"
    engine = await Engine.open(f"sqlite+aiosqlite:///{path}", data_dir=data)
    definition = path.parent / "five.yaml"
    definition.write_text(textwrap.dedent(DEFINITION))
    await engine.publish([definition])
    await engine.add_lane("bench", concurrency)
    for _ in range(instances):
        await engine.start_process("five", lane="bench")
    runtime = Runtime(engine)
    profiler = cProfile.Profile() if profile else None
    async with engine.bus.subscribe() as queue:
        ended = asyncio.Event()
        watcher = asyncio.create_task(_count_completions(queue, instances, ended))
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        cpu_started = time.thread_time()  # the event loop's thread: the engine's own CPU
        await runtime.start()
        await runtime.scheduler.stop()
        while not await _all_done(engine, ended, poll):
            pass
        elapsed = time.perf_counter() - started
        cpu = time.thread_time() - cpu_started
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        watcher.cancel()
    lane = {lane.name: lane for lane in await engine.lanes()}["bench"]
    assert lane.running == 0 and lane.queued == 0, "the bench lane is not empty"
    done = await engine.instances(status="completed", limit=instances + 10)
    writer = runtime.writer
    note = (
        f"{len(done)} completed; {writer.writes} writes in {writer.batches} commits "
        f"({writer.writes / max(writer.batches, 1):.1f} per commit)"
    )
    await runtime.stop(grace=5)
    await engine.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        (right,) = db.execute(
            "SELECT count(*) FROM instances WHERE json_extract(variables, '$.e') = 'done 5'"
        ).fetchone()
    assert right == instances, f"only {right} instances computed the right result"
    return instances / elapsed, note, cpu * 1e6 / (instances * STEPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=None, help="default 3000 (quick 1500)")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--spiff-instances", type=int, default=None, help="default 600 (quick 300)")
    parser.add_argument("--rounds", type=int, default=None, help="default 2 (quick 1): best of")
    parser.add_argument("--quick", action="store_true", help="fewer instances, one round")
    parser.add_argument("--profile", help="write cProfile stats of switchyard's timed run here")
    parser.add_argument(
        "--only", choices=["switchyard", "raw", "spiff"], help="one contender (profiling)"
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="see switchyard's end by asking the lane every 50 ms (rounds 1-4's way)",
    )
    args = parser.parse_args()
    instances = args.instances or (1500 if args.quick else 3000)
    spiff_n = args.spiff_instances or (300 if args.quick else 600)
    rounds = args.rounds or (1 if args.quick else 2)
    single_n = max(200, instances // 10)
    logging.basicConfig(level=logging.WARNING)
    print(
        f"{instances} instances x {STEPS} steps, concurrency {args.concurrency}, {rounds} round(s)"
    )
    best: dict[str, float] = {}
    cpu_best = float("inf")
    note = ""

    def keep(name: str, rate: float) -> None:
        best[name] = max(best.get(name, 0.0), rate)

    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(rounds):
            root = Path(tmp) / str(round_no)
            root.mkdir(mode=0o700)
            for sub in ("sy", "group", "single", "spiff"):
                (root / sub).mkdir(mode=0o700)  # the engine refuses a shared store dir
            if args.only in (None, "switchyard"):
                rate, note, cpu = asyncio.run(
                    switchyard(
                        root / "sy" / "s.db", instances, args.concurrency, args.profile, args.poll
                    )
                )
                keep("switchyard", rate)
                cpu_best = min(cpu_best, cpu)
            if args.only in (None, "raw"):
                keep(
                    "group",
                    asyncio.run(
                        raw(root / "group" / "g.db", instances, args.concurrency, group=True)
                    ),
                )
            if args.only in (None, "spiff"):
                keep("spiff", spiff(root / "spiff" / "w.db", spiff_n))
            if args.only is None:
                keep(
                    "single",
                    asyncio.run(
                        raw(root / "single" / "o.db", single_n, args.concurrency, group=False)
                    ),
                )
    sy_rate = best.get("switchyard", float("nan"))
    group_rate = best.get("group", float("nan"))
    spiff_rate = best.get("spiff", float("nan"))
    single_rate = best.get("single", float("nan"))
    print(f"{'contender (best of rounds)':<30}{'instances/s':>14}")
    print(f"{'switchyard (real engine)':<30}{sy_rate:>14,.0f}   {note}")
    print(f"{'(a) raw group commit':<30}{group_rate:>14,.0f}")
    print(f"{'spiffworkflow persisted':<30}{spiff_rate:>14,.0f}   ({spiff_n} instances)")
    print(f"{'(b) one commit per step':<30}{single_rate:>14,.0f}   ({single_n} instances, info)")
    print()
    ratio_a = sy_rate / group_rate
    ratio_spiff = sy_rate / spiff_rate
    print(f"switchyard CPU per step (event loop thread): {cpu_best:.1f} us")
    print(
        f"ratio switchyard / (a): {ratio_a:.2f}   goal >= 0.30   "
        f"{'met' if ratio_a >= 0.3 else 'MISSED'}"
    )
    print(
        f"ratio switchyard / spiffworkflow persisted: {ratio_spiff:.1f}x  goal >= 4x   "
        f"{'met' if ratio_spiff >= 4 else 'MISSED'}"
    )
    print(f"ratio switchyard / (b): {sy_rate / single_rate:.1f}x  (information only)")
    print(
        json.dumps(
            {
                "instances_per_s": round(sy_rate, 1),
                "ratio_to_raw": round(ratio_a, 3),
                "ratio_to_spiff_persisted": round(ratio_spiff, 2),
                "cpu_us_per_step": round(cpu_best, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
