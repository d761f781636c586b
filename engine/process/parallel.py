"""The parallel forms of the executor: ``parallel`` branches (joins all / first / N / each,
``cancel_rest: false``, ``interleaved``) and the parallel ``for_each`` (a list known at run
time, ``max_concurrency``, items added while it runs). Both run on ``fanout.fan``.

Decisions kept in the parallel step's journal entry (the crash contract):

- ``started``: the branches that start (``when:`` evaluated once);
- ``winner`` / ``winners``: who completed a ``first`` / N join; written before anything
  follows from it (losers withdrawn, or the ``then`` of a non-cancelling join started);
- for a parallel for-each ``count``: how many items it has; the items' values live
  beside the variables (``__items__``), committed in the same write as the count, never in
  the journal (which holds no variable values). An item added while the loop runs is
  committed (values and count) before it starts.

Which units finished is not a separate record: each unit's own steps are journalled, and a
unit re-entered after a crash passes over its done steps at once.
"""

from __future__ import annotations

from typing import Any

from switchyard.engine.definitions import values
from switchyard.engine.process import journal as j
from switchyard.engine.process.fanout import Interleave, fan
from switchyard.engine.process.signals import Scope, StepFailed, Suspend
from switchyard.engine.process.steps_base import Doc, StepsBase
from switchyard.engine.sandbox.limits import ExpressionError
from switchyard.store.models import STEP_CANCELLED, STEP_DONE, STEP_SKIPPED, STEP_STARTED

THEN = -1  # the unit of a non-cancelling join's ``then`` block


def needed(join: Any, units: int) -> int | None:
    """How many completed units fire the join (None: all of them)."""
    if join == "first":
        return 1
    if isinstance(join, int) and not isinstance(join, bool):
        return min(join, units) if units else None
    return None


class ParallelSteps(StepsBase):
    async def _run_parallel(self, action: Doc, key: str, scope: Scope, d: Doc) -> Doc | None:
        """Run the started branches side by side; each progresses on its own (a suspended
        branch waits in memory while a sibling runs: see fanout.py).

        ``join: all`` waits for every branch; ``first`` / N end when one / N *complete*
        (a timer can beat a command, which is then killed), the others cancelled; with
        ``cancel_rest: false`` the others go on instead and ``then`` runs once beside them,
        the step ending when all did; ``each`` runs ``then`` once per branch as it
        completes (multi-merge). ``interleaved`` runs the branches' actions one at a time."""
        args = action["args"]
        branches, then = args["branches"], args.get("then") or []
        started: list[int] = list(d["started"])
        join, cancel = d["join"], d.get("cancel_rest", True)
        need = needed(join, len(started))
        winners: list[int] = list(
            d.get("winners") or ([] if d.get("winner") is None else [d["winner"]])
        )
        if winners and cancel:
            return None
        state: dict[str, Any] = {"d": d, "fired": bool(winners)}
        lock = Interleave(self._holder(key, branches, started)) if d.get("interleaved") else None

        async def body(i: int) -> None:
            if i == THEN:
                await self.block(then, f"{key}/then", scope)
                return
            prefix = f"{key}/b{i}"
            if lock is not None:
                await self._interleaved(branches[i]["actions"], prefix, scope, lock, i)
            else:
                await self.block(branches[i]["actions"], prefix, scope)
            if join == "each":
                await self.block(then, f"{prefix}/then", scope)

        queue = list(started) + ([THEN] if winners and not cancel and then else [])

        async def next_units(free: int | None) -> list[int]:
            take = queue[: len(queue) if free is None else free]
            del queue[: len(take)]
            return take

        async def finished(i: int) -> bool:
            if i == THEN or need is None or state["fired"]:
                return False
            winners.append(i)
            if len(winners) < need:
                return False
            state["fired"] = True
            state["d"] = {**state["d"], "winner": winners[0], "winners": list(winners)}
            if cancel:
                return True
            await self._record(key, state["d"])  # before the ``then`` it allows
            if then:
                queue.append(THEN)
            return False

        async def stop(units: set[int]) -> None:
            await self._cancel_under(key, [f"{key}/b{i}" for i in units if i != THEN])

        await fan(
            body,
            next_units,
            finished,
            self.host.until_woken,
            stop,
            blocked=lock.blocked if lock is not None else set,
            label=f"instance {self.id}",
        )
        return state["d"] if state["d"] is not d else None

    def _holder(self, key: str, branches: list[Doc], started: list[int]) -> int | None:
        """After a resume: the interleaved branch whose top-level action is under way."""
        for i in started:
            for n in range(len(branches[i]["actions"])):
                entry = self.journal.get(f"{key}/b{i}/{n}")
                if entry is not None and entry.get("status") == STEP_STARTED:
                    return i
        return None

    async def _interleaved(
        self, actions: list[Doc], prefix: str, scope: Scope, lock: Interleave, i: int
    ) -> None:
        for n, action in enumerate(actions):
            key = f"{prefix}/{n}"
            entry = self.journal.get(key)
            if entry is not None and entry.get("status") in (STEP_DONE, STEP_SKIPPED):
                continue
            await lock.acquire(i)
            try:
                await self.step(action, key, scope)
            except BaseException as exc:
                if isinstance(exc, Suspend):  # its action waits: it keeps the lock
                    lock.suspended = True
                else:
                    lock.release(i)
                raise
            lock.release(i)

    async def _run_ploop(self, action: Doc, key: str, scope: Scope, d: Doc) -> Doc | None:
        """A parallel for-each: its items run side by side, at most ``cap`` at once (a
        waiting item keeps its slot), joined all / first / N (the items still under way
        cancelled, and no more started). With ``grows`` the list is
        read again whenever an item completes, suspends or wakes, and items appended to it
        start too, until the join completes."""
        body = action["args"]["do"]
        items = self.items.setdefault(key, [])
        winners: list[int] = list(d.get("winners") or [])
        if winners:
            self.items.pop(key, None)
            return None
        state: dict[str, Any] = {"d": d, "next": 0, "fired": bool(winners)}

        async def item(n: int) -> None:
            await self.block(body, f"{key}/{n}", scope.bind(d.get("as"), items[n]))

        async def next_units(free: int | None) -> list[int]:
            if d.get("grows") and not state["fired"]:
                await self._grow(action, key, scope, state)
            count = int(state["d"]["count"])
            start = int(state["next"])
            end = count if free is None else min(count, start + free)
            state["next"] = max(start, end)
            return list(range(start, end))

        async def finished(n: int) -> bool:
            if state["fired"]:
                return False
            need = needed(state["d"]["join"], int(state["d"]["count"]))
            if need is None:
                return False
            winners.append(n)
            if len(winners) < need:
                return False
            state["fired"] = True
            state["d"] = {**state["d"], "winners": list(winners)}
            state["next"] = int(state["d"]["count"])  # no more items start
            return True

        async def stop(units: set[int]) -> None:
            await self._cancel_under(key, [f"{key}/{n}" for n in units])

        cap = d.get("cap")
        await fan(
            item,
            next_units,
            finished,
            self.host.until_woken,
            stop,
            cap=int(cap) if cap else None,
            label=f"instance {self.id}",
        )
        self.items.pop(key, None)
        return state["d"] if state["d"] is not d else None

    async def _grow(self, action: Doc, key: str, scope: Scope, state: dict[str, Any]) -> None:
        """Items appended to the list since it was last read join the loop: committed
        (values beside the variables, the count in the decision) before they start."""
        try:
            now_list = self.host.evaluate(self, action["args"]["for_each"], scope)
        except ExpressionError as exc:
            raise StepFailed(key, action, f"expression: {exc}") from exc
        if isinstance(now_list, dict):
            now_list = list(now_list)
        items = self.items[key]
        if not isinstance(now_list, list | tuple) or len(now_list) <= len(items):
            return  # the list never shrinks here: what was taken is kept
        bound = int(state["d"]["max"])
        if len(now_list) > bound:
            raise StepFailed(
                key, action, f"for_each grew to {len(now_list)} items; the loop's max is {bound}"
            )
        items.extend(values.to_json(list(now_list[len(items) :])))
        state["d"] = {**state["d"], "count": len(items)}
        await self._record(key, state["d"])

    async def _record(self, key: str, decision: Doc) -> None:
        """A new decision of a parallel step, committed with the variables (and so the
        for-each items) before anything follows from it."""
        now = self.host.now()
        await self._journal_write(
            key,
            {"status": STEP_STARTED, "decision": decision},
            [j.restart_step(self.id, key, now=now, decision=decision), self.touch(now)],
        )

    async def _cancel_under(self, key: str, prefixes: list[str]) -> None:
        """Steps under way in units a join stopped are over (cancelled), not in flight:
        neither recovery nor an interrupt may take them for the step that was running."""
        under = tuple(f"{p}/" for p in prefixes)
        keys = [
            k
            for k, e in self.journal.items()
            if e.get("status") == STEP_STARTED and k.startswith(under) and k not in self.inherited
        ]
        if not keys:
            return
        now = self.host.now()
        statements = [
            j.cancel_step(self.id, k, now=now, decision=self.journal[k].get("decision"))
            for k in keys
        ]
        for k in keys:  # the run's journal as the store will have it once handed over
            self.journal[k] = {**self.journal[k], "status": STEP_CANCELLED}
        await self._write(statements)  # one write for them all

    async def _withdraw_losers(self, action: Doc, key: str, final: Doc | None) -> None:
        """A cancelling join (``first`` / N) that has its winners: what the other units left
        open is over (their steps were cancelled by ``_cancel_under``): their open work
        items are withdrawn and the children they started cancelled, with theirs.

        Not on the way out of an error: a retry carries the stopped units on. The winners
        are committed first, so a replay after a crash here does not run the race again
        (a loser's withdrawn item would fail it) but comes back here (it is idempotent)."""
        if not final or not final.get("cancel_rest", True):
            return
        winners = set(final.get("winners") or ())
        if final.get("winner") is not None:
            winners.add(final["winner"])
        if not winners:
            return
        if final.get("type") == "parallel":
            losers = [f"{key}/b{i}" for i in final["started"] if i not in winners]
        elif final.get("type") == "loop" and final.get("parallel"):
            entered = {
                k[len(key) + 1 :].split("/", 1)[0] for k in self.journal if k.startswith(f"{key}/")
            }
            losers = [
                f"{key}/{n}" for n in sorted(entered) if n.isdigit() and int(n) not in winners
            ]
        else:
            return
        if not losers:
            return
        if (self.journal.get(key) or {}).get("decision") != final:
            await self._record(key, final)
        where = action.get("path") or key
        await self.host.withdraw_branches(
            self, losers, f"withdrawn: another branch of the parallel at {where} won"
        )


__all__ = ["THEN", "ParallelSteps", "needed"]
