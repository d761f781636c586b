"""Turning a schedule into instance rows: one place for manual starts, fires and chains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchyard.store.models import QUEUED

FIRE_KEY_PREFIX = "s"
# The reasons a fire found late gets (the planning pass and the fast pass write the same).
LATE_ONCE = "late: runs once for missed fires"
LATE_EACH = "late: missed fire run by misfire policy each"


def missed_reason(policy: str) -> str:
    """The reason of a fire recorded as missed under misfire ``policy``."""
    return "missed: no node was running (misfire policy " + policy + ")"


def fire_key_suffix(fire_at: datetime) -> str:
    """What follows the schedule id in a fire key (the bulk insert builds keys in SQL)."""
    return f"@{fire_at.isoformat()}"


def fire_key(schedule_id: int, fire_at: datetime) -> str:
    """One instance per schedule and fire time, whichever node fires it (DBOS-style)."""
    return f"{FIRE_KEY_PREFIX}{schedule_id}{fire_key_suffix(fire_at)}"


def instance_fields(
    *,
    now: datetime,
    origin: str,
    status: str = QUEUED,
    reason: str | None = None,
    originator: str | None = None,
) -> dict[str, Any]:
    """The fields of a new instance that do not come from its schedule or fire time.

    The bulk insert of on-time fires (``schedule_fires.insert_fires``) writes these beside
    the columns it copies from the schedule, so both paths make the same rows.
    """
    terminal = status != QUEUED
    return {
        "status": status,
        "reason": reason,
        "queued_at": now,
        "started_at": None,
        "ended_at": now if terminal else None,
        "updated_at": now,
        "exit_code": None,
        "origin": origin,
        "originator": originator,
        "current_state": None,
        "current_action": None,
        "node_id": None,
        "host": None,
        "pgid": None,
        "proc_start_time": None,
        "cancel_requested": False,
        "log_path": None,
    }


def instance_row(
    schedule: dict[str, Any],
    *,
    now: datetime,
    fire_at: datetime | None,
    origin: str,
    status: str = QUEUED,
    reason: str | None = None,
    key: str | None = None,
    originator: str | None = None,
) -> dict[str, Any]:
    return {
        "fire_key": key,
        "schedule_id": schedule["id"],
        "schedule_name": schedule["name"],
        "lane": schedule["lane"],
        "overlap_limit": int(schedule["overlap_limit"]),
        "fire_at": fire_at,
        "command": list(schedule["command"]),
        "shell": bool(schedule["shell"]),
        "cwd": schedule["cwd"],
        "env": dict(schedule["env"]),
        "timeout_seconds": schedule["timeout_seconds"],
        "process": schedule.get("process"),  # bound to its newest version when it starts
        "variables": dict(schedule.get("variables") or {}),
        **instance_fields(
            now=now, origin=origin, status=status, reason=reason, originator=originator
        ),
    }
