"""Runs of plain assigns (program.py) done in one tight loop, storing what the walk stores.

The ordinary walk (executor.py) takes each plain assign through ``_step``: the journal
looked up, the step counted, an action context built, the ``assign`` action run for a
``Done`` directive, the secrets check, the variables applied, and the whole variables
document encoded and size-checked for the instance update that the next shared step then
drops. Here a run of prepared assigns (``program.FastStep``) is, per step: the step
counted, its values rendered against one scope mapping kept up to date, the secrets
check, the variables applied, the size of the variables document updated from the sizes
of the values replaced and set (``values.json_len``: the same bytes the full check
measures, so the same step is refused with the same error), its journal row added to the
pending write. The instance update (``touch``) is built once, for the last step done,
where the walk would have kept only that one anyway.

What is stored is exactly what the walk stores (tests/engine/process/test_step_program.py
runs definitions both ways and compares the rows): the same journal rows, instance update,
report history, variables and index; the same failures (expression errors, secrets, type
problems, ``max_variables_bytes`` at the step whose values pass it, also in the middle of
a run, with the variables of the step before it stored), and the same yields and step
budget (counted per step; a run that reaches either goes through the walk's own check).
One difference: the run's steps carry one timestamp (taken when the run starts), the
instant they are committed together.
"""

from __future__ import annotations

from typing import Any, Protocol

from switchyard.engine.actions import base as act
from switchyard.engine.definitions import values
from switchyard.engine.process import journal as j
from switchyard.engine.process.program import FastStep
from switchyard.engine.process.signals import Scope, StepFailed
from switchyard.engine.process.steps_base import CompoundHost
from switchyard.engine.sandbox.limits import ExpressionError
from switchyard.store.models import STEP_DONE
from switchyard.store.queries.steps import INSERT_STEP

YIELD_EVERY = 100  # steps without a suspension before an instance lets its lane go on
SECRET_IN_VARIABLE = "a secret's value may not be stored in a variable (nothing was assigned)"
_MISSING = object()


class FastHost(CompoundHost, Protocol):
    def mapping(self, run: Any, scope: Scope) -> dict[str, Any]: ...

    def holds_secret(self, value: Any) -> bool: ...

    def report_rows(self, run: Any, updates: dict[str, Any], scope: Scope) -> list[j.Statement]: ...


#: names the scope mapping sets after the variables (host.mapping): never a variable's
_RESERVED = frozenset({"secret", "instance"})


class ProgramSteps:
    # provided by ProcessRun
    id: int
    host: FastHost
    journal: dict[str, dict[str, Any]]
    pending: list[j.Statement]
    shared: bool
    ran: int
    max_steps: int
    max_bytes: int
    grants: int
    current: str | None
    state: str
    visit: int
    vars: dict[str, Any]
    frames: dict[str, dict[str, Any]]
    _good: dict[str, Any]

    def document(self) -> dict[str, Any]:  # pragma: no cover - ProcessRun's
        raise NotImplementedError

    async def _count_step(  # pragma: no cover - ProcessRun's
        self, key: str, action: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    async def _write(  # pragma: no cover - ProcessRun's
        self, statements: list[j.Statement], events: Any = ()
    ) -> None:
        raise NotImplementedError

    def runs_here(self, steps: tuple[FastStep, ...], prefix: str, scope: Scope) -> bool:
        """Whether this run may go the fast way: none of its steps in the journal yet (a
        resumed run goes the walk's way), and the scope's variables stored in the document
        (the globals or a task frame), so that the size is kept up to date."""
        journal = self.journal
        if journal and any(f"{prefix}/{step.index}" in journal for step in steps):
            return False
        data = scope.data
        return data is self.vars or any(frame is data for frame in self.frames.values())

    async def run_program(
        self, steps: tuple[FastStep, ...], prefix: str, scope: Scope, *, share_last: bool
    ) -> None:
        """Run ``steps`` (consecutive plain assigns): all but the last ride along with the
        next write (``shares_commit``); the last too when ``share_last``, else it writes."""
        host = self.host
        now = host.now()
        data = scope.data
        bindings = scope.bindings
        mapping = host.mapping(self, scope)
        size: int | None = values.json_size(self.document(), self.max_bytes)
        lens: dict[str, int] = {}
        limit = self.max_steps * (1 + min(self.grants, 1))
        touch_at = -1  # where the last done step's instance update goes (-1: none owed)
        done: FastStep | None = None  # the last step done
        for step in steps:
            action = step.action
            key = f"{prefix}/{step.index}"
            if len(self.journal) >= limit or (self.ran + 1) % YIELD_EVERY == 0:
                # the walk's own check (budget, yield); it may write what is pending
                if touch_at >= 0 and done is not None:
                    self._settle(now, touch_at, done)
                    touch_at = -1
                await self._count_step(key, action)
                mapping = host.mapping(self, scope)  # a sibling branch may have run
                size, lens = values.json_size(self.document(), self.max_bytes), {}
            else:
                self.ran += 1
            self.current = step.describe
            try:
                updates = {name: render(mapping) for name, render in step.values}
            except ExpressionError as exc:
                self._fail(now, touch_at, done)
                raise StepFailed(key, action, f"expression: {exc}") from exc
            except Exception as exc:
                self._fail(now, touch_at, done)
                raise StepFailed(key, action, f"{type(exc).__name__}: {exc}") from exc
            if host.holds_secret(updates):
                self._fail(now, touch_at, done)
                raise StepFailed(key, action, SECRET_IN_VARIABLE)
            before = {name: data.get(name, _MISSING) for name in updates}
            try:
                scope.apply(updates)
            except act.ActionFailed as exc:
                self._fail(now, touch_at, done, before, data)
                raise StepFailed(key, action, exc.message) from exc
            if size is not None:
                for name, old in before.items():
                    if old is _MISSING:  # a new name: its key counts too
                        size = None
                        break
                    was = lens.get(name)
                    if was is None:
                        was = values.json_len(values.to_json(old))
                    lens[name] = values.json_len(values.to_json(data[name]))
                    size += lens[name] - was
            if size is None:
                size, lens = values.json_size(self.document(), self.max_bytes), {}
            if size > self.max_bytes:
                self._fail(now, touch_at, done, before, data)
                raise StepFailed(key, action, str(values.too_large(self.max_bytes)))
            for name in updates:  # the scope mapping as host.mapping builds it
                if name not in bindings and name not in _RESERVED:
                    mapping[name] = data[name]
            # journal.step_row(self.id, key, action, status=STEP_DONE, now=now, ended=True)
            row = {
                "instance_id": self.id,
                "key": key,
                "kind": "assign",
                "path": step.path,
                "label": step.label,
                "status": STEP_DONE,
                "attempt": 1,
                "started_at": now,
                "ended_at": now,
                "decision": None,
                "note": None,
                "error": None,
            }
            self.pending.append((INSERT_STEP, row))
            touch_at = len(self.pending)
            if step.reports:
                self.pending.extend(host.report_rows(self, updates, scope))
            self.journal[key] = {"status": STEP_DONE, "decision": None}
            self.shared = True
            done = step
        if done is not None and touch_at >= 0:
            self._settle(now, touch_at, done)
        if not share_last:
            await self._write([])

    def _settle(self, now: Any, touch_at: int, done: FastStep) -> None:
        """The instance update of the last step done, where the walk puts it (after that
        step's journal row; an earlier shared step's update is superseded)."""
        doc = self.document()
        self._good = doc  # within the limit: checked step by step
        touch = j.touch(
            self.id,
            variables=doc,
            current_action=done.describe,
            current_state=self.state,
            visit=self.visit,
            now=now,
        )
        head = [s for s in self.pending[:touch_at] if s[0] is not j.TOUCH_INSTANCE]
        self.pending = [*head, touch, *self.pending[touch_at:]]

    def _fail(
        self,
        now: Any,
        touch_at: int,
        done: FastStep | None,
        before: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """A step of the run fails: the steps done before it are written on the way out
        (``block``) with their instance update, built from the variables as that last step
        left them (``before``: the failing step's values before it applied them)."""
        if touch_at < 0 or done is None:
            return
        if before is None or data is None:
            self._settle(now, touch_at, done)
            return
        after = {name: data.get(name, _MISSING) for name in before}
        _restore(data, before)
        try:
            self._settle(now, touch_at, done)
        finally:
            _restore(data, after)


def _restore(data: dict[str, Any], saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        if value is _MISSING:
            data.pop(name, None)
        else:
            data[name] = value
