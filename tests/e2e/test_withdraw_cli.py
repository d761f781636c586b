"""Issue 16 defect 3 through the real command line and a real node: the work item of a
`join: first` branch that lost (a 1 s timer won) is withdrawn, `workitem show` says so, and
`workitem complete` is refused with exit 4 and one line naming why."""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.slow

DEFERRED = """
process: deferred
start: s
states:
  s:
    actions:
      - parallel:
          join: first
          branches:
            - - send_work_item: {form: answer, to: {user: bob}}
            - - wait: {for: 1s}
      - end_process: timed out
forms:
  answer:
    fields: [{name: reply, type: text}]
    buttons:
      Ok: []
"""


async def test_completing_a_withdrawn_work_item_is_refused_naming_why(sy) -> None:
    path = sy.tmp_path / "deferred.yaml"
    path.write_text(textwrap.dedent(DEFERRED).lstrip(), encoding="utf-8")
    sy.cli("user", "add", "bob", "--licence", "direct")
    sy.cli("process", "publish", str(path))
    await sy.serve()
    instance_id = int(sy.cli("start", "deferred").stdout)
    await sy.wait_status(instance_id, "completed")
    item = (await sy.engine.work_items("all", status=["cancelled"])).rows[0]
    shown = sy.cli("workitem", "show", str(item.id)).stdout
    assert "cancelled (withdrawn: another branch of the parallel" in shown
    refused = sy.cli(
        "--as", "bob", "workitem", "complete", str(item.id), "--button", "Ok", expect=4
    )
    assert refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: work item: work item {item.id} was withdrawn: ")
