"""Server parameters: stored in the ``params`` table, validated, with defaults.

| name | default | rule |
| block_launch_during_restore | false | boolean |
| depth_threshold | 10 | integer >= 1 |
| handler_response_timeout | 30 (seconds) | number >= 0; 0 = unlimited |
| max_monitored_flows | 5000 | integer >= 100 |
| load_balance_threshold | 5000 | integer >= 1000 |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import SwitchyardError
from switchyard.store.models import Param

params_table = Param.__table__


@dataclass(frozen=True)
class ParamRule:
    default: Any
    kind: type
    minimum: float | None = None


RULES: dict[str, ParamRule] = {
    "block_launch_during_restore": ParamRule(False, bool),
    "depth_threshold": ParamRule(10, int, 1),
    "handler_response_timeout": ParamRule(30.0, float, 0),
    "max_monitored_flows": ParamRule(5000, int, 100),
    "load_balance_threshold": ParamRule(5000, int, 1000),
}


def check(name: str, value: Any) -> Any:
    """The value as its parameter's type, or SwitchyardError naming what is wrong."""
    rule = RULES.get(name)
    if rule is None:
        raise SwitchyardError("name", f"unknown parameter '{name}' (one of {', '.join(RULES)})")
    try:
        if rule.kind is bool:
            text = str(value).strip().lower()
            if isinstance(value, bool):
                typed: Any = value
            elif text in ("true", "yes", "on", "1"):
                typed = True
            elif text in ("false", "no", "off", "0"):
                typed = False
            else:
                raise ValueError
        elif rule.kind is int:
            typed = int(str(value).strip())
        else:
            typed = float(str(value).strip().removesuffix("s"))
    except ValueError:
        raise SwitchyardError("value", f"{name}: {value!r} is not a {rule.kind.__name__}") from None
    if rule.minimum is not None and typed < rule.minimum:
        raise SwitchyardError("value", f"{name}: {typed} is below the minimum {rule.minimum:g}")
    return typed


async def load(conn: AsyncConnection) -> dict[str, Any]:
    """Every parameter: stored values over defaults (a bad stored value is ignored)."""
    values = {name: rule.default for name, rule in RULES.items()}
    for name, value in (
        await conn.execute(select(params_table.c.name, params_table.c.value))
    ).all():
        if name in RULES:
            try:
                values[name] = check(name, value)
            except SwitchyardError:
                continue
    return values
