"""Instance logs into the store, in chunks, so a console on any host can read them.

The node running an instance writes its (already masked) log lines to
``<data dir>/logs/<id>.log`` as before, and hands the same lines to this writer. The writer
keeps them in memory per instance and writes everything pending in ONE transaction (one
``log_chunks`` row per instance and flush, split at ``MAX_ROW_CHARS``) every
``FLUSH_INTERVAL`` seconds, or at once when an instance has ``FLUSH_LINES`` lines waiting:
never a transaction per line.

Bounds:
- per instance, ``max_chars`` (default: the file's cap, ``runner.MAX_LOG_BYTES``, counted
  the same way: characters plus one per line); past it one line says so
  (``CAPPED_NOTE``) and later lines stay in the file only;
- in memory, ``MAX_PENDING_CHARS`` per instance: above it ``append`` waits for the next
  flush (back-pressure on the command, as the file's writer does); while the store does
  not answer, lines above it are dropped and counted, and one line says how many
  (``DROPPED_NOTE``) once the store is back: a store outage never stops a command;
- in time, by retention: the node's housekeeping prunes chunks older than the log
  retention (``store/queries/log_chunks.py prune``).

Ordering: an instance's lines are flushed by one writer task, so its chunks' ``seq`` (1,
2, ...) follow the output. A node that takes over an instance reads the last seq from the
store before its first chunk. ``close`` (a run ends) flushes an instance's lines before
its end is committed, so a follower that sees the end has every line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.kernel.ports import HasClock, HasStore
from switchyard.engine.kernel.tasks import spawn
from switchyard.engine.runs.runner import MAX_LOG_BYTES
from switchyard.store.queries import log_chunks as chunk_q

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.25  # seconds a line may wait before it is written to the store ...
FLUSH_LINES = 200  # ... unless its instance has this many lines waiting: then at once
MAX_ROW_CHARS = 1024 * 1024  # characters of lines in one row (a longer flush: more rows)
FORGET_IDLE = 60.0  # seconds without a line after which an instance's entry is dropped
MAX_PENDING_CHARS = 8 * 1024 * 1024  # per instance, in memory (see the module's docstring)
CAPPED_NOTE = "switchyard: the store keeps {cap:,} bytes of this log; the rest is in {where}"
DROPPED_NOTE = (
    "switchyard: {count:,} line(s) could not be written to the store while it was "
    "unreachable; they are in {where}"
)


@runtime_checkable
class ChunkWriterPorts(HasStore, HasClock, Protocol):
    """Raw writes of chunk rows and the time they are stamped with."""


@dataclass
class _Log:
    pending: list[str] = field(default_factory=list)
    pending_chars: int = 0
    seq: int | None = None  # the last seq in the store; None: read it before writing
    chars: int = 0  # characters stored so far (valid once seq is known)
    capped: bool = False
    dropped: int = 0  # lines dropped while the store did not answer
    where: str = "the node's log file"
    taken: int = 0  # lines (from the front of pending) the flush under way writes
    taken_chars: int = 0
    dropped_taken: int = 0
    touched: float = 0.0  # loop time of the last append


def _row_text(lines: list[str]) -> str:
    # PostgreSQL text cannot hold NUL; the file keeps the byte, the store a U+FFFD
    return "\n".join(lines).replace("\x00", "\ufffd")


class ChunkWriter:
    def __init__(
        self,
        engine: ChunkWriterPorts,
        *,
        max_chars: int = MAX_LOG_BYTES,
        interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.engine = engine
        self.max_chars = max_chars
        self.interval = interval
        self.healthy = True  # the last flush reached the store
        self.flushes = 0  # transactions written (for tests and measurements)
        self._logs: dict[int, _Log] = {}
        self._task: asyncio.Task[None] | None = None
        self._has_data = asyncio.Event()
        self._now = asyncio.Event()
        self._next: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()  # one flush at a time (the task, or an unstarted writer)
        self._swept = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._task is None:
            self._task = spawn(self._run(), name="switchyard-log-chunks")

    async def stop(self) -> None:
        """Stop the task after one last flush of whatever is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush_round()
        self._resolve_next()

    # ------------------------------------------------------------------ writing
    async def append(self, instance_id: int, lines: list[str], *, where: str = "") -> None:
        """Queue masked lines of an instance; waits only when too many are pending."""
        if not lines:
            return
        entry = self._logs.setdefault(instance_id, _Log())
        entry.touched = asyncio.get_running_loop().time()
        if where:
            entry.where = where
        if entry.capped:
            return
        while entry.pending_chars >= MAX_PENDING_CHARS and self.healthy and self._task:
            await self.flush()
        if entry.pending_chars >= MAX_PENDING_CHARS:
            entry.dropped += len(lines)
            return
        entry.pending.extend(lines)
        entry.pending_chars += sum(map(len, lines)) + len(lines)
        self._has_data.set()
        if len(entry.pending) >= FLUSH_LINES:
            self._now.set()
        if self._task is None:  # not running in a node's task: write now
            await self._flush_round()

    async def flush(self) -> bool:
        """Wait until every line queued before this call was written (False: the store
        did not answer; the lines are kept for the next try)."""
        if self._task is None:
            return await self._flush_round()
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiting = self._next
        self._has_data.set()
        self._now.set()
        await asyncio.shield(waiting)
        return self.healthy

    def has(self, instance_id: int) -> bool:
        """Whether lines of this instance were appended here and not yet forgotten."""
        return instance_id in self._logs

    async def close(self, instance_id: int) -> None:
        """The instance's run on this node ended: write its lines, then forget it here
        (another node may run it next and will continue its seq)."""
        entry = self._logs.get(instance_id)
        if entry is None:
            return
        if entry.pending or entry.dropped:
            await self.flush()
        if not entry.pending and not entry.dropped:
            self._logs.pop(instance_id, None)

    # ------------------------------------------------------------------ the task
    async def _run(self) -> None:
        while True:
            await self._has_data.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):  # not wait_for (3.11, cancels)
                    await self._now.wait()
            self._has_data.clear()
            self._now.clear()
            done, self._next = self._next, None
            try:
                await self._flush_round()
            finally:
                if done is not None and not done.done():
                    done.set_result(None)
            self._forget_idle()
            if any(e.pending or e.dropped for e in self._logs.values()):
                self._has_data.set()  # kept after a failure: try again next interval
                if not self.healthy:
                    await asyncio.sleep(self.interval)

    def _forget_idle(self) -> None:
        """Entries with nothing pending and no line for ``FORGET_IDLE`` seconds leave
        memory (a later line reads the instance's last seq from the store again)."""
        now = asyncio.get_running_loop().time()
        if now - self._swept < FORGET_IDLE:
            return
        self._swept = now
        for instance_id, entry in list(self._logs.items()):
            idle = now - entry.touched > FORGET_IDLE
            if idle and not entry.pending and not entry.dropped:
                del self._logs[instance_id]

    def _resolve_next(self) -> None:
        done, self._next = self._next, None
        if done is not None and not done.done():
            done.set_result(None)

    async def _flush_round(self) -> bool:
        """Write every pending line in one transaction; on failure, each instance alone."""
        async with self._lock:
            taken = {i: e for i, e in self._logs.items() if e.pending or e.dropped}
            if not taken:
                return True
            try:
                async with self.engine.store.write() as conn:
                    for instance_id, entry in taken.items():
                        await self._write(conn, instance_id, entry)
            except Exception as exc:
                for entry in taken.values():  # re-read: a takeover may have written meanwhile
                    entry.seq, entry.capped = None, False
                if len(taken) == 1:
                    return self._failed(exc)
                log.warning("log chunks: writing %d logs failed (%s); one by one", len(taken), exc)
                failed = 0
                for instance_id, entry in taken.items():
                    try:
                        async with self.engine.store.write() as conn:
                            await self._write(conn, instance_id, entry)
                    except Exception as one:
                        entry.seq, entry.capped = None, False
                        failed += 1
                        log.warning("log chunks: instance %s: %s", instance_id, one)
                    else:
                        self._written(entry)
                self.healthy = failed < len(taken)  # some got through: the store answers
                return not failed
            for entry in taken.values():
                self._written(entry)
            self.flushes += 1
            self.healthy = True
            return True

    def _failed(self, exc: Exception) -> bool:
        log.warning("log chunks: writing to the store failed: %s", exc)
        self.healthy = False
        return False

    @staticmethod
    def _written(entry: _Log) -> None:
        """The flush of ``entry`` committed: its taken lines leave memory."""
        del entry.pending[: entry.taken]
        entry.pending_chars -= entry.taken_chars
        entry.dropped -= entry.dropped_taken
        entry.taken = entry.taken_chars = entry.dropped_taken = 0

    async def _write(self, conn: AsyncConnection, instance_id: int, entry: _Log) -> None:
        """Stage the instance's pending lines as rows (its bound applied) in ``conn``."""
        if entry.seq is None:
            entry.seq, entry.chars = await chunk_q.last(conn, instance_id)
            entry.capped = entry.chars > self.max_chars
        lines = list(entry.pending)
        entry.taken, entry.taken_chars = len(lines), entry.pending_chars  # gone once committed
        entry.dropped_taken = entry.dropped
        if entry.dropped:
            lines.append(DROPPED_NOTE.format(count=entry.dropped, where=entry.where))
        # ends[i]: characters of lines[: i + 1], counted like the file's cap (one per newline)
        ends = [total + i + 1 for i, total in enumerate(accumulate(map(len, lines)))]
        fit = 0 if entry.capped else bisect_right(ends, self.max_chars - entry.chars)
        note = None
        if fit < len(lines) and not entry.capped:
            note = CAPPED_NOTE.format(cap=self.max_chars, where=entry.where)
            entry.capped = True
        rows = []
        seq, now = entry.seq, self.engine.clock.now()
        first, base = 0, 0
        while first < fit:  # rows of at most MAX_ROW_CHARS (at least one line each)
            last = max(first + 1, bisect_right(ends, base + MAX_ROW_CHARS, first, fit))
            seq += 1
            rows.append(self._row(instance_id, seq, lines[first:last], ends[last - 1] - base, now))
            first, base = last, ends[last - 1]
        if note is not None:
            seq += 1
            rows.append(self._row(instance_id, seq, [note], len(note) + 1, now))
        chars = entry.chars + base + (len(note) + 1 if note is not None else 0)
        await chunk_q.append(conn, rows)
        entry.seq, entry.chars = seq, chars  # reset to None by the caller if the commit fails

    @staticmethod
    def _row(
        instance_id: int, seq: int, lines: list[str], chars: int, now: datetime
    ) -> dict[str, Any]:
        return {
            "instance_id": instance_id,
            "seq": seq,
            "lines": _row_text(lines),
            "line_count": len(lines),
            "chars": chars,
            "created_at": now,
        }
