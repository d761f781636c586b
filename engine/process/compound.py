"""The control-flow steps of the executor, carried on from their recorded decisions:
entering a branch, loops, task calls, parallel branches, waits and children.

Mixed into ``ProcessRun`` (executor.py); each ``_run_<type>`` gets the action, its step
key, the scope and the decision, and returns an updated decision or None.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from switchyard.engine.instances.status import Status
from switchyard.engine.instances.waiting import WaitingOn, WaitKind
from switchyard.engine.kernel.events import EngineEvent
from switchyard.engine.process import journal as j
from switchyard.engine.process.signals import Scope, StepFailed, Suspend, merge_suspends, resolve
from switchyard.engine.sandbox.limits import ExpressionError
from switchyard.engine.workitems.forms import split
from switchyard.store.models import (
    STEP_CANCELLED,
    STEP_DONE,
    STEP_STARTED,
    WI_CANCELLED,
    WI_COMPLETED,
)

log = logging.getLogger(__name__)

#: how deep a call may sit (levels of nested steps, counted in its step key): a task
#: calling itself ended in Python's RecursionError ("internal error") after ~190 steps
MAX_CALL_NESTING = 100
Doc = dict[str, Any]  # an action, a decision: JSON documents


class CompoundHost(Protocol):
    """What the control-flow steps use of their run's host (engine/process/host.py); the
    executor's port (executor.py ``RunHost``) adds the rest."""

    def now(self) -> datetime: ...

    def evaluate(self, run: CompoundSteps, expr: str, scope: Scope) -> Any: ...

    async def child_status(
        self, child_id: int
    ) -> tuple[str, dict[str, Any], dict[str, str]] | None: ...

    async def work_item(self, item_id: int) -> dict[str, Any] | None: ...

    async def until_woken(self, suspend: Suspend) -> None: ...

    async def withdraw_branches(self, run: CompoundSteps, keys: list[str], reason: str) -> None: ...


class CompoundSteps:
    # provided by ProcessRun
    id: int
    host: CompoundHost
    doc: dict[str, Any]
    state: str
    journal: dict[str, dict[str, Any]]
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

    async def _run_enter(self, action: Doc, key: str, scope: Scope, d: Doc) -> None:
        await self.block(resolve(action["args"], d["ref"]), f"{key}/{d['ref']}", scope)

    async def _run_loop(self, action: Doc, key: str, scope: Scope, d: Doc) -> None:
        body = action["args"]["do"]
        if d.get("items"):
            for n, item in enumerate(self.items.get(key, [])):
                await self.block(body, f"{key}/{n}", scope.bind(d.get("as"), item))
            self.items.pop(key, None)
            return
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
                await self._write(
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
                    ]
                )
                self.journal[cond_key] = {"status": STEP_DONE, "decision": {"value": holds}}
            if not holds:
                return
            await self.block(body, f"{key}/{n}", scope)

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

    async def _run_parallel(self, action: Doc, key: str, scope: Scope, d: Doc) -> Doc | None:
        """Run the started branches side by side; each progresses on its own.

        Decision: a branch that suspends (a wait, a work item, a child) while a sibling is
        still running waits *in memory* for its own wake (``wakes.until_woken``: its
        deadline, a bus event for its item or child, a slow look in the store) and then
        re-enters its block, the journal skipping its done steps; so a 2 s wait beside an
        8 s command goes on after 2 s, and with ``join: first`` the first branch to
        *complete* wins (a timer can beat a command, which is then killed). Only when no
        branch is running any more does the instance suspend durably, on every waiting
        branch's wait merged (the earliest wake). Nothing extra is written for a wait in
        memory: after a crash the instance resumes from the journal as before."""
        branches = action["args"]["branches"]
        if d.get("winner") is not None:
            return None

        def enter(i: int) -> asyncio.Task[None]:
            return asyncio.create_task(self.block(branches[i]["actions"], f"{key}/b{i}", scope))

        running: dict[asyncio.Task[None], int] = {enter(i): i for i in d["started"]}
        waiting: dict[asyncio.Task[None], int] = {}  # a suspended branch's wake, in memory
        suspends: dict[int, Suspend] = {}

        def rewake(waker: asyncio.Task[None]) -> None:
            if not waker.cancelled() and waker.exception() is not None:  # it looks anyway
                log.warning("instance %s: branch wake failed: %s", self.id, waker.exception())
            i = waiting.pop(waker)
            del suspends[i]
            running[enter(i)] = i

        stopped: set[int] = set()  # branches this join ends before they are done
        try:
            while running:
                done, _ = await asyncio.wait(
                    {*running, *waiting}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task in waiting:  # its wake came: it looks again
                        rewake(task)
                # every finished branch's outcome is retrieved, also those after a return
                ended = [t for t in done if t in running]
                outcomes = {t: None if t.cancelled() else t.exception() for t in ended}
                for task in ended:
                    i = running.pop(task)
                    exc = outcomes[task]
                    if exc is None:
                        if d["join"] == "first":
                            stopped = set(d["started"]) - {i}
                            return {**d, "winner": i}
                        continue
                    if isinstance(exc, Suspend):
                        suspends[i] = exc
                        waiting[asyncio.create_task(self.host.until_woken(exc))] = i
                        continue
                    stopped = {b for t, b in running.items() if not t.done()}
                    raise exc
                if not running:  # all wait: a wake that came meanwhile still counts
                    for task in [t for t in waiting if t.done()]:
                        rewake(task)
        finally:
            rest = [*running, *waiting]
            for task in rest:
                task.cancel()
            if rest:
                await asyncio.gather(*rest, return_exceptions=True)
            if stopped:
                await self._cancel_branches(key, stopped)
        if suspends:
            raise merge_suspends(list(suspends.values()))
        return None

    async def _cancel_branches(self, key: str, branches: set[int]) -> None:
        """Steps under way in branches a join stopped are over (cancelled), not in flight:
        neither recovery nor an interrupt may take them for the step that was running."""
        under = tuple(f"{key}/b{i}/" for i in branches)
        keys = [
            k
            for k, e in self.journal.items()
            if e.get("status") == STEP_STARTED and k.startswith(under)
        ]
        if not keys:
            return
        now = self.host.now()
        await self._write(
            [
                j.cancel_step(self.id, k, now=now, decision=self.journal[k].get("decision"))
                for k in keys
            ]
        )
        for k in keys:
            self.journal[k] = {**self.journal[k], "status": STEP_CANCELLED}

    async def _withdraw_losers(self, action: Doc, key: str, final: Doc | None) -> None:
        """A ``join: first`` that has its winner: what the other branches left open is
        over (their steps were cancelled by ``_cancel_branches``): their open work items
        are withdrawn and the children they started cancelled, with theirs.

        Not on the way out of an error: a retry carries the stopped branches on. The winner
        is committed first, so a replay after a crash here does not run the race again
        (a loser's withdrawn item would fail it) but comes back here (it is idempotent)."""
        if not final or final.get("type") != "parallel" or final.get("winner") is None:
            return
        losers = [f"{key}/b{i}" for i in final["started"] if i != final["winner"]]
        if not losers:
            return
        if (self.journal.get(key) or {}).get("decision") != final:
            now = self.host.now()
            await self._write([j.restart_step(self.id, key, now=now, decision=final)])
            self.journal[key] = {"status": STEP_STARTED, "decision": final}
        where = action.get("path") or key
        await self.host.withdraw_branches(
            self, losers, f"withdrawn: another branch of the parallel at {where} won"
        )

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
        await self._write(
            [
                j.restart_step(self.id, key, now=now, decision=d),
                j.history(self.id, "child", now, None, detail),
                self.touch(now),
            ]
        )
        self.journal[key] = {"status": STEP_STARTED, "decision": d}
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
                await self._write(
                    [j.restart_step(self.id, key, now=now, decision=d), self.touch(now)]
                )
                self.journal[key] = {"status": STEP_STARTED, "decision": d}
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
            await self._write([j.restart_step(self.id, key, now=now, decision=d), self.touch(now)])
            self.journal[key] = {"status": STEP_STARTED, "decision": d}
        raise Suspend(WaitingOn.of(WaitKind.WORK_ITEM, int(item["id"])), None)
