"""Milestones in the executor (workflow pattern 18): the ``milestone`` action, and the
steps guarded by ``when_milestone`` (grammar: engine/definitions/milestones.py).

The instance's milestones (name -> ``reached`` | ``left``) live in the stored variables
document under ``__milestones__``, committed with the ``milestone`` step that changes
them (and a history entry ``milestone``), so a restart after ``kill -9`` knows them
exactly as of the last committed step.

A guarded step, each time it is walked:

- milestone reached and holding: it runs as any step; while it is suspended (its item
  open, its wait under way) it is also woken in memory when a milestone changes
  (``Suspend.watch``), so a sibling branch leaving the milestone withdraws it at once;
- not reached yet: it waits (``waiting_on`` part ``milestone``; no item is created yet);
  when nothing else of the instance is left that could reach it (the walk suspends on
  milestones alone and none changed meanwhile), it is given up as never reached;
- left (or given up): it is withdrawn: its open work item is cancelled with the reason
  (``withdrawn: milestone 'booked' was left``, in the item and the history) and the
  step ends ``skipped`` with that note; the branch goes on with its next action. An item
  a person completed before the milestone was left counts (its button runs as usual).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol

from switchyard.engine.actions import base as act
from switchyard.engine.instances.waiting import WaitingOn, WaitKind
from switchyard.engine.process import journal as j
from switchyard.engine.process.compound import CompoundHost, CompoundSteps
from switchyard.engine.process.signals import Scope, Suspend
from switchyard.engine.process.steps_base import StepsBase
from switchyard.store.models import (
    STEP_DONE,
    STEP_ERROR,
    STEP_SKIPPED,
    WI_COMPLETED,
)

MILESTONES = "__milestones__"  # inside the stored variables document
REACHED, LEFT = "reached", "left"


def holding(run: StepsBase) -> list[str]:
    """The milestones that hold now, sorted (``instance.milestones`` in expressions)."""
    found = run.milestones if isinstance(run, MilestoneSteps) else {}
    return sorted(name for name, status in found.items() if status == REACHED)


class MilestoneHost(CompoundHost, Protocol):
    async def withdraw_step(self, run: StepsBase, key: str, reason: str) -> list[int]: ...


class MilestoneSteps(CompoundSteps):
    host: MilestoneHost
    milestones: dict[str, str]  # name -> reached | left
    milestone_version: int  # changes made by this run (in memory)
    current: str | None

    async def _step(  # pragma: no cover - ProcessRun's
        self, action: dict[str, Any], key: str, scope: Scope
    ) -> None:
        raise NotImplementedError

    async def _finish_leaf(  # pragma: no cover - ProcessRun's
        self,
        action: dict[str, Any],
        key: str,
        *,
        started: bool,
        note: str | None = None,
        decision: dict[str, Any] | None = None,
        extra: list[j.Statement] | None = None,
    ) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------- state
    def load_milestones(self, stored: dict[str, Any]) -> None:
        found = stored.pop(MILESTONES, None) or {}
        self.milestones = {str(k): str(v) for k, v in found.items()}
        self.milestone_version = 0
        self._milestone_event = asyncio.Event()
        self._given_up_at: int | None = None

    def milestone_watch(self) -> asyncio.Event:
        """Set at the next milestone change (a fresh event after each)."""
        return self._milestone_event

    def walk_again(self, suspend: Suspend) -> bool:
        """Should the walk that ended in ``suspend`` go again at once? Yes when a
        milestone changed after a step had suspended looking at it (its branch had no
        time to look again before the parallel suspended). And when the walk waits on
        milestones alone, nothing outside the instance can wake it: once more, with the
        guards still waiting given up (never reached)."""
        if any(event.is_set() for event in suspend.watch):
            return True
        if not suspend.waiting_on.only_milestones:
            return False
        if self._given_up_at == self.milestone_version:  # pragma: no cover - defensive
            return False
        self._given_up_at = self.milestone_version
        return True

    # ------------------------------------------------- the milestone action
    async def change_milestone(
        self, directive: act.MilestoneChange, action: dict[str, Any], key: str, *, started: bool
    ) -> None:
        name, to = directive.name, REACHED if directive.reach else LEFT
        before = self.milestones.get(name)
        if to == LEFT and before != REACHED:  # nothing to leave: a no-op, said so
            note = f"milestone {name!r} was not holding"
            await self._finish_leaf(action, key, started=started, note=note)
            return
        self.milestones[name] = to
        now = self.host.now()
        detail = {"milestone": name, "op": "reached" if to == REACHED else "left", "step": key}
        note = f"milestone {name!r} {detail['op']}"
        try:
            await self._finish_leaf(
                action,
                key,
                started=started,
                note=note,
                extra=[j.history(self.id, "milestone", now, None, detail)],
            )
        except BaseException:
            if (self.journal.get(key) or {}).get("status") == STEP_DONE:
                # handed to the writer (this task was cancelled while it commits): the
                # store will have it, so the run's memory keeps it too (settle)
                raise
            if before is None:
                self.milestones.pop(name, None)
            else:
                self.milestones[name] = before
            raise
        self.milestone_version += 1
        event, self._milestone_event = self._milestone_event, asyncio.Event()
        event.set()

    # --------------------------------------------------- the guarded steps
    async def guarded_step(self, action: dict[str, Any], key: str, scope: Scope) -> None:
        entry = self.journal.get(key)
        if entry is not None and entry["status"] in (STEP_DONE, STEP_SKIPPED, STEP_ERROR):
            await self._step(action, key, scope)  # passed over, or its error raised again
            return
        name = str(action["when_milestone"])
        holds = self.milestones.get(name)
        if holds == REACHED:
            await self._watching(action, key, scope)
            return
        if holds is None and self._given_up_at != self.milestone_version:
            raise Suspend(WaitingOn.of(WaitKind.MILESTONE), None, (self.milestone_watch(),))
        why = "was left" if holds == LEFT else "was never reached"
        await self._withdraw(action, key, scope, f"withdrawn: milestone {name!r} {why}")

    async def _watching(self, action: dict[str, Any], key: str, scope: Scope) -> None:
        watch = self.milestone_watch()
        try:
            await self._step(action, key, scope)
        except Suspend as suspend:
            raise Suspend(suspend.waiting_on, suspend.wake_at, (*suspend.watch, watch)) from None

    async def _withdraw(self, action: dict[str, Any], key: str, scope: Scope, reason: str) -> None:
        entry = self.journal.get(key)
        decision: dict[str, Any] = dict((entry or {}).get("decision") or {})
        if decision.get("type") == "workitem":
            if decision.get("applied"):  # a person answered in time: it counts
                await self._step(action, key, scope)
                return
            if not await self.host.withdraw_step(self, key, reason):
                item = await self.host.work_item(int(decision["item"]))
                if item is not None and item["status"] == WI_COMPLETED:
                    await self._step(action, key, scope)  # completed just before
                    return
        now: datetime = self.host.now()
        first = (
            j.end_step(
                self.id, key, now=now, status=STEP_SKIPPED, decision=decision or None, note=reason
            )
            if entry is not None
            else j.step_row(
                self.id, key, action, status=STEP_SKIPPED, now=now, ended=True, note=reason
            )
        )
        await self._journal_write(
            key, {"status": STEP_SKIPPED, "decision": decision or None}, [first, self.touch(now)]
        )
