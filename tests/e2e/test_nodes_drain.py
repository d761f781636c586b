"""`switchyard node drain` on real serve nodes (PostgreSQL): the drained node claims
nothing new, its running commands and process steps finish there (nothing restarts
elsewhere), its waiting instances go to the other live node and complete there, then it
stops. Two nodes on one host are told apart by their ids (host-pid-random)."""

from __future__ import annotations

import signal

import pytest
from e2e._nodes_helpers import setup
from switchyard.engine.kernel import eventlog
from switchyard.store.queries import steps as step_q

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_drain_finishes_running_work_and_hands_waiting_instances_over(sy) -> None:
    await setup(sy)
    a = await sy.serve()
    commands = [await sy.engine.start("nap") for _ in range(2)]
    nappers = [await sy.engine.start_process("napper", lane="work") for _ in range(2)]
    sleepers = [await sy.engine.start_process("sleeper", lane="work") for _ in range(2)]
    for i in commands:
        await sy.wait_running(i)
    for i in sleepers:
        await sy.wait_status(i, "waiting")
    for i in nappers:
        await sy.until(lambda i=i: "start" in sy.log_text(i), what=f"napper {i} to run")
    assert {(await sy.row(i))["node_id"] for i in commands + nappers + sleepers} == {a.node_id}
    b = await sy.serve()

    sy.cli("node", "drain", a.node_id, "--grace", "30")
    states = {n.id: str(n.state) for n in await sy.engine.nodes()}
    assert states == {a.node_id: "draining", b.node_id: "live"}
    later = [await sy.engine.start("nap") for _ in range(2)]  # A claims nothing more
    for i in later:
        assert (await sy.wait_running(i))["node_id"] == b.node_id
    assert a.alive()  # its commands are still running: it waits for them
    (sy.tmp_path / "go").touch()
    assert await a.exited(within=30) == 0
    assert "draining: running commands get 30s to finish" in a.output()

    for i in commands + nappers:  # ran to the end on A, once
        row = await sy.row(i)
        assert (row["status"], row["node_id"]) == ("completed", a.node_id), row["reason"]
    for i in commands:
        assert sy.log_text(i) == f"run {i}\n"
    for i in sleepers:  # still waiting, now B's
        row = await sy.row(i)
        assert (row["status"], row["node_id"]) == ("waiting", b.node_id)
    await sy.engine.run_timers(instance_id=sleepers[0])
    await sy.engine.run_timers(instance_id=sleepers[1])
    for i in sleepers + later:
        view = await sy.wait_status(i, "completed", "error", "failed")
        assert view.status == "completed", view.reason
        assert (await sy.row(i))["node_id"] == b.node_id
    async with sy.engine.store.read() as conn:
        for i in commands + nappers + sleepers:  # nothing was restored or restarted
            history = await step_q.list_history(conn, i)
            assert all(h["kind"] != "restored" for h in history), history
    kinds = [e.kind for e in await sy.engine.event_log(limit=200)]
    assert eventlog.NODE_DRAINING in kinds and eventlog.OWNERSHIP_CHANGED in kinds
    handed = await sy.engine.event_log(kind=eventlog.OWNERSHIP_CHANGED)
    assert any(f"handed to {b.node_id}" in e.message for e in handed), handed
    audit = [(entry.action, entry.target) for entry in await sy.engine.audit(limit=50)]
    assert ("node.drain", a.node_id) in audit


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_sigterm_drains_the_same_way(sy) -> None:
    await setup(sy)
    a = await sy.serve()
    sleeper = await sy.engine.start_process("sleeper", lane="work")
    await sy.wait_status(sleeper, "waiting")
    b = await sy.serve()
    a.send(signal.SIGTERM)
    assert await a.exited() == 0
    row = await sy.row(sleeper)
    assert (row["status"], row["node_id"]) == ("waiting", b.node_id)
    assert {n.id for n in await sy.engine.nodes()} == {b.node_id}
