"""A cancel requested for an instance that its (live) node no longer runs — its task ended
without a word, e.g. cancelled before it began — must not leave the instance ``running``
for ever: at two polls of the cancel watcher in a row the node ends it ``cancelled``
(engine/node/orphans.py). Found by tests/engine/process/test_withdraw_children.py failing
about once in twenty runs under load."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import update
from switchyard.engine.api import Engine
from switchyard.engine.node.orphans import REASON
from switchyard.engine.node.runtime import Runtime
from switchyard.store.models import Instance

from engine.helpers import instance_row, spec, wait_status

StartRuntime = Callable[..., Awaitable[Runtime]]


async def test_a_requested_cancel_nothing_runs_ends_the_instance_cancelled(
    engine: Engine, runtime: StartRuntime
) -> None:
    rt = await runtime(engine)
    await engine.add_schedule(spec("job", on_demand=True))
    await rt.dispatcher.stop()  # nothing claims it: only the row says it runs here
    instance_id = await engine.start("job")
    # the node's row for it says running here with a cancel asked, but no task runs it
    async with engine.store.write() as conn:
        await conn.execute(
            update(Instance.__table__)  # type: ignore[arg-type]
            .where(Instance.__table__.c.id == instance_id)  # type: ignore[attr-defined]
            .values(status="running", node_id=engine.node_id, cancel_requested=True)
        )
    assert instance_id not in rt.processes and instance_id not in rt.running
    row = await wait_status(engine, instance_id, "cancelled", within=15)
    assert row["reason"] == REASON
    assert (await instance_row(engine, instance_id))["status"] == "cancelled"
