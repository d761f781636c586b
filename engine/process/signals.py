"""What the executor's steps signal to each other (wait, jump, fail), and the scope a
block reads and writes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from switchyard.engine.actions import base as act
from switchyard.engine.definitions import values
from switchyard.engine.instances.waiting import WaitingOn


class Suspend(Exception):
    """The instance waits: leave the lane, come back when woken."""

    def __init__(
        self,
        waiting_on: WaitingOn,
        wake_at: datetime | None,
        watch: Iterable[asyncio.Event] = (),
    ) -> None:
        super().__init__(str(waiting_on))
        self.waiting_on = waiting_on
        self.wake_at = wake_at
        #: in-memory wakes besides the durable ones: set when one of the instance's
        #: milestones changes (a branch waiting beside a running sibling looks again)
        self.watch = tuple(watch)


class Jump(Exception):
    def __init__(self, directive: act.GotoState | act.EndProcess) -> None:
        super().__init__(str(directive))
        self.directive = directive


class StepFailed(Exception):
    def __init__(self, key: str, action: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.key = key
        self.action = action
        self.message = message


class Scope:
    """Where a block reads and writes: the globals or a task frame, plus loop bindings."""

    __slots__ = ("bindings", "data", "specs")

    def __init__(
        self,
        data: dict[str, Any],
        specs: dict[str, dict[str, Any]],
        bindings: dict[str, Any] | None = None,
    ) -> None:
        self.data = data
        self.specs = specs
        self.bindings = bindings or {}

    def bind(self, name: str | None, value: Any) -> Scope:
        if not name:
            return self
        return Scope(self.data, self.specs, {**self.bindings, name: value})

    def bind_many(self, names: dict[str, Any]) -> Scope:
        if not names:
            return self
        return Scope(self.data, self.specs, {**self.bindings, **names})

    def apply(self, updates: dict[str, Any]) -> None:
        for name, value in updates.items():
            spec = self.specs.get(name)
            try:
                self.data[name] = values.coerce(value, spec.get("type")) if spec else value
            except values.ValueProblem as exc:
                raise act.ActionFailed(f"{name}: {exc}", retryable=False) from exc


def merge_suspends(suspends: list[Suspend]) -> Suspend:
    times = [s.wake_at for s in suspends if s.wake_at is not None]
    watch = [e for s in suspends for e in s.watch]
    merged = WaitingOn.merge([s.waiting_on for s in suspends])
    return Suspend(merged, min(times, default=None), watch)


def resolve(args: dict[str, Any], ref: str) -> list[dict[str, Any]]:
    """``"then"`` or ``"cases.2.actions"`` inside an action's args."""
    node: Any = args
    for part in ref.split("."):
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return []
    return list(node)
