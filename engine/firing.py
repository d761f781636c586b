"""Turning a schedule into instance rows: one place for manual starts, fires and chains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchyard.store.models import QUEUED


def fire_key(schedule_id: int, fire_at: datetime) -> str:
    """One instance per schedule and fire time, whichever node fires it (DBOS-style)."""
    return f"s{schedule_id}@{fire_at.isoformat()}"


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
    terminal = status != QUEUED
    return {
        "fire_key": key,
        "schedule_id": schedule["id"],
        "schedule_name": schedule["name"],
        "process": None,
        "lane": schedule["lane"],
        "status": status,
        "reason": reason,
        "overlap_limit": int(schedule["overlap_limit"]),
        "fire_at": fire_at,
        "queued_at": now,
        "started_at": None,
        "ended_at": now if terminal else None,
        "updated_at": now,
        "exit_code": None,
        "origin": origin,
        "originator": originator,
        "command": list(schedule["command"]),
        "shell": bool(schedule["shell"]),
        "cwd": schedule["cwd"],
        "env": dict(schedule["env"]),
        "timeout_seconds": schedule["timeout_seconds"],
        "current_state": None,
        "current_action": None,
        "node_id": None,
        "host": None,
        "pgid": None,
        "proc_start_time": None,
        "cancel_requested": False,
        "log_path": None,
    }
