"""The heartbeat that measures event-loop stalls (bench/scheduler.py), and the idle loop
that runs it in another process as the machine's baseline (``python bench/heartbeat.py``).

A stall is how much later than asked a 1 ms sleep woke up. On a shared machine that is
the loop's own work plus the time the OS did not give its thread the CPU. The baseline
separates the two: a second process runs nothing but the same heartbeat on an idle loop,
at the same time, under the same load; its stalls are the machine's alone. It runs until
its standard input closes, then prints its stalls as one JSON list of [wall time it
ended, seconds].
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from pathlib import Path

HEARTBEAT = 0.001  # seconds between heartbeat wake-ups


class Heartbeat:
    """Wakes every ``interval`` seconds and keeps every extra delay over 2 ms, with the
    wall time it ended at: ``stop(t)`` gives the worst from ``t`` on, ``noise(t)`` the
    worst in the second before ``t`` (nothing of the contender's runs then: what the
    machine's other load alone costs)."""

    def __init__(self, interval: float = HEARTBEAT) -> None:
        self.interval = interval
        self.stalls: list[tuple[float, float]] = []  # (wall time it ended, extra delay)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            gap = now - last - self.interval
            if gap > 0.002:
                self.stalls.append((time.time(), gap))
            last = now

    async def stop(self, since: float) -> float:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return max(self.gaps(since), default=0.0)

    def gaps(self, since: float, until: float = float("inf")) -> list[float]:
        """The stalls that ended after ``since`` (and by ``until``), longest first."""
        return sorted((gap for at, gap in self.stalls if since < at <= until), reverse=True)

    def noise(self, before: float) -> float:
        return max((gap for at, gap in self.stalls if before - 1.0 < at <= before), default=0.0)


class Baseline:
    """An idle event loop running the heartbeat in another process (this file as a
    script), from ``start`` to ``stop``: the machine's own stalls over the same seconds."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self.beat = Heartbeat()

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        await self._proc.stdout.readline()  # "ready": its loop is running

    async def stop(self) -> Heartbeat:
        """Its stalls (``gaps`` and ``noise`` as for this process's heartbeat)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            return self.beat
        proc.stdin.close()
        out = await proc.stdout.read()
        await proc.wait()
        self.beat.stalls = [(float(at), float(gap)) for at, gap in json.loads(out or b"[]")]
        return self.beat


class ThreadBaseline:
    """The same idle loop in a thread of this process (``--trace``): its stalls add the
    waits for this process's GIL (held by the driver's threads and the main loop) to the
    machine's; set beside ``Baseline``'s, they tell the GIL's share from the OS's."""

    def __init__(self) -> None:
        self.beat = Heartbeat()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()

        async def idle() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self.beat.start()
            ready.set()
            await self._stop.wait()
            await self.beat.stop(0.0)

        self._thread = threading.Thread(target=asyncio.run, args=(idle(),), daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self) -> Heartbeat:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
        return self.beat


async def _idle() -> None:
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    beat = Heartbeat()
    beat.start()
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1() or closed.set())
    print("ready", flush=True)
    await closed.wait()
    await beat.stop(0.0)
    print(json.dumps(beat.stalls), flush=True)


if __name__ == "__main__":
    asyncio.run(_idle())
