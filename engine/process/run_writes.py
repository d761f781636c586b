"""What a run stores and how it hands it over: the variables document (with the task
frames, for-each items, milestones and step budget kept inside it), the instance update
(``touch``) that carries it, and the run's writes to the group writer — in order, with
what a shared step holds back (``pending``), and ``settle`` before an end of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from switchyard.engine.definitions import values
from switchyard.engine.kernel.events import EngineEvent
from switchyard.engine.process import journal as j
from switchyard.engine.process.milestones import MILESTONES
from switchyard.engine.process.writer import FailedWrite, WriteFailed

FRAMES = "__frames__"  # task-call frames inside the stored variables document
ITEMS = "__items__"  # for-each lists under way inside the stored variables document
#: the step budget inside the stored variables document: {"grants": 0|1, "exhausted": bool}
BUDGET = "__budget__"


class Writes(Protocol):
    async def write(
        self,
        statements: list[j.Statement],
        events: Sequence[EngineEvent] = (),
        *,
        owner: int | None = None,
    ) -> None: ...

    def failed_for(self, owner: int) -> FailedWrite | None: ...


class RunWrites:
    # provided by ProcessRun
    id: int
    host: Writes
    journal: dict[str, dict[str, Any]]
    vars: dict[str, Any]
    frames: dict[str, dict[str, Any]]
    items: dict[str, list[Any]]
    milestones: dict[str, str]
    grants: int
    exhausted: bool
    max_bytes: int
    _good: dict[str, Any]
    current: str | None
    state: str
    visit: int
    pending: list[j.Statement]
    shared: bool
    unsettled: bool

    def stored_variables(self) -> dict[str, Any]:
        """The variables document to store; values.TooLarge when it is over the
        max_variables_bytes limit (then nothing of it is written)."""
        doc = self.document()
        values.check_size(doc, self.max_bytes)
        self._good = doc
        return doc

    def document(self) -> dict[str, Any]:
        """The variables document as stored (not checked against the limit)."""
        doc: dict[str, Any] = values.to_json(self.vars)
        if self.frames:
            doc[FRAMES] = {k: values.to_json(v) for k, v in self.frames.items()}
        if self.items:
            doc[ITEMS] = self.items
        if self.milestones:
            doc[MILESTONES] = self.milestones
        if self.grants or self.exhausted:
            doc[BUDGET] = {"grants": self.grants, "exhausted": self.exhausted}
        return doc

    def safe_variables(self) -> dict[str, Any]:
        """The document to store when the instance ends in error or stops: the current one,
        or the last one within the limit (the step that passed it is not written)."""
        try:
            return self.stored_variables()
        except values.TooLarge:
            doc = dict(self._good)
            if self.exhausted:
                doc[BUDGET] = {"grants": self.grants, "exhausted": True}
            return doc

    def touch(self, now: datetime) -> j.Statement:
        return j.touch(
            self.id,
            variables=self.stored_variables(),
            current_action=self.current,
            current_state=self.state,
            visit=self.visit,
            now=now,
        )

    async def _write(
        self, statements: list[j.Statement], events: Sequence[EngineEvent] = ()
    ) -> None:
        self.shared = False
        if self.pending:
            pending, self.pending = self.pending, []
            if any(stmt is j.TOUCH_INSTANCE for stmt, _ in statements):
                # a shared step's instance update is superseded by this one (same row)
                pending = [s for s in pending if s[0] is not j.TOUCH_INSTANCE]
            statements = [*pending, *statements]
        try:
            await self.host.write(statements, events, owner=self.id)
        except asyncio.CancelledError:
            # handed over: the writer commits it (or fences it out) whatever this task
            # does now; whoever ends the instance waits for it first (settle)
            self.unsettled = True
            raise

    async def _journal_write(
        self,
        key: str,
        entry: dict[str, Any],
        statements: list[j.Statement],
        events: Sequence[EngineEvent] = (),
    ) -> None:
        """A step's new journal entry and its write: the entry is the run's as the write is
        handed over, so a task cancelled while it commits leaves the run's journal as the
        store will have it (settle), not one step behind."""
        self.journal[key] = entry
        await self._write(statements, events)

    async def settle(self) -> None:
        """Before the instance is ended or suspended in a transaction of its own: every
        write this run handed to the group writer has committed (one that a cancelled
        task stopped awaiting: a parallel unit a sibling's failure stopped, or the run a
        cancel or stop interrupted), and what it holds back (a shared step) is written.
        The end stores the run's variables, which already hold those steps: committed
        after them, never before (the writer's fence would then drop them, and a retry
        would run them again). The writer commits in order, so one more write of this
        instance committing means every earlier one has. LostOwnership if another node
        took the instance over.

        WriteFailed if one of those writes failed (the writer keeps such a failure for the
        instance, ``failed_for``): the run's variables then hold a step the journal lacks,
        and the end must store the variables as last committed instead (lifecycle.py)."""
        if self.unsettled or self.pending:
            with contextlib.suppress(WriteFailed):  # refused for the failure: taken below
                await self._write([])
        self.unsettled = False
        failure = self.host.failed_for(self.id)
        if failure is not None:
            raise WriteFailed(self.id, failure)
