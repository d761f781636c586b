"""load_balance_threshold with two real serve nodes (PostgreSQL): a node that owns that
many active instances claims no more while the other can, so work spreads; lane limits
still hold (the one claim path)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from e2e._nodes_helpers import setup
from sqlalchemy import text

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

_OWNED = text(
    "SELECT node_id, count(*) FROM instances WHERE status IN ('running', 'waiting') "
    "AND node_id IS NOT NULL GROUP BY node_id"
)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_low_threshold_spreads_work_over_two_nodes(sy) -> None:
    go = await setup(sy)
    await sy.engine.set_param("load_balance_threshold", "2")
    a, b = await asyncio.gather(sy.serve(ready=False), sy.serve(ready=False))
    await asyncio.gather(a.ready(), b.ready())
    most: dict[str, int] = {}

    async def sample() -> None:
        while True:
            async with sy.engine.store.read() as conn:
                for node_id, count in (await conn.execute(_OWNED)).all():
                    most[node_id] = max(most.get(node_id, 0), int(count))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        ids = [await sy.engine.start("nap") for _ in range(6)]

        async def settled() -> dict[str, int] | None:
            async with sy.engine.store.read() as conn:
                owned = {str(n): int(c) for n, c in (await conn.execute(_OWNED)).all()}
            return owned if sum(owned.values()) == 4 else None

        assert await sy.until(settled, what="4 running") == {a.node_id: 2, b.node_id: 2}
        listed = {n["id"]: n for n in sy.json("node", "list")}
        for node in (a, b):
            assert listed[node.node_id]["load_balance_threshold"] == 2
            assert listed[node.node_id]["at_threshold"] is True
        assert "2/2 full" in sy.cli("node", "list").stdout
        queued = [i for i in ids if (await sy.row(i))["status"] == "queued"]
        assert len(queued) == 2  # nobody may take them yet
        go.touch()
        for i in ids:
            assert (await sy.wait_status(i, "completed", "error", "failed")).status == "completed"
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    assert most == {a.node_id: 2, b.node_id: 2}  # never more than the threshold
    ran = {(await sy.row(i))["node_id"] for i in ids}
    assert ran == {a.node_id, b.node_id}
