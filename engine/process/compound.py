"""The control-flow steps of the executor, carried on from their recorded decisions:
entering a branch, loops, task calls, waits and children (parallel forms: parallel.py).

Mixed into ``ProcessRun`` (executor.py); each ``_run_<type>`` gets the action, its step
key, the scope and the decision, and returns an updated decision or None.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from switchyard.engine.instances.status import Status
from switchyard.engine.instances.waiting import WaitingOn, WaitKind
from switchyard.engine.process import journal as j
from switchyard.engine.process.parallel import ParallelSteps
from switchyard.engine.process.signals import Scope, StepFailed, Suspend, resolve
from switchyard.engine.process.steps_base import CompoundHost, Doc
from switchyard.engine.sandbox.limits import ExpressionError
from switchyard.engine.workitems.forms import split
from switchyard.store.models import (
    STEP_DONE,
    STEP_STARTED,
    WI_CANCELLED,
    WI_COMPLETED,
)

log = logging.getLogger(__name__)

#: how deep a call may sit (levels of nested steps, counted in its step key): a task
#: calling itself ended in Python's RecursionError ("internal error") after ~190 steps
MAX_CALL_NESTING = 100


class CompoundSteps(ParallelSteps):
    """Entering a branch, loops, task calls, waits, children and work items (the parallel
    forms are in parallel.py)."""

    async def _run_enter(self, action: Doc, key: str, scope: Scope, d: Doc) -> None:
        await self.block(resolve(action["args"], d["ref"]), f"{key}/{d['ref']}", scope)

    async def _run_loop(self, action: Doc, key: str, scope: Scope, d: Doc) -> Doc | None:
        body = action["args"]["do"]
        if d.get("parallel"):
            return await self._run_ploop(action, key, scope, d)
        if d.get("items"):
            for n, item in enumerate(self.items.get(key, [])):
                await self.block(body, f"{key}/{n}", scope.bind(d.get("as"), item))
            self.items.pop(key, None)
            return None
        bound = int(d["max"])
        for n in range(bound + 1):
            cond_key = f"{key}/c{n}"
            entry = self.journal.get(cond_key)
            if entry is not None:
                holds = bool((entry.get("decision") or {}).get("value"))
            else:
                try:
                    holds = bool(self.host.evaluate(self, d["while"], scope))
                except ExpressionError as exc:
                    raise StepFailed(key, action, f"expression: {exc}") from exc
                if holds and n == bound:
                    raise StepFailed(key, action, f"loop still true after max {bound} passes")
                now = self.host.now()
                cond = {"kind": "loop", "path": action.get("path", "") + f".while[{n}]"}
                await self._journal_write(
                    cond_key,
                    {"status": STEP_DONE, "decision": {"value": holds}},
                    [
                        j.step_row(
                            self.id,
                            cond_key,
                            cond,
                            status=STEP_DONE,
                            now=now,
                            ended=True,
                            decision={"value": holds},
                        )
                    ],
                )
            if not holds:
                return None
            await self.block(body, f"{key}/{n}", scope)
        return None

    async def _run_call(self, action: Doc, key: str, scope: Scope, d: Doc) -> None:
        if key.count("/") >= MAX_CALL_NESTING:  # a task calling itself, directly or not
            raise StepFailed(
                key,
                action,
                f"steps nested deeper than {MAX_CALL_NESTING} levels: does a task call itself?",
            )
        task = self.doc["tasks"][d["task"]]
        specs = self._task_specs(d["task"])
        frame = self.frames.get(key)
        if frame is None:  # pragma: no cover - the frame is written with the step's start
            frame = self.frames[key] = self.new_frame(d["task"], {})
        await self.block(task["actions"], f"{key}/t", Scope(frame, specs))
        scope.apply({caller: frame.get(output) for caller, output in (d.get("into") or {}).items()})
        self.frames.pop(key, None)

    async def _run_wait(self, action: Doc, key: str, scope: Scope, d: Doc) -> None:
        now = self.host.now()
        if d.get("until"):
            until = datetime.fromisoformat(d["until"])
            if now < until:
                raise Suspend(WaitingOn.of(WaitKind.TIMER), until)
            return
        try:
            holds = bool(self.host.evaluate(self, d["condition"], scope))
        except ExpressionError as exc:
            raise StepFailed(key, action, f"expression: {exc}") from exc
        if holds:
            return
        deadline = datetime.fromisoformat(d["deadline"]) if d.get("deadline") else None
        if deadline is not None and now >= deadline:
            raise StepFailed(key, action, "condition still false when the wait timed out")
        wake = now + timedelta(seconds=float(d["every"]))
        raise Suspend(WaitingOn.of(WaitKind.CONDITION), min(wake, deadline) if deadline else wake)

    async def _run_child(self, action: Doc, key: str, scope: Scope, d: Doc) -> Doc | None:
        if not d.get("wait"):
            return None
        child = await self.host.child_status(d["child"])
        if child is None:
            raise StepFailed(key, action, f"child instance {d['child']} is gone")
        status, child_vars, child_secured = child
        if status == "completed":
            into = d.get("into") or {}
            for p, c in into.items():  # the child's spec is known only now (it may change)
                spec = child_secured.get(c)
                target = (scope.specs.get(p) or {}).get("security") or ""
                if spec and spec != target:
                    shown = f"secured by {target!r}" if target else "not secured"
                    raise StepFailed(
                        key,
                        action,
                        f"the child's {c} is secured by {spec!r}: it may only flow into a "
                        f"variable secured by {spec!r}, and {p!r} is {shown} (nothing copied)",
                    )
            scope.apply({p: child_vars.get(c) for p, c in into.items()})
            if action["args"].get("cancelled_into"):
                scope.apply({action["args"]["cancelled_into"]: False})
            return None
        if Status(status).active:
            raise Suspend(WaitingOn.of(WaitKind.CHILD, int(d["child"])), None)
        if Status(status) is Status.CANCELLED and action["args"].get("on_cancel") == "continue":
            return await self._child_cancelled(action, key, scope, d)
        raise StepFailed(key, action, f"child instance {d['child']} ended {status}")

    async def _child_cancelled(self, action: Doc, key: str, scope: Scope, d: Doc) -> Doc:
        """``on_cancel: continue``: the parent goes on past the step (issue 16, pattern 19).
        Nothing of the child is copied; ``cancelled_into`` is set true. The decision says
        so, committed once with the history entry (``child``, ``op: cancelled``) and the
        variables: a replay after a crash finds it and adds nothing."""
        if d.get("cancelled"):
            return d
        target = action["args"].get("cancelled_into")
        if target:
            scope.apply({target: True})
        d = {**d, "cancelled": True}
        now = self.host.now()
        detail = {"child": int(d["child"]), "op": "cancelled", "step": key, "on_cancel": "continue"}
        await self._journal_write(
            key,
            {"status": STEP_STARTED, "decision": d},
            [
                j.restart_step(self.id, key, now=now, decision=d),
                j.history(self.id, "child", now, None, detail),
                self.touch(now),
            ],
        )
        return d

    async def _run_workitem(self, action: Doc, key: str, scope: Scope, d: Doc) -> Doc | None:
        """Wait for a button; then apply the item's values (once, committed with a decision
        that says so), run the button's actions in the instance, and go on. An escalation
        that has actions wakes the instance to run them once, then it waits again."""
        item = await self.host.work_item(d["item"])
        if item is None:
            raise StepFailed(key, action, f"work item {d['item']} is gone")
        form = self.doc["forms"][item["form"]]
        if item["status"] == WI_COMPLETED:
            button = item["button"]
            updates, local = split(form["fields"], item.get("values") or {})
            if not d.get("applied"):  # once: a replay must not undo what the button did
                scope.apply(updates)
                d = {**d, "applied": True, "button": button}
                now = self.host.now()
                await self._journal_write(
                    key,
                    {"status": STEP_STARTED, "decision": d},
                    [j.restart_step(self.id, key, now=now, decision=d), self.touch(now)],
                )
            actions = form["buttons"].get(button) or []
            await self.block(actions, f"{key}/button", scope.bind_many(local))
            return d
        if item["status"] == WI_CANCELLED:
            raise StepFailed(key, action, f"work item {item['id']} was cancelled")
        escalate = action["args"].get("escalate") or {}
        if item.get("escalated") and escalate.get("actions") and not d.get("escalation_done"):
            await self.block(escalate["actions"], f"{key}/escalate", scope)
            d = {**d, "escalation_done": True}
            now = self.host.now()
            await self._journal_write(
                key,
                {"status": STEP_STARTED, "decision": d},
                [j.restart_step(self.id, key, now=now, decision=d), self.touch(now)],
            )
        raise Suspend(WaitingOn.of(WaitKind.WORK_ITEM, int(item["id"])), None)


__all__ = ["MAX_CALL_NESTING", "CompoundHost", "CompoundSteps"]
