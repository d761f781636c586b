"""The event loop's longest callbacks by the main thread's CPU time (bench/scheduler.py).

The heartbeat's stall is wall time: on a shared machine it includes the time the OS gave
the CPU to other processes (and, for the burst, the other threads of this one holding the
GIL). A callback's main-thread CPU time (``time.thread_time``) is what the loop's own work
cost, which other load does not inflate: the part of a stall the code is answerable for.
It wraps ``asyncio.events.Handle._run`` (every callback, timers included) while active;
the wrapper costs about a microsecond a callback.

With ``trace=True`` it also keeps, for ``explain``, every callback that took more than
``TRACE_MS`` of wall time (with its CPU time and what it ran) and every wait in the
selector that returned more than ``TRACE_MS`` after its timeout (the loop's thread was
not given the CPU, or the GIL, when its timer was due): a stall is then split into the
loop's own work and the time it was kept from running.
"""

from __future__ import annotations

import asyncio.events
import threading
import time
from pathlib import Path
from typing import Any

import switchyard.engine
import switchyard.store

_plain_run = asyncio.events.Handle._run
TRACE_MS = 3.0
# the project's own frames: files under the engine's and the store's folders
_OURS = tuple(str(Path(m.__file__ or "").parent) for m in (switchyard.engine, switchyard.store))


def describe(handle: Any) -> str:
    """What a callback runs: a task's coroutine where it resumes, or the function."""
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro: Any = task.get_coro()
        where = ""  # the innermost frame of the project's code it resumes in
        while coro is not None:
            frame = getattr(coro, "cr_frame", None)
            if frame is not None and frame.f_code.co_filename.startswith(_OURS):
                name = frame.f_code.co_filename.rsplit("/", 1)[-1]
                where = f"{name}:{frame.f_code.co_name}:{frame.f_lineno}"
            coro = getattr(coro, "cr_await", None)
        return f"task {task.get_name()} at {where}"
    return getattr(callback, "__qualname__", repr(callback))


class CallbackClock:
    def __init__(self, trace: bool = False) -> None:
        self.since = float("inf")  # wall time from which callbacks count
        self.trace_since = float("inf")  # wall time from which they are traced
        self.longest: list[float] = []  # seconds of CPU, the 5 longest
        self.trace = trace
        # (wall time it ended, wall seconds, CPU seconds, what): long callbacks and
        # late selector wake-ups ("woke late")
        self.events: list[tuple[float, float, float, str]] = []
        self.busy_cpu = 0.0  # main-thread CPU in callbacks since ``since``
        self.by_what: dict[str, list[float]] = {}  # traced: what -> [CPU s, wall s, count]
        self.named: list[tuple[float, str]] = []  # (seconds of CPU, what ran), the longest
        self.keep = 5
        self._installed = False
        self._selector: Any = None
        self._plain_select: Any = None

    def install(self) -> None:
        clock = self
        loop_thread = threading.get_ident()

        def _run(handle: Any) -> None:
            if threading.get_ident() != loop_thread:  # another loop (bench/heartbeat.py)
                _plain_run(handle)
                return
            what = describe(handle) if clock.trace else ""
            wall0 = time.perf_counter()
            began = time.thread_time()
            _plain_run(handle)
            spent = time.thread_time() - began
            ended = time.time()
            wall = time.perf_counter() - wall0
            if clock.trace and wall * 1000 > TRACE_MS and ended >= clock.trace_since:
                clock.events.append((ended, wall, spent, what))
            if ended < clock.since:
                return
            clock.busy_cpu += spent
            if spent > 0.001:
                clock.longest = sorted([*clock.longest, spent], reverse=True)[:5]
                if len(clock.named) < clock.keep or spent > clock.named[-1][0]:
                    entry = (spent, what or describe(handle))
                    clock.named = sorted([*clock.named, entry], reverse=True)[: clock.keep]
            if clock.trace:
                total = clock.by_what.setdefault(what, [0.0, 0.0, 0])
                total[0] += spent
                total[1] += wall
                total[2] += 1

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]
        self._installed = True
        if self.trace:
            self._trace_selector()

    def _trace_selector(self) -> None:
        selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        plain = selector.select
        clock = self

        def select(timeout: float | None = None) -> Any:
            t0 = time.perf_counter()
            c0 = time.thread_time()
            ready = plain(timeout)
            wall = time.perf_counter() - t0
            late = wall - (timeout or 0.0)  # with events ready: at least this late
            if timeout is not None and late * 1000 > TRACE_MS and time.time() >= clock.since:
                clock.events.append((time.time(), late, time.thread_time() - c0, "woke late"))
            return ready

        self._selector, self._plain_select = selector, plain
        selector.select = select

    def start(self, since: float, trace_since: float | None = None) -> None:
        """Count from wall time ``since``; trace (long callbacks, late wake-ups) from
        ``trace_since`` (default: the same)."""
        self.since, self.longest, self.events, self.busy_cpu = since, [], [], 0.0
        self.trace_since = since if trace_since is None else trace_since
        self.by_what, self.named = {}, []

    def stop(self) -> list[float]:
        if self._installed:
            asyncio.events.Handle._run = _plain_run  # type: ignore[method-assign]
            self._installed = False
        if self._selector is not None:
            self._selector.select = self._plain_select
            self._selector = None
        return self.longest

    def heaviest(self, count: int = 8) -> list[str]:
        """Traced: the callbacks' CPU and wall time summed by what they ran, most CPU first."""
        ranked = sorted(self.by_what.items(), key=lambda kv: -kv[1][0])[:count]
        return [
            f"{cpu * 1000:.1f} ms cpu / {wall * 1000:.1f} ms wall in {n} callbacks: {what}"
            for what, (cpu, wall, n) in ranked
        ]

    def explain(self, stalls: list[tuple[float, float]]) -> list[str]:
        """For each (wall time it ended, seconds) heartbeat stall, the traced events that
        ended inside it."""
        out = []
        for end, gap in stalls:
            inside = [e for e in self.events if end - gap - 0.002 <= e[0] <= end + 0.001]
            parts = [
                f"{w * 1000:.1f} ms wall / {c * 1000:.1f} cpu {what}" for _, w, c, what in inside
            ]
            out.append(f"stall {gap * 1000:.1f} ms: " + ("; ".join(parts) or "(nothing traced)"))
        return out
