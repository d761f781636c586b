"""A node: the engine at work in this process (`switchyard serve` or an embedded console).

It registers itself, restores the work of dead nodes, then runs the scheduler, the
dispatcher, a heartbeat, the cancel watcher and housekeeping until stopped. Stopping
takes no new work, lets running commands finish for a grace period, then interrupts
what is left (those instances end in ``error``: "interrupted: node stopped").
A console's node (``mode="console"``) stops the runs of continuous schedules at once,
without the grace (they never end by themselves): they end ``cancelled`` with the reason
``INTERRUPTED_BY_QUIT`` and the schedule starts them again at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from datetime import timedelta
from functools import partial
from typing import Any, Protocol, runtime_checkable

from switchyard.engine.actions import sql as sql_action
from switchyard.engine.instances.completion import INTERRUPTED_BY_QUIT, finish
from switchyard.engine.instances.transition import wake, wake_due
from switchyard.engine.kernel import config as node_config
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import (
    HOST,
    PID_NS,
    WORKER_MODES,
    Liveness,
    NodeState,
    own_start_time,
    state_of,
)
from switchyard.engine.kernel.tasks import one_line, spawn
from switchyard.engine.node import heap, recovery
from switchyard.engine.node.orphans import OrphanCancels
from switchyard.engine.node.recovery import RecoveryPorts
from switchyard.engine.ops import params as server_params
from switchyard.engine.process.host import HostPorts, ProcessHost
from switchyard.engine.process.lifecycle import (
    YIELDED,
    LifecyclePorts,
    ProcessTask,
    resolve_definition,
    run_claimed,
)
from switchyard.engine.process.writer import GroupWriter, WriterPorts
from switchyard.engine.runs.dispatcher import Dispatcher, DispatcherPorts
from switchyard.engine.runs.execution import ExecutionPorts, execute
from switchyard.engine.runs.log_chunks import ChunkWriter, ChunkWriterPorts
from switchyard.engine.runs.runner import CommandRun
from switchyard.engine.schedules.scheduler import Scheduler, SchedulerPorts
from switchyard.engine.schedules.triggers import Trigger
from switchyard.engine.workitems import timers as wi_timers
from switchyard.store.models import ERROR, RUNNING
from switchyard.store.queries import events as event_rows
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import log_chunks as chunk_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import schedules as sched_q
from switchyard.store.queries import steps as step_q

log = logging.getLogger(__name__)

EVENT_RETENTION = timedelta(hours=1)
LOG_RETENTION = timedelta(days=int(os.environ.get("SWITCHYARD_LOG_RETENTION_DAYS", "30")))
HOUSEKEEPING_EVERY = 10.0
CANCEL_POLL = 2.0  # seconds between looks for cancel requests in the store
LAUNCH_SLICE = 500  # process instances started between two turns of the event loop


@runtime_checkable
class RuntimePorts(
    SchedulerPorts,
    DispatcherPorts,
    WriterPorts,
    HostPorts,
    ExecutionPorts,
    LifecyclePorts,
    RecoveryPorts,
    ChunkWriterPorts,
    Protocol,
):
    """What its parts take (each names its own port), plus the event feed it starts."""

    async def start_feed(self) -> None: ...


class Runtime:
    def __init__(
        self, engine: RuntimePorts, *, mode: str = "serve", kill_grace: float = 5.0
    ) -> None:
        self.engine = engine
        self.mode = mode
        self.kill_grace = kill_grace
        self.scheduler = Scheduler(engine)
        self.dispatcher = Dispatcher(engine, self._launch)
        self.dispatcher.after_round = self._requeue_yielded
        self._yielded: set[int] = set()  # instances that stepped aside for their lane
        self._orphans = OrphanCancels(engine)  # cancels nothing here answers (node/orphans.py)
        self.running: dict[int, CommandRun] = {}
        self.processes: dict[int, ProcessTask] = {}
        self.writer = GroupWriter(engine)
        self.chunks = ChunkWriter(engine)  # log lines into the store (engine/runs/log_chunks.py)
        self.host: ProcessHost | None = None
        self._claimed: list[dict[str, Any]] = []
        self._definitions: dict[int, dict[str, Any]] = {}
        self._host_loaded = 0.0
        self._runs: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False
        self.timing = Liveness()
        # set when someone ran `switchyard node drain` on this node (read at a heartbeat):
        # `serve` then stops the way SIGTERM stops it, with ``drain_grace``
        self.drain_requested = asyncio.Event()
        self.drain_grace: float | None = None
        self.step_programs = True  # off: every step the walk's way (process/program.py)
        self._young = heap.YoungGeneration()  # the collector while this node runs (heap.py)

    async def start(self) -> None:
        now = self.engine.clock.now()
        async with self.engine.tx() as tx:
            await node_q.register(
                tx.conn,
                {
                    "id": self.engine.node_id,
                    "mode": self.mode,
                    "host": HOST,
                    "pid": os.getpid(),
                    "proc_start_time": own_start_time(),
                    "pid_ns": PID_NS,
                    "started_at": now,
                    "heartbeat_at": now,
                },
            )
            tx.emit(ev.NODE_CHANGED, self.engine.node_id, mode=self.mode, state="started")
            await eventlog.record(
                tx,
                eventlog.NODE_STARTED,
                f"node {self.engine.node_id} started ({self.mode})",
                login=self.engine.login,
                mode=self.mode,
                host=HOST,
                pid=os.getpid(),
            )
        await self.engine.start_feed()
        self.writer.start()
        self.chunks.start()
        await self.refresh_host()
        async with self.engine.store.write() as conn:
            await node_q.set_restoring(conn, self.engine.node_id, True)
        try:
            await recovery.restore(self.engine, log_always=True)
        finally:
            async with self.engine.store.write() as conn:
                await node_q.set_restoring(conn, self.engine.node_id, False)
        self.scheduler.start()
        self.dispatcher.start()
        self._tasks = [
            spawn(self._heartbeat(), name="switchyard-heartbeat"),
            spawn(self._watch_cancels(), name="switchyard-cancels"),
            spawn(self._housekeeping(), name="switchyard-housekeeping"),
            spawn(self._timers(), name="switchyard-timers"),
        ]
        self.started = True
        heap.freeze_once()
        self._young.enter()

    async def refresh_host(self) -> ProcessHost:
        """Secrets, server parameters and config as process actions see them (re-read when
        they change and every few seconds, not on every step)."""
        async with self.engine.store.read() as conn:
            params = await server_params.load(conn)
        self._apply(params)
        secrets = await self.engine.secret_values()
        config = await asyncio.to_thread(node_config.read, self.engine.data_dir)
        self.host = ProcessHost(
            self.engine,
            self.writer,
            secrets=secrets,
            params=params,
            config=config,
            chunks=self.chunks,
            kill_grace=self.kill_grace,
            step_programs=self.step_programs,
        )
        self._host_loaded = time.monotonic()
        return self.host

    def _apply(self, params: dict[str, Any]) -> None:
        """The cluster's parameters: heartbeat and dead timeout, load balancing."""
        self.timing = Liveness.of(params)
        self.dispatcher.timing = self.timing
        self.dispatcher.threshold = int(params["load_balance_threshold"])

    def _launch(self, row: dict[str, Any]) -> None:
        if row.get("definition_id") is not None or (row.get("process") and not row["command"]):
            # Process instances claimed in one dispatch round start together: their
            # journals and definitions are read in one go (see _start_processes).
            self._claimed.append(row)
            if len(self._claimed) == 1:
                rows = self._claimed
                self._track(
                    spawn(
                        self._start_processes(),
                        name="switchyard-start-processes",
                        on_error=lambda exc: self._fail_rows(rows, exc),
                    )
                )
            return
        self._track(
            spawn(
                execute(self.engine, row, self.running, self.kill_grace, self.chunks),
                name=f"switchyard-run-{row['id']}",
                on_error=lambda exc: self._fail_rows([row], exc),
            )
        )

    async def _fail_rows(self, rows: list[dict[str, Any]], exc: BaseException) -> None:
        """Launching these failed unexpectedly: each still running here ends in ``error``
        (one line), so that none stays ``running`` holding its lane."""
        reason = f"internal error: {one_line(exc)}"
        for row in rows:
            if int(row["id"]) in self.processes:  # its own task runs it (and guards it)
                continue
            async with self.engine.tx() as tx:
                current = await inst_q.get(tx.conn, int(row["id"]))
                if current is None or current["node_id"] != self.engine.node_id:
                    continue  # not (or no longer) this node's
                if current["status"] == RUNNING:
                    await finish(tx, current, ERROR, reason)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _start_processes(self) -> None:
        await asyncio.sleep(0)  # let the dispatcher hand over its whole round first
        rows, self._claimed = self._claimed, []
        host = self.host
        if host is None or time.monotonic() - self._host_loaded > 5.0:
            host = await self.refresh_host()
        ids = [int(r["id"]) for r in rows]
        async with self.engine.store.read() as conn:
            journals = await step_q.journals(conn, ids)
            for row in rows:  # fired by a process schedule: its newest version, now
                if row.get("definition_id") is None:
                    await resolve_definition(conn, row)
            wanted = {int(r["definition_id"]) for r in rows if r.get("definition_id")}
            for definition_id in wanted - set(self._definitions):
                found = await proc_q.get_by_id(conn, definition_id)
                if found is not None:  # published versions never change: cache them
                    self._definitions[definition_id] = found
        for number, row in enumerate(rows):
            if number and number % LAUNCH_SLICE == 0:
                # a round bigger than a claim (several lanes) starts in slices, the group
                # writer's turn between them (slices of 100 measured 3-7 % slower since a
                # commit is one hand-off: bench/README.md, engine round 3)
                await asyncio.sleep(0)
            me = ProcessTask(int(row["id"]))
            definition = self._definitions.get(int(row.get("definition_id") or 0))
            task: asyncio.Task[Any] = spawn(
                run_claimed(self.engine, host, row, me, definition, journals.get(me.instance_id)),
                name=f"switchyard-process-{row['id']}",
                on_error=partial(self._fail_rows, [row]),
            )
            me.task = task
            self.processes[me.instance_id] = me
            task.add_done_callback(partial(self._note_yield, instance_id=me.instance_id))
            task.add_done_callback(partial(self._forget, me.instance_id))
            self._track(task)

    def _forget(self, instance_id: int, _task: asyncio.Task[Any]) -> None:
        self.processes.pop(instance_id, None)

    def _note_yield(self, task: asyncio.Task[Any], instance_id: int) -> None:
        if not task.cancelled() and task.exception() is None and task.result() == YIELDED:
            self._yielded.add(instance_id)
            self.dispatcher.wake()

    async def _requeue_yielded(self) -> None:
        """After a claim round (the lane's other queued instances had their turn), the
        instances that stepped aside go back to the queue."""
        if not self._yielded:
            return
        ids, self._yielded = sorted(self._yielded), set()
        async with self.engine.tx() as tx:
            for instance_id in ids:
                await wake(tx, instance_id)

    async def _timers(self) -> None:
        """Waiting instances whose time has come go back to the queue."""
        while True:
            await asyncio.sleep(0.5)
            try:
                async with self.engine.tx() as tx:
                    await wake_due(tx)
            except Exception as exc:
                log.warning("timers: %s", exc)
            try:
                await wi_timers.fire_due(self.engine)
            except Exception as exc:
                log.warning("work item timers: %s", exc)

    async def stop(self, grace: float = 30.0) -> None:
        """Take no new work; let runs finish for ``grace`` seconds; interrupt the rest."""
        if not self.started:
            return
        self.started = False
        await self.dispatcher.stop()
        await self.scheduler.stop()
        if self.mode == "serve":  # others see it draining (node list) and give it nothing
            async with self.engine.store.write() as conn:
                await node_q.set_draining(conn, self.engine.node_id, self.engine.clock.now(), grace)
        interrupted = 0
        if self.mode == "console":  # continuous runs never end: stopped now, not an error
            for instance_id in await self.continuous_runs():
                if (run := self.running.get(instance_id)) is not None:
                    await run.interrupt(INTERRUPTED_BY_QUIT, ended_as="cancelled")
        if self._runs:
            _, pending = await asyncio.wait(set(self._runs), timeout=grace)
            if pending:
                interrupted = len(pending)
                reason = f"interrupted: node {self.engine.node_id} stopped; retry it"
                for proc in list(self.processes.values()):
                    await proc.interrupt(reason)
                for run in list(self.running.values()):
                    await run.interrupt(reason)
                await asyncio.wait(pending, timeout=self.kill_grace + 5)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.writer.stop()
        self._young.leave()
        await self.chunks.stop()  # what is still pending, written
        await sql_action.dispose_all()  # pools of the SQL action's target databases
        await wi_timers.hold_sessions(
            self.engine, [self.engine.node_id], f"node {self.engine.node_id} stopped"
        )
        await self._hand_over_waiting()
        async with self.engine.tx() as tx:
            await node_q.mark_stopped(tx.conn, self.engine.node_id, tx.now)
            tx.emit(ev.NODE_CHANGED, self.engine.node_id, mode=self.mode, state="stopped")
            await eventlog.record(
                tx,
                eventlog.NODE_STOPPED,
                f"node {self.engine.node_id} stopped ({self.mode})"
                + (f"; {interrupted} run(s) interrupted" if interrupted else ""),
                login=self.engine.login,
                mode=self.mode,
                host=HOST,
                interrupted=interrupted,
            )

    async def continuous_runs(self) -> set[int]:
        """The commands running here that are runs of a continuous schedule."""
        if not self.running:
            return set()
        async with self.engine.store.read() as conn:
            rows = await inst_q.get_many(conn, list(self.running))
            ids = sorted({int(r["schedule_id"]) for r in rows if r.get("schedule_id")})
            schedules = await sched_q.get_many(conn, ids)
        return {
            int(r["id"])
            for r in rows
            if (s := schedules.get(int(r.get("schedule_id") or 0))) is not None
            and Trigger.from_fields(s["trigger"]).kind == "continuous"
        }

    async def _hand_over_waiting(self) -> None:
        """Stopping: the waiting instances this node owns go to the other live worker
        nodes in turn (none live: a node that starts later adopts them in its restore)."""
        now = self.engine.clock.now()
        async with self.engine.store.read() as conn:
            rows = await node_q.running(conn)
        others = [
            r["id"]
            for r in rows
            if r["id"] != self.engine.node_id
            and r["mode"] in WORKER_MODES
            and state_of(r, now, self.timing) in (NodeState.LIVE, NodeState.SUSPECT)
        ]
        await recovery.hand_over_waiting(self.engine, self.engine.node_id, others, why="draining")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.timing.heartbeat)
            try:
                async with self.engine.store.write() as conn:
                    row = await node_q.beat(conn, self.engine.node_id, self.engine.clock.now())
                async with self.engine.store.read() as conn:
                    self._apply(await server_params.load(conn))
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            if row is not None and row.get("stopped_at") and not self.drain_requested.is_set():
                # marked stopped behind its back (`node transfer` of a suspect node): its
                # work was taken over, so it takes nothing more and stops at once
                log.error("node %s was transferred by an operator: stopping", self.engine.node_id)
                self.drain_grace = 0.0
                self.dispatcher.paused = True
                self.drain_requested.set()
            if row is not None and row.get("draining_at") and not self.drain_requested.is_set():
                self.drain_grace = row.get("drain_grace")
                self.dispatcher.paused = True  # claim nothing more from now on
                log.warning("node %s: drain requested", self.engine.node_id)
                self.drain_requested.set()

    async def _cancel(self, instance_id: int, by: str | None = None) -> None:
        proc = self.processes.get(instance_id)
        if proc is not None:
            await proc.cancel(f"cancelled by {by}" if by else "cancelled")
        run = self.running.get(instance_id)
        if run is not None:
            await run.cancel()

    async def _watch_cancels(self) -> None:
        """Cancel requests arrive as events; a poll every 2 s catches any the feed missed,
        or that came before the run they name had started here (the poll is on the clock,
        not on silence: a busy bus must not starve it)."""
        polled = time.monotonic()
        async with self.engine.bus.subscribe() as queue:
            while True:
                with contextlib.suppress(TimeoutError):
                    wait = max(0.0, CANCEL_POLL - (time.monotonic() - polled))
                    async with asyncio.timeout(wait):  # not wait_for: it can eat a cancel (3.11)
                        events = [await queue.get()]
                    events += [queue.get_nowait() for _ in range(queue.qsize())]  # a burst
                    for event in events:
                        try:
                            if event.kind == ev.CANCEL_REQUESTED and event.entity_id:
                                await self._cancel(int(event.entity_id), event.data.get("by"))
                            elif event.kind in (ev.SECRET_CHANGED, ev.PARAM_CHANGED):
                                await self.refresh_host()
                        except Exception as exc:  # the watcher itself must live on
                            log.warning("cancel watcher: %s: %s", event.kind, one_line(exc))
                    if time.monotonic() - polled < CANCEL_POLL:
                        continue
                polled = time.monotonic()
                try:
                    async with self.engine.store.read() as conn:
                        ids = await inst_q.cancel_requested_on(conn, self.engine.node_id)
                except Exception as exc:  # the store went away: say so, look again in 2 s
                    log.warning("cancel watcher: reading cancel requests failed: %s", one_line(exc))
                    continue
                for instance_id in ids:
                    await self._cancel(instance_id)
                await self._orphans.look(ids, {*self.processes, *self.running})

    async def _housekeeping(self) -> None:
        pruned = time.monotonic()
        while True:
            # dead nodes are looked for once a heartbeat: a takeover comes within the
            # dead timeout plus one heartbeat of a node's last beat
            await asyncio.sleep(min(self.timing.heartbeat, HOUSEKEEPING_EVERY))
            try:
                await recovery.restore(self.engine)
                if time.monotonic() - pruned < HOUSEKEEPING_EVERY:
                    continue
                pruned = time.monotonic()
                await self.prune()
            except Exception as exc:
                log.warning("housekeeping: %s", exc)

    async def prune(self) -> None:
        """Events past their hour; log files and the store's log chunks past the log
        retention (chunks of instances still active are kept: their log stays whole)."""
        now = self.engine.clock.now()
        async with self.engine.store.write() as conn:
            await event_rows.prune(conn, now - EVENT_RETENTION)
            await chunk_q.prune(conn, now - LOG_RETENTION)
        cutoff = time.time() - LOG_RETENTION.total_seconds()
        await asyncio.to_thread(self._prune_logs, cutoff)  # a folder scan: off the loop

    def _prune_logs(self, cutoff: float) -> None:
        """Delete log files older than the retention (SWITCHYARD_LOG_RETENTION_DAYS, 30)."""
        logs = self.engine.data_dir / "logs"
        if not logs.is_dir():
            return
        for path in logs.glob("*.log"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
