"""`switchyard lane set NAME --concurrency N` (issue 16, defect 8): a lane's concurrency
changes after it was created, and a running `switchyard serve` applies it at once.
Raising it starts queued work without a restart; lowering it kills nothing that runs and
starts nothing new until the lane is under the new limit."""

from __future__ import annotations

import pytest
from engine.helpers import Gates, spec

pytestmark = pytest.mark.slow


def overlap(lines: list[str]) -> int:
    """The most runs alive at once, from a journal of ``start ID`` / ``end ID`` lines."""
    live = peak = 0
    for line in lines:
        live += 1 if line.startswith("start ") else -1
        peak = max(peak, live)
    return peak


async def test_a_running_node_applies_a_new_lane_limit_at_once(sy, tmp_path) -> None:
    gates = Gates(tmp_path)
    engine = sy.engine  # set-up in process (CLI calls cost seconds on a busy machine)
    await engine.add_lane("slow", 1)
    await engine.add_lane("zprobe", 1)  # dispatched after "slow" in a round (lanes by name)
    await engine.add_schedule(spec("job", gates.command(), lane="slow", overlap="parallel:10"))
    await engine.add_schedule(spec("probe", ["true"], lane="zprobe"))
    node = await sy.serve()
    ids = [await engine.start("job") for _ in range(5)]

    async def started(n: int) -> list[int]:
        return await sy.until(
            lambda: len(gates.started()) >= n and gates.started(), what=f"{n} runs started"
        )

    first = await started(1)
    assert len(gates.started()) == 1

    # raise 1 -> 3: two more start on the same node, without a restart
    out = sy.cli("lane", "set", "slow", "--concurrency", "3").stdout
    assert out == "lane slow (concurrency 3, was 1)\n"
    running = await started(3)
    assert first[0] in running
    lane = next(ln for ln in await engine.lanes() if ln.name == "slow")
    assert (lane.concurrency, lane.running, lane.queued) == (3, 3, 2)
    assert node.alive and len(sy.serves) == 1

    # lower 3 -> 1: the three keep running; the queued two wait until the lane is empty
    lowered = sy.json("lane", "set", "slow", "--concurrency", "1")
    assert lowered == {"name": "slow", "concurrency": 1, "running": 3, "queued": 2}
    a, b, c = running[:3]
    gates.release(a)
    await sy.wait_status(a, "completed")
    # a dispatch round after a's end: the probe (lane "zprobe", after "slow") has run
    await sy.wait_status(await engine.start("probe"), "completed")
    assert [await sy.status(i) for i in (b, c)] == ["running", "running"]
    queued = [i for i in ids if i not in running]
    assert [await sy.status(i) for i in queued] == ["queued", "queued"]
    gates.release(b)
    gates.release(c)
    for i in queued:
        await gates.wait_started(i)
        gates.release(i)
    for i in ids:
        await sy.wait_status(i, "completed")
    lines = gates.lines()
    # the queued two started only once all three had ended, and one at a time
    first_queued = min(lines.index(f"start {i}") for i in queued)
    assert all(lines.index(f"end {i}") < first_queued for i in (a, b, c)), lines
    assert overlap(lines[first_queued:]) == 1, lines
    assert overlap(lines) == 3, lines
    assert node.alive


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_lane_set_refusals(sy) -> None:
    """Bad number: exit 2; unknown lane: exit 3; no admin right: exit 4. One line, nothing
    written."""
    await sy.engine.add_lane("wide", 2)
    await sy.engine.add_user("dave")
    cases = [
        (["lane", "set", "wide", "--concurrency", "0"], 2, "error: concurrency: "),
        (["lane", "set", "wide", "--concurrency", "many"], 2, "error: concurrency: "),
        (["lane", "set", "nope", "--concurrency", "3"], 3, "error: lane: unknown lane 'nope'"),
        (
            ["--as", "dave", "lane", "set", "wide", "--concurrency", "3"],
            4,
            "error: dave needs the admin right to change lanes",
        ),
    ]
    procs = sy.cli_many(*(args for args, _, _ in cases), expect=None)
    for (args, code, start), proc in zip(cases, procs, strict=True):
        lines = proc.stderr.splitlines()
        assert (proc.returncode, proc.stdout, len(lines)) == (code, "", 1), (args, proc)
        assert lines[0].startswith(start), (args, proc.stderr)
    assert {ln.name: ln.concurrency for ln in await sy.engine.lanes()}["wide"] == 2
