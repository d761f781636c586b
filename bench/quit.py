"""Quitting a console that runs work itself: ``q`` to the end of what ``run_console``
does after the app (the embedded node stopped with ``QUIT_GRACE``, the engine closed).

Run: ``.venv/bin/python bench/quit.py``. Two cases on a fresh SQLite store each: nothing
running, and only a continuous schedule's run (which the quit stops at once, recorded
``cancelled`` "interrupted by quit"). Goal: <= 1 s. It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.tui.app import QUIT_GRACE, SwitchyardApp

TICKER = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(1)"


async def quit_time(continuous: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = await Engine.open(url, data_dir=Path(tmp), user="bench")
        if continuous:
            argv = [sys.executable, "-u", "-c", TICKER]
            await engine.add_schedule(ScheduleSpec("shipper", argv, continuous=True))
        runtime = Runtime(engine, mode="console")
        await runtime.start()
        app = SwitchyardApp(engine, runtime)
        async with app.run_test(size=(120, 40)) as pilot:
            while continuous and not runtime.running:  # noqa: ASYNC110 - polling the node
                await asyncio.sleep(0.05)
            started = time.perf_counter()
            await pilot.press("q")
        await runtime.stop(grace=QUIT_GRACE)
        await engine.close()
        return time.perf_counter() - started


async def main() -> None:
    for continuous in (False, True):
        seconds = await quit_time(continuous)
        case = "a continuous run going" if continuous else "nothing running"
        print(f"quit with {case:24} {seconds:6.3f} s   (goal <= 1 s)")


if __name__ == "__main__":
    asyncio.run(main())
