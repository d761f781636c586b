"""What the engine hands to screens and the CLI: plain, frozen, JSON-ready records."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


def to_json(value: Any) -> Any:
    """dataclasses, datetimes and lists of them -> JSON-ready values."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: to_json(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class LaneView:
    name: str
    concurrency: int
    running: int
    queued: int


@dataclass(frozen=True)
class ScheduleView:
    id: int
    name: str
    trigger: str  # in words
    kind: str
    lane: str
    overlap: str
    misfire: str
    after: str | None
    command: list[str]
    process: str | None  # a process schedule starts this process (command is empty)
    variables: dict[str, str]  # its start variables, as typed
    env: dict[str, str]  # secret references stay references: NAME=secret:KEY
    cwd: str | None
    timeout_seconds: float | None
    paused: bool
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_result: str | None


@dataclass(frozen=True)
class InstanceView:
    id: int
    schedule: str | None
    process: str | None
    lane: str
    status: str
    reason: str | None
    origin: str
    fire_at: datetime | None
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    node_id: str | None
    command: list[str]
    current_state: str | None
    current_action: str | None


@dataclass(frozen=True)
class QueueEntry:
    instance: InstanceView
    position: int | None  # 1-based place in its lane's queue; None when running


@dataclass(frozen=True)
class FirePreview:
    at: datetime  # UTC
    local: datetime  # in the schedule's zone
    note: str | None  # DST note, when the transition shaped this fire


@dataclass(frozen=True)
class SecretView:
    key: str
    updated_at: datetime | None


def instance_view(row: dict[str, Any]) -> InstanceView:
    return InstanceView(
        id=int(row["id"]),
        schedule=row.get("schedule_name"),
        process=row.get("process"),
        lane=row["lane"],
        status=row["status"],
        reason=row.get("reason"),
        origin=row.get("origin") or "schedule",
        fire_at=row.get("fire_at"),
        queued_at=row.get("queued_at"),
        started_at=row.get("started_at"),
        ended_at=row.get("ended_at"),
        exit_code=row.get("exit_code"),
        node_id=row.get("node_id"),
        command=list(row.get("command") or []),
        current_state=row.get("current_state"),
        current_action=row.get("current_action"),
    )
