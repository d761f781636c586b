"""kill -9 a real serve node at random points while process instances count in committed
steps; restart it; repeat. Nothing is lost, nothing runs twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import textwrap

import pytest
from switchyard.store.queries import steps as step_q

pytestmark = pytest.mark.slow

COUNTER = """
process: counter
variables:
  n: {type: integer, required: true}
  count: {type: integer, default: 0}
start: counting
states:
  counting:
    actions:
      - loop:
          while: "count < n"
          max: 100000
          do:
            - assign: {count: "{{ count + 1 }}"}
            - log: "at {{ count }}"
"""

WORKER = """
process: worker
variables:
  n: {type: integer, required: true}
  count: {type: integer, default: 0}
start: working
states:
  working:
    actions:
      - loop:
          while: "count < n"
          max: 1000
          do:
            - run: {command: [sh, -c, "sleep 0.05"]}
            - assign: {count: "{{ count + 1 }}"}
"""


async def done_increments(sy, instance_id: int) -> int:  # type: ignore[no-untyped-def]
    async with sy.engine.store.read() as conn:
        journal = await step_q.journal(conn, instance_id)
    return sum(1 for s in journal.values() if s["kind"] == "assign" and s["status"] == "done")


async def test_kill_9_at_random_points_loses_nothing_and_repeats_nothing(sy) -> None:
    seed = int(os.environ.get("SWITCHYARD_CRASH_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    (sy.tmp_path / "counter.yaml").write_text(textwrap.dedent(COUNTER))
    (sy.tmp_path / "worker.yaml").write_text(textwrap.dedent(WORKER))
    sy.cli(
        "process", "publish", str(sy.tmp_path / "counter.yaml"), str(sy.tmp_path / "worker.yaml")
    )
    sy.cli("lane", "add", "wide", "--concurrency", "8")
    counters = [
        int(sy.cli("start", "counter", "--var", "n=300", "--lane", "wide").stdout) for _ in range(3)
    ]
    workers = [
        int(sy.cli("start", "worker", "--var", "n=40", "--lane", "wide").stdout) for _ in range(2)
    ]
    kills = 0
    for _ in range(4):
        node = await sy.serve()
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        os.kill(node.pid, signal.SIGKILL)  # no handler, no cleanup
        node.popen.wait(10)
        kills += 1
    final = await sy.serve()

    for iid in counters:
        view = await sy.wait_status(iid, "completed", "error", within=120)
        assert view.status == "completed", f"seed {seed}: {view.reason}"
        detail = await sy.engine.instance_detail(iid)
        assert detail.variables["count"] == 300, f"seed {seed}"
        assert await done_increments(sy, iid) == 300, f"seed {seed}"
    for iid in workers:
        view = await sy.wait_status(iid, "completed", "error", within=120)
        detail = await sy.engine.instance_detail(iid)
        # every increment that was committed is counted once, and only those
        assert detail.variables["count"] == await done_increments(sy, iid), f"seed {seed}"
        if view.status == "error":
            assert "restored in error" in (view.reason or ""), f"seed {seed}: {view.reason}"
            assert detail.error_step and detail.steps, f"seed {seed}"
            failed = [s for s in detail.steps if s.key == detail.error_step]
            assert failed and failed[0].kind == "run", f"seed {seed}: {detail.error_step}"
            sy.cli("retry", str(iid))  # the operator's way on
        else:
            assert detail.variables["count"] == 40, f"seed {seed}"
    for iid in workers:
        view = await sy.wait_status(iid, "completed", within=120)
        assert (await sy.engine.instance_detail(iid)).variables["count"] == 40, f"seed {seed}"
        assert await done_increments(sy, iid) == 40, f"seed {seed}"
    assert kills == 4
    final.send(signal.SIGTERM)
    assert await final.exited() == 0
