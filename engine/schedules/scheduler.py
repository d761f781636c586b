"""The scheduler: fires due schedules in batches, applying misfire and overlap policies.

It sleeps until the earliest ``next_fire_at`` in the store (or until a schedule changes),
then fires in two passes. The fast pass commits the instances of the fires just due,
``CHUNK`` at a time, each chunk one INSERT ... SELECT copying the schedules' columns in
the database: a burst of 100,000 fires in one second costs a few statements, no rows go
through Python and no next fire is computed yet. Then it moves those schedules on in
bulk (croniter runs once per distinct trigger; see ``_advance_fresh``). The
planning pass takes the schedules still due ``BATCH`` at a time: it applies the misfire
and overlap policies, inserts what the fast pass left (late fires, continuous schedules,
skips) and moves each of them on. Both yield to the loop between transactions, so a
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
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import HasBus, StoreAccess
from switchyard.engine.kernel.tasks import spawn
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.schedules.firing import (
    FIRE_KEY_PREFIX,
    fire_key,
    fire_key_suffix,
    instance_fields,
    instance_row,
)
from switchyard.engine.schedules.trigger_cache import TriggerCache
from switchyard.engine.schedules.triggers import Trigger
from switchyard.store.models import MISSED, QUEUED, SKIPPED
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import schedule_fires as fires_q
from switchyard.store.queries import schedules as sched_q

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=60)
BATCH = 250
FRESH = timedelta(milliseconds=900)  # below the 1 s between two fires of any trigger
FRESH_KINDS = ("cron", "every", "at")  # the triggers that fire at their next_fire_at
FRESH_TIMES = 64  # distinct fire times per fast pass; later ones are left to planning
LATE_TRIGGERS = 10_000  # distinct triggers checked per fire time older than FRESH
RANGE_GROUPS = 8  # distinct next fires in a chunk moved on one UPDATE each; more: per row
EACH_SLICE = 250  # schedules per executemany when moved on one by one
SLICE = 0.002  # seconds of next-fire computation between two yields to the loop
CHUNK = 3500  # instances per fast-pass transaction (~12 ms of SQLite work)
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
        await self._prepare()
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
                        await self._wake.wait()

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
        """The fast pass: queue the on-time fires of cron, every and at schedules whose
        fire is the only one due.

        Every trigger's fires are at least a second apart (whole-second times), so a fire
        less than ``FRESH`` old is the only one due and on time: it runs whatever the
        misfire policy, unless overlap ``skip`` finds an active instance (checked in SQL).
        An older fire within ``GRACE`` (the node woke late: a busy machine, a long
        burst) is on time too; the fast pass takes it for the triggers whose next fire
        is still ahead, computed once per distinct trigger (the others: planning).
        Each fire time goes in chunks of schedule ids, one transaction each; the fire
        times done are added to ``fresh`` for the planning pass (see ``maybe_done``).
        Fire keys keep a fire to one instance whichever pass or node inserts it.
        """
        queued = 0
        at: datetime | None = None
        async with self.engine.store.read() as conn:
            oldest = await sched_q.earliest_fire(conn)
        # Queue order is fire order: with a fire due before the grace, the planning pass
        # (which queues it) comes first, so the fast pass keeps to the fresh fires.
        since = now - (GRACE if oldest is not None and oldest >= now - GRACE else FRESH)
        for _ in range(FRESH_TIMES):
            async with self.engine.store.read() as conn:
                at = await sched_q.next_fire_time(conn, since, now, after=at)
                texts = None  # every trigger
                if at is not None and now - at >= FRESH:
                    texts = await fires_q.due_triggers(conn, at, LATE_TRIGGERS + 1)
            if at is None:
                break
            left = False  # some schedules due at ``at`` are left to planning: stop after it
            if texts is not None:
                nexts = await self._next_fires(texts[:LATE_TRIGGERS], at, now)
                left = len(nexts) < len(texts)
                texts = list(nexts)
                if not texts:
                    break
            after: int | None = 0
            while after is not None:  # chunks of ids: (0, s1), [s1, s2), ... [sN, end]
                count, after = await self._fire_chunk(at, after, texts)
                queued += count
                await asyncio.sleep(0)  # one chunk per turn of the loop
            fresh.add(at)
            if left:  # later fires wait for the planning pass to queue these first
                break
        return queued

    async def _advance_fresh(self, now: datetime, fresh: set[datetime]) -> None:
        """Move the fast pass's schedules on in bulk, chunk by chunk of ids.

        Per chunk it reads the distinct triggers of the schedules whose instance exists
        (one row per trigger), computes each one's next fire once (outside the
        transaction, yielding to the loop as it goes: croniter is slow) and, when they
        make at most ``RANGE_GROUPS`` distinct next fires, moves them on with one guarded
        UPDATE per next fire: no schedule row comes into Python. With more, it reads the
        chunk's (id, trigger) pairs and moves each on in one executemany (in slices of
        ``EACH_SLICE`` rows). The rest (overlap skips, schedules the fast pass did not
        see, triggers with more fires due, broken ones) is left to the planning pass."""
        for at in sorted(fresh):
            after: int | None = 0
            while after is not None:
                after = await self._advance_chunk(at, after, now)
                await asyncio.sleep(0)

    async def _advance_chunk(self, at: datetime, after: int, now: datetime) -> int | None:
        where: dict[str, Any] = {
            "fire_at": at,
            "after_id": after,
            "key_prefix": FIRE_KEY_PREFIX,
            "key_suffix": fire_key_suffix(at),
        }
        async with self.engine.store.read() as conn:
            start = await fires_q.chunk_next(conn, at, after, CHUNK)
            where["before_id"] = start
            texts = [t for t, _ in await fires_q.fired_triggers(conn, **where)]
        nexts = await self._next_fires(texts, at, now)
        groups: dict[datetime | None, list[str]] = {}
        for text, next_fire in nexts.items():
            groups.setdefault(next_fire, []).append(text)
        pairs: list[tuple[Any, ...]] = []
        if len(groups) > RANGE_GROUPS:
            async with self.engine.store.read() as conn:
                pairs = await fires_q.fired_triggers(conn, **where, ids=True)
        if groups:
            async with self.engine.tx() as tx:
                moved = 0
                if not pairs:
                    for next_fire, group in groups.items():
                        moved += await fires_q.advance_fired(
                            tx.conn, trigger_jsons=group, next_fire=next_fire, now=tx.now, **where
                        )
                for i in range(0, len(pairs), EACH_SLICE):
                    rows = [
                        (id_, t, nexts[t]) for id_, t in pairs[i : i + EACH_SLICE] if t in nexts
                    ]
                    moved += await fires_q.advance_each(tx.conn, rows, fire_at=at, now=tx.now)
                    await asyncio.sleep(0)
                if moved:
                    tx.emit(ev.SCHEDULE_CHANGED, None, ids=[], fired=True, count=moved)
        return None if start is None else start - 1

    async def _next_fires(
        self, texts: list[str], at: datetime, now: datetime
    ) -> dict[str, datetime | None]:
        """Each trigger's (stored JSON text) next fire after ``at``, without the triggers the
        planning pass must see (broken, not of ``FRESH_KINDS``, or with another fire due
        by ``now``). Yields to the loop every ``SLICE`` seconds of work."""
        nexts: dict[str, datetime | None] = {}
        began = time.perf_counter()
        for text in texts:
            try:
                trigger = self.triggers.get({"trigger_json": text})
            except Exception as exc:  # a broken trigger: the planning pass reports it
                log.debug("fast pass: trigger %s left to the planning pass: %s", text, exc)
                continue
            if trigger.kind not in FRESH_KINDS:
                continue
            next_fire = trigger.next_fire(at)
            if next_fire is None or next_fire > now:  # else more are due: planning
                nexts[text] = next_fire
            if time.perf_counter() - began > SLICE:
                await asyncio.sleep(0)
                began = time.perf_counter()
        return nexts

    async def _fire_chunk(
        self, at: datetime, after: int, triggers: list[str] | None = None
    ) -> tuple[int, int | None]:
        """Queue the fires at ``at`` of the next ``CHUNK`` schedules after id ``after`` (with
        one of ``triggers``, stored JSON text, if given), in one transaction; returns how
        many were queued and the id to go on after (or None)."""
        async with self.engine.tx() as tx:
            start = await fires_q.chunk_next(tx.conn, at, after, CHUNK)
            count = await fires_q.insert_fires(
                tx.conn,
                fire_at=at,
                after_id=after,
                before_id=start,
                kinds=FRESH_KINDS,
                key_prefix=FIRE_KEY_PREFIX,
                key_suffix=fire_key_suffix(at),
                fields=instance_fields(now=tx.now, origin="schedule"),
                triggers=triggers,
            )
            if count:  # ids are not read back: that would cost more than the insert
                tx.emit(ev.INSTANCES_CHANGED, None, ids=[], status=QUEUED, count=count)
        return count, None if start is None else start - 1

    async def _prepare(self) -> None:
        """Run the fast pass's statements once on a time nothing is due at, so that the
        first burst does not pay for building and compiling them (a few ms)."""
        never = datetime(1970, 1, 1, tzinfo=UTC)
        try:
            async with self.engine.tx() as tx:
                await fires_q.chunk_next(tx.conn, never, 0, CHUNK)
                for before in (1, None):  # the two shapes: a middle chunk, the last one
                    await fires_q.insert_fires(
                        tx.conn,
                        fire_at=never,
                        after_id=0,
                        before_id=before,
                        kinds=FRESH_KINDS,
                        key_prefix=FIRE_KEY_PREFIX,
                        key_suffix=fire_key_suffix(never),
                        fields=instance_fields(now=tx.now, origin="schedule"),
                    )
        except Exception:  # only a warm-up: a real failure shows when firing
            log.debug("scheduler: preparing the fast pass failed", exc_info=True)

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
                reason = "missed: no node was running (misfire policy " + row["misfire"] + ")"
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
                reason = None if origin == "schedule" else "late: runs once for missed fires"
                if origin == "misfire" and row["misfire"] == "each":
                    reason = "late: missed fire run by misfire policy each"
                fires.append(Fire(row["id"], at, origin, QUEUED, reason))
            last = max([at for at, _ in runs] + missed, default=None)
            advances.append(self._advance(row, next_fire, last, now))
        # Queue order is fire order, also when several schedules catch up fires in one batch.
        fires.sort(key=lambda f: f.at)
        await asyncio.sleep(0)  # split planning from the insert's parameter work (loop stalls)
        ids: list[int] = []
        if fires:
            schedules = await sched_q.fire_sources(tx.conn, sorted({f.schedule_id for f in fires}))
            ids = await inst_q.insert_many(tx.conn, [f.row(schedules, now) for f in fires])
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
