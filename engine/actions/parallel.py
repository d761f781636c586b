"""parallel: branches that run at once, joined when all end, the first, or N of them end.

Covers parallel split + synchronisation (join: all), multi-choice + synchronising merge
(branches with ``when:``; only the chosen ones start, and the join waits for those),
discriminator and deferred choice (join: first; the others are cancelled, or with
``cancel_rest: false`` finish while ``then`` runs once), N-out-of-M (join: N), multi-merge
(join: each: ``then`` runs once per completing branch) and interleaved parallel routing
(``interleaved: true``).
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
            cancel_rest=bool(args.get("cancel_rest", True)),
            interleaved=bool(args.get("interleaved")),
        )
