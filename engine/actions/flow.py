"""change_state, end_process, raise: moving between states, ending, failing on purpose."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import (
    ActionContext,
    ActionFailed,
    Directive,
    EndProcess,
    GotoState,
)


class ChangeStateAction:
    kind: ClassVar[str] = "change_state"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        return GotoState(str(args["state"]))


class EndProcessAction:
    kind: ClassVar[str] = "end_process"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        outcome = args.get("outcome")
        return EndProcess(None if outcome is None else str(ctx.render(outcome)))


class RaiseAction:
    kind: ClassVar[str] = "raise"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        raise ActionFailed(str(ctx.render(args["message"])), retryable=False)
