"""if/then/else and switch: choose one nested block (exclusive choice, simple merge)."""

from __future__ import annotations

from typing import Any, ClassVar

from switchyard.engine.actions.base import ActionContext, Directive, Enter


class IfAction:
    kind: ClassVar[str] = "if"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        if ctx.evaluate(args["cond"]):
            return Enter("then", args.get("then") or [])
        return Enter("else", args.get("else") or [])


class SwitchAction:
    kind: ClassVar[str] = "switch"
    side_effects: ClassVar[bool] = False

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        value = ctx.evaluate(args["on"])
        for index, case in enumerate(args.get("cases") or []):
            if case["value"] == value or str(case["value"]) == str(value):
                return Enter(f"cases.{index}.actions", case["actions"])
        return Enter("default", args.get("default") or [])
