"""Creating a work item for a ``send_work_item`` step, and its timers.

An item is created once per (instance, step): a replay of the step after a crash finds
the item it made. A direct item is *offered* to its user; a group item is *queued* in
its workgroup. Its timers (due, reminders, escalation) are stored on the row as a list,
with ``timer_at`` the next one, so any node's timer loop can fire them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import Transactions
from switchyard.engine.workitems.directive import SendWorkItem
from switchyard.store.models import WI_OFFERED, WI_QUEUED
from switchyard.store.queries import people as people_q
from switchyard.store.queries import steps as step_q
from switchyard.store.queries import workitems as wi_q


class RoutingProblem(ValueError):
    """The item's user or workgroup does not exist (a template gave an unknown name)."""


def next_timer(timers: list[dict[str, Any]]) -> datetime | None:
    pending = [datetime.fromisoformat(t["at"]) for t in timers if not t.get("done")]
    return min(pending, default=None)


def timers_for(directive: SendWorkItem, now: datetime) -> list[dict[str, Any]]:
    timers: list[dict[str, Any]] = []
    if directive.due is not None:
        timers.append({"kind": "due", "at": (now + timedelta(seconds=directive.due)).isoformat()})
    for after in directive.reminders:
        timers.append({"kind": "reminder", "at": (now + timedelta(seconds=after)).isoformat()})
    if directive.escalate_after is not None:
        at = now + timedelta(seconds=directive.escalate_after)
        timers.append({"kind": "escalate", "at": at.isoformat(), "to": directive.escalate_to})
    timers.sort(key=lambda t: t["at"])
    return timers


async def check_route(
    conn: AsyncConnection, route: dict[str, str]
) -> tuple[str | None, str | None]:
    """(user, workgroup) of a route, each checked to exist."""
    if "user" in route:
        if await people_q.get_user(conn, route["user"]) is None:
            raise RoutingProblem(f"unknown user '{route['user']}'")
        return route["user"], None
    if await people_q.get_group(conn, route["workgroup"]) is None:
        raise RoutingProblem(f"unknown workgroup '{route['workgroup']}'")
    return None, route["workgroup"]


async def create_item(
    engine: Transactions,
    row: dict[str, Any],
    doc: dict[str, Any],
    key: str,
    directive: SendWorkItem,
) -> int:
    async with engine.tx() as tx:
        existing = await wi_q.get_for_step(tx.conn, int(row["id"]), key)
        if existing is not None:
            return int(existing["id"])
        user, group = await check_route(tx.conn, directive.to)
        timers = timers_for(directive, tx.now)
        due = next((t["at"] for t in timers if t["kind"] == "due"), None)
        item_id = await wi_q.insert(
            tx.conn,
            {
                "instance_id": int(row["id"]),
                "step_key": key,
                "process": doc["process"],
                "form": directive.form,
                "title": directive.title,
                "status": WI_OFFERED if user else WI_QUEUED,
                "user": user,
                "workgroup": group,
                "priority": directive.priority,
                "due_at": datetime.fromisoformat(due) if due else None,
                "timers": timers,
                "timer_at": next_timer(timers),
                "escalated": False,
                "draft": {},
                "created_at": tx.now,
                "updated_at": tx.now,
            },
        )
        to = f"user {user}" if user else f"workgroup {group}"
        await step_q.add_history(
            tx.conn, int(row["id"]), "workitem", tx.now, None, {"item": item_id, "sent to": to}
        )
        tx.emit(
            ev.WORK_ITEMS_CHANGED, item_id, ids=[item_id], status="new", instance=int(row["id"])
        )
        return item_id
