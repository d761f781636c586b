"""The process verbs of the real `switchyard` command line, end to end against a node."""

from __future__ import annotations

import re
import textwrap

GOOD = """
process: greet
variables:
  who: {type: string, required: true}
  tries: {type: integer, default: 0}
  said: {type: string}
start: s
states:
  s:
    actions:
      - if: "who == 'nobody'"
        then: [raise: "nobody to greet"]
      - assign: {said: "hello {{ who }}"}
"""

BAD = """
process: broken
start: nowhere
states:
  s:
    actions:
      - assign: {ghost: 1}
      - change_state: elsewhere
"""


async def test_validate_publish_start_show_retry_skip(sy) -> None:
    good = sy.tmp_path / "greet.yaml"
    bad = sy.tmp_path / "broken.yaml"
    good.write_text(textwrap.dedent(GOOD))
    bad.write_text(textwrap.dedent(BAD))

    out = sy.cli("process", "validate", str(good), str(bad), expect=2)
    errors = out.stderr.strip().splitlines()
    assert errors == [  # the file starts with an empty line: `start:` is line 3
        f"{bad}:3:8: start: unknown state 'nowhere'",
        f"{bad}:7:18: states.s.actions[0].assign: unknown variable 'ghost'",
        f"{bad}:8:23: states.s.actions[1].change_state: unknown state 'elsewhere'",
        "3 error(s) in 1 file(s); nothing published",
    ]
    sy.cli("process", "publish", str(good), str(bad), expect=2)
    assert sy.json("process", "list") == []  # all files or none

    assert sy.cli("process", "publish", str(good)).stdout.strip() == "greet: published version 1"
    assert sy.cli("process", "publish", str(good)).stdout.strip() == "greet: unchanged (version 1)"
    listed = sy.json("process", "list")
    assert [(p["name"], p["version"], p["versions"]) for p in listed] == [("greet", 1, 1)]
    assert "hello {{ who }}" in sy.cli("process", "show", "greet").stdout

    refused = sy.cli("start", "greet", "--var", "tries=many", expect=2)
    assert "var tries: not a valid integer" in refused.stderr
    assert "var who: required" in refused.stderr

    node = await sy.serve()
    ok = int(sy.cli("start", "greet", "--var", "who=ann").stdout)
    await sy.wait_status(ok, "completed")
    shown = sy.json("instance", "show", str(ok))
    assert shown["instance"]["status"] == "completed"
    assert shown["variables"] == {"who": "ann", "tries": 0, "said": "hello ann"}
    assert [s["kind"] for s in shown["steps"]] == ["if", "assign"]
    assert shown["history"][0]["kind"] == "started"

    failing = int(sy.cli("start", "greet", "--var", "who=nobody").stdout)
    await sy.wait_status(failing, "error")
    text = sy.cli("instance", "show", str(failing)).stdout
    assert "failed at: 0:s/0/then/0" in text and "nobody to greet" in text
    # the `if` keeps its decision; retrying the raise fails again, skipping goes on
    sy.cli("retry", str(failing), "--set", "who=bob")
    await sy.wait_status(failing, "error")
    # the status read back after the skip's commit: a serving node may have claimed it
    skipped = sy.cli("skip", str(failing)).stdout.strip()
    assert re.search(r"skip: now (queued|running|waiting|completed)$", skipped), skipped
    await sy.wait_status(failing, "completed")
    assert sy.json("instance", "show", str(failing))["variables"]["said"] == "hello bob"
    refused = sy.cli("skip", str(failing), expect=2)
    assert f"instance {failing} is completed: nothing to skip" in refused.stderr
    node.send(15)
    assert await node.exited() == 0
