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


class CallbackClock:
    def __init__(self) -> None:
        self.since = float("inf")  # wall time from which callbacks count
        self.longest: list[float] = []  # seconds of CPU, the 5 longest
        self._installed = False

    def install(self) -> None:
        clock = self

        def _run(handle: Any) -> None:
            began = time.thread_time()
            _plain_run(handle)
            spent = time.thread_time() - began
            if spent > 0.001 and time.time() >= clock.since:
                clock.longest = sorted([*clock.longest, spent], reverse=True)[:5]

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]
        self._installed = True

    def start(self, since: float) -> None:
        self.since, self.longest = since, []

    def stop(self) -> list[float]:
        if self._installed:
            asyncio.events.Handle._run = _plain_run  # type: ignore[method-assign]
            self._installed = False
        return self.longest
