"""Slow callbacks on the event loop during an engine scenario (asyncio debug mode).

Run: ``.venv/bin/python bench/loop_hygiene.py [--quick] [--rounds N]``

A real node on a fresh SQLite store runs, on one loop with ``loop.set_debug(True)`` and
``slow_callback_duration = 0.05``: a command schedule started a few times (``sh -c``
printing lines) and a published 3-step process (an assign, a 1 s wait, a log line)
started a few times; the node runs until every instance has completed. asyncio logs
"Executing <callback> took 0.123 seconds" for every callback that held the loop longer
than 50 ms; they are captured and counted.

The count depends on the machine's load (a busy 2-core machine stretches any callback),
so nothing fails on it: the test (tests/test_loop_hygiene.py) prints what it saw, and this
bench reports it. The deterministic check is the static scan in that test. The last line
printed is one JSON object: ``{"slow_callbacks": N, "worst_ms": X, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec

SLOW = 0.05  # seconds: asyncio's slow-callback threshold used here

DEFINITION = """
process: three
variables:
  n: {type: integer, default: 1}
  m: {type: integer}
start: s
states:
  s:
    actions:
      - assign: {m: "{{ n + 1 }}"}
      - wait: {for: 1s}
      - log: "done {{ m }}"
"""
COMMAND = ["sh", "-c", "for i in 1 2 3; do echo line $i; done"]
DONE = {"completed", "failed", "error", "cancelled"}
TOOK = re.compile(r"took (\d+(?:\.\d+)?) seconds")


@dataclass
class Report:
    slow: list[str] = field(default_factory=list)  # asyncio's messages
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def worst_ms(self) -> float:
        found = [float(m.group(1)) * 1000 for s in self.slow if (m := TOOK.search(s))]
        return round(max(found, default=0.0), 1)

    def summary(self) -> dict[str, object]:
        return {
            "slow_callbacks": len(self.slow),
            "worst_ms": self.worst_ms,
            "instances": self.statuses,
            "seconds": round(self.seconds, 2),
        }


class _Capture(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "took" in message and message.startswith("Executing"):
            self.into.append(message)


async def scenario(
    tmp: Path, *, rounds: int = 3, within: float = 60.0, threshold: float = SLOW
) -> Report:
    """The node's work, under debug mode on the running loop (set back afterwards)."""
    report = Report()
    loop = asyncio.get_running_loop()
    capture = _Capture(report.slow)
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(capture)
    level = asyncio_log.level
    asyncio_log.setLevel(logging.WARNING)  # whatever the root logger's level
    debug, slow = loop.get_debug(), loop.slow_callback_duration
    data_dir = tmp / "data"
    engine = await Engine.open(str(tmp / "loop.db"), data_dir=data_dir, create=True)
    runtime = Runtime(engine, kill_grace=1.0)
    started = time.monotonic()
    try:
        await engine.add_schedule(ScheduleSpec(name="echo", command=COMMAND, on_demand=True))
        (tmp / "three.yaml").write_text(textwrap.dedent(DEFINITION).lstrip(), encoding="utf-8")
        await engine.publish([tmp / "three.yaml"])
        loop.set_debug(True)
        loop.slow_callback_duration = threshold
        await runtime.start()
        ids = []
        for _ in range(rounds):
            ids.append(await engine.start("echo"))
            ids.append(await engine.start_process("three"))
        deadline = time.monotonic() + within
        while True:
            views = [await engine.instance(i) for i in ids]
            if all(str(v.status) in DONE for v in views) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        for v in views:
            report.statuses[str(v.status)] = report.statuses.get(str(v.status), 0) + 1
    finally:
        await runtime.stop(grace=5.0)
        loop.set_debug(debug)
        loop.slow_callback_duration = slow
        asyncio_log.removeHandler(capture)
        asyncio_log.setLevel(level)
        await engine.close()
    report.seconds = time.monotonic() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 20")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--threshold-ms", type=float, default=SLOW * 1000)
    args = parser.parse_args()
    threshold = args.threshold_ms / 1000
    rounds = args.rounds or (3 if args.quick else 20)
    logging.basicConfig(level=logging.ERROR)  # asyncio's warnings are captured, not printed
    with tempfile.TemporaryDirectory() as tmp:
        report = asyncio.run(scenario(Path(tmp), rounds=rounds, threshold=threshold))
    print(f"rounds: {rounds} (each: one command run, one 3-step process with a 1 s wait)")
    print(f"instances: {report.statuses} in {report.seconds:.2f} s")
    print(f"slow callbacks (> {args.threshold_ms:g} ms): {len(report.slow)}")
    for line in report.slow[:20]:
        print(f"  {line[:200]}")
    print(json.dumps(report.summary()))


if __name__ == "__main__":
    main()
