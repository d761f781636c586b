"""What the control-flow mixins (compound.py, parallel.py) use of the run they are mixed
into (``ProcessRun``, executor.py) and of its host."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from switchyard.engine.kernel.events import EngineEvent
from switchyard.engine.process import journal as j
from switchyard.engine.process.signals import Scope, Suspend

Doc = dict[str, Any]  # an action, a decision: JSON documents


class CompoundHost(Protocol):
    """What the control-flow steps use of their run's host (engine/process/host.py); the
    executor's port (executor.py ``RunHost``) adds the rest."""

    def now(self) -> datetime: ...

    def evaluate(self, run: StepsBase, expr: str, scope: Scope) -> Any: ...

    async def child_status(
        self, child_id: int
    ) -> tuple[str, dict[str, Any], dict[str, str]] | None: ...

    async def work_item(self, item_id: int) -> dict[str, Any] | None: ...

    async def until_woken(self, suspend: Suspend) -> None: ...

    async def withdraw_branches(self, run: StepsBase, keys: list[str], reason: str) -> None: ...


class StepsBase:
    # provided by ProcessRun
    id: int
    host: CompoundHost
    doc: dict[str, Any]
    state: str
    journal: dict[str, dict[str, Any]]
    inherited: set[str]  # actions a dead node left in flight, not reached again yet
    frames: dict[str, dict[str, Any]]
    items: dict[str, list[Any]]
    touch: Callable[[datetime], j.Statement]

    async def block(  # pragma: no cover - ProcessRun's
        self, actions: list[dict[str, Any]], prefix: str, scope: Scope
    ) -> None:
        raise NotImplementedError

    def new_frame(  # pragma: no cover - ProcessRun's
        self, task: str, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _task_specs(  # pragma: no cover - ProcessRun's
        self, task: str | None
    ) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    async def _write(  # pragma: no cover - ProcessRun's
        self, statements: list[j.Statement], events: Sequence[EngineEvent] = ()
    ) -> None:
        raise NotImplementedError

    async def _journal_write(  # pragma: no cover - ProcessRun's
        self,
        key: str,
        entry: dict[str, Any],
        statements: list[j.Statement],
        events: Sequence[EngineEvent] = (),
    ) -> None:
        raise NotImplementedError

    async def step(  # pragma: no cover - ProcessRun's
        self, action: dict[str, Any], key: str, scope: Scope
    ) -> None:
        raise NotImplementedError
