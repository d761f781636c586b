"""A stream outlives the rights it started on: ``follow_log`` (the Queue's log pane, ``log
-f``) checks its rule again, on the identity read afresh, before each batch it hands
over. A view right revoked while a log is followed ends the stream with the refusal, and
no line written after it leaves."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import spec, until, wait_status
from switchyard.engine.api import Engine
from switchyard.engine.errors import Refused
from switchyard.engine.node.runtime import Runtime

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]


@pytest.mark.parametrize("how", ["revoked", "out of the group"])
async def test_a_followed_log_stops_once_the_view_right_goes(
    how: str, engine: Engine, open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = f"echo first; until [ -e {shlex.quote(str(gate))} ]; do sleep 0.02; done; echo second"
    await engine.add_schedule(spec("slow", ["sh", "-c", script]))
    await engine.add_user("alice", licence="direct")
    await engine.add_group("night")
    await engine.add_member("night", "alice")
    await engine.grant("slow", "alice" if how == "revoked" else "night", view=True)
    await runtime(engine)
    instance_id = await engine.start("slow")

    alice = await open_engine(user="alice", data_dir=tmp_path / "alice")
    seen: list[str] = []

    async def follow() -> None:
        async for batch in alice.follow_log(instance_id, poll=0.05):
            seen.extend(batch)

    task = asyncio.create_task(follow())
    await until(lambda: seen == ["first"], what="the first line")
    if how == "revoked":
        await engine.revoke("slow", "alice", view=True)
    else:
        await engine.remove_member("night", "alice")
    gate.touch()
    await wait_status(engine, instance_id, "completed")
    with pytest.raises(Refused, match="alice may not read the log of"):
        await asyncio.wait_for(task, 20)
    assert seen == ["first"]
