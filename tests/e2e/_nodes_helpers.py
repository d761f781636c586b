"""Shared by the node tests: a lane, a process that runs a command until the test
creates a file, one that waits 10 minutes (forced with run_timers), a command schedule."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from switchyard.engine.schedules.spec import ScheduleSpec

NAPPER = """
process: napper
start: s
states:
  s:
    actions:
      - run: {command: [sh, -c, "echo start; until [ -e GO ]; do sleep 0.05; done; echo end"]}
      - end_process: napped
"""
SLEEPER = """
process: sleeper
start: s
states:
  s:
    actions:
      - wait: {for: 10m}
      - end_process: woke
"""


async def setup(sy: Any, *, heartbeat: str = "0.3") -> Path:
    await sy.engine.set_param("node_heartbeat_interval", heartbeat)
    await sy.engine.add_lane("work", 10)
    go = sy.tmp_path / "go"  # running work goes on until the test creates it
    paths = []
    for text in (NAPPER.replace("GO", str(go)), SLEEPER):
        path = sy.tmp_path / f"{text.split()[1]}.yaml"
        path.write_text(textwrap.dedent(text).lstrip())
        paths.append(path)
    await sy.engine.publish(paths)
    command = [
        "sh",
        "-c",
        f'echo "run $SWITCHYARD_INSTANCE_ID"; until [ -e {go} ]; do sleep 0.05; done',
    ]
    await sy.engine.add_schedule(
        ScheduleSpec(
            name="nap", command=command, on_demand=True, lane="work", overlap="parallel:10"
        )
    )
    return go
