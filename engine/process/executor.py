"""The step loop: runs one process instance, one committed step at a time.

Every action execution is a *step* with a key that is stable across runs of the
instance: ``<visit>:<state>/<index>`` for a state's actions, and
``<parent key>/<label>/<index>`` inside nested blocks (``then``, loop pass ``3``,
branch ``b1``, task body ``t``). The journal (``steps`` table, unique per instance and
key) records when each step started and ended, and for control flow the *decision*
taken (which branch, the loop's items, the child started, the wait's deadline).

Running an instance walks its current state from the top. A step the journal has as
done is passed over (its variable changes are already in the stored variables); a
control-flow step that started re-enters the decision it recorded, never re-evaluating
a condition against later values. So after a crash an instance resumes exactly after
its last committed step. A leaf step found *started* was in flight when the node died:
a side-effect action (command, HTTP, SQL, email) is restored in error, unless declared
``idempotent: true`` (then it runs again); a pure action runs again (nothing of it was
committed).

Directives from actions (see ``actions/base.py``) are all the executor knows of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from switchyard.engine.actions import base as act
from switchyard.engine.actions.registry import ACTIONS
from switchyard.engine.definitions import values
from switchyard.engine.instances.waiting import WaitingOn, WaitKind
from switchyard.engine.kernel.events import EngineEvent
from switchyard.engine.people.masking import TextMasker
from switchyard.engine.process import journal as j
from switchyard.engine.process.fast_steps import SECRET_IN_VARIABLE as SECRET_IN_VARIABLE
from switchyard.engine.process.fast_steps import YIELD_EVERY, FastHost, ProgramSteps
from switchyard.engine.process.milestones import MilestoneHost, MilestoneSteps
from switchyard.engine.process.program import Program, describe
from switchyard.engine.process.program import shares_commit as shares_commit
from switchyard.engine.process.run_writes import BUDGET, FRAMES, ITEMS, RunWrites
from switchyard.engine.process.signals import (
    Jump,
    Scope,
    StepFailed,
    Suspend,
)
from switchyard.engine.process.writer import FailedWrite
from switchyard.engine.sandbox.limits import ExpressionError
from switchyard.store.models import (
    STEP_CANCELLED,
    STEP_DONE,
    STEP_ERROR,
    STEP_SKIPPED,
    STEP_STARTED,
)

RESTORED = "restored in error"
YIELD_FALLBACK = timedelta(seconds=2)
DEFAULT_MAX_STEPS = 100_000
DEFAULT_MAX_BYTES = 1024 * 1024


def budget_message(limit: int, grants: int) -> str:
    if grants:
        return f"step budget of {limit:,} exhausted (already raised once by a retry)"
    return f"step budget of {limit:,} exhausted; retry raises it once"


class RunHost(MilestoneHost, FastHost, Protocol):
    """What a run uses of its host (engine/process/host.py ``ProcessHost``): server
    parameters, the secrets' masker, group-committed writes, contexts for actions, logs,
    decisions for control flow, children and work items."""

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def masker(self) -> TextMasker: ...

    async def write(
        self,
        statements: list[j.Statement],
        events: Sequence[EngineEvent] = (),
        *,
        owner: int | None = None,
    ) -> None: ...

    def failed_for(self, owner: int) -> FailedWrite | None: ...

    def changed_event(self, run: ProcessRun, **data: Any) -> EngineEvent: ...

    async def others_queued(self, run: ProcessRun) -> bool: ...

    def context(
        self, run: ProcessRun, key: str, scope: Scope, action: dict[str, Any]
    ) -> act.ActionContext: ...

    async def log_lines(self, run: ProcessRun, lines: list[str]) -> None: ...

    async def decide(
        self,
        run: ProcessRun,
        directive: act.Directive,
        action: dict[str, Any],
        key: str,
        scope: Scope,
    ) -> dict[str, Any]: ...


class ProcessRun(RunWrites, ProgramSteps, MilestoneSteps):
    """One instance being executed on this node. ``host`` supplies the world (see
    ``engine/process/host.py``): commits, contexts for actions, children, params.
    ``program`` (the definition's step programs, program.py) runs plain assigns the fast
    way (fast_steps.py); without it every step takes the walk."""

    def __init__(
        self,
        host: RunHost,
        row: dict[str, Any],
        doc: dict[str, Any],
        journal: dict[str, dict[str, Any]],
        program: Program | None = None,
    ) -> None:
        self.host: RunHost = host
        self.program = program
        self.id = int(row["id"])
        self.row = row
        self.doc = doc
        self.journal = journal
        self.specs: dict[str, dict[str, Any]] = doc.get("variables") or {}
        stored = dict(row.get("variables") or {})
        frames = stored.pop(FRAMES, {}) or {}
        # for-each items under way, by loop step key (values live with the variables,
        # never in the journal)
        self.items: dict[str, list[Any]] = stored.pop(ITEMS, {}) or {}
        budget = stored.pop(BUDGET, None) or {}
        self.load_milestones(stored)  # the instance's milestones (process/milestones.py)
        self.grants = int(budget.get("grants") or 0)  # retries that raised the step budget
        self.exhausted = False
        params = host.params or {}
        self.max_steps = int(params.get("max_steps_per_instance", DEFAULT_MAX_STEPS))
        self.max_bytes = int(params.get("max_variables_bytes", DEFAULT_MAX_BYTES))
        self.ran = 0  # steps taken since this node claimed the instance
        self._good: dict[str, Any] = dict(row.get("variables") or {})  # last within the limit
        self.vars = values.load(stored, self.specs)
        self.frames: dict[str, dict[str, Any]] = {
            key: values.load(frame, self._task_specs(self._frame_task(key)))
            for key, frame in frames.items()
        }
        self.state: str = row.get("current_state") or doc["start"]
        self.visit: int = int(row.get("visit") or 0)
        self.current: str | None = None
        self.pending: list[j.Statement] = []  # rides along with the next write
        self.share_key: str | None = None  # the step whose write may ride along (shares_commit)
        self.shared = False  # such a step's write is in ``pending``, not yet handed over
        # a state's top-level block: when it ends the instance completes, so its last
        # plain assign may ride along with the completion's write (lifecycle.run_claimed)
        self.final_prefix: str | None = None
        self.unsettled = False  # a write handed over whose commit no task awaits (settle)
        # actions a dead node left in flight, not reached again yet: a stop before they are
        # reached (a sibling's failure, an interrupt) did not kill them, so they stay in
        # flight for the run that reaches them (restored in error, unless idempotent)
        self.inherited: set[str] = {
            k for k, e in journal.items() if e["status"] == STEP_STARTED and not e.get("decision")
        }

    # ------------------------------------------------------------ helpers
    def _frame_task(self, key: str) -> str | None:
        entry = self.journal.get(key)
        return (entry.get("decision") or {}).get("task") if entry else None

    def _task_specs(self, task: str | None) -> dict[str, dict[str, Any]]:
        spec = (self.doc.get("tasks") or {}).get(task or "", {})
        return {**spec.get("inputs", {}), **spec.get("outputs", {}), **spec.get("variables", {})}

    def new_frame(self, task: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """A task call's variables: its locals and outputs (defaults) and its inputs."""
        specs = self._task_specs(task)
        optional = {k: {**v, "required": False} for k, v in specs.items()}
        frame = values.initial(optional, {})
        frame.update(values.load(values.to_json(inputs), specs))
        return frame

    def global_scope(self) -> Scope:
        return Scope(self.vars, self.specs)

    # ------------------------------------------------------------ the walk
    async def run(self) -> tuple[str, Any]:
        """Run until the instance ends, waits or fails. Returns (what, detail):
        ("completed", outcome) | ("waiting", Suspend) | ("error", StepFailed)."""
        try:
            while True:
                state = self.doc["states"][self.state]
                prefix = f"{self.visit}:{self.state}"
                self.final_prefix = prefix
                try:
                    await self.block(state["actions"], prefix, self.global_scope())
                except Suspend as suspend:
                    if self.walk_again(suspend):  # only its own milestones could wake it
                        continue
                    raise
                except Jump as jump:
                    if isinstance(jump.directive, act.GotoState):
                        await self._enter_state(jump.directive.state)
                        continue
                    outcome = jump.directive.outcome
                    return "completed", self.host.masker.mask(outcome) if outcome else outcome
                return "completed", None
        except Suspend as suspend:
            return "waiting", suspend
        except StepFailed as failed:
            failed.message = self.host.masker.mask(failed.message)  # never a secret's value
            return "error", failed

    async def _enter_state(self, state: str) -> None:
        previous = self.state
        self.state, self.visit = state, self.visit + 1
        self.current = None
        now = self.host.now()
        await self._write(
            [
                self.touch(now),
                j.history(self.id, "state", now, None, {"from": previous, "to": state}),
            ],
            [self.host.changed_event(self, state=state)],
        )

    def _shares(self, actions: list[dict[str, Any]], index: int, prefix: str) -> bool:
        """Whether the plain assign at ``index`` rides along with the next write: the
        next step is a plain assign not yet run, or the block's end completes the
        instance (lifecycle.run_claimed)."""
        if index == len(actions) - 1:
            return prefix == self.final_prefix
        return shares_commit(actions[index + 1]) and f"{prefix}/{index + 1}" not in self.journal

    async def block(self, actions: list[dict[str, Any]], prefix: str, scope: Scope) -> None:
        program = self.program
        runs = program.runs(actions) if program is not None else {}
        after = 0  # the index after a run done the fast way
        for index, action in enumerate(actions):
            if index < after:
                continue
            fast = runs.get(index) if runs else None
            key = f"{prefix}/{index}"
            try:
                if fast is not None and program and self.runs_here(fast, prefix, scope):
                    program.taken += 1
                    after = fast[-1].index + 1
                    share_last = self._shares(actions, after - 1, prefix)
                    await self.run_program(fast, prefix, scope, share_last=share_last)
                    continue
                if shares_commit(action) and self._shares(actions, index, prefix):
                    self.share_key = key
                await self.step(action, key, scope)
            except Exception:
                if self.shared:  # a shared step whose next step did not write: write it now
                    await self._write([])
                raise
            finally:
                self.share_key = None

    async def step(self, action: dict[str, Any], key: str, scope: Scope) -> None:
        if action.get("when_milestone"):  # offered only while a milestone holds
            await self.guarded_step(action, key, scope)
            return
        await self._step(action, key, scope)

    async def _step(self, action: dict[str, Any], key: str, scope: Scope) -> None:
        entry = self.journal.get(key)
        if entry is not None and entry["status"] in (STEP_DONE, STEP_SKIPPED):
            return
        if entry is not None and entry["status"] == STEP_ERROR:
            raise StepFailed(key, action, entry.get("error") or "failed")
        kind = ACTIONS[action["kind"]]
        decision = entry.get("decision") if entry else None
        if entry is not None and decision:  # control flow that had started: same choice
            await self.resume(action, key, scope, decision)
            return
        # a leaf found in flight (its node died: unknown how far it got), or one a
        # parallel join cancelled itself (known: killed) which simply runs again
        restart = entry is not None
        in_flight = entry is not None and entry["status"] != STEP_CANCELLED
        if in_flight and kind.side_effects and not action.get("idempotent"):
            message = f"{RESTORED}: {action['kind']} was in flight when its node stopped"
            raise StepFailed(key, action, message)
        self.inherited.discard(key)  # run again: this run's from here on
        if entry is None:
            await self._count_step(key, action)
        self.current = describe(action)
        try:
            directive = await self.execute(kind, action, key, scope, restart=restart)
            await self.obey(directive, action, key, scope, restart=restart)
        except act.RanToItsEnd as ended:
            # stopped after its work was done: recorded done (a retry must not do it
            # again), then the task stops; if that fails it stays in flight
            with contextlib.suppress(StepFailed, values.TooLarge):
                await self.obey(ended.directive, action, key, scope, restart=True)
            raise
        except values.TooLarge as exc:
            raise StepFailed(key, action, str(exc)) from exc

    async def _count_step(self, key: str, action: dict[str, Any]) -> None:
        """A new step: within the budget (journal rows, one per step), and every
        YIELD_EVERY steps without a suspension the lane's other queued instances go first."""
        limit = self.max_steps * (1 + min(self.grants, 1))
        if len(self.journal) >= limit:
            self.exhausted = True
            raise StepFailed(key, action, budget_message(limit, self.grants))
        self.ran += 1
        if self.ran % YIELD_EVERY == 0 and self.shared:
            await self._write([])  # a shared step is committed before this task yields
        if self.ran % YIELD_EVERY == 0 and await self.host.others_queued(self):
            # woken by the runtime after its next claim round; by the timers if it is gone
            raise Suspend(WaitingOn.of(WaitKind.YIELD), self.host.now() + YIELD_FALLBACK)

    async def execute(
        self, kind: act.Action, action: dict[str, Any], key: str, scope: Scope, *, restart: bool
    ) -> act.Directive:
        retry = action.get("retry") or {}
        attempts = max(1, int(retry.get("attempts") or 1))
        # 0 (``retry: 3``, or no backoff given) retries at once, as definitions document
        backoff = float(retry["backoff"]) if retry.get("backoff") is not None else 1.0
        if kind.side_effects:  # committed before the world is touched
            now = self.host.now()
            first = (
                j.restart_step(self.id, key, now=now, decision=None)
                if restart
                else j.step_row(self.id, key, action, status=STEP_STARTED, now=now)
            )
            # in flight from here on, even if this task is cancelled while the write commits
            await self._journal_write(
                key, {"status": STEP_STARTED, "decision": None}, [first, self.touch(now)]
            )
        attempt = 1
        while True:
            ctx = self.host.context(self, key, scope, action)
            try:
                return await kind.execute(action["args"], ctx)
            except act.ActionFailed as exc:
                if not exc.retryable or attempt >= attempts:
                    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise StepFailed(key, action, exc.message + suffix) from exc
            except ExpressionError as exc:
                raise StepFailed(key, action, f"expression: {exc}") from exc
            except (asyncio.CancelledError, Jump, Suspend, StepFailed):
                raise
            except Exception as exc:
                raise StepFailed(key, action, f"{type(exc).__name__}: {exc}") from exc
            await self.host.log_lines(
                self, [f"switchyard: {action['kind']} failed (attempt {attempt}); retrying"]
            )
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
            attempt += 1

    async def _finish_leaf(
        self,
        action: dict[str, Any],
        key: str,
        *,
        started: bool,
        note: str | None = None,
        decision: dict[str, Any] | None = None,
        extra: list[j.Statement] | None = None,
    ) -> None:
        now = self.host.now()
        first = (
            j.end_step(self.id, key, now=now, note=note, decision=decision)
            if started
            else j.step_row(
                self.id,
                key,
                action,
                status=STEP_DONE,
                now=now,
                ended=True,
                note=note,
                decision=decision,
            )
        )
        if key == self.share_key:  # rides along with the next step's write (shares_commit)
            # an earlier shared step's instance update is superseded by this one (same row)
            pending = [s for s in self.pending if s[0] is not j.TOUCH_INSTANCE]
            self.pending = [*pending, first, self.touch(now), *(extra or [])]
            self.shared = True
            self.journal[key] = {"status": STEP_DONE, "decision": decision}
        else:
            await self._journal_write(
                key,
                {"status": STEP_DONE, "decision": decision},
                [first, self.touch(now), *(extra or [])],
            )

    async def _start_compound(
        self, action: dict[str, Any], key: str, decision: dict[str, Any], *, restart: bool
    ) -> None:
        now = self.host.now()
        first = (
            j.restart_step(self.id, key, now=now, decision=decision)
            if restart or self.journal.get(key)
            else j.step_row(self.id, key, action, status=STEP_STARTED, now=now, decision=decision)
        )
        await self._journal_write(
            key, {"status": STEP_STARTED, "decision": decision}, [first, self.touch(now)]
        )

    async def obey(
        self,
        directive: act.Directive,
        action: dict[str, Any],
        key: str,
        scope: Scope,
        *,
        restart: bool,
    ) -> None:
        started = restart or self.journal.get(key, {}).get("status") == STEP_STARTED
        if isinstance(directive, act.Done):
            if self.host.holds_secret(directive.updates):  # a definition older than flow.py
                raise StepFailed(key, action, SECRET_IN_VARIABLE)
            try:
                scope.apply(directive.updates)
            except act.ActionFailed as exc:
                raise StepFailed(key, action, exc.message) from exc
            await self._finish_leaf(
                action,
                key,
                started=started,
                note=directive.note,
                extra=self.host.report_rows(self, directive.updates, scope),
            )
            return
        if isinstance(directive, act.MilestoneChange):
            await self.change_milestone(directive, action, key, started=started)
            return
        if isinstance(directive, act.GotoState | act.EndProcess):
            await self._finish_leaf(action, key, started=started)
            raise Jump(directive)
        decision = await self.host.decide(self, directive, action, key, scope)
        await self._start_compound(action, key, decision, restart=started)
        await self.resume(action, key, scope, decision)

    # ----------------------------------------------------- compound steps
    async def resume(
        self, action: dict[str, Any], key: str, scope: Scope, decision: dict[str, Any]
    ) -> None:
        """Carry on a control-flow step from its recorded decision, then end it."""
        kind = decision["type"]
        handler: Callable[..., Awaitable[dict[str, Any] | None]] = getattr(self, f"_run_{kind}")
        try:
            final = await handler(action, key, scope, decision)
        except Jump:  # a state change from inside: this step is over too
            now = self.host.now()
            await self._journal_write(
                key,
                {"status": STEP_DONE, "decision": decision},
                [j.end_step(self.id, key, now=now, decision=decision)],
            )
            raise
        await self._withdraw_losers(action, key, final or decision)
        now = self.host.now()
        self.current = None
        await self._journal_write(
            key,
            {"status": STEP_DONE, "decision": final or decision},
            [j.end_step(self.id, key, now=now, decision=final or decision), self.touch(now)],
        )
