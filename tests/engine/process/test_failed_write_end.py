"""A write the group writer could not commit, whose task no longer awaited it (a parallel
unit a sibling's failure stopped, or the run a cancel interrupted), is not forgotten: the
instance ends in error naming the step and the database error, with the variables as last
committed, so that the stored variables agree with the journal and a retry runs that step
once, not on top of its own effect.

The group writer is held (engine.process.held_writer) and the held write made to fail for
real (its journal row inserted twice: the database refuses it, in the batch and again alone
when the writer retries it one by one). Before, the writer dropped that error (nobody
awaited it), and the end stored the run's variables, which held the step: ``done`` held
item 0's value while the journal had no row for it, and after a skip of item 1 the loop
ran item 0 again (``done == [10, 10]``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import instance_row, until, wait_status
from engine.process.held_writer import CANCEL, COMMANDS, HeldWriter
from engine.process.held_writer import release_when_the_end_could_come as _release
from engine.process.helpers import journal, publish, variables
from engine.process.test_end_after_writes import FANOUT
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.process import journal as j
from switchyard.engine.process.writer import WriteFailed

StartRuntime = Callable[..., Awaitable[Runtime]]

REFUSED = ("unique", "duplicate")  # SQLite's and PostgreSQL's words for the violation


def _names_the_failure(reason: str, key: str) -> bool:
    return key in reason and any(word in reason.lower() for word in REFUSED) and "\n" not in reason


async def test_a_stopped_units_failed_write_is_not_in_the_stored_variables(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FANOUT)
    rt = await runtime(engine)
    iid = await engine.start_process("fanout")
    held = HeldWriter(rt.writer, iid, "0:s/0/0/0", fail=True)
    await _release(engine, held, iid)
    row = await wait_status(engine, iid, "completed", "error")
    steps = await journal(engine, iid)
    done = (await variables(engine, iid))["done"]
    # item 0's assign is in the stored variables exactly when it is in the journal
    assert (done == [10]) == (steps.get("0:s/0/0/0", {}).get("status") == "done"), (
        done,
        sorted(steps),
    )
    assert row["status"] == "error"
    assert _names_the_failure(row["reason"], "0:s/0/0/0"), row["reason"]
    # what a user does next: retry (nothing recorded to skip) or skip the failed item,
    # until it completes: item 0's assign has run once
    for _ in range(4):
        row = await instance_row(engine, iid)
        if row["status"] != "error":
            break
        key = row["error_step"]
        if key and key in await journal(engine, iid):
            await engine.skip(iid)
        else:
            await engine.retry(iid)
        row = await wait_status(engine, iid, "completed", "error")
    assert row["status"] == "completed", row
    assert (await variables(engine, iid))["done"] == [10]


async def test_a_cancelled_runs_failed_write_is_not_in_the_stored_variables(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, CANCEL)
    rt = await runtime(engine)
    iid = await engine.start_process("cancelme")
    held = HeldWriter(rt.writer, iid, "0:s/0", fail=True)
    await asyncio.wait_for(held.held.wait(), 20)
    await engine.cancel(iid)
    await _release(engine, held, iid)
    row = await wait_status(engine, iid, "cancelled", "error", "completed")
    steps = await journal(engine, iid)
    n = (await variables(engine, iid))["n"]
    assert (n == 2) == (steps.get("0:s/0", {}).get("status") == "done"), (n, steps)
    assert row["status"] == "error"
    assert _names_the_failure(row["reason"], "0:s/0"), row["reason"]
    # a retry runs the assign once (from the committed n == 1) and goes on to the command
    await engine.retry(iid)

    async def at_the_command() -> bool:
        return "0:s/1" in await journal(engine, iid)

    await until(at_the_command, what="the retry's command")
    assert (await journal(engine, iid))["0:s/0"]["status"] == "done"
    assert (await variables(engine, iid))["n"] == 2
    await engine.cancel(iid)
    await wait_status(engine, iid, "cancelled")


async def test_the_writer_keeps_an_unheard_failure_and_refuses_the_instances_next_writes(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    """The writer's side: a write whose awaiting task was cancelled fails for real (its
    journal row exists already); the failure is kept for its instance, every later write
    of the instance is refused with it until ``failed_for`` hands it over, then accepted."""
    await publish(engine, tmp_path, CANCEL)
    rt = await runtime(engine)
    iid = await engine.start_process("cancelme")

    async def at_the_command() -> bool:
        return "0:s/1" in await journal(engine, iid)

    await until(at_the_command, what="the command")
    held = HeldWriter(rt.writer, iid, "0:s/0")
    again = j.step_row(iid, "0:s/0", {"kind": "assign"}, status="done", now=engine.clock.now())
    orphan = asyncio.create_task(rt.writer.write([again], owner=iid))
    await asyncio.wait_for(held.held.wait(), 20)
    orphan.cancel()
    held.go.set()
    with pytest.raises(WriteFailed) as refused:
        await rt.writer.write([], owner=iid)
    assert j.step_keys(refused.value.failure.statements) == ["0:s/0"]
    with pytest.raises(WriteFailed):  # still kept: nobody took it yet
        await rt.writer.write([], owner=iid)
    failure = rt.writer.failed_for(iid)
    assert failure is refused.value.failure
    assert rt.writer.failed_for(iid) is None
    await rt.writer.write([], owner=iid)  # accepted again
    await engine.cancel(iid)
    row = await wait_status(engine, iid, "cancelled", "error")
    assert row["status"] == "cancelled"


async def test_a_commands_failed_end_write_is_the_failed_step(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    """The step whose write failed had its start committed (a command that ran): it is the
    instance's failed step, in error in the journal, for a retry or a skip to decide."""
    await publish(engine, tmp_path, COMMANDS)
    rt = await runtime(engine)
    iid = await engine.start_process("commands")
    held = HeldWriter(rt.writer, iid, "0:s/0", fail=True, end=True)
    await asyncio.wait_for(held.held.wait(), 20)
    await engine.cancel(iid)
    await _release(engine, held, iid)
    row = await wait_status(engine, iid, "cancelled", "error", "completed")
    assert row["status"] == "error"
    assert _names_the_failure(row["reason"], "0:s/0"), row["reason"]
    assert row["error_step"] == "0:s/0"
    assert (await journal(engine, iid))["0:s/0"]["status"] == "error"
    await engine.skip(iid)  # go on after it: the next command starts

    async def at_the_next_command() -> bool:
        return "0:s/1" in await journal(engine, iid)

    await until(at_the_next_command, what="the next command")
    assert (await journal(engine, iid))["0:s/0"]["status"] == "skipped"
    await engine.cancel(iid)
    await wait_status(engine, iid, "cancelled")
