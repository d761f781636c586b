"""A step whose command had run to its end (exit 0, on its own) when its task was stopped
(a sibling branch failed, a cancel, the node stopping) is done, not killed: its end is
recorded and a retry does not run the command again.

The window: the command's leader has exited, the engine still drains and stores its
output (held here: the node's log chunk writer is held on the command's last line), and
a sibling branch fails meanwhile. The step used to be taken for one the stop killed
(``cancelled``), and a retry ran the command a second time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine.helpers import instance_row, until, wait_status
from engine.process.helpers import journal, publish
from engine.process.tools import group_alive, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

GATE = "until [ -e {{ dir }}/go ]; do sleep 0.02; done"

PAIR = f"""
process: ranout
variables:
  dir: {{type: string, required: true}}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - run: {{command: [sh, -c, "echo $$ > {{{{ dir }}}}/a.pid; echo x >> {{{{ dir }}}}/a.runs; echo finished"]}}
            - - run: {{command: [sh, -c, "{GATE}; [ -e {{{{ dir }}}}/fixed ]"]}}
"""

RECORDED = "had ended"  # the line the engine logs when it records such a step


class HeldChunks:
    """Holds the node's log chunk writer on ``marker`` of instance ``owner`` (so the
    command's run cannot finish storing its output), and notes every line it is given."""

    def __init__(self, rt: Runtime, owner: int, marker: str) -> None:
        self.chunks, self.owner, self.marker = rt.chunks, owner, marker
        self.inner = rt.chunks.append
        self.held = asyncio.Event()
        self.go = asyncio.Event()
        self.lines: list[str] = []
        rt.chunks.append = self._append  # type: ignore[method-assign]

    async def _append(self, instance_id: int, lines: list[str], *, where: str = "") -> Any:
        if instance_id == self.owner:
            self.lines += lines
            if not self.go.is_set() and any(self.marker in line for line in lines):
                self.held.set()
                await self.go.wait()
        return await self.inner(instance_id, lines, where=where)


async def test_a_command_that_had_ended_when_a_sibling_failed_is_not_run_again(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, PAIR)
    rt = await runtime(engine)
    iid = await engine.start_process("ranout", {"dir": str(tmp_path)})
    held = HeldChunks(rt, iid, "finished")
    pid = await read_pid(tmp_path / "a.pid")
    await until(lambda: not group_alive(pid), what="branch 0's command to exit")
    (tmp_path / "go").touch()  # branch 1 fails now

    async def stopped_or_ended() -> bool:
        if any(RECORDED in line for line in held.lines):
            return True
        return (await instance_row(engine, iid))["status"] != "running"

    await until(stopped_or_ended, what="branch 0 stopped, or the instance's end")
    held.go.set()
    row = await wait_status(engine, iid, "error", "completed")
    assert row["status"] == "error", row["reason"]
    steps = await journal(engine, iid)
    assert steps["0:s/0/b0/0"]["status"] == "done", steps["0:s/0/b0/0"]
    (tmp_path / "fixed").touch()
    await engine.retry(iid)
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (tmp_path / "a.runs").read_text().count("x") == 1
