"""send_work_item: route a form to a user or a workgroup and wait for a button.

The executor creates the item once per step (a replay finds the same one) and the
instance waits without holding a lane slot. When a person presses a button, the item's
values are applied to the variables, the button's actions run in the instance, and the
instance goes on. Due dates, reminders and escalations are timers on the item.
"""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, ActionFailed, Directive
from switchyard.engine.workitems.directive import SendWorkItem


class SendWorkItemAction:
    kind: ClassVar[str] = "send_work_item"
    side_effects: ClassVar[bool] = False  # the item is created in the same store, idempotently

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        to = _route(ctx, args.get("to"), "to")
        escalate = args.get("escalate") or {}
        escalate_to = _route(ctx, escalate["to"], "escalate.to") if escalate.get("to") else None
        form = str(args["form"])
        return SendWorkItem(
            form=form,
            to=to,
            title=form.replace("_", " ").replace("-", " ").capitalize(),
            priority=int(args.get("priority") or 3),
            due=float(args["due"]) if args.get("due") is not None else None,
            reminders=[float(r) for r in args.get("reminders") or []],
            escalate_after=float(escalate["after"]) if escalate.get("after") else None,
            escalate_to=escalate_to,
        )


def _route(ctx: ActionContext, route: Any, where: str) -> dict[str, str]:
    if not isinstance(route, dict) or len(route) != 1:
        raise ActionFailed(
            f"{where}: expected {{user: login}} or {{workgroup: name}}", retryable=False
        )
    ((kind, name),) = route.items()
    rendered = ctx.render(name)
    if not isinstance(rendered, str) or not rendered.strip():
        raise ActionFailed(f"{where}.{kind}: the template gave no name", retryable=False)
    return {kind: rendered.strip()}
