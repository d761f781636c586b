"""milestone: the instance reaches a named milestone, or leaves it (workflow pattern 18).

Steps guarded by ``when_milestone`` are offered only while it holds; see
engine/definitions/milestones.py for the grammar and engine/process/milestones.py for
how the executor keeps them."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, Directive, MilestoneChange


class MilestoneAction:
    kind: ClassVar[str] = "milestone"
    side_effects: ClassVar[bool] = False  # kept with the variables, committed with the step

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        return MilestoneChange(str(args["name"]), reach=args.get("op", "reach") == "reach")
