"""Work items in the engine: sending, claiming, completing with validation, buttons that
run in the instance, release/delegate/forward/hold, rights, cancel, timers."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from engine.helpers import until, wait_status
from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict, Refused
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.people import MASK
from switchyard.engine.workitems import timers as wi_timers
from switchyard.engine.workitems.forms import FormInvalid

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

EXPENSE = """
process: expense-approval
variables:
  employee: {type: string, required: true}
  amount:   {type: decimal, required: true}
  iban:     {type: string, security: finance-only}
  decision: {type: string, report: true}
  note_seen: {type: string}
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
      - end_process: paid
forms:
  approve:
    fields: [employee, amount, iban, {name: note, type: text, multiline: true, required: true}]
    buttons:
      Approve: [assign: {decision: approved, note_seen: "{{ note }}"}]
      Deny:    [assign: {decision: denied}, end_process: denied]
"""
IBAN = "DE89370400440532013000"


async def setup(open_engine: OpenEngine, tmp_path: Path) -> Engine:
    root = await open_engine()
    await root.add_user("alice", licence="direct")
    await root.add_user("bob", licence="group")
    await root.add_user("bea", licence="group")
    await root.add_user("carol", licence="monitor")
    await root.add_user("dave", licence="direct")
    await root.add_group("managers")
    await root.add_group("finance")
    await root.add_member("managers", "bob")
    await root.add_member("managers", "bea")
    await root.add_member("finance", "carol")
    await root.add_secspec("finance-only", groups=["finance"])
    path = tmp_path / "expense.yaml"
    path.write_text(textwrap.dedent(EXPENSE).lstrip(), encoding="utf-8")
    await root.publish([path])
    await root.grant("expense-approval", "alice", launch=True)
    await root.grant("expense-approval", "finance", view=True)
    return root


async def start(engine: Engine, amount: str = "1500.00") -> int:
    return await engine.start_process(
        "expense-approval", {"employee": "Ann", "amount": amount, "iban": IBAN}
    )


async def the_item(engine: Engine, instance_id: int) -> int:
    await wait_status(engine, instance_id, "waiting", "error", "completed")
    page = await engine.work_items("all")
    found = [r.id for r in page.rows if r.instance_id == instance_id]
    assert found, page
    return found[0]


async def test_group_item_claimed_and_approved_runs_the_button_in_the_instance(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, tmp_path)
    await runtime(root)
    alice, bob, bea = [await open_engine(user=u) for u in ("alice", "bob", "bea")]
    instance_id = await start(alice)
    row = await wait_status(root, instance_id, "waiting", "error")
    assert row["status"] == "waiting" and row["waiting_on"].startswith("workitem:"), row

    page = await bob.work_items("groups")
    assert [r.status for r in page.rows] == ["queued"] and page.counts["groups"] == 1
    assert page.counts["mine"] == 0
    item_id = page.rows[0].id
    assert page.rows[0].due_at is not None and not page.rows[0].overdue

    detail = await bob.work_item(item_id)
    values = {f.name: f.value for f in detail.fields}
    assert values["employee"] == "Ann" and values["iban"] == MASK
    assert detail.buttons == ["Approve", "Deny"] and detail.may["claim"]

    claimed = await bob.claim_work_item(item_id)
    assert (claimed.status, claimed.user) == ("in progress", "bob")
    with pytest.raises(Conflict, match="in progress with bob"):
        await bea.claim_work_item(item_id)
    assert (await bea.work_items("groups")).total == 0
    assert (await bob.work_items("mine")).total == 1

    with pytest.raises(FormInvalid) as bad:
        await bob.complete_work_item(item_id, "Approve", {"amount": "lots"})
    assert bad.value.errors == {
        "amount": "expected a decimal number, like 1250.00",
        "note": "required",
    }
    with pytest.raises(FormInvalid, match="no button 'Maybe'"):
        await bob.complete_work_item(item_id, "Maybe", {"note": "x"})
    with pytest.raises(FormInvalid, match="iban: read-only"):
        await bob.complete_work_item(item_id, "Approve", {"iban": "X", "note": "x"})
    assert (await bob.work_item(item_id)).item.status == "in progress"  # nothing changed

    await bob.save_work_item_draft(item_id, {"note": "looks fine"})
    assert {f.name: f.value for f in (await bob.work_item(item_id)).fields}["note"] == "looks fine"
    done = await bob.complete_work_item(item_id, "approve", {"amount": "1450.50"})
    assert (done.status, done.button, done.completed_by) == ("completed", "Approve", "bob")
    row = await wait_status(root, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    detail = await root.instance_detail(instance_id)
    assert detail.variables["decision"] == "approved"
    assert detail.variables["note_seen"] == "looks fine"
    assert str(detail.variables["amount"]) == "1450.50"
    ops = [h.detail.get("op") for h in detail.history if h.kind == "workitem"]
    assert ops == [None, "claimed", "completed"]
    with pytest.raises(Conflict, match="already completed by bob"):
        await bea.complete_work_item(item_id, "Deny", {"note": "late"})


async def test_deny_ends_the_process_and_a_small_amount_needs_no_item(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, tmp_path)
    await runtime(root)
    alice, bob = await open_engine(user="alice"), await open_engine(user="bob")
    small = await start(alice, "10")
    assert (await wait_status(root, small, "completed", "error"))["outcome"] == "paid"
    instance_id = await start(alice)
    item_id = await the_item(root, instance_id)
    # completing an unclaimed group item claims it on the way
    await bob.complete_work_item(item_id, "Deny", {"note": "no receipt"})
    row = await wait_status(root, instance_id, "completed", "error")
    assert (row["status"], row["outcome"]) == ("completed", "denied")
    assert (await root.instance_detail(instance_id)).variables["decision"] == "denied"


async def test_rights_release_delegate_forward_hold(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, tmp_path)
    await runtime(root)
    alice, bob, carol, dave = [await open_engine(user=u) for u in ("alice", "bob", "carol", "dave")]
    instance_id = await start(alice)
    item_id = await the_item(root, instance_id)

    for op, call in {
        "view": dave.work_item(item_id),
        "claim": dave.claim_work_item(item_id),
        "work on": dave.complete_work_item(item_id, "Approve", {"note": "x"}),
        "delegate": dave.delegate_work_item(item_id, "dave"),
    }.items():
        with pytest.raises(Refused, match=f"dave may not {op} work item {item_id}"):
            await call
    assert (await dave.work_items("all")).total == 0
    # alice started it: she may look, not act; carol has the view right through finance
    assert (await alice.work_item(item_id)).item.status == "queued"
    assert {f.name: f.value for f in (await carol.work_item(item_id)).fields}["iban"] == IBAN
    with pytest.raises(Refused, match="needs membership of workgroup managers"):
        await carol.claim_work_item(item_id)

    await bob.claim_work_item(item_id)
    await bob.save_work_item_draft(item_id, {"note": "half"})
    released = await bob.release_work_item(item_id)
    assert (released.status, released.user) == ("queued", None)
    await bob.claim_work_item(item_id)
    held = await bob.hold_work_item(item_id)
    assert (held.status, held.user, held.held_reason) == ("held", "bob", "held by bob")
    delegated = await bob.delegate_work_item(item_id, "alice")
    assert (delegated.status, delegated.user) == ("offered", "alice")
    assert (await alice.work_items("mine")).total == 1
    with pytest.raises(Conflict, match="it is offered to alice now"):
        await bob.claim_work_item(item_id)
    forwarded = await root.forward_work_item(item_id, "finance")
    assert (forwarded.status, forwarded.workgroup, forwarded.user) == ("queued", "finance", None)
    assert {f.name: f.value for f in (await root.work_item(item_id)).fields}["note"] == "half"


async def test_cancelling_the_instance_cancels_its_item(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, tmp_path)
    await runtime(root)
    instance_id = await start(await open_engine(user="alice"))
    item_id = await the_item(root, instance_id)
    await root.cancel(instance_id)
    assert (await root.work_item(item_id)).item.status == "cancelled"
    assert (await root.work_items("all")).counts["all"] == 0


ESCALATING = """
process: chase
variables:
  chased: {type: integer}
start: ask
states:
  ask:
    actions:
      - send_work_item:
          form: answer
          to: {user: bob}
          due: 1h
          reminders: [10m]
          escalate: {after: 2h, to: {workgroup: managers}, actions: [assign: {chased: 1}]}
      - end_process: answered
forms:
  answer:
    fields: [{name: reply, type: choice, choices: [agree, refuse]}]
    buttons:
      Send: []
"""


async def test_due_reminder_and_escalation_are_timers(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    root = await setup(open_engine, tmp_path)
    path = tmp_path / "chase.yaml"
    path.write_text(textwrap.dedent(ESCALATING).lstrip(), encoding="utf-8")
    await root.publish([path])
    await runtime(root)
    instance_id = await root.start_process("chase", {})
    item_id = await the_item(root, instance_id)
    bob = await open_engine(user="bob")
    assert (await bob.work_items("mine")).rows[0].status == "offered"

    # the node's timer loop fires them (each once: history shows one entry per timer)
    async def fired(kinds: list[str]) -> bool:
        detail = await root.instance_detail(instance_id)
        return [h.detail.get("op") for h in detail.history if h.kind == "workitem"] == kinds

    clock.at += timedelta(minutes=61)
    await until(lambda: fired([None, "reminder", "due"]), what="reminder and due fired")
    assert (await bob.work_items("mine", overdue=True)).total == 1
    assert await wi_timers.fire_due(root) == 0  # nothing left due
    clock.at += timedelta(hours=1)
    await until(lambda: fired([None, "reminder", "due", "escalate"]), what="escalation")
    item = (await root.work_item(item_id)).item
    assert (item.status, item.workgroup, item.user, item.escalated) == (
        "queued",
        "managers",
        None,
        True,
    )

    # the escalation's actions ran once in the instance, which waits on the item again
    async def escalated() -> bool:
        detail = await root.instance_detail(instance_id)
        return detail.variables.get("chased") == 1 and detail.instance.status == "waiting"

    await until(escalated, what="escalation actions ran")
    with pytest.raises(FormInvalid, match="choose one of: agree, refuse"):
        await bob.complete_work_item(item_id, "Send", {"reply": "maybe"})
    await bob.complete_work_item(item_id, "Send", {"reply": "agree"})
    row = await wait_status(root, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
