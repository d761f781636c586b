"""The scheduler: fires due schedules in batches, applying misfire and overlap policies.

It sleeps until the earliest ``next_fire_at`` in the store (or until a schedule changes),
computing meanwhile the next fire of each trigger due then (``FastPass.warm``: the burst
then computes none), then fires in two passes. The fast pass (``fast_pass.py``) commits the instances of the
fires whose schedule has that one fire due, ``CHUNK`` at a time, each chunk one INSERT ...
SELECT copying the schedules' columns in the database: a burst of 100,000 fires in one
second costs a few statements, no rows go through Python and no next fire is computed
yet. Then it moves those schedules on in bulk (croniter runs once per distinct trigger).
The planning pass takes the schedules still due ``BATCH`` at a time: it applies the
misfire and overlap policies, inserts what the fast pass left (several fires due,
continuous schedules, overlap skips) and moves each of them on. Both yield to the loop between transactions, so a
burst never stalls the console. Several nodes may fire the same schedule: the guarded
next-fire updates and the unique ``fire_key`` of each instance make sure one fire gives
one instance.

Lateness: a fire found less than ``GRACE`` late is simply run. Fires later than that
were missed (no node was running): ``once`` runs the latest of them and records the
others as ``missed``; ``each`` runs each (at most ``misfire_limit``); ``skip`` records
them all as ``missed``. At most ``misfire_limit`` missed rows are written per wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import HasBus, StoreAccess
from switchyard.engine.kernel.tasks import spawn
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.schedules.fast_pass import FRESH_KINDS, GRACE, FastPass
from switchyard.engine.schedules.firing import (
    LATE_EACH,
    LATE_ONCE,
    fire_key,
    instance_row,
    missed_reason,
)
from switchyard.engine.schedules.trigger_cache import TriggerCache
from switchyard.engine.schedules.triggers import Trigger
from switchyard.store.models import MISSED, QUEUED, SKIPPED
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import schedules as sched_q

log = logging.getLogger(__name__)

BATCH = 250
PLAN_SLICE = 100  # instances per insert of the planning pass (a turn of the loop between)
MAX_SLEEP = 30.0


def plan_fires(
    trigger: Trigger, first: datetime, now: datetime, misfire: str, limit: int
) -> tuple[list[tuple[datetime, str]], list[datetime], datetime | None, bool]:
    """Decide what to do with the fires due from ``first`` up to ``now``.

    Returns (runs as (fire time, origin), missed fire times, next fire, more missed
    than listed).
    """
    fires: list[datetime] = []
    t: datetime | None = first
    while t is not None and t <= now and len(fires) <= limit:
        fires.append(t)
        t = trigger.next_fire(t)
    overflow = t is not None and t <= now
    next_fire = trigger.next_fire(now) if overflow else t
    on_time = [f for f in fires if now - f <= GRACE]
    late = [f for f in fires if now - f > GRACE]
    runs: list[tuple[datetime, str]] = [(f, "schedule") for f in on_time]
    missed: list[datetime] = []
    if misfire == "each":
        runs = [(f, "misfire") for f in late[:limit]] + runs
        missed = late[limit:]
    elif misfire == "once" and late and not on_time:
        runs = [(late[-1], "misfire")]
        missed = late[:-1]
    else:
        missed = late
    return runs, missed[:limit], next_fire, overflow or len(missed) > limit


@dataclass(frozen=True)
class Fire:
    """An instance to write, planned from the lean ``due`` rows (the schedule's whole row
    is read afterwards, for the fires only)."""

    schedule_id: int
    at: datetime
    origin: str
    status: str
    reason: str | None
    key: str | None = None  # default: fire_key(schedule_id, at)

    def row(self, schedules: dict[int, dict[str, Any]], now: datetime) -> dict[str, Any]:
        return instance_row(
            schedules[self.schedule_id],
            now=now,
            fire_at=self.at,
            origin=self.origin,
            status=self.status,
            reason=self.reason,
            key=self.key or fire_key(self.schedule_id, self.at),
        )


def maybe_done(row: dict[str, Any], trigger: Trigger, fresh: set[datetime]) -> bool:
    """Whether the fast pass may have queued this schedule's first due fire.

    It queued (or found) an instance for the unpaused cron, every and at schedules due at
    the times in ``fresh`` that it saw, overlap ``skip`` ones only while none was active.
    The planning pass checks which of those instances exist and plans the rest as usual.
    """
    return row["next_fire_at"] in fresh and trigger.kind in FRESH_KINDS


@runtime_checkable
class SchedulerPorts(StoreAccess, HasBus, Protocol):
    """Reads, transactions and the time, and the bus to wake on schedule changes."""


class Scheduler:
    def __init__(self, engine: SchedulerPorts) -> None:
        self.engine = engine
        self.triggers = TriggerCache()
        self.fast = FastPass(engine, self.triggers)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.fired_total = 0

    def start(self) -> None:
        self._task = spawn(self._run(), name="switchyard-scheduler")
        self._listener = spawn(self._listen(), name="switchyard-scheduler-events")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in (self._listener, self._task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        async with self.engine.bus.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.kind == ev.SCHEDULE_CHANGED and not event.data.get("fired"):
                    self._wake.set()

    async def _run(self) -> None:
        await self.fast.prepare()
        warmed: datetime | None = None  # the fire time warmed for, with no change since
        while not self._stopping:
            try:
                await self.fire_due()
                async with self.engine.store.read() as conn:
                    earliest = await sched_q.earliest_fire(conn)
            except Exception:
                log.exception("scheduler: firing failed; retrying in 1 s")
                earliest = self.engine.clock.now() + timedelta(seconds=1)
            delay = MAX_SLEEP
            if earliest is not None:
                delay = min(
                    MAX_SLEEP, max(0.0, (earliest - self.engine.clock.now()).total_seconds())
                )
            self._wake.clear()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):  # not wait_for: it can eat a cancel
                        if earliest is not None and earliest != warmed:
                            warmed = earliest if await self._warm(earliest) else None
                        await self._wake.wait()
                if self._wake.is_set():  # a schedule changed: what is due may have too
                    warmed = None

    async def _warm(self, at: datetime) -> bool:
        """Next fires computed ahead of the burst at ``at`` (``fast_pass.FastPass.warm``)."""
        try:
            return await self.fast.warm(at, self._wake)
        except Exception:  # only a warm-up: the burst computes what is missing
            log.warning("scheduler: computing next fires ahead failed", exc_info=True)
            return False

    async def fire_due(self) -> int:
        """Fire everything due now; returns how many instances were queued.

        Two passes. The fast pass commits the instance of every schedule whose fire is
        fresh (due less than ``FRESH`` ago), ``CHUNK`` rows per INSERT ... SELECT, before
        any per-schedule work, then moves those schedules on in bulk (``_advance_fresh``).
        The planning pass then takes the schedules still due ``BATCH`` at a time as before:
        it applies the misfire and overlap policies, computes each next fire and moves it
        on (guarded), inserting what the fast pass did not.
        """
        now = self.engine.clock.now()
        fresh: set[datetime] = set()
        queued = await self._fire_fresh(now, fresh)
        await self._advance_fresh(now, fresh)
        while True:
            async with self.engine.tx() as tx:
                rows = await sched_q.due(tx.conn, now, BATCH)
                if not rows:
                    break
                queued += await self._fire_batch(tx, rows, fresh)
            await asyncio.sleep(0)  # let the console breathe between batches
            if len(rows) < BATCH:
                break
        self.fired_total += queued
        return queued

    async def _fire_fresh(self, now: datetime, fresh: set[datetime]) -> int:
        """The fast pass (``fast_pass.FastPass.fire``)."""
        return await self.fast.fire(now, fresh)

    async def _advance_fresh(self, now: datetime, fresh: set[datetime]) -> None:
        """Move the fast pass's schedules on (``fast_pass.FastPass.advance``)."""
        await self.fast.advance(now, fresh)

    async def _fire_batch(self, tx: Tx, rows: list[dict[str, Any]], fresh: set[datetime]) -> int:
        now = tx.now
        triggers = {r["id"]: self.triggers.get(r) for r in rows}
        skip_ids = [
            r["id"]
            for r in rows
            if r["overlap"] == "skip" or triggers[r["id"]].kind == "continuous"
        ]
        active = await inst_q.active_counts(tx.conn, skip_ids)
        # First fires the fast pass may have queued: the ones whose instance exists are done.
        keys = {
            r["id"]: fire_key(r["id"], r["next_fire_at"])
            for r in rows
            if maybe_done(r, triggers[r["id"]], fresh)
        }
        existing = await sched_q.existing_fire_keys(tx.conn, list(keys.values()))
        fires: list[Fire] = []
        advances: list[dict[str, Any]] = []
        for row in rows:
            trigger = triggers[row["id"]]
            if trigger.kind == "continuous":
                next_fire = await self._continuous(tx, row, trigger, active, fires)
                advances.append(self._advance(row, next_fire, None, now))
                continue
            runs, missed, next_fire, overflow = plan_fires(
                trigger, row["next_fire_at"], now, row["misfire"], row["misfire_limit"]
            )
            for at in missed:
                reason = missed_reason(row["misfire"])
                fires.append(Fire(row["id"], at, "misfire", MISSED, reason))
            if overflow:
                tx.emit(ev.SCHEDULE_CHANGED, row["id"], name=row["name"], fired=True, overflow=True)
            done = keys.get(row["id"]) in existing  # queued by the fast pass: counts as active
            for at, origin in runs:
                if done and at == row["next_fire_at"]:
                    active[row["id"]] = max(active.get(row["id"], 0), 1)
                    continue
                if row["overlap"] == "skip" and active.get(row["id"], 0) > 0:
                    reason = "skipped: the previous run is still active (overlap: skip)"
                    fires.append(Fire(row["id"], at, origin, SKIPPED, reason))
                    continue
                active[row["id"]] = active.get(row["id"], 0) + 1
                late: str | None = None if origin == "schedule" else LATE_ONCE
                if origin == "misfire" and row["misfire"] == "each":
                    late = LATE_EACH
                fires.append(Fire(row["id"], at, origin, QUEUED, late))
            last = max([at for at, _ in runs] + missed, default=None)
            advances.append(self._advance(row, next_fire, last, now))
        # Queue order is fire order, also when several schedules catch up fires in one batch.
        fires.sort(key=lambda f: f.at)
        await asyncio.sleep(0)  # split planning from the insert's parameter work (loop stalls)
        ids: list[int] = []
        # In slices, in fire order, a turn of the loop between: reading the schedules and
        # each row's parameters through SQLAlchemy costs ~30 µs a row of the loop's
        # thread (a batch of 250 catching up two fires each: 6-9 ms per statement).
        for i in range(0, len(fires), PLAN_SLICE):
            part = fires[i : i + PLAN_SLICE]
            schedules = await sched_q.fire_sources(tx.conn, sorted({f.schedule_id for f in part}))
            await asyncio.sleep(0)
            ids += await inst_q.insert_many(tx.conn, [f.row(schedules, now) for f in part])
            await asyncio.sleep(0)
        await sched_q.advance_many(tx.conn, advances)
        if ids:
            tx.emit(ev.INSTANCES_CHANGED, None, ids=ids[:1000], status=QUEUED, count=len(ids))
        tx.emit(ev.SCHEDULE_CHANGED, None, ids=[r["id"] for r in rows][:1000], fired=True)
        return sum(1 for f in fires if f.status == QUEUED)

    @staticmethod
    def _advance(
        row: dict[str, Any], next_fire: datetime | None, last: datetime | None, now: datetime
    ) -> dict[str, Any]:
        return {
            "b_id": row["id"],
            "b_old": row["next_fire_at"],
            "b_next": next_fire,
            "b_last": last or row["last_fire_at"],
            "b_now": now,
        }

    async def _continuous(
        self,
        tx: Tx,
        row: dict[str, Any],
        trigger: Trigger,
        active: dict[int, int],
        fires: list[Fire],
    ) -> datetime | None:
        """Keep one instance running while inside the window; None = wait for it to end."""
        now = tx.now
        if not trigger.in_window(now):
            return trigger.next_window_open(now)
        if active.get(row["id"], 0) > 0:
            return None
        last = await inst_q.last_id_for_schedule(tx.conn, row["id"])
        fires.append(Fire(row["id"], now, "schedule", QUEUED, None, f"s{row['id']}@cont{last}"))
        active[row["id"]] = 1
        return None
