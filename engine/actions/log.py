"""log: a line in the instance log (secrets masked like every other line)."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, Directive, Done


class LogAction:
    kind: ClassVar[str] = "log"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        await ctx.log([str(ctx.render(args["message"]))])
        return Done()
