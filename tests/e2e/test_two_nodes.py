"""Two serve nodes on one store compete for one serialised lane."""

from __future__ import annotations

import asyncio
import itertools

import pytest

pytestmark = pytest.mark.slow

RUNS = 20


async def test_two_nodes_run_each_instance_once_never_two_at_once(sy) -> None:
    lock = sy.tmp_path / "lock"
    sy.cli("lane", "add", "solo", "--concurrency", "1")
    sy.cli(
        "schedule", "add", "quick", "--on-demand", "--lane", "solo", "--env", f"LOCK={lock}",
        "--", "sh", "-c",
        # a lock directory proves no two commands overlap, whatever the timestamps say
        'mkdir "$LOCK" 2>/dev/null || echo OVERLAP; echo "run $SWITCHYARD_INSTANCE_ID"; '
        'sleep 0.1; rmdir "$LOCK"',
    )  # fmt: skip
    ids = [await sy.engine.start("quick") for _ in range(RUNS - 2)]
    ids += [int(p.stdout) for p in sy.cli_many(["start", "quick"], ["start", "quick"])]

    a, b = await asyncio.gather(sy.serve(ready=False), sy.serve(ready=False))
    await asyncio.gather(a.ready(), b.ready())

    async def all_done():
        views = await sy.engine.instances(schedule="quick", limit=1000)
        return views if all(v.status in ("completed", "failed", "error") for v in views) else None

    views = await sy.until(all_done, within=60, interval=0.25, what="all instances to end")
    assert sorted(v.id for v in views) == sorted(ids)
    assert [v.status for v in views] == ["completed"] * RUNS
    for v in views:
        assert sy.log_text(v.id) == f"run {v.id}\n", v.id  # ran once, alone

    spans = sorted((v.started_at, v.ended_at) for v in views)
    for (_, prev_end), (start, _) in itertools.pairwise(spans):
        assert start >= prev_end, "two instances ran at once on a lane of concurrency 1"

    listed = sy.json("instances", "--lane", "solo", "--limit", "1000")
    nodes = {i["node_id"] for i in listed}
    assert nodes <= {a.node_id, b.node_id}
    print(
        f"[{sy.backend}] runs per node:", {n: sum(i["node_id"] == n for i in listed) for n in nodes}
    )
