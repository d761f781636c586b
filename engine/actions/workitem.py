"""send_work_item: validated by the definitions layer; executing it (routing to people and
workgroups) arrives with the work-items feature. Until then it fails clearly, in error, so
an operator can skip it; it never pretends to have sent anything."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, ActionFailed, Directive


class SendWorkItemAction:
    kind: ClassVar[str] = "send_work_item"
    side_effects: ClassVar[bool] = True

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        raise ActionFailed(
            "send_work_item: work items are not available in this version of Switchyard "
            "(people and work items are not built yet); skip this step to go on",
            retryable=False,
        )
