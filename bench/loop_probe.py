"""The event loop's longest callbacks by the main thread's CPU time (bench/scheduler.py).

The heartbeat's stall is wall time: on a shared machine it includes the time the OS gave
the CPU to other processes (and, for the burst, the other threads of this one holding the
GIL). A callback's main-thread CPU time (``time.thread_time``) is what the loop's own work
cost, which other load does not inflate: the part of a stall the code is answerable for.
It wraps ``asyncio.events.Handle._run`` (every callback, timers included) while active;
the wrapper costs about a microsecond a callback.
"""

from __future__ import annotations

import asyncio.events
import time
from typing import Any

_plain_run = asyncio.events.Handle._run


def describe(handle: Any) -> str:
    """What a callback ran: a task's name and coroutine, or the function's name."""
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        where = getattr(coro, "cr_frame", None)
        code = getattr(coro, "__qualname__", "?")
        line = f":{where.f_lineno}" if where is not None else ""
        return f"task {task.get_name()} {code}{line}"
    return getattr(callback, "__qualname__", repr(callback))


class CallbackClock:
    def __init__(self) -> None:
        self.since = float("inf")  # wall time from which callbacks count
        self.longest: list[float] = []  # seconds of CPU, the 5 longest
        self.named: list[tuple[float, str]] = []  # (seconds of CPU, what ran), the longest
        self.keep = 5
        self._installed = False

    def install(self) -> None:
        clock = self

        def _run(handle: Any) -> None:
            began = time.thread_time()
            _plain_run(handle)
            spent = time.thread_time() - began
            if spent > 0.001 and time.time() >= clock.since:
                clock.longest = sorted([*clock.longest, spent], reverse=True)[:5]
                if len(clock.named) < clock.keep or spent > clock.named[-1][0]:
                    entry = (spent, describe(handle))
                    clock.named = sorted([*clock.named, entry], reverse=True)[: clock.keep]

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]
        self._installed = True

    def start(self, since: float) -> None:
        self.since, self.longest, self.named = since, [], []

    def stop(self) -> list[float]:
        if self._installed:
            asyncio.events.Handle._run = _plain_run  # type: ignore[method-assign]
            self._installed = False
        return self.longest
