"""The directive an action returns to create a work item and wait for a button: the
``send_work_item`` action (engine/actions/workitem.py) makes it, the process executor
hands it to engine/workitems/create.py."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SendWorkItem:
    """Create a work item (once per step) and wait until a person presses a button.
    Durations are seconds from the item's creation; ``to`` is already rendered."""

    form: str
    to: dict[str, str]
    title: str
    priority: int = 3
    due: float | None = None
    reminders: list[float] = field(default_factory=list)
    escalate_after: float | None = None
    escalate_to: dict[str, str] | None = None
