"""Who may do what with a work item. One function answers for every operation, so the
rule that guards the engine method and the "may" flags a screen shows never disagree.

- view: its user; a member of its workgroup; the view right on its process; the
  originator of its instance; admins.
- claim: a member of its workgroup with the group licence while nobody has it, or its
  own user (offered or held at them).
- work (save a draft, complete): its own user; or, for an item waiting in a workgroup,
  a member with the group licence (completing claims it on the way).
- release, hold: its own user, or the manage right on its process.
- delegate, forward: its own user, or the manage right on its process.
"""

from __future__ import annotations

from typing import Any

from switchyard.engine.people.identity import Identity
from switchyard.engine.people.rules import Checked, Rule
from switchyard.store.models import WI_HELD, WI_OPEN, WI_QUEUED
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import workitems as wi_q

OPERATIONS = ("view", "claim", "work", "release", "hold", "delegate", "forward")
VERBS = {
    "view": "view",
    "claim": "claim",
    "work": "work on",
    "release": "release",
    "hold": "hold",
    "delegate": "delegate",
    "forward": "forward",
}


def waiting_in_group(item: dict[str, Any]) -> bool:
    return item["user"] is None and item["status"] in (WI_QUEUED, WI_HELD)


async def problem(engine: Checked, me: Identity, op: str, item: dict[str, Any]) -> str | None:
    """None if ``me`` may do ``op`` on ``item``, else what is missing (for the message)."""
    if me.admin:
        return None
    own = item["user"] == me.login
    member = item["workgroup"] is not None and item["workgroup"] in me.groups
    if op == "view":
        if own or member:
            return None
        if (await engine._access(me, item["process"])).view:
            return None
        async with engine.store.read() as conn:
            row = await inst_q.get(conn, int(item["instance_id"]))
        if row is not None and row.get("originator") == me.login:
            return None
        return f"the view right on {item['process']}, or the item sent to you or your workgroup"
    if op in ("claim", "work"):
        if own:
            return None
        if waiting_in_group(item):
            if not member:
                return f"membership of workgroup {item['workgroup']}"
            if not me.has_licence("group"):
                return "the group licence (group work items)"
            return None
        if member and me.has_licence("group"):
            return None  # one of its group, but someone has it now: the operation's Conflict
        if op == "work" and item["user"] is None:
            return "the item sent to you or your workgroup"
        return f"the item offered to or claimed by you (it is with {item['user'] or 'nobody'})"
    if own:
        return None
    if (await engine._access(me, item["process"])).manage:
        return None
    return f"the item being yours, or the manage right on {item['process']}"


async def may(engine: Checked, me: Identity, item: dict[str, Any]) -> dict[str, bool]:
    """Each operation this viewer may attempt now (for the keys a screen offers)."""
    if item["status"] not in WI_OPEN:
        return dict.fromkeys(OPERATIONS[1:], False)
    return {op: await problem(engine, me, op, item) is None for op in OPERATIONS[1:]}


def on_work_item(op: str) -> Rule:
    """The engine rule for a work item operation (arg: the item's id; see
    engine/people/rules.py)."""

    async def check(engine: Checked, me: Identity, name: str, item_id: Any) -> None:
        async with engine.store.read() as conn:
            item = await wi_q.get(conn, int(item_id)) if item_id is not None else None
        if item is None:
            return  # the operation's own NotFound
        missing = await problem(engine, me, op, item)
        if missing is None:
            return
        what = f"work item {item['id']} ({item['form']} of {item['process']})"
        await engine._refuse(
            op,
            f"{me.login} may not {VERBS[op]} {what}: needs {missing}",
            operation=name,
            target=item["process"],
        )

    return Rule(check, reads=True, name="on_work_item")
