"""An instance is ended (error, cancelled) in a transaction of its own only after every
write its run handed to the group writer has committed, so what the end stores (the
variables) never holds a step the journal does not (seen in CI on PostgreSQL: a parallel
for-each's item appended to a list twice after a kill -9 and a skip).

The group writer is held (its commit of one write waits for the test), which puts the
write that a cancelled task no longer awaits behind the instance's end: the state in which
the end used to commit first, store the run's variables with that step applied, and then
see the step's own write fenced out (the instance no longer ran). A retry then ran the
step again. Now the end waits for the writer first; the test releases the writer as soon
as the end could have happened (the instance left ``running``) or the run queued the write
the end waits for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.helpers import wait_status
from engine.process.held_writer import CANCEL, HeldWriter
from engine.process.held_writer import release_when_the_end_could_come as _release
from engine.process.helpers import journal, publish, variables
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

# item 0 appends 10 to ``done``; item 1 fails on its first step (10 // 0) before it writes
FANOUT = """
process: fanout
variables:
  items: {type: list, default: [0, 1]}
  done: {type: list, default: []}
start: s
states:
  s:
    actions:
      - loop:
          for_each: items
          as: x
          parallel: true
          do:
            - assign: {done: "{{ done + [10 // (1 - x)] }}"}
"""


async def test_an_error_end_waits_for_a_stopped_units_write(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FANOUT)
    rt = await runtime(engine)
    iid = await engine.start_process("fanout")
    held = HeldWriter(rt.writer, iid, "0:s/0/0/0")
    await _release(engine, held, iid)
    row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "error"
    steps = await journal(engine, iid)
    done = (await variables(engine, iid))["done"]
    # item 0's assign: in the stored variables exactly when it is in the journal, and it
    # ran (its write was handed over before item 1 failed): both
    assert steps.get("0:s/0/0/0", {}).get("status") == "done", steps.keys()
    assert done == [10]
    assert steps["0:s/0/1/0"]["status"] == "error"


async def test_a_cancel_waits_for_the_write_the_run_was_awaiting(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, CANCEL)
    rt = await runtime(engine)
    iid = await engine.start_process("cancelme")
    held = HeldWriter(rt.writer, iid, "0:s/0")
    await asyncio.wait_for(held.held.wait(), 20)
    await engine.cancel(iid)
    await _release(engine, held, iid)
    row = await wait_status(engine, iid, "cancelled", "error", "completed")
    assert row["status"] == "cancelled"
    steps = await journal(engine, iid)
    n = (await variables(engine, iid))["n"]
    assert (n == 2) == (steps.get("0:s/0", {}).get("status") == "done"), (n, steps)
