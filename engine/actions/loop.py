"""loop: for each item of a list, or while a condition holds (always bounded by max).

``parallel: true`` (for each only) runs the items side by side: see process/parallel.py."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, ActionFailed, Directive, Loop


class LoopAction:
    kind: ClassVar[str] = "loop"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        bound = int(args.get("max") or 1000)
        if args.get("for_each"):
            items = ctx.evaluate(args["for_each"])
            if isinstance(items, dict):
                items = list(items)
            if not isinstance(items, list | tuple):
                raise ActionFailed(
                    f"for_each must give a list, got {type(items).__name__}", retryable=False
                )
            if len(items) > bound:
                raise ActionFailed(
                    f"for_each gives {len(items)} items; the loop's max is {bound}",
                    retryable=False,
                )
            return Loop(
                body=args["do"],
                items=list(items),
                var=args.get("as"),
                max_iterations=bound,
                parallel=bool(args.get("parallel")),
                max_concurrency=args.get("max_concurrency"),
                join=args.get("join") or "all",
                grows=bool(args.get("grows")),
            )
        return Loop(body=args["do"], condition=args["while"], max_iterations=bound)
