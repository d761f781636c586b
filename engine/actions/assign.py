"""assign: set variables from literals or templates."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, Directive, Done


class AssignAction:
    kind: ClassVar[str] = "assign"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        return Done(updates={name: ctx.render(value) for name, value in args["values"].items()})
