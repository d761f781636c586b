"""wait: for a duration, until a time, or until a condition holds (re-checked on an
interval, optionally with a time-out). The instance leaves its lane slot while it waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from switchyard.engine.actions.base import (
    ActionContext,
    ActionFailed,
    Directive,
    WaitCondition,
    WaitUntil,
)
from switchyard.engine.schedules.triggers import TriggerError, parse_duration


def _now(ctx: ActionContext) -> datetime:
    return ctx.now() if ctx.now else datetime.now(UTC)


def _seconds(ctx: ActionContext, value: Any, field: str) -> float:
    """A duration as published (seconds), or what its template gives now: a number of
    seconds or a text like ``2h``. The value itself never goes into the message."""
    value = ctx.render(value) if isinstance(value, str) else value
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        what = type(value).__name__
        raise ActionFailed(f"{field}: bad duration (got {what})", retryable=False)
    if isinstance(value, int | float | Decimal) and value >= 0:
        return float(value)
    try:
        return parse_duration(str(value), field).total_seconds()
    except TriggerError:
        raise ActionFailed(
            f"{field}: bad duration (expected one like 30s, 5m, 2h or a number of seconds)",
            retryable=False,
        ) from None


class WaitAction:
    kind: ClassVar[str] = "wait"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        now = _now(ctx)
        if args.get("for") is not None:
            return WaitUntil(now + timedelta(seconds=_seconds(ctx, args["for"], "for")))
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
        deadline = now + timedelta(seconds=_seconds(ctx, timeout, "timeout")) if timeout else None
        every = _seconds(ctx, args["every"], "every") if args.get("every") else 30.0
        return WaitCondition(args["condition"], every, deadline)
