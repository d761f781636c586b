"""`switchyard node transfer` (the seeds' flow_admin) on real serve nodes (PostgreSQL): a
node killed with SIGKILL on "another host" (SWITCHYARD_NODE_HOST: its pid cannot be
checked, only its heartbeat) is taken over at once, long before the dead timeout: its
command run and its process instance's in-flight side-effect step are restored in error
as recovery does, its waiting instance moves to the live node and completes there."""

from __future__ import annotations

import json

import pytest
from e2e._nodes_helpers import setup
from switchyard.engine.kernel import eventlog
from switchyard.store.queries import nodes as node_q

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_transfer_from_a_killed_node_before_the_dead_timeout(sy) -> None:
    await setup(sy)
    await sy.engine.set_param("node_dead_timeout", "600")  # recovery alone: 10 minutes
    env = sy.env
    sy.env = {**env, "SWITCHYARD_NODE_HOST": "far-away"}  # a node "on another host"
    a = await sy.serve()
    sy.env = env
    command = await sy.engine.start("nap")
    napper = await sy.engine.start_process("napper", lane="work")
    sleeper = await sy.engine.start_process("sleeper", lane="work")
    await sy.wait_running(command)
    await sy.wait_status(sleeper, "waiting")
    await sy.until(lambda: "start" in sy.log_text(napper), what="the napper's command")
    b = await sy.serve()
    a.kill_tree()  # kill -9: the host is gone, with its commands

    async def suspect() -> bool:
        return any(n.id == a.node_id and n.state == "suspect" for n in await sy.engine.nodes())

    await sy.until(suspect, what="the killed node to be suspect")
    (listed,) = [n for n in sy.json("node", "list") if n["id"] == a.node_id]
    assert listed["state"] == "suspect" and listed["dead_in"] > 60

    out = json.loads(sy.cli("node", "transfer", a.node_id, "--to", b.node_id, "--json").stdout)
    assert out == {
        "from_node": a.node_id,
        "to_node": b.node_id,
        "state": "suspect",
        "requeued": [napper],
        "restored_in_error": 1,
        "waiting": [sleeper],
    }
    row = await sy.row(command)
    assert row["status"] == "error" and "restored in error" in row["reason"]
    view = await sy.wait_status(napper, "completed", "error", "failed")
    assert view.status == "error" and "restored in error" in (view.reason or ""), view.reason
    assert (await sy.row(napper))["node_id"] == b.node_id  # B resumed it, did not re-run
    assert sy.log_text(napper).count("start") == 1
    assert (await sy.row(sleeper))["node_id"] == b.node_id
    await sy.engine.run_timers(instance_id=sleeper)
    assert (await sy.wait_status(sleeper, "completed", "error")).status == "completed"

    nodes = {n.id: str(n.state) for n in await sy.engine.nodes(include_stopped=True)}
    assert nodes == {a.node_id: "stopped", b.node_id: "live"}
    moved = await sy.engine.event_log(kind=eventlog.OWNERSHIP_CHANGED)
    assert any(f"node {a.node_id} (suspect) transferred to {b.node_id}" in e.message for e in moved)
    audit = [(x.action, x.target, x.detail.get("to")) for x in await sy.engine.audit(limit=20)]
    assert ("node.transfer", a.node_id, b.node_id) in audit


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_without_transfer_a_killed_node_is_taken_over_after_the_dead_timeout(sy) -> None:
    """Heartbeat and dead timeout are server parameters: with 0.3 s and 2 s, a node on
    "another host" killed with SIGKILL is taken over once 2 s have passed since its last
    heartbeat (the live node looks once a heartbeat), not before."""
    await setup(sy)
    await sy.engine.set_param("node_dead_timeout", "2")
    env = sy.env
    sy.env = {**env, "SWITCHYARD_NODE_HOST": "far-away"}
    a = await sy.serve()
    sy.env = env
    command = await sy.engine.start("nap")
    await sy.wait_running(command)
    b = await sy.serve()
    a.kill_tree()
    row = await sy.wait_status(command, "error", within=30)
    assert "restored in error" in (row.reason or "")
    async with sy.engine.store.read() as conn:
        dead = await node_q.get(conn, a.node_id)
    assert dead is not None and dead["stopped_at"] is not None
    silent = (row.ended_at - dead["heartbeat_at"]).total_seconds()
    assert silent >= 2.0  # never before the dead timeout
    print(f"[takeover] {silent:.2f}s after the last heartbeat (dead timeout 2s, beat 0.3s)")
    assert b.alive()
