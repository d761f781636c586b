"""The DESIGN.md expense approval through the real command line, as four people (root
acts as each with `--as`): alice starts it, bob (managers) claims and approves the work
item, carol (finance) sees the secured iban, alice and bob see ****, dave is refused
every work-item operation with the right named. Then the marker value is looked for in
everything a non-member got back (stdout and stderr, text and JSON) and in the log files
on disk: it must appear nowhere."""

from __future__ import annotations

import json
import textwrap

import pytest

pytestmark = pytest.mark.slow

EXPENSE = """
process: expense-approval
variables:
  employee: {type: string, required: true}
  amount:   {type: decimal, required: true}
  iban:     {type: string, security: finance-only}   # masked for everyone else
  decision: {type: string, report: true}
start: submit
states:
  submit:
    actions:
      - if: "amount > 1000"
        then:
          - send_work_item: {form: approve, to: {workgroup: managers}, due: 2d}
        else:
          - assign: {decision: auto-approved}
      - change_state: pay
  pay:
    actions:
      - log: "paying {{ employee }}"
      - run: {command: ["sh", "-c", "echo transfer to $IBAN"], env: {IBAN: "{{ iban }}"}}
      - end_process: paid
forms:
  approve:
    fields: [employee, amount, iban, {name: note, type: text, multiline: true, required: true}]
    buttons:
      Approve: [assign: {decision: approved}]
      Deny:    [assign: {decision: denied}, end_process: denied]
"""
MARKER = "MARKER-IBAN-DE8937040044"


def as_(login: str, *args: str) -> list[str]:
    return ["--as", login, *args]


async def test_expense_approval_through_the_cli_as_four_people(sy) -> None:
    path = sy.tmp_path / "expense.yaml"
    path.write_text(textwrap.dedent(EXPENSE).lstrip(), encoding="utf-8")
    sy.cli_many(
        ["user", "add", "alice", "--licence", "direct"],
        ["user", "add", "bob", "--licence", "group"],
        ["user", "add", "carol", "--licence", "monitor"],
        ["user", "add", "dave"],
    )
    sy.cli_many(["group", "add", "managers"], ["group", "add", "finance"])
    sy.cli_many(
        ["group", "member", "add", "managers", "bob"],
        ["group", "member", "add", "finance", "carol"],
        ["secspec", "add", "finance-only", "--groups", "finance"],
    )
    sy.cli("process", "publish", str(path))
    sy.cli_many(
        ["right", "grant", "expense-approval", "alice", "--launch"],
        ["right", "grant", "expense-approval", "finance", "--view"],
    )
    await sy.serve()
    seen: dict[str, list[str]] = {"alice": [], "bob": [], "dave": []}

    def cli(login: str, *args: str, expect: int | None = 0) -> str:
        proc = sy.cli(*as_(login, *args), expect=expect)
        if login in seen:
            seen[login] += [proc.stdout, proc.stderr]
        return proc.stdout

    started = cli(
        "alice",
        "start",
        "expense-approval",
        "--var",
        "employee=Ann",
        "--var",
        "amount=1500.00",
        "--var",
        f"iban={MARKER}",
    )
    instance_id = int(started)
    await sy.wait_status(instance_id, "waiting")

    # bob finds it in his group, opens it (iban masked), claims and completes it
    listed = json.loads(cli("bob", "workitems", "--group", "managers", "--json"))
    assert [(i["status"], i["workgroup"], i["instance_id"]) for i in listed] == [
        ("queued", "managers", instance_id)
    ]
    item = listed[0]["id"]
    assert json.loads(cli("bob", "workitems", "--json")) == []  # nothing is his yet
    shown = json.loads(cli("bob", "workitem", "show", str(item), "--json"))
    fields = {f["name"]: f for f in shown["fields"]}
    assert fields["employee"]["value"] == "Ann" and fields["amount"]["value"] == "1500.00"
    assert fields["iban"]["value"] == "****" and fields["iban"]["readonly"]
    assert shown["buttons"] == ["Approve", "Deny"] and shown["may"]["claim"]
    text = cli("bob", "workitem", "show", str(item))
    assert "[Approve]  [Deny]" in text and "****" in text

    claimed = cli("bob", "workitem", "claim", str(item))
    assert claimed.strip() == f"work item {item} claimed: in progress, with bob"
    # dave: refused each operation, the right named (exit 4)
    what = f"work item {item} (approve of expense-approval)"
    expected = {
        ("workitem", "show", str(item)): f"dave may not view {what}: needs the view right on "
        "expense-approval, or the item sent to you or your workgroup",
        ("workitem", "claim", str(item)): f"dave may not claim {what}: needs the item offered "
        "to or claimed by you (it is with bob)",
        ("workitem", "release", str(item)): f"dave may not release {what}: needs the item "
        "being yours, or the manage right on expense-approval",
        ("workitem", "delegate", str(item), "dave"): f"dave may not delegate {what}: needs the "
        "item being yours, or the manage right on expense-approval",
        ("workitem", "forward", str(item), "finance"): f"dave may not forward {what}: needs "
        "the item being yours, or the manage right on expense-approval",
        ("workitem", "complete", str(item), "--button", "Approve"): f"dave may not work on "
        f"{what}: needs the item offered to or claimed by you (it is with bob)",
        ("instance", "show", str(instance_id)): f"dave may not view instance {instance_id} of "
        "expense-approval: needs the view right on expense-approval",
    }
    for args, message in expected.items():
        proc = sy.cli(*as_("dave", *args), expect=4)
        seen["dave"] += [proc.stdout, proc.stderr]
        assert (proc.stderr, proc.stdout) == (f"error: {message}\n", ""), args
    assert json.loads(cli("dave", "workitems", "--all", "--json")) == []

    # bad values: every wrong field named, nothing changes
    bad = sy.cli(
        *as_("bob", "workitem", "complete", str(item), "--button", "Approve"),
        "--field",
        "amount=lots",
        "--field",
        f"iban={MARKER}x",
        expect=2,
    )
    seen["bob"] += [bad.stdout, bad.stderr]
    assert bad.stderr.splitlines() == [
        f"error: work item {item}: field iban: read-only",
        f"error: work item {item}: field amount: expected a decimal number, like 1250.00",
        f"error: work item {item}: field note: required",
    ]
    assert json.loads(cli("bob", "workitem", "show", str(item), "--json"))["status"] == (
        "in progress"
    )
    done = cli(
        "bob", "workitem", "complete", str(item), "--button", "Approve", "--field", "note=ok"
    )
    assert done.strip() == f"work item {item} completed with Approve: completed, with bob"
    await sy.wait_status(instance_id, "completed")

    # alice (originator) sees her instance, iban masked; carol (finance) sees the value
    alice_view = json.loads(cli("alice", "instance", "show", str(instance_id), "--json"))
    assert alice_view["variables"]["decision"] == "approved"
    assert alice_view["variables"]["iban"] == "****"
    carol_view = sy.json(*as_("carol", "instance", "show", str(instance_id)))
    assert carol_view["variables"]["iban"] == MARKER
    cli("alice", "instance", "show", str(instance_id))
    cli("alice", "log", str(instance_id))
    cli("alice", "workitems", "--all", "--closed")
    cli("alice", "workitem", "show", str(item), "--json")
    cli("bob", "workitems", "--all", "--closed", "--json")
    cli("bob", "workitem", "show", str(item))

    # the marker is nowhere a non-member looks, nor in any log file on disk
    for login, outputs in seen.items():
        assert not [o for o in outputs if MARKER in o], login
    logs = [p for p in (sy.data_dir / "logs").rglob("*") if p.is_file()]
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "transfer to ****" in text and "paying Ann" in text
    assert MARKER not in text
