"""Timers: everything time-driven that has a due time, listed as one keyset-paged list.

Three sources, each read with its own indexed query and merged by due time:

- ``instance:ID``: a waiting process instance's ``wake_at`` (wait for/until, or the next
  re-check of a condition);
- ``workitem:ID``: an open work item's ``timer_at`` (its next due, reminder or
  escalation);
- ``schedule:NAME``: an unpaused schedule's ``next_fire_at``.

Rows come ordered by (due time, kind, id or name), so ``after`` (the last row's
``cursor``) gives the next page. Filters combine with AND: a process, instance or work
item filter leaves schedules out; a schedule filter leaves instances and work items out.

Also here: ``timer_runs``, one row per forced timer run under way (insert-if-absent),
so that a second run of the same timer is told it is "already running".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import (
    WAITING,
    WI_OPEN,
    Instance,
    Schedule,
    TimerRun,
    WorkItem,
    table_of,
)
from switchyard.store.upsert import insert_ignore

instances = table_of(Instance)
items = table_of(WorkItem)
schedules = table_of(Schedule)
timer_runs = table_of(TimerRun)

INSTANCE = "instance"
WORKITEM = "workitem"
SCHEDULE = "schedule"
KINDS = (INSTANCE, WORKITEM, SCHEDULE)  # their order among timers due at the same time
_RANK = {kind: rank for rank, kind in enumerate(KINDS)}

#: What a work item's pending timer does, by the kind stored in its ``timers`` list.
WORKITEM_WHAT = {"due": "work item due", "reminder": "reminder", "escalate": "escalation"}

Cursor = tuple[datetime, str, int | str]  # (due time, kind, id or schedule name)


def instance_what(waiting_on: str | None) -> str:
    """ "wait" (for a duration, until a time) or "condition" (its next re-check)."""
    parts = (waiting_on or "").split(",")
    if "timer" not in parts and "condition" in parts:
        return "condition"
    return "wait"


def workitem_what(timers: Sequence[dict[str, Any]] | None) -> str:
    """What the next pending timer of a work item does."""
    pending = [t for t in timers or [] if not t.get("done")]
    if not pending:
        return "work item due"
    first = min(pending, key=lambda t: datetime.fromisoformat(t["at"]))
    return WORKITEM_WHAT.get(str(first.get("kind")), str(first.get("kind")))


def _after(due: Any, order: Any, kind: str, after: Cursor | None) -> ColumnElement[bool] | None:
    """Rows of ``kind`` that come after ``after`` in (due time, kind, id/name) order."""
    if after is None:
        return None
    at, other, last = after
    rank, other_rank = _RANK[kind], _RANK[other]
    if rank > other_rank:
        return cast("ColumnElement[bool]", due >= at)
    if rank < other_rank:
        return cast("ColumnElement[bool]", due > at)
    return or_(due > at, and_(due == at, order > last))


async def _instances(
    conn: AsyncConnection,
    *,
    process: str | None,
    instance_id: int | None,
    due_by: datetime | None,
    visible: ColumnElement[bool] | None,
    after: Cursor | None,
    limit: int,
) -> list[dict[str, Any]]:
    c = instances.c
    stmt = select(
        c.id, c.process, c.schedule_name, c.waiting_on, c.wake_at, c.lane, c.status
    ).where(c.status == WAITING, c.wake_at.is_not(None))
    if visible is not None:
        stmt = stmt.where(visible)
    if process is not None:
        stmt = stmt.where(c.process == process)
    if instance_id is not None:
        stmt = stmt.where(c.id == instance_id)
    if due_by is not None:
        stmt = stmt.where(c.wake_at <= due_by)
    cut = _after(c.wake_at, c.id, INSTANCE, after)
    if cut is not None:
        stmt = stmt.where(cut)
    stmt = stmt.order_by(c.wake_at, c.id).limit(limit)
    return [
        {
            "kind": INSTANCE,
            "key": f"{INSTANCE}:{r['id']}",
            "due_at": r["wake_at"],
            "process": r["process"],
            "schedule": r["schedule_name"],
            "instance_id": int(r["id"]),
            "workitem_id": None,
            "what": instance_what(r["waiting_on"]),
            "cursor": (r["wake_at"], INSTANCE, int(r["id"])),
        }
        for r in (await conn.execute(stmt)).mappings()
    ]


async def _workitems(
    conn: AsyncConnection,
    *,
    process: str | None,
    instance_id: int | None,
    workitem_id: int | None,
    due_by: datetime | None,
    visible: ColumnElement[bool] | None,
    after: Cursor | None,
    limit: int,
) -> list[dict[str, Any]]:
    c = items.c
    stmt = select(c.id, c.instance_id, c.process, c.timer_at, c.timers).where(
        c.timer_at.is_not(None), c.status.in_(list(WI_OPEN))
    )
    if visible is not None:
        stmt = stmt.where(c.instance_id.in_(select(instances.c.id).where(visible)))
    if process is not None:
        stmt = stmt.where(c.process == process)
    if instance_id is not None:
        stmt = stmt.where(c.instance_id == instance_id)
    if workitem_id is not None:
        stmt = stmt.where(c.id == workitem_id)
    if due_by is not None:
        stmt = stmt.where(c.timer_at <= due_by)
    cut = _after(c.timer_at, c.id, WORKITEM, after)
    if cut is not None:
        stmt = stmt.where(cut)
    stmt = stmt.order_by(c.timer_at, c.id).limit(limit)
    return [
        {
            "kind": WORKITEM,
            "key": f"{WORKITEM}:{r['id']}",
            "due_at": r["timer_at"],
            "process": r["process"],
            "schedule": None,
            "instance_id": int(r["instance_id"]),
            "workitem_id": int(r["id"]),
            "what": workitem_what(r["timers"]),
            "cursor": (r["timer_at"], WORKITEM, int(r["id"])),
        }
        for r in (await conn.execute(stmt)).mappings()
    ]


async def _schedules(
    conn: AsyncConnection,
    *,
    schedule: str | None,
    due_by: datetime | None,
    after: Cursor | None,
    limit: int,
) -> list[dict[str, Any]]:
    c = schedules.c
    stmt = select(c.id, c.name, c.process, c.next_fire_at).where(
        c.next_fire_at.is_not(None), c.paused.is_(False)
    )
    if schedule is not None:
        stmt = stmt.where(c.name == schedule)
    if due_by is not None:
        stmt = stmt.where(c.next_fire_at <= due_by)
    cut = _after(c.next_fire_at, c.name, SCHEDULE, after)
    if cut is not None:
        stmt = stmt.where(cut)
    stmt = stmt.order_by(c.next_fire_at, c.name).limit(limit)
    return [
        {
            "kind": SCHEDULE,
            "key": f"{SCHEDULE}:{r['name']}",
            "due_at": r["next_fire_at"],
            "process": r["process"],
            "schedule": r["name"],
            "instance_id": None,
            "workitem_id": None,
            "what": "fire",
            "cursor": (r["next_fire_at"], SCHEDULE, r["name"]),
            "schedule_id": int(r["id"]),
        }
        for r in (await conn.execute(stmt)).mappings()
    ]


async def page(
    conn: AsyncConnection,
    *,
    process: str | None = None,
    instance_id: int | None = None,
    workitem_id: int | None = None,
    schedule: str | None = None,
    due_by: datetime | None = None,
    visible: ColumnElement[bool] | None = None,
    with_schedules: bool = True,
    after: Cursor | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A page of timers, soonest first.

    ``due_by``: only timers due at or before it. ``visible``: a WHERE on instances (what
    the caller may see; None = all) applied to instances and work items.
    ``with_schedules``: False leaves schedules out. ``after``: the last row's ``cursor``.
    """
    rows: list[dict[str, Any]] = []
    if schedule is None and workitem_id is None:
        rows += await _instances(
            conn,
            process=process,
            instance_id=instance_id,
            due_by=due_by,
            visible=visible,
            after=after,
            limit=limit,
        )
    if schedule is None:
        rows += await _workitems(
            conn,
            process=process,
            instance_id=instance_id,
            workitem_id=workitem_id,
            due_by=due_by,
            visible=visible,
            after=after,
            limit=limit,
        )
    if with_schedules and process is None and instance_id is None and workitem_id is None:
        rows += await _schedules(conn, schedule=schedule, due_by=due_by, after=after, limit=limit)
    rows.sort(key=lambda r: (r["cursor"][0], _RANK[r["kind"]], r["cursor"][2]))
    return rows[:limit]


# ------------------------------------------------------------------ timer runs
async def claim_run(
    conn: AsyncConnection, key: str, *, node_id: str, login: str | None, now: datetime
) -> bool:
    """Record that a run of timer ``key`` starts; False if one is under way already."""
    stmt = insert_ignore(conn, timer_runs, ["key"]).values(
        key=key, node_id=node_id, login=login, started_at=now
    )
    return bool((await conn.execute(stmt)).rowcount)


async def get_run(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    stmt = select(timer_runs).where(timer_runs.c.key == key)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def take_over_run(
    conn: AsyncConnection,
    key: str,
    old: dict[str, Any],
    *,
    node_id: str,
    login: str | None,
    now: datetime,
) -> bool:
    """Take over the abandoned run ``old`` of ``key`` (guarded: only if it is unchanged)."""
    stmt = (
        update(timer_runs)
        .where(
            timer_runs.c.key == key,
            timer_runs.c.started_at == old["started_at"],
            timer_runs.c.node_id == old["node_id"]
            if old["node_id"] is not None
            else timer_runs.c.node_id.is_(None),
        )
        .values(node_id=node_id, login=login, started_at=now)
    )
    return bool((await conn.execute(stmt)).rowcount)


async def release_run(conn: AsyncConnection, key: str, node_id: str) -> int:
    """The run of ``key`` by ``node_id`` is over."""
    stmt = delete(timer_runs).where(timer_runs.c.key == key, timer_runs.c.node_id == node_id)
    return (await conn.execute(stmt)).rowcount


async def runs(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Timer runs under way, oldest first."""
    stmt = select(timer_runs).order_by(timer_runs.c.started_at, timer_runs.c.key)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]
