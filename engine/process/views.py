"""What the engine hands out about processes and their instances (frozen, JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchyard.engine.views import InstanceView


@dataclass(frozen=True)
class ProcessView:
    name: str
    version: int
    versions: int
    digest: str
    description: str | None
    filename: str | None
    published_at: datetime | None
    published_by: str | None


@dataclass(frozen=True)
class ProcessDetail:
    name: str
    version: int
    digest: str
    filename: str | None
    published_at: datetime | None
    published_by: str | None
    source: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: int
    file: str
    changed: bool  # False: same text as the newest version, nothing published
    warnings: list[str]


@dataclass(frozen=True)
class StepView:
    key: str
    kind: str
    path: str
    label: str | None
    status: str
    attempt: int
    started_at: datetime | None
    ended_at: datetime | None
    note: str | None
    error: str | None


@dataclass(frozen=True)
class HistoryView:
    at: datetime | None
    kind: str
    user: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class InstanceDetail:
    instance: InstanceView
    version: int | None
    variables: dict[str, Any]
    waiting_on: str | None
    wake_at: datetime | None
    outcome: str | None
    error_step: str | None
    parent_id: int | None
    children: list[int]
    call_stack: list[str]  # control-flow steps under way, outermost first
    steps: list[StepView]
    history: list[HistoryView]


def step_view(row: dict[str, Any]) -> StepView:
    return StepView(
        key=row["key"],
        kind=row["kind"],
        path=row["path"],
        label=row.get("label"),
        status=row["status"],
        attempt=int(row.get("attempt") or 1),
        started_at=row.get("started_at"),
        ended_at=row.get("ended_at"),
        note=row.get("note"),
        error=row.get("error"),
    )


def history_view(row: dict[str, Any]) -> HistoryView:
    return HistoryView(row.get("at"), row["kind"], row.get("user"), dict(row.get("detail") or {}))
