"""Server parameters and the event log from the command line: `param list|set` (admins
set; a bad value names the parameter and its rule and changes nothing; a non-admin is
refused with exit 4 naming the admin right) and `events` filtered by kind and time."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

EVENT_FIELDS = {"id", "at", "kind", "node_id", "login", "message", "detail"}


def listed(sy) -> dict[str, dict]:
    return {p["name"]: p for p in sy.json("param", "list")}


async def test_param_list_set_and_refusals(sy) -> None:
    sy.cli("user", "add", "dave")
    params = listed(sy)
    assert params["max_monitored_flows"]["value"] == 5000
    assert params["max_monitored_flows"]["rule"].startswith("integer >= 100")
    assert params["depth_threshold"]["updated_at"] is None
    bad, unknown, refused = sy.cli_many(
        ["param", "set", "max_monitored_flows", "99"],
        ["param", "set", "max_flows", "10"],
        ["--as", "dave", "param", "set", "depth_threshold", "12"],
        expect=None,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: max_monitored_flows: 99 is below the minimum 100 (rule: integer >= 100)"
    )
    assert unknown.returncode == 3 and "unknown parameter 'max_flows'" in unknown.stderr
    assert refused.returncode == 4
    assert refused.stderr.strip() == (
        "error: dave needs the admin right to change server parameters"
    )
    assert listed(sy) == params  # nothing changed

    done = sy.cli_many(
        ["param", "set", "handler_response_timeout", "5m"],
        ["param", "set", "block_launch_during_restore", "true"],
    )
    assert done[0].stdout.strip() == "handler_response_timeout = 300s"
    assert done[1].stdout.strip() == "block_launch_during_restore = true"
    sy.cli("param", "set", "max_monitored_flows", "100")
    text = sy.cli("param", "list").stdout
    lines = {line.split()[0]: line.split() for line in text.splitlines()[1:]}
    assert lines["handler_response_timeout"][1:3] == ["300s", "30s"]
    assert lines["max_monitored_flows"][1:3] == ["100", "5000"]
    assert lines["depth_threshold"][1:4] == ["10", "10", "-"]


async def test_events_by_kind_and_time(sy) -> None:
    sy.cli("user", "add", "dave")
    sy.cli("param", "set", "depth_threshold", "12")
    sy.cli("--as", "dave", "param", "set", "depth_threshold", "3", expect=4)
    sy.cli("secret", "set", "API_TOKEN", input="s3cret-value\n")
    changed, recent, refused = (
        json.loads(p.stdout)
        for p in sy.cli_many(
            ["events", "--json", "--kind", "param.changed"],
            ["events", "--json", "--since", "1h", "--kind", "param", "--kind", "secret"],
            ["events", "--json", "--kind", "access.refused"],
        )
    )
    assert len(changed) == 1
    entry = changed[0]
    assert set(entry) == EVENT_FIELDS
    assert entry["kind"] == "param.changed"
    assert entry["message"] == "parameter depth_threshold changed: 10 -> 12"
    assert entry["detail"] == {"name": "depth_threshold", "old": 10, "new": 12}
    assert [e["kind"] for e in recent] == ["secret.changed", "param.changed"]
    assert recent[0]["message"] == "secret API_TOKEN added"
    assert "s3cret" not in json.dumps(recent)
    assert refused[0]["login"] == "dave" and refused[0]["detail"]["needs"] == "admin"
    later, table, bad_kind, bad_time = sy.cli_many(
        ["events", "--json", "--since", "2999-01-01T00:00:00+00:00"],
        ["events", "--kind", "param", "--until", "2999-01-01"],
        ["events", "--kind", "params"],
        ["events", "--since", "yesterday"],
        expect=None,
    )
    assert json.loads(later.stdout) == []
    assert "parameter depth_threshold changed: 10 -> 12" in table.stdout
    assert table.stdout.splitlines()[0].split() == ["AT", "KIND", "NODE", "LOGIN", "MESSAGE"]
    assert bad_kind.returncode == 2 and "unknown event kind 'params'" in bad_kind.stderr
    assert bad_time.returncode == 2 and "since" in bad_time.stderr
