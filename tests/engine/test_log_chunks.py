"""Logs from any host: the node running an instance writes its masked log lines to the
store in chunks (as well as to its own file), so an Engine whose data dir is another
directory (a console on another host) reads and follows the same lines. The store keeps a
bounded amount per instance and prunes chunks with the log retention."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.kernel.nodes import HOST
from switchyard.engine.node.runtime import LOG_RETENTION, Runtime
from switchyard.engine.runs import log_chunks
from switchyard.store.models import LogChunk, table_of

from engine.helpers import BASE, spec, until, wait_status
from engine.process.helpers import publish

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

VALUE = "s3cr3t-Value-42"
IBAN = "DE89370400440532013000"
chunks = table_of(LogChunk)


async def stored(engine: Engine, instance_id: int | None = None) -> list[str]:
    """The raw text of the chunks in the store (all, or one instance's), in order."""
    stmt = select(chunks.c.lines).order_by(chunks.c.instance_id, chunks.c.seq)
    if instance_id is not None:
        stmt = stmt.where(chunks.c.instance_id == instance_id)
    async with engine.store.read() as conn:
        return [str(text) for text in (await conn.execute(stmt)).scalars()]


async def stored_chars(engine: Engine, instance_id: int) -> int:
    stmt = select(func.sum(chunks.c.chars)).where(chunks.c.instance_id == instance_id)
    async with engine.store.read() as conn:
        return int((await conn.execute(stmt)).scalar() or 0)


def file_lines(engine: Engine, instance_id: int) -> list[str]:
    return engine.log_path(instance_id).read_text().splitlines()


async def test_a_command_log_reads_the_same_from_another_host(
    engine: Engine, open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await engine.set_secret("k", VALUE)
    printing = ["sh", "-c", 'echo "token=$TOKEN"; echo "plain line"; echo "to stderr" >&2']
    await engine.add_schedule(spec("printer", printing, env=["TOKEN=secret:k"]))
    await runtime(engine)
    instance_id = await engine.start("printer")
    await wait_status(engine, instance_id, "completed")

    here = await engine.log(instance_id)
    assert here == file_lines(engine, instance_id)
    assert sorted(here) == sorted(["token=****", "plain line", "stderr: to stderr"])

    other_host = tmp_path / "host-b"
    b = await open_engine(data_dir=other_host)
    assert await b.log(instance_id) == here
    assert [line async for batch in b.follow_log(instance_id) for line in batch] == here
    assert not b.log_path(instance_id).exists()  # read from the store, not a file

    raw = "\n".join(await stored(engine, instance_id))
    assert "token=****" in raw and VALUE not in raw  # masked before it was written


async def test_follow_from_another_host_sees_lines_while_the_run_goes_on(
    engine: Engine, open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = (
        f"echo first; while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.02; done; echo second"
    )
    await engine.add_schedule(spec("slow", ["sh", "-c", script]))
    await runtime(engine)
    instance_id = await engine.start("slow")

    b = await open_engine(data_dir=tmp_path / "host-b")
    seen: list[str] = []

    async def follow() -> None:
        async for batch in b.follow_log(instance_id, poll=0.05):
            seen.extend(batch)

    task = asyncio.create_task(follow())
    await until(lambda: seen == ["first"], what="the first line on host B")
    assert (await b.instance(instance_id)).status == "running"  # while it still runs
    gate.touch()
    await asyncio.wait_for(task, 20)
    assert seen == ["first", "second"] == file_lines(engine, instance_id)


PAYOUT = """
process: payout
variables:
  iban: {type: string, security: finance}
start: pay
states:
  pay:
    actions:
      - log: "paying now"
      - run: {command: ["sh", "-c", "echo sent to $IBAN; echo key $KEY"], env: {IBAN: "{{ iban }}", KEY: "{{ secret.k }}"}}
      - end_process: paid
"""


async def test_a_process_log_is_masked_in_the_store_and_read_from_another_host(
    engine: Engine, open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await engine.set_secret("k", VALUE)
    await engine.add_secspec("finance", users=[engine.login])  # even members: masked in logs
    await publish(engine, tmp_path, PAYOUT)
    await runtime(engine)
    instance_id = await engine.start_process("payout", {"iban": IBAN})
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]

    raw = "\n".join(await stored(engine, instance_id))
    assert VALUE not in raw and IBAN not in raw
    assert "paying now" in raw and "sent to ****" in raw and "key ****" in raw

    b = await open_engine(data_dir=tmp_path / "host-b")
    lines = await b.log(instance_id)
    assert lines == file_lines(engine, instance_id)
    assert [line async for batch in b.follow_log(instance_id) for line in batch] == lines
    assert any(line.endswith("sent to ****") for line in lines), lines


async def test_the_store_keeps_a_bounded_log_per_instance_in_few_transactions(
    engine: Engine, open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await engine.add_schedule(spec("chatty", ["seq", "1", "20000"]))
    await engine.add_schedule(spec("flood", ["seq", "1", "20000"]))
    rt = await runtime(engine)

    # unbounded enough: every line reaches the store, in far fewer transactions than lines
    whole = await engine.start("chatty")
    await wait_status(engine, whole, "completed")
    assert rt.chunks.flushes <= 20000 // log_chunks.FLUSH_LINES
    b = await open_engine(data_dir=tmp_path / "host-b")
    assert await b.log(whole) == [str(n) for n in range(1, 20001)]

    rt.chunks.max_chars = 10_000
    capped = await engine.start("flood")
    await wait_status(engine, capped, "completed")
    assert len(file_lines(engine, capped)) == 20000  # the node's file keeps it all
    lines = await b.log(capped)
    note = log_chunks.CAPPED_NOTE.format(cap=10_000, where=f"{engine.log_path(capped)} on {HOST}")
    assert lines[-1] == note
    kept = lines[:-1]
    assert kept == [str(n) for n in range(1, len(kept) + 1)]
    assert (
        sum(len(line) + 1 for line in kept)
        <= 10_000
        < sum(len(line) + 1 for line in [*kept, str(len(kept) + 1)])
    )
    assert await stored_chars(engine, capped) <= 10_000 + len(note) + 1


async def test_retention_prunes_old_chunks_but_not_those_of_active_instances(
    engine: Engine,
    open_engine: OpenEngine,
    runtime: StartRuntime,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    script = f"echo still here; while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.02; done"
    await engine.add_schedule(spec("done", ["echo", "old news"]))
    await engine.add_schedule(spec("long", ["sh", "-c", script]))
    rt = await runtime(engine)
    ended = await engine.start("done")
    await wait_status(engine, ended, "completed")
    running = await engine.start("long")
    await until(lambda: stored(engine, running), what="the running instance's first chunk")

    b = await open_engine(data_dir=tmp_path / "host-b")
    await rt.prune()  # within the retention: nothing goes
    assert await b.log(ended) == ["old news"]

    clock.at = BASE + LOG_RETENTION + timedelta(days=1)
    await rt.prune()
    assert await stored(engine, ended) == []
    assert await b.log(ended) == []  # gone from the store (host B has no file either)
    assert await stored(engine, running) == ["still here"]  # still running: kept whole
    gate.touch()
    await wait_status(engine, running, "completed")


async def rename_chunks(engine: Engine, old: str, new: str) -> None:
    async with engine.store.write() as conn:
        await conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_lines_the_store_cannot_take_are_dropped_from_it_only_and_counted(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the store refuses the chunks (here: their table is gone for a while), a
    node keeps a bounded amount in memory, drops the rest (from the store only) and says
    how many when the store takes chunks again."""
    monkeypatch.setattr(log_chunks, "MAX_PENDING_CHARS", 100)
    writer = log_chunks.ChunkWriter(engine, interval=0.01)
    writer.start()
    try:
        await rename_chunks(engine, "log_chunks", "log_chunks_away")
        await writer.append(7, ["a" * 10] * 5, where="the file")
        assert not await writer.flush()  # the store did not take them: kept for later
        await writer.append(7, ["b" * 10] * 10)  # still under the bound: kept
        await writer.append(7, ["c"] * 3)  # over it, the store unreachable: dropped
        await rename_chunks(engine, "log_chunks_away", "log_chunks")
        assert await writer.flush()
        assert "\n".join(await stored(engine, 7)).split("\n") == [
            *["a" * 10] * 5,
            *["b" * 10] * 10,
            log_chunks.DROPPED_NOTE.format(count=3, where="the file"),
        ]
    finally:
        await writer.stop()


async def test_a_node_that_takes_an_instance_over_continues_its_log(
    engine: Engine, open_engine: OpenEngine, tmp_path: Path
) -> None:
    """Two nodes writing one instance's log in turn (a takeover, then back): each reads the
    last seq from the store first, so nothing is overwritten or lost; a node whose idea of
    the last seq is stale fails that flush, keeps the lines, and writes them next time."""
    node_a = log_chunks.ChunkWriter(engine)  # not started: each append writes at once
    node_b = log_chunks.ChunkWriter(await open_engine(data_dir=tmp_path / "host-b"))
    await node_a.append(9, ["a: 1", "a: 2"])
    await node_a.close(9)  # its run there ended: it forgets the instance
    await node_b.append(9, ["b: 3"])
    await node_a.append(9, ["a: 4"])  # read the seq again after close
    await node_b.append(9, ["b: 5"])  # stale: the write fails, the line is kept
    assert await node_b.flush()  # ... and written once the seq is read again
    assert "\n".join(await stored(engine, 9)).split("\n") == [
        "a: 1",
        "a: 2",
        "b: 3",
        "a: 4",
        "b: 5",
    ]
