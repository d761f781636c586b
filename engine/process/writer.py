"""Group commit: many instances' step writes in one transaction, each awaiting its commit.

A process instance commits every step before it takes the next one. Committing each step
alone costs a transaction per step (~225 five-step instances/s on SQLite here). Instead,
every running instance hands its writes to this writer and awaits the returned future;
the writer drains whatever is waiting (up to ``max_batch`` writes), runs them in ONE
transaction — identical statements from different instances as one ``executemany`` —
commits, then resolves every future. An instance therefore never runs a step before its
previous step is durable, and concurrent instances share the cost of the commit.

A write is a list of (statement, params) pairs run in order, plus the events it emits.
Writes in one batch must not depend on each other (they come from different instances,
and an instance has at most one write in flight). If a batch fails, its writes are
retried one by one so that one bad write fails alone.

A write whose awaiting task was cancelled meanwhile (a parallel unit a sibling's failure
stopped, a run a cancel interrupted) still commits; if it fails, nobody hears it from its
future, so its failure is kept for its instance (``failed_for``) and every later write of
that instance is refused (``WriteFailed``) until the run has learnt it: nothing written
after it may carry variables that hold the step the journal lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.kernel.events import EngineEvent
from switchyard.engine.kernel.ports import HasBus, HasClock, HasNodeId, HasStore
from switchyard.engine.kernel.tasks import spawn
from switchyard.engine.kernel.tx import feed_rows
from switchyard.engine.process.raw_writes import Plan, RawWriter, run_batch
from switchyard.store.queries import events as event_rows
from switchyard.store.queries import instances as inst_q

log = logging.getLogger(__name__)

Statement = tuple[Any, dict[str, Any]]


class LostOwnership(Exception):
    """The instance is no longer running on this node (another node restored it, or it
    was ended meanwhile): its writes are dropped and its executor must stop."""


@dataclass(frozen=True)
class FailedWrite:
    """An instance's write that failed after its task had stopped awaiting it."""

    error: Exception
    statements: Sequence[Statement]


class WriteFailed(Exception):
    """A write of this instance failed unheard (``FailedWrite``): the run's memory is ahead
    of the store. Raised for every later write of the instance, and by ``settle``."""

    def __init__(self, owner: int, failure: FailedWrite) -> None:
        super().__init__(f"instance {owner}: a write failed: {failure.error}")
        self.owner = owner
        self.failure = failure


@dataclass
class _Write:
    statements: Sequence[Statement]
    events: Sequence[EngineEvent]
    owner: int | None = None  # an instance id: written only while it runs on this node
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@runtime_checkable
class WriterPorts(HasStore, HasClock, HasBus, HasNodeId, Protocol):
    """Raw writes (its own transaction, events published by hand), the time, the bus,
    and this node's id (the fence)."""


def _without_lost(batch: list[_Write], lost: set[int]) -> list[_Write]:
    """The writes of ``batch`` whose instance this node still runs; each other one fails
    with ``LostOwnership`` (the fence, on either path)."""
    kept = []
    for item in batch:
        if item.owner in lost:
            if not item.future.done():
                item.future.set_exception(
                    LostOwnership(f"instance {item.owner} is no longer run by this node")
                )
        else:
            kept.append(item)
    return kept


class GroupWriter:
    def __init__(self, engine: WriterPorts, *, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Write] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0
        self._raw = RawWriter() if engine.store.is_sqlite else None  # process/raw_writes.py
        self._failed: dict[int, FailedWrite] = {}  # by owner: failed with nobody awaiting

    def failed_for(self, owner: int) -> FailedWrite | None:
        """The write of ``owner`` that failed after its task stopped awaiting it, if any;
        forgotten as it is returned (later writes of the instance are accepted again)."""
        return self._failed.pop(owner, None)

    def _refused(self, item: _Write) -> bool:
        """``item`` is a write of an instance with an unheard failure: it fails too."""
        failure = self._failed.get(item.owner) if item.owner is not None else None
        if failure is None:
            return False
        if not item.future.done():
            item.future.set_exception(WriteFailed(item.owner or 0, failure))
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = spawn(self._run(), name="switchyard-group-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():  # nobody will commit these: tell their writers
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(RuntimeError("group writer stopped"))

    async def write(
        self,
        statements: Sequence[Statement],
        events: Sequence[EngineEvent] = (),
        *,
        owner: int | None = None,
    ) -> None:
        """Queue a write and wait until it is committed (or raise its error).

        With ``owner`` (an instance id) the write is fenced: it commits only while that
        instance is ``running`` on this node, else LostOwnership is raised and nothing of
        it is written. So a node that only looked dead, and whose work another node took
        over, cannot write over the other node's steps."""
        item = _Write(statements, events, owner)
        if self._task is None:  # not started (one-shot CLI use): commit on our own
            await self._commit([item])
            if item.future.done():
                item.future.result()
            return
        self._queue.put_nowait(item)
        await item.future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [item for item in batch if not self._refused(item)]
            if not batch:
                continue
            try:
                await self._commit(batch)
            except Exception:
                log.warning(
                    "group commit of %d writes failed; retrying one by one",
                    len(batch),
                    exc_info=True,
                )
                for item in batch:
                    if self._refused(item):  # an earlier write of its instance failed
                        continue
                    try:
                        await self._commit([item])
                    except Exception as exc:
                        if not item.future.done():
                            item.future.set_exception(exc)
                        elif item.future.cancelled() and item.owner is not None:
                            # its task stopped awaiting it: its end must learn it (settle)
                            self._failed.setdefault(item.owner, FailedWrite(exc, item.statements))
                    else:
                        if not item.future.done():
                            item.future.set_result(None)
            else:
                for item in batch:
                    if not item.future.done():
                        item.future.set_result(None)

    async def _fence(self, conn: AsyncConnection, batch: list[_Write]) -> list[_Write]:
        """Drop (and fail) the writes of instances this node no longer runs. On PostgreSQL
        the instance rows stay locked until the commit, so a takeover waits for it."""
        owners = sorted({item.owner for item in batch if item.owner is not None})
        if not owners:
            return batch
        lost: set[int] = set()
        for start in range(0, len(owners), 500):
            chunk = owners[start : start + 500]
            lost |= await inst_q.not_running_on(conn, chunk, self.engine.node_id)
        if not lost:
            return batch
        return _without_lost(batch, lost)

    def _lost_here(self, db: Any, owners: list[int]) -> set[int]:
        """The fence on SQLite's thread (raw_writes.run_batch): owners not running here."""
        return set(owners) - inst_q.running_on_sqlite(db, owners, self.engine.node_id)

    async def _commit_raw(self, batch: list[_Write]) -> list[_Write] | None:
        """The batch as one transaction in one call on SQLite's thread (BEGIN to COMMIT,
        raw_writes.run_batch): the writes it kept, or None when it must go the usual way
        (nothing was run). Each hand-off to that thread waits for the event loop's turn,
        which under load is the longest part of a commit."""
        assert self._raw is not None
        now = self.engine.clock.now()
        # per position in the writes, their statements in order of first appearance (one
        # pass over the writes; a group made only when its statement is first seen)
        layers: list[dict[int, tuple[Any, list[tuple[int | None, dict[str, Any]]]]]] = []
        for item in batch:
            owner = item.owner
            for position, (stmt, params) in enumerate(item.statements):
                if position == len(layers):
                    layers.append({})
                group = layers[position].get(id(stmt))
                if group is None:
                    group = layers[position][id(stmt)] = (stmt, [])
                group[1].append((owner, params))
        plan: Plan = [group for layer in layers for group in layer.values()]
        feed = [(item.owner, row) for item in batch for row in feed_rows(list(item.events), now)]
        if feed:
            plan.append((event_rows.INSERT_EVENT, feed))
        owners = sorted({item.owner for item in batch if item.owner is not None})
        lost = await run_batch(self._raw, self.engine.store, plan, owners, self._lost_here)
        if lost is None:
            return None
        return _without_lost(batch, lost)

    async def _commit(self, batch: list[_Write]) -> None:
        now = self.engine.clock.now()
        kept = await self._commit_raw(batch) if self._raw is not None else None
        if kept is None:
            async with self.engine.store.write() as conn:
                kept = await self._commit_each(conn, batch, now)
        events = [e for item in kept for e in item.events]
        self.batches += 1
        self.writes += len(kept)
        self.engine.bus.publish_many(events)

    async def _commit_each(
        self, conn: AsyncConnection, batch: list[_Write], now: datetime
    ) -> list[_Write]:
        """The batch statement by statement (PostgreSQL, or what run_batch cannot run)."""
        batch = await self._fence(conn, batch)
        events = [e for item in batch for e in item.events]
        depth = max((len(item.statements) for item in batch), default=0)
        for position in range(depth):
            groups: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
            for item in batch:
                if position < len(item.statements):
                    stmt, params = item.statements[position]
                    groups.setdefault(id(stmt), (stmt, []))[1].append(params)
            for stmt, rows in groups.values():
                if self._raw is not None:
                    await self._raw.execute(conn, stmt, rows)
                else:
                    await conn.execute(stmt, rows if len(rows) > 1 else rows[0])
        await event_rows.append_many(conn, feed_rows(events, now))
        return batch
