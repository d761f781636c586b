"""load_balance_threshold with two real serve nodes (PostgreSQL): a node that owns that
many active instances claims no more while the other is below it, so work spreads; when
both are full they claim as before (a hard cap could stall waiting parents). Lane limits
still hold (the one claim path).

Six runs are queued behind a lane of 1 and released at once (the lane raised to 10), so
without the threshold one node takes them all in one claim round."""

from __future__ import annotations

import asyncio

import pytest
from e2e._nodes_helpers import setup

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_low_threshold_spreads_work_over_two_nodes(sy) -> None:
    go = await setup(sy)
    await sy.engine.set_lane_concurrency("work", 1)
    await sy.engine.set_param("load_balance_threshold", "2")
    a, b = await asyncio.gather(sy.serve(ready=False), sy.serve(ready=False))
    await asyncio.gather(a.ready(), b.ready())
    blocker = await sy.engine.start("nap")
    await sy.wait_running(blocker)
    ids = [await sy.engine.start("nap") for _ in range(6)]
    assert [(await sy.row(i))["status"] for i in ids] == ["queued"] * 6

    await sy.engine.set_lane_concurrency("work", 10)  # all six may go at once
    for i in ids:
        await sy.wait_running(i)
    rows = sorted([await sy.row(i) for i in [blocker, *ids]], key=lambda r: r["started_at"])
    first = [r["node_id"] for r in rows[:4]]  # claimed while one node was below 2
    assert sorted(first.count(n) for n in (a.node_id, b.node_id)) == [2, 2], first
    listed = {n["id"]: n for n in sy.json("node", "list")}
    assert all(listed[n.node_id]["at_threshold"] for n in (a, b))
    assert sum(listed[n.node_id]["running"] for n in (a, b)) == 7
    go.touch()
    for i in [blocker, *ids]:
        assert (await sy.wait_status(i, "completed", "error", "failed")).status == "completed"
