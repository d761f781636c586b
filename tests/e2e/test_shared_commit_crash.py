"""kill -9 a real serve node at random points while instances run plain assigns that share
one commit (engine/process/executor.py ``shares_commit``) before a command: a crash
between a shared step and the commit it rides along with re-runs only the pure steps, never
the command, and no assign is ever applied twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import textwrap

import pytest
from switchyard.store.queries import steps as step_q

pytestmark = pytest.mark.slow

N = 25

SHARED = """
process: shared
variables:
  n: {type: integer, required: true}
  out: {type: string, required: true}
  count: {type: integer, default: 0}
  a: {type: integer, default: 0}
  b: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - loop:
          while: "count < n"
          max: 10000
          do:
            - assign: {count: "{{ count + 1 }}"}
            - assign: {a: "{{ a + 1 }}"}
            - assign: {b: "{{ b + 2 }}"}
            - run: {command: [sh, -c, "echo {{ count }} {{ a }} {{ b }} >> {{ out }}"]}
      - assign: {a: "{{ a + 1 }}"}
      - assign: {b: "{{ b + 2 }}"}
"""


async def test_kill_9_between_shared_assigns_repeats_no_command_and_no_assign(sy) -> None:
    seed = int(os.environ.get("SWITCHYARD_CRASH_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    (sy.tmp_path / "shared.yaml").write_text(textwrap.dedent(SHARED))
    sy.cli("process", "publish", str(sy.tmp_path / "shared.yaml"))
    sy.cli("lane", "add", "wide", "--concurrency", "8")
    outs = {}
    for k in range(3):
        out = sy.tmp_path / f"out{k}.txt"
        iid = int(
            sy.cli(
                "start", "shared", "--var", f"n={N}", "--var", f"out={out}", "--lane", "wide"
            ).stdout
        )
        outs[iid] = out
    for _ in range(4):
        node = await sy.serve()
        await asyncio.sleep(rng.uniform(0.3, 1.2))
        os.kill(node.pid, signal.SIGKILL)  # no handler, no cleanup
        node.popen.wait(10)
    final = await sy.serve()
    retries = dict.fromkeys(outs, 0)
    pending = set(outs)
    while pending:
        for iid in sorted(pending):
            view = await sy.wait_status(iid, "completed", "error", within=120)
            if view.status == "error":  # a command in flight at a kill: the operator's retry
                assert "restored in error" in (view.reason or ""), f"seed {seed}: {view.reason}"
                detail = await sy.engine.instance_detail(iid)
                failed = [s for s in detail.steps if s.key == detail.error_step]
                assert failed and failed[0].kind == "run", f"seed {seed}: {detail.error_step}"
                retries[iid] += 1
                sy.cli("retry", str(iid))
                await asyncio.sleep(0.2)
            else:
                pending.discard(iid)
    for iid, out in outs.items():
        detail = await sy.engine.instance_detail(iid)
        v = detail.variables
        # the last two assigns share a commit after the loop: applied once too
        assert (v["count"], v["a"], v["b"]) == (N, N + 1, 2 * N + 2), f"seed {seed}: {v}"
        async with sy.engine.store.read() as conn:
            journal = await step_q.journal(conn, iid)
        assigns = sum(
            1 for s in journal.values() if s["kind"] == "assign" and s["status"] == "done"
        )
        assert assigns == 3 * N + 2, f"seed {seed}"
        lines = [tuple(map(int, line.split())) for line in out.read_text().splitlines()]
        # every command saw its pass's three assigns applied exactly once
        assert all(b == 2 * a and a == c for c, a, b in lines), f"seed {seed}: {lines}"
        assert sorted({c for c, _, _ in lines}) == list(range(1, N + 1)), f"seed {seed}"
        # a command ran again only where the operator retried it after a kill
        assert N <= len(lines) <= N + retries[iid], f"seed {seed}: {len(lines)} lines"
    final.send(signal.SIGTERM)
    assert await final.exited() == 0
