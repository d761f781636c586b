"""What a waiting instance waits on, as a value. Stored as before in ``waiting_on``:
comma-separated parts ``child:<id>``, ``workitem:<id>``, ``timer``, ``condition``,
``yield``, ``milestone`` (parallel branches that each wait give one part each)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from switchyard.engine.instances.status import Status

MAX_STORED = 200  # instances.waiting_on


class WaitKind(StrEnum):
    CHILD = "child"
    WORK_ITEM = "workitem"
    TIMER = "timer"
    CONDITION = "condition"
    YIELD = "yield"  # stepped aside for others on its lane
    MILESTONE = "milestone"  # a guarded step (``when_milestone``) waits for its milestone


@dataclass(frozen=True, slots=True)
class WaitPart:
    kind: str
    ref: int | None = None

    def __str__(self) -> str:
        return self.kind if self.ref is None else f"{self.kind}:{self.ref}"

    @classmethod
    def parse(cls, text: str) -> WaitPart:
        kind, _, ref = text.strip().partition(":")
        return cls(kind, int(ref) if ref.isdigit() else None)


@dataclass(frozen=True, slots=True)
class WaitingOn:
    parts: tuple[WaitPart, ...]

    @classmethod
    def of(cls, kind: WaitKind, ref: int | None = None) -> WaitingOn:
        return cls((WaitPart(str(kind), ref),))

    @classmethod
    def parse(cls, text: str | None) -> WaitingOn | None:
        if not text:
            return None
        return cls(tuple(WaitPart.parse(p) for p in text.split(",") if p.strip()))

    @classmethod
    def merge(cls, waits: list[WaitingOn]) -> WaitingOn:
        """Parallel branches that each wait: every distinct part, in a stable order."""
        parts = {p for w in waits for p in w.parts}
        return cls(tuple(sorted(parts, key=str)))

    def _refs(self, kind: WaitKind) -> tuple[int, ...]:
        return tuple(p.ref for p in self.parts if p.kind == kind and p.ref is not None)

    @property
    def children(self) -> tuple[int, ...]:
        return self._refs(WaitKind.CHILD)

    @property
    def work_items(self) -> tuple[int, ...]:
        return self._refs(WaitKind.WORK_ITEM)

    @property
    def only_milestones(self) -> bool:
        """Nothing but milestones: only the instance's own steps could wake it."""
        return bool(self.parts) and all(p.kind == WaitKind.MILESTONE for p in self.parts)

    @property
    def is_yield(self) -> bool:
        return [p.kind for p in self.parts] == [WaitKind.YIELD]

    def __str__(self) -> str:
        """The stored form; at most ``MAX_STORED`` characters, cut between parts."""
        out = ""
        for part in map(str, self.parts):
            joined = f"{out},{part}" if out else part
            if len(joined) > MAX_STORED:
                break
            out = joined
        return out


def shown_waiting(status: str, stored: str | None) -> str | None:
    """What an instance waits on, for display: only a waiting instance waits. An ended one
    never does, even an old row that still carries a value (``transition()`` now clears it
    on every move out of waiting), so views, listings and ``--waiting-on`` agree."""
    return stored if status == Status.WAITING else None
