"""call: run a reusable task with inputs; its outputs land in the caller's variables."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, CallTask, Directive


class CallAction:
    kind: ClassVar[str] = "call"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        inputs = {name: ctx.render(value) for name, value in (args.get("with") or {}).items()}
        return CallTask(args["task"], inputs, dict(args.get("into") or {}))
