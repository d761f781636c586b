"""kill -9 of a console while a person has a work item claimed with typed values: the
item comes back *held* at the same user with the values (recovery on the live node),
and the person completes it from there.

The console here is a real process doing what `switchyard` does when it attaches to a
serve node (a session node, then the engine API calls the Work Items form makes on
claim and on typing); it is killed with SIGKILL, no clean-up of any kind runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

PROCESS = """
process: review
variables:
  amount: {type: decimal}
  verdict: {type: string}
start: ask
states:
  ask:
    actions:
      - send_work_item: {form: check, to: {workgroup: reviewers}}
      - end_process: reviewed
forms:
  check:
    fields: [amount, {name: note, type: text, required: true}]
    buttons:
      Accept: [assign: {verdict: "accepted: {{ note }}"}]
"""

CONSOLE = """
import asyncio, sys
from switchyard.engine.api import Engine
from switchyard.engine.node.sessions import ConsoleSession

async def main() -> None:
    engine = await Engine.open(as_user="bob")
    assert await engine.live_serve_node() is not None
    session = ConsoleSession(engine)
    await session.start()
    item = int(sys.argv[1])
    await engine.claim_work_item(item, session=engine.node_id)
    await engine.save_work_item_draft(item, {"note": "half typed", "amount": "12.5"})
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_kill_9_with_a_claimed_item_and_a_draft_brings_it_back_held(sy) -> None:
    path = sy.tmp_path / "review.yaml"
    path.write_text(textwrap.dedent(PROCESS).lstrip(), encoding="utf-8")
    sy.cli_many(["user", "add", "bob", "--licence", "group"], ["group", "add", "reviewers"])
    sy.cli_many(["group", "member", "add", "reviewers", "bob"], ["process", "publish", str(path)])
    await sy.serve()
    instance_id = int(sy.cli("start", "review").stdout)
    await sy.wait_status(instance_id, "waiting")
    (item,) = [i["id"] for i in sy.json("workitems", "--all")]

    script = sy.tmp_path / "console.py"
    script.write_text(CONSOLE, encoding="utf-8")
    console = subprocess.Popen(  # noqa: ASYNC220 - the real process, to be killed
        [sys.executable, str(script), str(item)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sy.env,
    )
    try:
        assert console.stdout is not None
        line = console.stdout.readline()
        assert line.strip() == "ready", console.stderr.read() if console.stderr else line
        shown = sy.json("workitem", "show", str(item))
        assert (shown["status"], shown["user"]) == ("in progress", "bob")
        os.kill(console.pid, signal.SIGKILL)
        console.wait(timeout=10)
    finally:
        if console.poll() is None:
            console.kill()

    # the serve node's housekeeping finds the dead session and holds its item
    async def held() -> dict | None:
        shown = sy.json("--as", "bob", "workitem", "show", str(item))
        return shown if shown["status"] == "held" else None

    shown = await sy.until(held, within=40.0, what="the item held after the kill")
    assert shown["user"] == "bob"
    assert shown["held_reason"] == "restored: its console's node stopped"
    values = {f["name"]: f["value"] for f in shown["fields"]}
    assert values == {"amount": "12.5", "note": "half typed"}
    mine = json.loads(sy.cli("--as", "bob", "workitems", "--json").stdout)
    assert [(i["id"], i["status"]) for i in mine] == [(item, "held")]

    # bob goes on from the draft: claim it back, complete it with what he had typed
    sy.cli("--as", "bob", "workitem", "claim", str(item))
    sy.cli("--as", "bob", "workitem", "complete", str(item), "--button", "Accept")
    await sy.wait_status(instance_id, "completed")
    detail = sy.json("instance", "show", str(instance_id))
    assert detail["variables"]["verdict"] == "accepted: half typed"
    assert detail["variables"]["amount"] == "12.5"
