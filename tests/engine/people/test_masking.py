"""Masking: a variable tied to a security spec shows as **** to everyone outside the spec
(not a listed user, not in a listed group, not holding a listed role), in instance
variables, in the history and in the log; members see the value."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.helpers import wait_status
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.people import MASK
from switchyard.engine.views import to_json

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

PAYOUT = """
process: payout
variables:
  employee: {type: string, required: true}
  iban: {type: string, security: finance, report: true}
  note: {type: string, report: true}
start: pay
states:
  pay:
    actions:
      - assign: {iban: "{{ iban }}-CHECKED", note: "paid {{ employee }}"}
      - run: {command: ["sh", "-c", "echo paying to $IBAN"], env: {IBAN: "{{ iban }}"}}
      - end_process: paid
"""
IBAN = "DE89370400440532013000"


async def test_a_secured_variable_is_masked_outside_its_spec(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await open_engine()
    for login in ("fred", "gail", "hank", "ivy"):
        await root.add_user(login, licence="monitor", roles=["payroll"] if login == "hank" else [])
    await root.add_group("treasury")
    await root.add_member("treasury", "gail")
    await root.add_secspec("finance", users=["fred"], groups=["treasury"], roles=["payroll"])
    path = tmp_path / "payout.yaml"
    path.write_text(textwrap.dedent(PAYOUT).lstrip(), encoding="utf-8")
    await root.publish([path])
    await root.grant("payout", "ivy", view=True)
    for login in ("fred", "gail", "hank"):
        await root.grant("payout", login, view=True)

    await runtime(root)
    instance_id = await root.start_process("payout", {"employee": "eve", "iban": IBAN})
    row = await wait_status(root, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    checked = f"{IBAN}-CHECKED"

    # outside the spec: ivy (and the admin: data security is not an admin right)
    for outsider in (await open_engine(user="ivy"), root):
        detail = await outsider.instance_detail(instance_id)
        assert detail.variables == {"employee": "eve", "iban": MASK, "note": "paid eve"}
        reports = {
            h.detail["name"]: h.detail["value"] for h in detail.history if h.kind == "report"
        }
        assert reports == {"iban": MASK, "note": "paid eve"}
        dumped = json.dumps(to_json(detail))
        assert IBAN not in dumped and MASK in dumped
        lines = await outsider.log(instance_id)
        assert any(line.endswith(f"paying to {MASK}") for line in lines), lines
        assert not any(IBAN in line for line in lines)
        followed = [line async for batch in outsider.follow_log(instance_id) for line in batch]
        assert followed == lines

    # inside: a listed user, a member of a listed group, a holder of a listed role
    for login in ("fred", "gail", "hank"):
        insider = await open_engine(user=login)
        detail = await insider.instance_detail(instance_id)
        assert detail.variables["iban"] == checked, login
        reports = {
            h.detail["name"]: h.detail["value"] for h in detail.history if h.kind == "report"
        }
        assert reports["iban"] == checked
        # log files never hold a secured value, whoever reads them (members included)
        assert any(line.endswith(f"paying to {MASK}") for line in await insider.log(instance_id))
    on_disk = "".join(p.read_text() for p in (root.data_dir / "logs").rglob("*") if p.is_file())
    assert "paying to" in on_disk and IBAN not in on_disk


async def test_a_removed_spec_masks_for_everyone_and_start_values_are_masked(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root = await open_engine()
    await root.add_secspec("finance", users=[root.login])
    path = tmp_path / "payout.yaml"
    path.write_text(textwrap.dedent(PAYOUT).lstrip(), encoding="utf-8")
    await root.publish([path])
    instance_id = await root.start_process("payout", {"employee": "eve", "iban": IBAN})
    assert (await root.instance_detail(instance_id)).variables["iban"] == IBAN  # queued
    await root.remove_secspec("finance")
    assert (await root.instance_detail(instance_id)).variables["iban"] == MASK
