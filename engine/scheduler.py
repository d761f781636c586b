"""The scheduler: fires due schedules in batches, applying misfire and overlap policies.

It sleeps until the earliest ``next_fire_at`` in the store (or until a schedule changes),
then fires in two passes. The fast pass commits the instances of the fires just due,
``CHUNK`` at a time, each chunk one INSERT ... SELECT copying the schedules' columns in
the database: a burst of 10,000 fires in one second costs a few statements, no rows go
through Python and no next fire is computed yet. The planning pass then takes the due
schedules ``BATCH`` at a time: it applies the misfire and overlap policies, inserts what
the fast pass left (late fires, continuous schedules, skips), and moves each next fire on.
Both yield to the loop between transactions, so a burst never stalls the console. Several
nodes may fire the same schedule: the guarded next-fire update and the unique
``fire_key`` of each instance make sure one fire gives one instance.

Lateness: a fire found less than ``GRACE`` late is simply run. Fires later than that
were missed (no node was running): ``once`` runs the latest of them and records the
others as ``missed``; ``each`` runs each (at most ``misfire_limit``); ``skip`` records
them all as ``missed``. At most ``misfire_limit`` missed rows are written per wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from switchyard.engine import events as ev
from switchyard.engine.firing import (
    FIRE_KEY_PREFIX,
    fire_key,
    fire_key_suffix,
    instance_fields,
    instance_row,
)
from switchyard.engine.triggers import Trigger
from switchyard.engine.tx import Tx
from switchyard.store.models import MISSED, QUEUED, SKIPPED
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import schedules as sched_q

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=60)
BATCH = 250
FRESH = timedelta(milliseconds=900)  # below the 1 s between two fires of any trigger
FRESH_KINDS = ("cron", "every", "at")  # the triggers that fire at their next_fire_at
FRESH_TIMES = 64  # distinct fire times per fast pass; later ones are left to planning
CHUNK = 4000  # instances per fast-pass transaction
MAX_SLEEP = 30.0


class TriggerCache:
    """Parsed triggers by their stored fields: schedules with the same trigger share one
    (immutable) parse, so a burst of 10,000 "0 9 * * *" schedules parses it once."""

    MAX = 10_000

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Trigger] = {}

    def get(self, row: dict[str, Any]) -> Trigger:
        fields = row["trigger"]
        try:
            key = tuple(sorted(fields.items()))
            trigger = self._cache.get(key)
        except TypeError:  # an unhashable value: let from_fields judge it, uncached
            return Trigger.from_fields(fields)
        if trigger is None:
            trigger = Trigger.from_fields(fields)
            if len(self._cache) >= self.MAX:
                self._cache.clear()
            self._cache[key] = trigger
        return trigger


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


def first_done(row: dict[str, Any], trigger: Trigger, fresh: set[datetime]) -> bool:
    """Whether the fast pass covered this schedule's first due fire.

    It inserted (or found) an instance for every unpaused cron, every and at schedule
    due at a time in ``fresh``, except overlap ``skip`` ones with an active instance:
    those the planning pass plans as usual (their fire key stops a second row).
    """
    return row["next_fire_at"] in fresh and trigger.kind in FRESH_KINDS


class Scheduler:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.triggers = TriggerCache()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.fired_total = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="switchyard-scheduler")
        self._listener = asyncio.create_task(self._listen(), name="switchyard-scheduler-events")

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
        any per-schedule work. The planning pass then takes the due schedules ``BATCH`` at
        a time as before: it applies the misfire and overlap policies, computes each next
        fire and moves it on (guarded), inserting what the fast pass did not.
        """
        now = self.engine.clock.now()
        fresh: set[datetime] = set()
        queued = await self._fire_fresh(now, fresh)
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
        """The fast pass: queue the fresh fires of cron, every and at schedules.

        Every trigger's fires are at least a second apart (whole-second times), so a fire
        less than ``FRESH`` old is the only one due and on time: it runs whatever the
        misfire policy, unless overlap ``skip`` finds an active instance (checked in SQL).
        Each fire time goes in chunks of schedule ids, one transaction each; the fire
        times done are added to ``fresh`` for the planning pass (see ``first_done``).
        Fire keys keep a fire to one instance whichever pass or node inserts it.
        """
        queued = 0
        at: datetime | None = None
        for _ in range(FRESH_TIMES):
            async with self.engine.store.read() as conn:
                at = await sched_q.next_fire_time(conn, now - FRESH, now, after=at)
                starts = [] if at is None else await sched_q.chunk_starts(conn, at, CHUNK)
            if at is None:
                break
            # Chunks of schedule ids: (0, s1), [s1, s2), ... [sN, end]; all of them together
            # cover every id, so a schedule added or moved since the split is not missed.
            for after, before in zip([0, *(s - 1 for s in starts)], [*starts, None], strict=True):
                async with self.engine.tx() as tx:
                    count = await sched_q.insert_fires(
                        tx.conn,
                        fire_at=at,
                        after_id=after,
                        before_id=before,
                        kinds=FRESH_KINDS,
                        key_prefix=FIRE_KEY_PREFIX,
                        key_suffix=fire_key_suffix(at),
                        fields=instance_fields(now=tx.now, origin="schedule"),
                    )
                    if count:  # ids are not read back: that would cost more than the insert
                        tx.emit(ev.INSTANCES_CHANGED, None, ids=[], status=QUEUED, count=count)
                queued += count
                await asyncio.sleep(0)  # one chunk per turn of the loop
            fresh.add(at)
        return queued

    async def _fire_batch(self, tx: Tx, rows: list[dict[str, Any]], fresh: set[datetime]) -> int:
        now = tx.now
        skip_ids = [r["id"] for r in rows if r["overlap"] == "skip" or self._is_continuous(r)]
        active = await inst_q.active_counts(tx.conn, skip_ids)
        inserts: list[dict[str, Any]] = []
        advances: list[dict[str, Any]] = []
        for row in rows:
            trigger = self.triggers.get(row)
            if trigger.kind == "continuous":
                next_fire = await self._continuous(tx, row, trigger, active, inserts)
                advances.append(self._advance(row, next_fire, None, now))
                continue
            runs, missed, next_fire, overflow = plan_fires(
                trigger, row["next_fire_at"], now, row["misfire"], row["misfire_limit"]
            )
            for at in missed:
                reason = "missed: no node was running (misfire policy " + row["misfire"] + ")"
                inserts.append(self._row(row, at, now, "misfire", MISSED, reason))
            if overflow:
                tx.emit(ev.SCHEDULE_CHANGED, row["id"], name=row["name"], fired=True, overflow=True)
            # The fast pass queued this first fire (or found it queued): counts as active.
            done = row["overlap"] != "skip" and first_done(row, trigger, fresh)
            for at, origin in runs:
                if done and at == row["next_fire_at"]:
                    active[row["id"]] = max(active.get(row["id"], 0), 1)
                    continue
                if row["overlap"] == "skip" and active.get(row["id"], 0) > 0:
                    reason = "skipped: the previous run is still active (overlap: skip)"
                    inserts.append(self._row(row, at, now, origin, SKIPPED, reason))
                    continue
                active[row["id"]] = active.get(row["id"], 0) + 1
                reason = None if origin == "schedule" else "late: runs once for missed fires"
                if origin == "misfire" and row["misfire"] == "each":
                    reason = "late: missed fire run by misfire policy each"
                inserts.append(self._row(row, at, now, origin, QUEUED, reason))
            last = max([at for at, _ in runs] + missed, default=None)
            advances.append(self._advance(row, next_fire, last, now))
        # Queue order is fire order, also when several schedules catch up fires in one batch.
        inserts.sort(key=lambda r: r["fire_at"])
        await asyncio.sleep(0)  # split planning from the insert's parameter work (loop stalls)
        ids = await inst_q.insert_many(tx.conn, inserts)
        await sched_q.advance_many(tx.conn, advances)
        queued_ids = ids[: len(inserts)]
        if queued_ids:
            tx.emit(
                ev.INSTANCES_CHANGED, None, ids=queued_ids[:1000], status=QUEUED, count=len(ids)
            )
        tx.emit(ev.SCHEDULE_CHANGED, None, ids=[r["id"] for r in rows][:1000], fired=True)
        return sum(1 for i in inserts if i["status"] == QUEUED)

    @staticmethod
    def _is_continuous(row: dict[str, Any]) -> bool:
        return row["trigger"].get("kind") == "continuous"

    @staticmethod
    def _row(
        row: dict[str, Any],
        at: datetime,
        now: datetime,
        origin: str,
        status: str,
        reason: str | None,
    ) -> dict[str, Any]:
        return instance_row(
            row,
            now=now,
            fire_at=at,
            origin=origin,
            status=status,
            reason=reason,
            key=fire_key(row["id"], at),
        )

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
        inserts: list[dict[str, Any]],
    ) -> datetime | None:
        """Keep one instance running while inside the window; None = wait for it to end."""
        now = tx.now
        if not trigger.in_window(now):
            return trigger.next_window_open(now)
        if active.get(row["id"], 0) > 0:
            return None
        last = await inst_q.last_id_for_schedule(tx.conn, row["id"])
        values = instance_row(
            row, now=now, fire_at=now, origin="schedule", key=f"s{row['id']}@cont{last}"
        )
        inserts.append(values)
        active[row["id"]] = 1
        return None
