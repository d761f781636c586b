"""Units of a block run side by side: the branches of a ``parallel``, the items of a
parallel ``for_each``. One scheduler for both (``fan``), plus the in-memory lock of an
interleaved ``parallel`` (``Interleave``).

Decisions (issue 16):

- a unit that suspends (a wait, a work item, a child) while a sibling still runs waits *in
  memory* for its own wake (``until_woken``) and then re-enters its block, the journal
  skipping its done steps; only when no unit runs any more does the block suspend durably,
  on every waiting unit's wait merged (the earliest wake);
- a unit waiting (in memory or durably) still holds its slot of ``cap`` (the for-each's
  ``max_concurrency``): it is an instance under way, not a finished one;
- units are started in index order, so after a crash the units re-entered first are those
  that had started (a finished one passes over its journal at once and frees its slot);
- a unit that fails stops the others (their steps under way end ``cancelled``) and the
  failure goes up, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from switchyard.engine.process.signals import Suspend, merge_suspends

log = logging.getLogger(__name__)

Start = Callable[[int], Coroutine[Any, Any, None]]


class Interleave:
    """``parallel: {interleaved: true}``: the branches' top-level actions run one at a time,
    in any order (first come, first served), never two at once.

    A branch holds the lock while one of its top-level actions is under way, also while
    that action waits (a work item being worked on is an activity in progress), and lets
    go between its actions, so the others' actions interleave with its own. Held by one
    block of one instance, in memory: other instances on the lane are not serialised."""

    def __init__(self, holder: int | None) -> None:
        self.holder = holder  # from the journal after a resume: the branch with a step under way
        self.suspended = False  # the holder's action waits (its branch is suspended)
        self.waiters: dict[int, asyncio.Future[None]] = {}

    async def acquire(self, unit: int) -> None:
        if self.holder is None or self.holder == unit:
            self.holder, self.suspended = unit, False
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters[unit] = future
        try:
            await future  # handed over by release: self.holder is unit now
        except asyncio.CancelledError:
            if self.waiters.get(unit) is future:
                del self.waiters[unit]
            elif self.holder == unit:  # handed over just as it was cancelled: pass it on
                self.release(unit)
            raise

    def release(self, unit: int) -> None:
        """Hand the lock to the branch that has waited longest (first come, first served):
        a branch going on to its next action queues behind the others."""
        if self.holder != unit:
            return
        self.holder, self.suspended = None, False
        if self.waiters:
            nxt = next(iter(self.waiters))
            self.holder = nxt
            self.waiters.pop(nxt).set_result(None)

    def blocked(self) -> set[int]:
        """Units waiting only for a holder that is itself suspended."""
        return set(self.waiters) if self.suspended else set()


async def fan(
    start: Start,
    next_units: Callable[[int | None], Awaitable[list[int]]],
    finished: Callable[[int], Awaitable[bool]],
    until_woken: Callable[[Suspend], Coroutine[Any, Any, None]],
    stop: Callable[[set[int]], Awaitable[None]],
    *,
    cap: int | None = None,
    blocked: Callable[[], set[int]] = set,
    label: str = "",
) -> None:
    """Run units until none is left or ``finished`` says the join is done.

    ``next_units(free)`` gives the units to start now (at most ``free``; None: no cap);
    ``finished(i)`` is told of each unit that completed and returns True to end the fan
    now: the units still under way are then ``stop``-ped (their steps cancelled by the
    caller). Raises the merged Suspend when every unit left waits, or a unit's failure."""
    running: dict[asyncio.Task[None], int] = {}
    waiting: dict[asyncio.Task[None], int] = {}  # a suspended unit's wake, in memory
    suspends: dict[int, Suspend] = {}
    parked: set[int] = set()  # waiting for an interleave lock whose holder is suspended
    stopped: set[int] = set()  # units this fan ends before they are done

    def launch(i: int) -> None:
        running[asyncio.create_task(start(i))] = i

    async def fill() -> None:
        nonlocal stopped
        free = None if cap is None else cap - len(running) - len(waiting) - len(parked)
        if free is None or free > 0:
            try:
                units = await next_units(free)
            except Exception:  # e.g. a list grown past its max: the others stop, it goes up
                stopped = {*running.values(), *waiting.values()}
                raise
            for i in units:
                launch(i)

    def rewake(waker: asyncio.Task[None]) -> None:
        if not waker.cancelled() and waker.exception() is not None:  # it looks anyway
            log.warning("%s: unit wake failed: %s", label, waker.exception())
        i = waiting.pop(waker)
        del suspends[i]
        launch(i)
        for p in sorted(parked):  # what they waited for is going on: they queue again
            launch(p)
        parked.clear()

    try:
        await fill()
        while running:
            done, _ = await asyncio.wait({*running, *waiting}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in waiting:  # its wake came: it looks again
                    rewake(task)
            # every finished unit's outcome is retrieved, also those after a return
            ended = [t for t in done if t in running]
            outcomes = {t: None if t.cancelled() else t.exception() for t in ended}
            for task in sorted(ended, key=lambda t: running[t]):
                i = running.pop(task)
                exc = outcomes[task]
                if exc is None:
                    if await finished(i):
                        stopped = {*running.values(), *waiting.values()}
                        return
                    continue
                if isinstance(exc, Suspend):
                    suspends[i] = exc
                    waiting[asyncio.create_task(until_woken(exc))] = i
                    continue
                stopped = {b for t, b in running.items() if not t.done()} | set(waiting.values())
                raise exc
            await _park(running, parked, blocked())
            if not running:  # all wait: a wake that came meanwhile still counts
                for task in [t for t in waiting if t.done()]:
                    rewake(task)
            await fill()
    finally:
        rest = [*running, *waiting]
        for task in rest:
            task.cancel()
        if rest:
            await asyncio.gather(*rest, return_exceptions=True)
        if stopped:
            await stop(stopped)
    if suspends:
        raise merge_suspends(list(suspends.values()))


async def _park(
    running: dict[asyncio.Task[None], int], parked: set[int], blocked: set[int]
) -> None:
    """Units that only wait for an interleave lock held by a suspended branch stop running
    (they hold nothing yet), so the block can suspend durably; woken with the holder."""
    if not running or not set(running.values()) <= blocked:
        return
    tasks = list(running)
    for task in tasks:
        task.cancel()
        parked.add(running.pop(task))
    await asyncio.gather(*tasks, return_exceptions=True)
