"""`switchyard timers list|run` end to end: a process waiting an hour on a real node
completes as soon as its timer is forced from the command line."""

from __future__ import annotations

import textwrap

SLEEPER = """
process: sleeper
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
      - end_process: rested
"""


async def test_a_forced_wait_completes_the_instance(sy) -> None:
    path = sy.tmp_path / "sleeper.yaml"
    path.write_text(textwrap.dedent(SLEEPER))
    sy.cli("process", "publish", str(path))
    await sy.serve()
    first = int(sy.cli("start", "sleeper").stdout)
    second = int(sy.cli("start", "sleeper").stdout)
    await sy.wait_status(first, "waiting")
    await sy.wait_status(second, "waiting")

    listed = sy.json("timers", "list", "--process", "sleeper")
    assert [(t["key"], t["what"], t["due"]) for t in listed] == [
        (f"instance:{first}", "wait", False),
        (f"instance:{second}", "wait", False),
    ]
    text = sy.cli("timers", "list").stdout
    assert f"instance:{first}" in text and "2 timer(s)" in text
    assert sy.json("timers", "list", "--due") == []

    refused = sy.cli("timers", "run", expect=2)
    assert "give --process NAME, --instance ID, --workitem ID or --schedule NAME" in (
        refused.stderr
    )
    assert "or --all" in refused.stderr
    unknown = sy.cli("timers", "run", "--instance", "999", expect=3)
    assert "unknown instance 999" in unknown.stderr

    out = sy.cli("timers", "run", "--instance", str(first))
    assert out.stdout.strip() == f"instance:{first} fired: woken"
    shown = await sy.wait_status(first, "completed", "error")
    assert shown.status == "completed"
    assert await sy.status(second) == "waiting"  # only the scope was forced
    assert [t["key"] for t in sy.json("timers", "list")] == [f"instance:{second}"]

    out = sy.cli("timers", "run", "--all")
    assert out.stdout.strip() == f"instance:{second} fired: woken"
    assert (await sy.wait_status(second, "completed", "error")).status == "completed"
    assert sy.cli("timers", "run", "--all").stdout.strip() == "no timers to run"
