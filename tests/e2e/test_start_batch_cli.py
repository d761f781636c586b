"""``switchyard start PROCESS --vars-file rows.jsonl`` (issue 14): one instance per line,
all or nothing, a refusal naming the file and line."""

from __future__ import annotations

import json
import textwrap

PAY = """
process: pay
variables:
  who: {type: string, required: true}
  amount: {type: decimal, required: true}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""


async def test_vars_file_starts_every_line_or_none(sy) -> None:
    source = sy.tmp_path / "pay.yaml"
    source.write_text(textwrap.dedent(PAY))
    sy.cli("process", "publish", str(source))
    rows = sy.tmp_path / "rows.jsonl"
    lines = [json.dumps({"who": f"p{i}", "amount": f"{i}.25"}) for i in range(30)]
    lines[16] = json.dumps({"who": "bad", "amount": "lots"})  # line 17
    rows.write_text("\n".join(lines) + "\n")

    refused = sy.cli("start", "pay", "--vars-file", str(rows), expect=2)
    assert refused.stderr.strip().startswith(f"error: {rows}:17: amount: ")
    assert sy.json("instances") == []  # nothing started

    rows.write_text("{not json}\n")
    refused = sy.cli("start", "pay", "--vars-file", str(rows), expect=2)
    assert refused.stderr.strip().startswith(f"error: {rows}:1: not JSON")

    lines[16] = json.dumps({"who": "p16", "amount": "16.25"})
    rows.write_text("\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]) + "\n")  # a blank
    out = sy.cli("start", "pay", "--vars-file", str(rows))
    ids = [int(line) for line in out.stdout.split()]
    assert len(ids) == 30 and ids == sorted(ids)
    listed = {i["id"]: i for i in sy.json("instances", "--limit", "100")}
    assert set(listed) == set(ids)
    shown = sy.json("instance", "show", str(ids[16]))
    assert shown["variables"] == {"who": "p16", "amount": "16.25"}

    more = sy.cli("start", "pay", "--vars-file", "-", "--var", "amount=7", input='{"who": "z"}\n')
    (one,) = [int(line) for line in more.stdout.split()]
    assert sy.json("instance", "show", str(one))["variables"] == {"who": "z", "amount": "7"}
    sy.cli("start", "nope", "--vars-file", "-", input='{"who": "z"}\n', expect=3)
