"""wait: for a duration, until a time, or until a condition holds (re-checked on an
interval, optionally with a time-out). The instance leaves its lane slot while it waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from switchyard.engine.actions.base import (
    ActionContext,
    ActionFailed,
    Directive,
    WaitCondition,
    WaitUntil,
)


def _now(ctx: ActionContext) -> datetime:
    return ctx.now() if ctx.now else datetime.now(UTC)


class WaitAction:
    kind: ClassVar[str] = "wait"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        now = _now(ctx)
        if args.get("for") is not None:
            return WaitUntil(now + timedelta(seconds=float(args["for"])))
        if args.get("until") is not None:
            value = ctx.render(args["until"])
            if isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value)
                except ValueError as exc:  # the value itself never goes into the journal
                    raise ActionFailed(
                        "until: not a time (expected an ISO date-time)", retryable=False
                    ) from exc
            if not isinstance(value, datetime):
                what = type(value).__name__
                raise ActionFailed(f"until: not a time (got {what})", retryable=False)
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return WaitUntil(value.astimezone(UTC))
        timeout = args.get("timeout")
        deadline = now + timedelta(seconds=float(timeout)) if timeout else None
        return WaitCondition(args["condition"], float(args.get("every") or 30.0), deadline)
