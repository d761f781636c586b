"""Server parameters: stored in the ``params`` table, validated, with defaults.

| name | default | rule |
| block_launch_during_restore | false | boolean |
| depth_threshold | 10 | integer >= 1 |
| handler_response_timeout | 30 (seconds) | number >= 0; 0 = unlimited |
| max_monitored_flows | 5000 | integer >= 100 |
| load_balance_threshold | 5000 | integer >= 1 |
| node_heartbeat_interval | 5 (seconds) | number >= 0.2, <= 60 |
| node_dead_timeout | 30 (seconds) | number >= 1, <= 3600 |
| max_steps_per_instance | 100000 | integer >= 100 |
| max_variables_bytes | 1048576 | integer >= 1024, <= 67108864 |

Changed with ``Engine.set_param`` (admins); running nodes re-read them on
``param.changed`` (engine/node/runtime.py), so a change needs no restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import NotFound, SwitchyardError
from switchyard.engine.schedules.triggers import MAX_DURATION, TriggerError, parse_duration
from switchyard.store.models import Param, table_of

params_table = table_of(Param)

# Whatever a rule says, nothing above these: huge values overflow dates and columns.
CEILING: dict[type, float] = {int: 1_000_000_000, float: MAX_DURATION.total_seconds()}
_KIND_WORDS = {bool: "boolean", int: "integer", float: "number of seconds"}
_A_KIND = {bool: "true or false", int: "an integer", float: "a number of seconds"}


@dataclass(frozen=True)
class ParamRule:
    default: Any
    kind: type
    minimum: float | None = None
    meaning: str = ""
    maximum: float | None = None

    def describe(self) -> str:
        """The rule in words: "integer >= 100", "number of seconds >= 0", "boolean"."""
        text = _KIND_WORDS[self.kind]
        if self.minimum is not None:
            text += f" >= {self.minimum:g}"
        if self.maximum is not None:
            text += f"{',' if self.minimum is not None else ''} <= {self.maximum:g}"
        return text


RULES: dict[str, ParamRule] = {
    "block_launch_during_restore": ParamRule(
        False, bool, None, "no new user starts until restore finishes"
    ),
    "depth_threshold": ParamRule(10, int, 1, "subprocess nesting deeper than this is an error"),
    "handler_response_timeout": ParamRule(
        30.0, float, 0, "default timeout of an external action; 0 = unlimited"
    ),
    "max_monitored_flows": ParamRule(
        5000, int, 100, "a monitor filter matching more is cancelled (narrow your filter)"
    ),
    # Minimum 1, not 1000: a small cluster running long commands wants a handful of
    # instances per node (and the two-node test shows the spread with 2).
    "load_balance_threshold": ParamRule(
        5000,
        int,
        1,
        "active (running + waiting) instances a node owns before it stops claiming new "
        "ones while another live node can take them",
    ),
    "node_heartbeat_interval": ParamRule(
        5.0, float, 0.2, "seconds between two heartbeats of a node (read at each beat)", 60
    ),
    "node_dead_timeout": ParamRule(
        30.0,
        float,
        1,
        "a node silent this long is presumed dead and its work is restored (keep it a "
        "few heartbeats long)",
        3600,
    ),
    "max_steps_per_instance": ParamRule(
        100_000,
        int,
        100,
        "steps one process instance may take; past it the instance ends in error "
        "(a retry grants the same number once more)",
    ),
    "max_variables_bytes": ParamRule(
        1024 * 1024,
        int,
        1024,
        "size of one instance's variables (as JSON); a step that would pass it ends the "
        "instance in error and is not written",
        64 * 1024 * 1024,
    ),
}


def _seconds(value: Any) -> float:
    """30, 2.5, "30s", "5m", "1h30m" -> seconds (ValueError if none of these)."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError
        return float(value)
    text = str(value).strip().lower()
    try:
        seconds = float(text.removesuffix("s"))
    except ValueError:
        try:
            seconds = parse_duration(text).total_seconds()
        except TriggerError:
            raise ValueError from None
    if not math.isfinite(seconds):
        raise ValueError
    return seconds


def _typed(rule: ParamRule, value: Any) -> Any:
    if rule.kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ValueError
    if rule.kind is int:
        if isinstance(value, bool):
            raise ValueError
        return int(str(value).strip())
    return _seconds(value)


def check(name: str, value: Any) -> Any:
    """The value as its parameter's type, or SwitchyardError naming the parameter and
    the rule it breaks."""
    rule = RULES.get(name)
    if rule is None:
        shown = name if len(name) <= 60 else name[:60] + "..."
        raise NotFound("name", f"unknown parameter '{shown}' (one of {', '.join(RULES)})")
    try:
        typed = _typed(rule, value)
    except ValueError:
        raise SwitchyardError(
            name, f"{value!r} is not {_A_KIND[rule.kind]} (rule: {rule.describe()})"
        ) from None
    shown = f"{typed:g}" if isinstance(typed, float) else str(typed)[:40]
    if rule.minimum is not None and typed < rule.minimum:
        raise SwitchyardError(
            name, f"{shown} is below the minimum {rule.minimum:g} (rule: {rule.describe()})"
        )
    ceiling = rule.maximum if rule.maximum is not None else CEILING.get(rule.kind)
    if ceiling is not None and typed > ceiling:
        raise SwitchyardError(
            name, f"{shown} is above the maximum {ceiling:g} (rule: {rule.describe()})"
        )
    return typed


def check_together(name: str, value: Any, current: dict[str, Any]) -> None:
    """Rules across parameters: a node is presumed dead only after it missed at least two
    heartbeats (node_dead_timeout >= 2 x node_heartbeat_interval)."""
    beat, dead = current["node_heartbeat_interval"], current["node_dead_timeout"]
    if name == "node_heartbeat_interval":
        beat = value
    elif name == "node_dead_timeout":
        dead = value
    else:
        return
    if dead < 2 * beat:
        raise SwitchyardError(
            name,
            f"node_dead_timeout ({dead:g}s) must be at least twice node_heartbeat_interval "
            f"({beat:g}s), or live nodes would be presumed dead",
        )


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
