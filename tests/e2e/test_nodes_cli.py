"""`switchyard node list|drain|transfer` on real serve nodes: the --json fields, and
every refusal with its exit code (2 bad input, 3 unknown node, 4 refused and why)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

FIELDS = {
    "id", "kind", "mode", "host", "pid", "started_at", "heartbeat_at", "state", "alive",
    "running", "waiting", "lanes", "dead_in", "drain_grace", "load_balance_threshold",
    "at_threshold",
}  # fmt: skip


async def test_node_list_json_shows_state_ownership_lanes_and_dead_timeout(sy) -> None:
    sy.cli("param", "set", "node_dead_timeout", "45")
    sy.cli("param", "set", "load_balance_threshold", "7")
    sy.cli("lane", "add", "slow", "--concurrency", "2")
    sy.cli("schedule", "add", "nap", "--on-demand", "--lane", "slow", "--", "sleep", "600")
    node = await sy.serve()
    instance_id = int(sy.cli("start", "nap").stdout)
    await sy.wait_running(instance_id)

    listed = sy.json("node", "list")
    assert [n["id"] for n in listed] == [node.node_id]
    (row,) = listed
    assert set(row) >= FIELDS
    assert row["kind"] == "serve" and row["pid"] == node.pid and row["state"] == "live"
    assert (row["running"], row["waiting"], row["lanes"]) == (1, 0, ["slow"])
    assert 0 < row["dead_in"] <= 45
    assert (row["load_balance_threshold"], row["at_threshold"]) == (7, False)
    text = sy.cli("node", "list").stdout
    assert node.node_id in text and "live" in text and "1/7" in text

    sy.cli("user", "add", "dave")
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
        ("node", "drain", node.node_id, "--grace", "-1"): (
            2, "error: grace: must be between 0 and 86400 seconds, got -1.0"),
    }  # fmt: skip
    procs = sy.cli_many(*calls, expect=None)
    for args, proc in zip(calls, procs, strict=True):
        code, start = calls[args]
        assert (proc.returncode, proc.stderr[: len(start)]) == (code, start), args
        assert proc.stderr.count("\n") == 1, proc.stderr
    assert (await sy.row(instance_id))["status"] == "running"  # nothing was written
    assert sy.json("node", "list")[0]["state"] == "live"
