"""parallel: branches that run at once, joined when all end or when the first ends.

Covers parallel split + synchronisation (join: all), multi-choice + synchronising merge
(branches with ``when:``; only the chosen ones start, and the join waits for those),
discriminator and deferred choice (join: first; the others are cancelled).
"""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, Branch, Directive, Parallel


class ParallelAction:
    kind: ClassVar[str] = "parallel"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        return Parallel(
            branches=[Branch(b["actions"], b.get("when")) for b in args["branches"]],
            join=args.get("join") or "all",
        )
