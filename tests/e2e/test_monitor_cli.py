"""The monitor from the command line: `instances` with process filters (variables
included) and the cap, and bulk `retry` / `cancel` with --filter, partial failures
reported per instance."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

pytestmark = pytest.mark.slow

CLAIMS = """
process: claims
variables:
  employee: {type: string, required: true}
  amount: {type: decimal, required: true}
  broken: {type: boolean, default: false}
start: check
states:
  check:
    actions:
      - if: "broken"
        then: [raise: "claim is broken"]
      - wait: {for: 1h}
      - end_process: ok
"""


async def test_filters_cap_and_bulk_operations(sy) -> None:
    path = sy.tmp_path / "claims.yaml"
    path.write_text(textwrap.dedent(CLAIMS).lstrip(), encoding="utf-8")
    sy.cli("process", "publish", str(path))
    await sy.serve()
    started = {}
    for who, amount, broken in [
        ("Ann", "1500", "false"),
        ("Bob", "200", "true"),
        ("Cy", "2500", "true"),
        ("Di", "50", "false"),
    ]:
        out = sy.cli(
            "start", "claims", "--var", f"employee={who}", "--var", f"amount={amount}",
            "--var", f"broken={broken}",
        )  # fmt: skip
        started[who] = int(out.stdout)
    for who in ("Ann", "Di"):
        await sy.wait_status(started[who], "waiting")
    for who in ("Bob", "Cy"):
        await sy.wait_status(started[who], "error")

    def ids(*args: str) -> list[int]:
        return sorted(r["id"] for r in json.loads(sy.cli("instances", *args, "--json").stdout))

    assert ids("--process", "claims", "--var", "amount>1000") == sorted(
        [started["Ann"], started["Cy"]]
    )
    assert ids("--process", "claims", "--status", "error") == sorted(
        [started["Bob"], started["Cy"]]
    )
    assert ids("--filter", "process=claims; status=waiting; employee = Ann") == [started["Ann"]]
    assert ids("--waiting-on", "timer") == sorted([started["Ann"], started["Di"]])
    rows = json.loads(sy.cli("instances", "--var", "employee=Di", "--json").stdout)
    assert rows[0]["variables"]["employee"] == "Di" and rows[0]["state"] == "check"
    text = sy.cli("instances", "--process", "claims", "--state", "check").stdout
    assert text.splitlines()[0].split() == [
        "ID", "PROCESS", "STATUS", "STATE", "WAITING", "ON", "ORIGINATOR", "UPDATED", "NODE",
    ]  # fmt: skip
    bad = sy.cli("instances", "--var", "amount >", expect=2)
    assert "no value after '>'" in bad.stderr

    # the cap: over max_monitored_flows the filter is refused with the numbers
    await sy.engine.set_param("max_monitored_flows", 100)
    for n in range(100):
        await sy.engine.start_process("claims", {"employee": f"e{n}", "amount": "1"})
    refused = sy.cli("instances", "--process", "claims", expect=2)
    assert refused.stderr == (
        "error: filter matches 104 instances; the limit is 100 — narrow your filter\n"
    )

    # bulk retry of what a filter matches: both fail again (still broken), reported each
    retried = sy.cli("retry", "--filter", "process=claims; status=error", expect=None)
    # "now" is the status read back after the retry's commit: a serving node may have
    # claimed it (or run it into its error again) by then
    assert re.search(
        rf"^instance {started['Bob']}: retry: now (queued|running|error)$", retried.stdout, re.M
    ), retried.stdout
    assert "retry: 2 done, 0 failed" in retried.stderr
    await sy.wait_status(started["Bob"], "error")
    await sy.wait_status(started["Cy"], "error")
    # bulk cancel with a partial failure: an id that does not exist
    cancelled = sy.cli("cancel", str(started["Ann"]), str(started["Di"]), "999999", expect=2)
    assert f"instance {started['Ann']}: cancel: now cancelled" in cancelled.stdout
    assert "error: instance 999999: id: unknown instance 999999" in cancelled.stderr
    assert "cancel: 2 done, 1 failed" in cancelled.stderr
    assert sy.cli("cancel", "--filter", "employee = Bob", "1", expect=2).stderr == (
        "error: cancel: give instance ids or a filter, not both\n"
    )
