"""Timers: list every time-driven thing with a due time, and force timers to run now.

A timer is a waiting instance's ``wake_at`` (``instance:ID``: a wait for/until, or a
condition's next re-check), an open work item's next due/reminder/escalation
(``workitem:ID``) or a schedule's next fire (``schedule:NAME``). Node timer loops fire
them when due (engine/node/runtime.py, engine/schedules/scheduler.py); ``run_timers`` forces the
selected ones now, whatever their due time:

- a waiting instance is woken: its waits for/until are over at once (their journalled
  end time becomes now), a condition is re-checked;
- a work item's next pending timer fires (engine/workitems/timers.py ``fire_now``);
- a schedule fires once now, like ``start`` (its regular fires are unchanged); a once
  (``--at``) schedule's one fire is used up by it: it has no next fire left.

No overlap: a run first inserts a ``timer_runs`` row for the timer's key (if absent) and
deletes it when done; a timer whose row exists is reported "already running". A row
older than ``STALE_RUN`` whose node is dead is taken over.

Rights: forcing needs the manage right on the process of an instance or work item, and
the designer licence for schedules; admins may force anything. An explicit scope the
caller may not force is refused, naming the missing right; a run of all timers skips
the ones the caller may not force (and says why). Lists show only what the caller may
view (schedules from the monitor licence up). Mixed into ``Engine``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from switchyard.engine.errors import NotFound, SwitchyardError
from switchyard.engine.instances.transition import wake
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import (
    HOST,
    ProcessHidden,
    is_alive,
    running_start_time,
)
from switchyard.engine.people.identity import Identity
from switchyard.engine.people.rules import anyone, rule
from switchyard.engine.schedules.api import SchedulesApi
from switchyard.engine.workitems import timers as wi_timers
from switchyard.store.models import WAITING
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import schedules as sched_q
from switchyard.store.queries import steps as step_q
from switchyard.store.queries import timers as timer_q
from switchyard.store.queries import workitems as wi_q

#: A timer run older than this whose node is dead may be taken over.
STALE_RUN = timedelta(minutes=10)
RUN_PAGE = 500  # timers read per page while running many
KEY_LENGTH = 200  # timer_runs.key


@dataclass(frozen=True)
class TimerView:
    kind: str  # instance | workitem | schedule
    key: str  # instance:12 | workitem:3 | schedule:nightly
    due_at: datetime | None
    due: bool  # due already (at or before now)
    what: str  # wait | condition | work item due | reminder | escalation | fire
    process: str | None
    schedule: str | None
    instance_id: int | None
    workitem_id: int | None

    @property
    def cursor(self) -> timer_q.Cursor:
        """Where the next page starts (``timers(after=...)``)."""
        assert self.due_at is not None
        last: int | str
        if self.kind == timer_q.SCHEDULE:
            last = str(self.schedule)
        elif self.kind == timer_q.WORKITEM:
            last = int(self.workitem_id or 0)
        else:
            last = int(self.instance_id or 0)
        return (self.due_at, self.kind, last)


@dataclass(frozen=True)
class TimerRunResult:
    """What a forced run did, per timer key: fired (with a note: what it did), already
    running (another run of that timer is under way), or skipped (and why)."""

    fired: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def timer_view(row: dict[str, Any], now: datetime) -> TimerView:
    return TimerView(
        kind=row["kind"],
        key=row["key"],
        due_at=row["due_at"],
        due=row["due_at"] is not None and row["due_at"] <= now,
        what=row["what"],
        process=row["process"],
        schedule=row["schedule"],
        instance_id=row["instance_id"],
        workitem_id=row["workitem_id"],
    )


def run_key(row: dict[str, Any]) -> str:
    """The ``timer_runs`` key of a timer (a very long schedule name goes by its id)."""
    key = str(row["key"])
    if len(key) > KEY_LENGTH:
        return f"{timer_q.SCHEDULE}#{row.get('schedule_id')}"
    return key


def node_alive(node_id: str | None, nodes: dict[str, dict[str, Any]], now: datetime) -> bool:
    """Whether the node that holds a timer run may still be at it: a registered node by its
    heartbeat; an unregistered one (a CLI) by its process, when it ran on this host."""
    if node_id is None:
        return False
    row = nodes.get(node_id)
    if row is not None:
        return is_alive(row, now)
    host, _, rest = node_id.rpartition("-")[0].rpartition("-")
    pid = rest if host else ""
    if host != HOST.split(".")[0] or not pid.isdigit():
        return False  # another host's CLI: only its age tells
    try:
        return running_start_time(int(pid)) is not None
    except ProcessHidden:
        return False  # another user's, out of sight (hidepid): as on another host, its age


class TimersApi(SchedulesApi):
    """Timers: a schedule's fire forced now goes through ``SchedulesApi.start``."""

    # ------------------------------------------------------------- lists
    @rule(anyone)  # filtered to what the caller may view
    async def timers(
        self,
        process: str | None = None,
        instance_id: int | None = None,
        workitem_id: int | None = None,
        schedule: str | None = None,
        due_only: bool = False,
        limit: int = 100,
        after: timer_q.Cursor | None = None,
    ) -> list[TimerView]:
        """A page of the timers the caller may view, soonest first: waiting instances'
        wake-ups, work items' next timers, schedules' next fires (``due_only``: only
        those due now). ``after``: the last row's ``cursor``, for the next page."""
        if limit < 1 or limit > 10_000:
            raise SwitchyardError("limit", f"must be between 1 and 10000, got {limit}")
        me = await self._me()
        now = self.clock.now()
        async with self.store.read() as conn:
            rows = await timer_q.page(
                conn,
                process=process,
                instance_id=instance_id,
                workitem_id=workitem_id,
                schedule=schedule,
                due_by=now if due_only else None,
                visible=await self._visible(conn),
                with_schedules=me.admin or me.has_licence("monitor"),
                after=after,
                limit=limit,
            )
        return [timer_view(r, now) for r in rows]

    # --------------------------------------------------------------- runs
    @rule(anyone)  # forcing checks the manage right (designer licence for schedules) per selection
    async def run_timers(
        self,
        process: str | None = None,
        instance_id: int | None = None,
        workitem_id: int | None = None,
        schedule: str | None = None,
    ) -> TimerRunResult:
        """Force the selected timers now, whatever their due time (none given: all).
        A timer whose previous run is still going is reported as already running."""
        me = await self._me()
        scoped = any(v is not None for v in (process, instance_id, workitem_id, schedule))
        if scoped:
            await self._check_scope(me, process, instance_id, workitem_id, schedule)
        result = TimerRunResult()
        allowed: dict[str, str | None] = {}  # process -> what is missing (None: allowed)
        after: timer_q.Cursor | None = None
        while True:
            async with self.store.read() as conn:
                rows = await timer_q.page(
                    conn,
                    process=process,
                    instance_id=instance_id,
                    workitem_id=workitem_id,
                    schedule=schedule,
                    visible=None if scoped else await self._visible(conn),
                    with_schedules=me.admin or me.has_licence("monitor"),
                    after=after,
                    limit=RUN_PAGE,
                )
            for row in rows:
                missing = await self._may_force(me, row, allowed)
                if missing:
                    result.skipped[row["key"]] = missing
                    continue
                await self._run_one(me, row, result)
            if len(rows) < RUN_PAGE:
                return result
            after = rows[-1]["cursor"]

    async def _check_scope(
        self,
        me: Identity,
        process: str | None,
        instance_id: int | None,
        workitem_id: int | None,
        schedule: str | None,
    ) -> None:
        """An explicit scope: it exists and the caller may force its timers, or Refused."""
        op = "run_timers"
        if schedule is not None:
            async with self.store.read() as conn:
                if await sched_q.get_by_name(conn, schedule) is None:
                    raise NotFound("schedule", f"unknown schedule '{schedule}'")
            if not (me.admin or me.has_licence("designer")):
                await self._refuse(
                    "designer",
                    f"{me.login} needs the designer licence to force the timers of schedules",
                    operation=op,
                    target=schedule,
                )
        names: list[tuple[str, str | None]] = []  # (what, process)
        if process is not None:
            names.append((f"the timers of {process}", process))
        if instance_id is not None:
            async with self.store.read() as conn:
                row = await inst_q.get(conn, instance_id)
            if row is None:
                raise NotFound("instance", f"unknown instance {instance_id}")
            name = row.get("process") or row.get("schedule_name")
            names.append((f"the timers of instance {instance_id}", name))
        if workitem_id is not None:
            async with self.store.read() as conn:
                item = await wi_q.get(conn, workitem_id)
            if item is None:
                raise NotFound("workitem", f"unknown work item {workitem_id}")
            names.append((f"the timers of work item {workitem_id}", item["process"]))
        for what, name in names:
            if me.admin or (name and (await self._access(me, name)).manage):
                continue
            of = f" of {name}" if name and name != process else ""
            await self._refuse(
                "manage",
                f"{me.login} may not force {what}{of}: needs the manage right on "
                + (name or "its process"),
                operation=op,
                target=name,
            )

    async def _may_force(
        self, me: Identity, row: dict[str, Any], allowed: dict[str, str | None]
    ) -> str | None:
        """None if the caller may force this timer, else what is missing."""
        if me.admin:
            return None
        if row["kind"] == timer_q.SCHEDULE:
            return None if me.has_licence("designer") else "needs the designer licence"
        name = str(row["process"] or "")
        if name not in allowed:
            ok = bool(name) and (await self._access(me, name)).manage
            allowed[name] = None if ok else f"needs the manage right on {name or 'its process'}"
        return allowed[name]

    async def _run_one(self, me: Identity, row: dict[str, Any], result: TimerRunResult) -> None:
        key = row["key"]
        lock = run_key(row)
        if not await self._claim_run(lock, me):
            result.already_running.append(key)
            return
        try:
            note = await self._fire_one(me, row)
        finally:
            with contextlib.suppress(Exception):  # a stale row is taken over later
                async with self.store.write() as conn:
                    await timer_q.release_run(conn, lock, self.node_id)
        if note.startswith("skipped: "):
            result.skipped[key] = note.removeprefix("skipped: ")
        else:
            result.fired.append(key)
            result.notes[key] = note

    async def _claim_run(self, lock: str, me: Identity) -> bool:
        """Insert the run's row; an abandoned run (old, its node dead) is taken over."""
        async with self.tx() as tx:
            if await timer_q.claim_run(
                tx.conn, lock, node_id=self.node_id, login=me.login, now=tx.now
            ):
                return True
            held = await timer_q.get_run(tx.conn, lock)
            if held is None:  # ended between the two statements: try once more
                return await timer_q.claim_run(
                    tx.conn, lock, node_id=self.node_id, login=me.login, now=tx.now
                )
            started = held.get("started_at")
            if started is not None and tx.now - started <= STALE_RUN:
                return False
            nodes = {n["id"]: n for n in await node_q.running(tx.conn)}
            if node_alive(held.get("node_id"), nodes, tx.now):
                return False
            return await timer_q.take_over_run(
                tx.conn, lock, held, node_id=self.node_id, login=me.login, now=tx.now
            )

    async def _fire_one(self, me: Identity, row: dict[str, Any]) -> str:
        """Force one timer; returns what it did, or "skipped: why"."""
        if row["kind"] == timer_q.INSTANCE:
            return await self._force_instance(me, int(row["instance_id"]), row["what"])
        if row["kind"] == timer_q.WORKITEM:
            kind = await wi_timers.fire_now(self, int(row["workitem_id"]), by=me.login)
            if kind is None:
                return "skipped: no pending timer"
            return timer_q.WORKITEM_WHAT.get(kind, kind)
        async with self.store.read() as conn:
            found = await sched_q.get_by_name(conn, str(row["schedule"]))
        if found is None:
            return "skipped: the schedule is gone"
        if found["paused"]:
            return "skipped: the schedule is paused"
        instance_id = await self.start(str(row["schedule"]))
        if found["trigger"].get("kind") == "at":  # a once schedule's one fire is used up
            async with self.tx() as tx:
                await sched_q.update_fields(
                    tx.conn, found["id"], {"next_fire_at": None, "last_fire_at": tx.now}
                )
                tx.emit(ev.SCHEDULE_CHANGED, found["id"], name=found["name"])
        return f"instance {instance_id} started"

    async def _force_instance(self, me: Identity, instance_id: int, what: str) -> str:
        """Wake a waiting instance now: its waits for/until end now (the journal's end
        time of each wait under way becomes now); a condition is checked again."""
        async with self.tx() as tx:
            row = await inst_q.get(tx.conn, instance_id)
            if row is None or row["status"] != WAITING or row.get("wake_at") is None:
                return "skipped: no longer waiting on a timer"
            if not await wake(tx, instance_id, row["lane"]):
                return "skipped: no longer waiting on a timer"
            for key, step in (await step_q.journal(tx.conn, instance_id)).items():
                decision = step.get("decision") or {}
                if step["status"] != "started" or decision.get("type") != "wait":
                    continue
                until = decision.get("until")
                if until and datetime.fromisoformat(until) > tx.now:
                    await step_q.set_step(
                        tx.conn,
                        instance_id,
                        key,
                        {"decision": {**decision, "until": tx.now.isoformat(), "forced": True}},
                    )
            await step_q.add_history(
                tx.conn, instance_id, "timer", tx.now, me.login, {"op": "forced", "what": what}
            )
        return "woken" if what == "wait" else "woken to check its condition"
