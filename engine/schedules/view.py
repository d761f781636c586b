"""Stored schedule rows -> views, specs and first fire times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchyard.engine.schedules.spec import ScheduleSpec, misfire_text, overlap_text
from switchyard.engine.schedules.triggers import Trigger, format_duration
from switchyard.engine.views import ScheduleView


def first_fire(trigger: Trigger, now: datetime) -> datetime | None:
    """When a new or resumed schedule should next be looked at by the scheduler."""
    if trigger.kind == "continuous":
        return now if trigger.in_window(now) else trigger.next_window_open(now)
    return trigger.next_fire(now)


def schedule_view(row: dict[str, Any], last_result: str | None) -> ScheduleView:
    trigger = Trigger.from_fields(row["trigger"])
    return ScheduleView(
        id=int(row["id"]),
        name=row["name"],
        trigger=trigger.describe(),
        kind=trigger.kind,
        lane=row["lane"],
        overlap=overlap_text(row),
        misfire=misfire_text(row),
        after=row["after"],
        command=list(row["command"]),
        process=row.get("process"),
        variables=dict(row.get("variables") or {}),
        env=dict(row["env"]),
        cwd=row["cwd"],
        timeout_seconds=row["timeout_seconds"],
        paused=bool(row["paused"]),
        next_fire_at=None if row["paused"] else row["next_fire_at"],
        last_fire_at=row["last_fire_at"],
        last_result=last_result,
    )


def spec_from_row(row: dict[str, Any]) -> ScheduleSpec:
    trigger = Trigger.from_fields(row["trigger"])
    window = None
    if trigger.window:
        start, end = trigger.window
        window = f"{start:%H:%M}-{end:%H:%M}"
    return ScheduleSpec(
        name=row["name"],
        command=list(row["command"]),
        cron=trigger.cron,
        tz=trigger.tz,
        every=format_duration(trigger.every) if trigger.every else None,
        at=trigger.at.isoformat() if trigger.at else None,
        on_demand=trigger.kind == "on_demand",
        continuous=trigger.kind == "continuous",
        window=window,
        lane=row["lane"],
        overlap=overlap_text(row),
        misfire=misfire_text(row),
        after=row["after"],
        env=[f"{k}={v}" for k, v in row["env"].items()],
        cwd=row["cwd"],
        timeout=format_duration_seconds(row["timeout_seconds"]),
        shell=bool(row["shell"]),
        process=row.get("process"),
        variables=[f"{k}={v}" for k, v in (row.get("variables") or {}).items()],
    )


def format_duration_seconds(seconds: float | None) -> str | None:
    from datetime import timedelta

    return None if seconds is None else format_duration(timedelta(seconds=seconds))
