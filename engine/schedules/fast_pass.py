"""The scheduler's fast pass: a burst of fires queued and moved on in bulk.

It queues the fires whose schedule has that one fire due, with one INSERT ... SELECT per
chunk of ``CHUNK`` schedules copying the schedules' columns in the database (no row goes
through Python and no next fire is computed yet), then moves those schedules on in bulk
(croniter runs once per distinct trigger). The scheduler's planning pass takes the rest
(see ``scheduler.py``). Fire keys keep a fire to one instance whichever pass or node
inserts it; the guarded updates leave alone a schedule paused, moved on or edited since.

Which fires: every fire less than ``FRESH`` old (the only one due: two fires of a trigger
are at least a second apart), whatever the misfire policy, and an older one for the
triggers whose next fire is still ahead (computed once per distinct trigger): within
``GRACE`` it runs as on time (a node that woke late), older it was missed (no node was
running) and gets what the planning pass would give it, by misfire policy: ``once`` and
``each`` run it (origin ``misfire``), ``skip`` records it as ``missed``. Fire times go
oldest first, so queue order stays fire order; at the first fire time where some
schedules are left to the planning pass (more fires due, a continuous or broken
trigger) it stops, and then takes only the fresh fires (as it always did: fresh fires go
first when older ones need planning).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import StoreAccess
from switchyard.engine.schedules.firing import (
    FIRE_KEY_PREFIX,
    LATE_EACH,
    LATE_ONCE,
    fire_key_suffix,
    instance_fields,
    missed_reason,
)
from switchyard.engine.schedules.trigger_cache import TriggerCache
from switchyard.store.models import MISSED, QUEUED
from switchyard.store.queries import schedule_advance as advance_q
from switchyard.store.queries import schedule_fires as fires_q
from switchyard.store.queries import schedules as sched_q

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=60)
FRESH = timedelta(milliseconds=900)  # below the 1 s between two fires of any trigger
FRESH_KINDS = ("cron", "every", "at")  # the triggers that fire at their next_fire_at
FRESH_TIMES = 64  # distinct fire times per fast pass; later ones are left to planning
LATE_TRIGGERS = 10_000  # distinct triggers checked per fire time older than FRESH
RANGE_GROUPS = 8  # distinct next fires in a chunk moved on one UPDATE each; more: per row
SLICE = 0.002  # seconds of next-fire computation between two yields to the loop
CHUNK = 3500  # instances per fast-pass transaction (~12 ms of SQLite work)
WARM_SLICE = 0.001  # seconds of next-fire computation per slice while warming up
WARM_PAUSE = 0.004  # seconds the loop's thread sleeps between two slices of warming


@dataclass(frozen=True)
class RowKind:
    """What the rows of one INSERT ... SELECT get: on time, or a missed fire by policy."""

    origin: str = "schedule"
    status: str = QUEUED
    reason: str | None = None
    misfire: str | None = None  # only the schedules with this misfire policy
    overlap_guard: bool = True  # overlap ``skip`` with a run active: left to planning

    def fields(self, now: datetime) -> dict[str, Any]:
        return instance_fields(now=now, origin=self.origin, status=self.status, reason=self.reason)


ON_TIME = RowKind()
# A fire older than GRACE with no other fire due, by misfire policy (scheduler.plan_fires).
MISSED_KINDS = {
    "once": RowKind("misfire", QUEUED, LATE_ONCE, "once"),
    "each": RowKind("misfire", QUEUED, LATE_EACH, "each"),
    "skip": RowKind("misfire", MISSED, missed_reason("skip"), "skip", overlap_guard=False),
}


class Nexts:
    """The next fire of each trigger (stored JSON text) of a burst, grouped by next fire,
    with a token naming this set (``schedule_advance.advance_each_fired`` writes it on
    SQLite's side once per burst, not once per chunk)."""

    _made = itertools.count()

    def __init__(self, nexts: dict[str, datetime | None]) -> None:
        self.nexts = nexts
        self.groups: dict[datetime | None, list[str]] = {}
        for text, next_fire in nexts.items():
            self.groups.setdefault(next_fire, []).append(text)
        self.token = f"{os.getpid()}:{next(self._made)}"


class FastPass:
    def __init__(self, engine: StoreAccess, triggers: TriggerCache) -> None:
        self.engine = engine
        self.triggers = triggers

    async def fire(self, now: datetime, fresh: set[datetime]) -> int:
        """Queue the fires described above; returns how many were queued. The fire times
        done are added to ``fresh`` for the planning pass (``scheduler.maybe_done``)."""
        queued = 0
        at: datetime | None = None
        async with self.engine.store.read() as conn:
            since = await sched_q.earliest_fire(conn)
        if since is None:
            return 0
        jumped = False  # gone on to the fresh fires, leaving older ones to planning
        for _ in range(FRESH_TIMES):
            texts: list[str] | None = None  # None: every trigger
            policies: list[str] | None = None  # None: on time
            async with self.engine.store.read() as conn:
                at = await sched_q.next_fire_time(conn, since, now, after=at)
                if at is not None and now - at >= FRESH:
                    texts = await fires_q.due_triggers(conn, at, LATE_TRIGGERS + 1)
                    if now - at > GRACE:
                        policies = await fires_q.due_policies(conn, at)
            if at is None:
                break
            left = False  # some schedules due at ``at`` are left to planning
            if texts is not None:
                nexts = await self.next_fires(texts[:LATE_TRIGGERS], at, now)
                left = len(nexts) < len(texts)
                texts = list(nexts)
            kinds = [ON_TIME]
            if policies is not None:
                kinds = [MISSED_KINDS[p] for p in policies if p in MISSED_KINDS]
                left = left or len(kinds) < len(policies)
            if texts != [] and kinds:
                queued += await self._fire_time(at, texts, kinds)
                fresh.add(at)
            if left or texts == [] or not kinds:
                if jumped or now - at < FRESH:
                    break
                # Queue order is fire order: the planning pass queues what is left at
                # ``at`` and after it; only the fresh fires go before (as always).
                jumped, since, at = True, now - FRESH, None
        return queued

    async def _fire_time(self, at: datetime, texts: list[str] | None, kinds: list[RowKind]) -> int:
        """Every chunk of the schedules due at ``at``, one transaction each."""
        queued = 0
        after: int | None = 0
        while after is not None:  # chunks of ids: (0, s1), [s1, s2), ... [sN, end]
            count, after = await self._fire_chunk(at, after, texts, kinds)
            queued += count
            await asyncio.sleep(0)  # one chunk per turn of the loop
        return queued

    async def _fire_chunk(
        self, at: datetime, after: int, triggers: list[str] | None, kinds: list[RowKind]
    ) -> tuple[int, int | None]:
        """Queue the fires at ``at`` of the next ``CHUNK`` schedules after id ``after`` (with
        one of ``triggers``, stored JSON text, if given), in one transaction, one statement
        per kind of row; returns how many were queued and the id to go on after (or None)."""
        queued = 0
        async with self.engine.tx() as tx:
            start = await fires_q.chunk_next(tx.conn, at, after, CHUNK)
            for kind in kinds:
                count = await fires_q.insert_fires(
                    tx.conn,
                    fire_at=at,
                    after_id=after,
                    before_id=start,
                    kinds=FRESH_KINDS,
                    key_prefix=FIRE_KEY_PREFIX,
                    key_suffix=fire_key_suffix(at),
                    fields=kind.fields(tx.now),
                    triggers=triggers,
                    misfire=kind.misfire,
                    overlap_guard=kind.overlap_guard,
                )
                if count:  # ids are not read back: that would cost more than the insert
                    tx.emit(ev.INSTANCES_CHANGED, None, ids=[], status=kind.status, count=count)
                queued += count if kind.status == QUEUED else 0
        return queued, None if start is None else start - 1

    async def advance(self, now: datetime, fresh: set[datetime]) -> None:
        """Move the fast pass's schedules on in bulk, chunk by chunk of ids.

        First it reads the distinct triggers due at that time (one row per trigger) and
        takes each one's next fire (computed ahead by ``warm``, else now, outside any
        transaction, yielding to the loop as it goes: croniter is slow). Then, chunk by
        chunk: when they make at most ``RANGE_GROUPS`` distinct next fires, one guarded
        UPDATE per next fire moves them on: no schedule row comes into Python. With more,
        each schedule is moved on by its own row (``schedule_advance.advance_each_fired``:
        on SQLite one call on the driver's thread per chunk, the (trigger, next fire)
        pairs written there once per burst). With more than ``LATE_TRIGGERS`` distinct
        triggers, each chunk reads and computes its own. The rest (overlap skips,
        schedules the fast pass did not see, triggers with more fires due, broken ones)
        is left to the planning pass."""
        for at in sorted(fresh):
            async with self.engine.store.read() as conn:
                texts = await fires_q.due_triggers(conn, at, LATE_TRIGGERS + 1)
            burst: Nexts | None = None  # None: too many triggers, each chunk reads its own
            if len(texts) <= LATE_TRIGGERS:
                burst = Nexts(await self.next_fires(texts, at, now))
                if not burst.nexts:
                    continue  # all left to the planning pass
            after: int | None = 0
            while after is not None:
                after = await self._advance_chunk(at, after, now, burst)
                await asyncio.sleep(0)

    async def _advance_chunk(
        self, at: datetime, after: int, now: datetime, burst: Nexts | None
    ) -> int | None:
        where: dict[str, Any] = {
            "fire_at": at,
            "after_id": after,
            "key_prefix": FIRE_KEY_PREFIX,
            "key_suffix": fire_key_suffix(at),
        }
        texts: list[str] | None = None
        async with self.engine.store.read() as conn:
            start = await fires_q.chunk_next(conn, at, after, CHUNK)
            where["before_id"] = start
            if burst is None:
                texts = [t for t, _ in await fires_q.fired_triggers(conn, **where)]
        if texts is not None:
            burst = Nexts(await self.next_fires(texts, at, now))
        assert burst is not None
        if burst.nexts:
            async with self.engine.tx() as tx:
                moved = 0
                if len(burst.groups) > RANGE_GROUPS:
                    moved = await advance_q.advance_each_fired(
                        tx.conn, burst.nexts, now=tx.now, token=burst.token, **where
                    )
                else:
                    for next_fire, group in burst.groups.items():
                        moved += await fires_q.advance_fired(
                            tx.conn, trigger_jsons=group, next_fire=next_fire, now=tx.now, **where
                        )
                if moved:
                    tx.emit(ev.SCHEDULE_CHANGED, None, ids=[], fired=True, count=moved)
        return None if start is None else start - 1

    async def next_fires(
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

    async def warm(self, at: datetime, woken: asyncio.Event) -> bool:
        """Before the fires at ``at``: compute the next fire after ``at`` of each distinct
        trigger due then (cached: ``triggers._cron_next``), so that the burst's
        ``next_fires`` finds them done. croniter costs ~50-100 µs a cron, ~100 ms of the
        loop's thread for 1,000 distinct triggers: done in the burst, even in 2 ms slices,
        that thread never sleeps, and on a loaded machine the OS then takes the CPU from
        it for tens to hundreds of ms at a time (stalls seen: up to 580 ms). Here it runs
        in ``WARM_SLICE`` slices with the thread asleep ``WARM_PAUSE`` between them, and
        stops when ``woken`` is set (a schedule changed: the caller warms again) or when
        the caller's timeout (the fire time) cancels it. Returns whether it finished."""
        async with self.engine.store.read() as conn:
            texts = await fires_q.due_triggers(conn, at, LATE_TRIGGERS)
        began = time.perf_counter()
        for text in texts:
            if woken.is_set():
                return False
            try:
                trigger = self.triggers.get({"trigger_json": text})
                if trigger.kind == "cron":
                    trigger.next_fire(at)
            except Exception as exc:  # a broken trigger: the planning pass reports it
                log.debug("scheduler: warming %s skipped: %s", text, exc)
            if time.perf_counter() - began > WARM_SLICE:
                await asyncio.sleep(WARM_PAUSE)
                began = time.perf_counter()
        return True

    async def prepare(self) -> None:
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
                        fields=ON_TIME.fields(tx.now),
                    )
        except Exception:  # only a warm-up: a real failure shows when firing
            log.debug("scheduler: preparing the fast pass failed", exc_info=True)
