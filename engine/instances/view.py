"""An instance's lifecycle fields, typed, from a row as the store returns it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchyard.engine.instances.status import Status
from switchyard.engine.instances.waiting import WaitingOn


@dataclass(frozen=True, slots=True)
class InstanceState:
    id: int
    status: Status
    lane: str | None = None
    waiting_on: WaitingOn | None = None
    wake_at: datetime | None = None
    node_id: str | None = None
    parent_id: int | None = None
    schedule_id: int | None = None
    definition_id: int | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> InstanceState:
        def opt_int(key: str) -> int | None:
            value = row.get(key)
            return None if value is None else int(value)

        return cls(
            id=int(row["id"]),
            status=Status(row["status"]),
            lane=row.get("lane"),
            waiting_on=WaitingOn.parse(row.get("waiting_on")),
            wake_at=row.get("wake_at"),
            node_id=row.get("node_id"),
            parent_id=opt_int("parent_id"),
            schedule_id=opt_int("schedule_id"),
            definition_id=opt_int("definition_id"),
        )

    @property
    def is_process(self) -> bool:
        return self.definition_id is not None

    def running_on(self, node_id: str) -> bool:
        return self.status is Status.RUNNING and self.node_id == node_id
