"""A monitor filter: what the operator narrows the instances to. Every part is optional;
parts combine with AND. Variable conditions are written as people say them::

    amount > 1000        employee = "Ann"       note contains late      iban exists

A value that reads as a number compares as a number; anything else compares as text
(quotes are optional and removed). A filter converts to and from a plain dict, so it can
be saved by name and recalled.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from switchyard.engine.errors import SwitchyardError
from switchyard.store.models import ACTIVE_STATUSES, TERMINAL_STATUSES
from switchyard.store.queries.monitor import WAITING_KINDS, VarTest

CONDITION = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|==|=|>|<|\bcontains\b|\bexists\b)\s*(.*?)\s*$"
)
STATUSES = (*ACTIVE_STATUSES, *TERMINAL_STATUSES)


def parse_condition(text: str) -> VarTest:
    """``amount > 1000`` -> VarTest; a clear error for anything else."""
    found = CONDITION.match(text)
    if not found:
        raise SwitchyardError(
            "var",
            f"cannot read condition {text!r}: write NAME OP VALUE with OP one of "
            "= != > >= < <= contains, or NAME exists (e.g. 'amount > 1000')",
        )
    name, op, raw = found.groups()
    op = "=" if op == "==" else op
    if op == "exists":
        if raw:
            raise SwitchyardError("var", f"{text!r}: 'exists' takes no value")
        return VarTest(name, op)
    if not raw:
        raise SwitchyardError("var", f"{text!r}: no value after {op!r}")
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return VarTest(name, op, raw[1:-1])
    if op != "contains":
        try:
            return VarTest(name, op, float(raw))
        except ValueError:
            pass
    return VarTest(name, op, raw)


def condition_text(test: VarTest) -> str:
    if test.op == "exists":
        return f"{test.name} exists"
    value = test.value
    if isinstance(value, float):
        shown = str(int(value)) if value.is_integer() else str(value)
    else:
        shown = f'"{value}"'
    return f"{test.name} {test.op} {shown}"


@dataclass(frozen=True)
class MonitorFilter:
    processes: list[str] = field(default_factory=list)
    version: int | None = None
    statuses: list[str] = field(default_factory=list)
    state: str | None = None
    originator: str | None = None
    node: str | None = None
    lane: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    waiting_on: str | None = None  # work item | timer | child | condition
    variables: list[str] = field(default_factory=list)  # conditions as written

    def __post_init__(self) -> None:
        for status in self.statuses:
            if status not in STATUSES:
                raise SwitchyardError(
                    "status", f"unknown status '{status}' (one of {', '.join(STATUSES)})"
                )
        if self.waiting_on is not None and self.waiting_on not in WAITING_KINDS:
            raise SwitchyardError(
                "waiting-on",
                f"unknown '{self.waiting_on}' (one of {', '.join(WAITING_KINDS)})",
            )
        for text in self.variables:
            parse_condition(text)

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def tests(self) -> list[VarTest]:
        return [parse_condition(t) for t in self.variables]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return {k: v for k, v in out.items() if v not in (None, [], "")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorFilter:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SwitchyardError("filter", f"unknown filter part(s): {', '.join(unknown)}")
        values = dict(data)
        for key in ("started_from", "started_to", "updated_from", "updated_to"):
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)

    def describe(self) -> str:
        parts = []
        if self.processes:
            parts.append("process " + ",".join(self.processes))
        if self.version is not None:
            parts.append(f"version {self.version}")
        if self.statuses:
            parts.append("status " + ",".join(self.statuses))
        for name in ("state", "originator", "node", "lane", "waiting_on"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name.replace('_', ' ')} {value}")
        parts.extend(condition_text(t) for t in self.tests())
        return " and ".join(parts) or "no filter"
