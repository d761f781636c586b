"""Monitor filters on the command line, one syntax for ``instances`` and the bulk forms
of ``retry``, ``skip`` and ``cancel``:

    --filter 'process=claims; status=error,failed; amount > 1000; employee = "Ann"'
    --filter 'big claims'                      (a filter saved in the console)

Parts are separated by ``;``. ``process``, ``version``, ``status``, ``state``, ``lane``,
``node``, ``originator``, ``waiting-on`` (work item | timer | child | condition),
``since`` and ``until`` (ISO time, or how long ago: 30m, 2h, 1d) take ``NAME=VALUE``;
anything else is a variable condition (``=`` ``!=`` ``>`` ``>=`` ``<`` ``<=``
``contains``, or ``NAME exists``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from switchyard.engine.errors import SwitchyardError
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.engine.schedules.triggers import TriggerError, parse_duration

FIELD = re.compile(
    r"^\s*(process|version|status|state|lane|node|originator|waiting-on|since|until)\s*=\s*(.*?)\s*$"
)
AGO = re.compile(r"^(\d+)\s*([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """ISO time (local if no zone), or how long ago: 30m, 2h, 1d."""
    text = text.strip()
    ago = AGO.match(text)
    if ago:
        try:
            return (now or datetime.now(UTC)) - parse_duration(text, "time")
        except TriggerError as exc:
            raise SwitchyardError(exc.field, exc.message) from None
    try:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.astimezone()
    except (ValueError, OverflowError):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise SwitchyardError(
            "time", f"cannot read {shown!r}: give an ISO time (2026-11-24T09:00) or 30m, 2h, 1d"
        ) from None


def parse_filter(text: str, *, now: datetime | None = None) -> MonitorFilter:
    """An inline filter (see the module doc)."""
    parts: dict[str, Any] = {"processes": [], "statuses": [], "variables": []}
    for raw in text.split(";"):
        if not raw.strip():
            continue
        found = FIELD.match(raw)
        if not found:
            parts["variables"].append(raw.strip())
            continue
        name, value = found.groups()
        if not value:
            raise SwitchyardError("filter", f"{name}: no value in {raw.strip()!r}")
        if name == "process":
            parts["processes"] += [v.strip() for v in value.split(",") if v.strip()]
        elif name == "status":
            parts["statuses"] += [v.strip() for v in value.split(",") if v.strip()]
        elif name == "version":
            if not value.isdigit():
                raise SwitchyardError("filter", f"version: expected a number, got {value!r}")
            parts["version"] = int(value)
        elif name == "since":
            parts["updated_from"] = parse_time(value, now)
        elif name == "until":
            parts["updated_to"] = parse_time(value, now)
        else:
            parts[name.replace("-", "_")] = value
    return MonitorFilter(**parts)


async def resolve(engine: Any, text: str) -> MonitorFilter:
    """A saved filter of the caller's by that name, else an inline filter."""
    saved: dict[str, MonitorFilter] = await engine.saved_filters()
    if text.strip() in saved:
        return saved[text.strip()]
    return parse_filter(text)


def from_options(
    *,
    process: list[str] | None = None,
    status: str | None = None,
    state: str | None = None,
    var: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    waiting_on: str | None = None,
    originator: str | None = None,
    lane: str | None = None,
) -> MonitorFilter:
    return MonitorFilter(
        processes=list(process or []),
        statuses=[s.strip() for s in (status or "").split(",") if s.strip()],
        state=state,
        variables=list(var or []),
        updated_from=parse_time(since) if since else None,
        updated_to=parse_time(until) if until else None,
        waiting_on=waiting_on,
        originator=originator,
        lane=lane,
    )
