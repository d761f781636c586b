"""Holding the group writer's commit of one write, so that a test decides when a write an
instance's run handed over commits (imported as ``engine.process.held_writer``).

``HeldWriter(writer, owner, key)`` holds the commit of the batch holding ``key``'s journal
row of instance ``owner`` until ``go`` is set; everything else commits as usual.
``release_when_the_end_could_come`` sets it once the instance could have ended in a
transaction of its own (it left ``running``) or its run queued another write (one that
waits for the held one: ``settle``).

``HeldWriter(..., end=True)`` holds the write that ends ``key``'s step instead (its row
exists: the step's start was committed before). ``HeldWriter(..., fail=True)`` also makes
the held write fail for real: a second journal row for ``key`` is inserted with it, so the
database refuses the write (the journal's unique key), as a whole batch and again alone
when the writer retries it one by one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from engine.helpers import instance_row, until
from switchyard.engine.api import Engine
from switchyard.engine.process import journal as j
from switchyard.engine.process.writer import GroupWriter
from switchyard.store.models import STEP_STARTED


class HeldWriter:
    """Holds the group writer's commit of the batch holding ``key``'s journal row of
    ``owner`` until ``release``; everything else commits as usual."""

    def __init__(
        self, writer: GroupWriter, owner: int, key: str, *, fail: bool = False, end: bool = False
    ) -> None:
        self.writer, self.owner, self.key, self.fail = writer, owner, key, fail
        self.param = "b_key" if end else "key"  # an end_step's key, or the step_row's
        self.inner = writer._commit
        self.held = asyncio.Event()
        self.go = asyncio.Event()
        writer._commit = self._commit  # type: ignore[method-assign]

    def _holds(self, batch: list[Any]) -> bool:
        return any(
            item.owner == self.owner
            and isinstance(params, dict)
            and params.get(self.param) == self.key
            for item in batch
            for _, params in item.statements
        )

    async def _commit(self, batch: list[Any]) -> None:
        if not self.go.is_set() and self._holds(batch):
            self.held.set()
            await self.go.wait()
            if self.fail:
                self._break(batch)
        await self.inner(batch)

    def _break(self, batch: list[Any]) -> None:
        """A second journal row for ``key`` in the held write: a real unique-key violation."""
        again = j.step_row(
            self.owner, self.key, {"kind": "assign"}, status=STEP_STARTED, now=datetime.now(UTC)
        )
        for item in batch:
            if item.owner == self.owner:
                item.statements = [*item.statements, again]

    def queued_after(self) -> bool:
        """The run handed another write of its instance over (it waits for the held one)."""
        return any(item.owner == self.owner for item in list(self.writer._queue._queue))  # type: ignore[attr-defined]


async def status(engine: Engine, iid: int) -> str:
    return str((await instance_row(engine, iid))["status"])


async def release_when_the_end_could_come(engine: Engine, held: HeldWriter, iid: int) -> None:
    await asyncio.wait_for(held.held.wait(), 20)

    async def end_or_wait() -> bool:
        return held.queued_after() or await status(engine, iid) != "running"

    await until(end_or_wait, what="the instance's end, or its wait for the writer")
    held.go.set()


# an assign, then a command: the assign's write is held; a cancel comes while the run awaits it
CANCEL = """
process: cancelme
variables:
  n: {type: integer, default: 1}
start: s
states:
  s:
    actions:
      - assign: {n: "{{ n + 1 }}"}
      - run: {command: [sleep, "30"]}
"""


# a command, then another: the first one's end is held (and failed); a cancel comes meanwhile
COMMANDS = """
process: commands
start: s
states:
  s:
    actions:
      - run: {command: ["true"]}
      - run: {command: [sleep, "30"]}
"""
