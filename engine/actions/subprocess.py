"""start_process: start a child instance, and wait for it (or not)."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, Directive, StartChild


class StartProcessAction:
    kind: ClassVar[str] = "start_process"
    side_effects: ClassVar[bool] = False  # the child row is written with the step itself

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        return StartChild(
            process=args["process"],
            version=args.get("version"),
            variables={k: ctx.render(v) for k, v in (args.get("vars") or {}).items()},
            wait=bool(args.get("wait", True)),
            outputs=dict(args.get("into") or {}),
        )
