"""`switchyard node list|drain|transfer` on real serve nodes: the --json fields, and
every refusal with its exit code (2 bad input, 3 unknown node, 4 refused and why)."""

from __future__ import annotations

import json

import pytest
from switchyard.engine.schedules.spec import ScheduleSpec

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FIELDS = {
    "id", "kind", "mode", "host", "pid", "started_at", "heartbeat_at", "state", "alive",
    "running", "waiting", "lanes", "dead_in", "drain_grace", "load_balance_threshold",
    "at_threshold",
}  # fmt: skip


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_node_list_json_shows_state_ownership_lanes_and_dead_timeout(sy) -> None:
    await sy.engine.set_param("node_dead_timeout", "45")
    await sy.engine.set_param("load_balance_threshold", "7")
    await sy.engine.add_lane("slow", 2)
    await sy.engine.add_schedule(
        ScheduleSpec(name="nap", command=["sleep", "600"], on_demand=True, lane="slow")
    )
    await sy.engine.add_user("dave")
    node = await sy.serve()
    instance_id = await sy.engine.start("nap")
    await sy.wait_running(instance_id)

    calls = {
        ("--as", "dave", "node", "drain", node.node_id): (
            4, "error: dave needs the admin right to drain a node"),
        ("--as", "dave", "node", "transfer", node.node_id): (
            4, "error: dave needs the admin right to transfer a node's instances"),
        ("node", "transfer", node.node_id): (
            4, f"error: node {node.node_id} is live and not draining: its instances are its "
            f"own (drain it first: switchyard node drain {node.node_id})"),
        ("node", "drain", "nosuch"): (3, "error: node: no node 'nosuch'"),
        ("node", "transfer", "nosuch"): (3, "error: node: no node 'nosuch'"),
        ("node", "drain", node.node_id, "--grace", "soon"): (
            2, "error: grace: 'soon' is not a duration"),
    }  # fmt: skip
    listing, text, *procs = sy.cli_many(
        ("node", "list", "--json"), ("node", "list"), *calls, expect=None
    )
    listed = json.loads(listing.stdout)
    assert [n["id"] for n in listed] == [node.node_id]
    (row,) = listed
    assert set(row) >= FIELDS
    assert row["kind"] == "serve" and row["pid"] == node.pid and row["state"] == "live"
    assert (row["running"], row["waiting"], row["lanes"]) == (1, 0, ["slow"])
    assert 0 < row["dead_in"] <= 45
    assert (row["load_balance_threshold"], row["at_threshold"]) == (7, False)
    assert node.node_id in text.stdout and "live" in text.stdout and "1/7" in text.stdout
    for args, proc in zip(calls, procs, strict=True):
        code, start = calls[args]
        assert (proc.returncode, proc.stderr[: len(start)]) == (code, start), args
        assert proc.stderr.count("\n") == 1, proc.stderr
    assert (await sy.row(instance_id))["status"] == "running"  # nothing was written
    assert [str(n.state) for n in await sy.engine.nodes()] == ["live"]
