"""What the engine hands out about work items: a list row, and an opened item with its
form (fields with their current values, masked where the viewer may not see them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from switchyard.store.models import WI_OPEN

VIEWS = ("mine", "groups", "all")


@dataclass(frozen=True)
class WorkItemView:
    id: int
    instance_id: int
    process: str
    form: str
    title: str
    status: str
    user: str | None
    workgroup: str | None
    priority: int
    due_at: datetime | None
    overdue: bool
    escalated: bool
    held_reason: str | None
    button: str | None
    completed_by: str | None
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None

    @property
    def open(self) -> bool:
        return self.status in WI_OPEN

    @property
    def where(self) -> str:
        """Who has it: the user, else the workgroup."""
        if self.user:
            return self.user
        return f"group {self.workgroup}" if self.workgroup else "-"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("due_at", "created_at", "updated_at", "completed_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass(frozen=True)
class FieldView:
    name: str
    label: str
    type: str  # text, number, decimal, date, choice, checkbox, display
    value: Any  # the draft's, else the variable's; "****" when masked
    required: bool = False
    multiline: bool = False
    readonly: bool = False
    masked: bool = False
    choices: list[Any] | None = None
    min: Any = None
    max: Any = None
    pattern: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkItemDetail:
    item: WorkItemView
    fields: list[FieldView]
    buttons: list[str]
    instance_status: str
    instance_state: str | None
    originator: str | None
    may: dict[str, bool] = field(default_factory=dict)  # claim, release, ... for this viewer

    def to_json(self) -> dict[str, Any]:
        return {
            **self.item.to_json(),
            "fields": [f.to_json() for f in self.fields],
            "buttons": self.buttons,
            "instance_status": self.instance_status,
            "instance_state": self.instance_state,
            "originator": self.originator,
            "may": self.may,
        }


@dataclass(frozen=True)
class WorkItemPage:
    rows: list[WorkItemView]
    total: int
    counts: dict[str, int]  # open items per view: mine, groups, all


def item_view(row: dict[str, Any], now: datetime) -> WorkItemView:
    due = row.get("due_at")
    return WorkItemView(
        id=int(row["id"]),
        instance_id=int(row["instance_id"]),
        process=row["process"],
        form=row["form"],
        title=row.get("title") or row["form"],
        status=row["status"],
        user=row.get("user"),
        workgroup=row.get("workgroup"),
        priority=int(row.get("priority") or 3),
        due_at=due,
        overdue=bool(due and due < now and row["status"] in WI_OPEN),
        escalated=bool(row.get("escalated")),
        held_reason=row.get("held_reason"),
        button=row.get("button"),
        completed_by=row.get("completed_by"),
        created_at=row.get("created_at"),
        updated_at=row.get("updated_at"),
        completed_at=row.get("completed_at"),
    )
