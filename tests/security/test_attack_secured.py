"""Attacks on secured variables as a non-member (issue 11, section 4): routes to a secured
value that the publish-time flow check and the masker were meant to close."""

from __future__ import annotations

from pathlib import Path

import pytest
from security._secrets_helpers import OpenEngine, finished, open_engine, publish
from switchyard.engine.definitions import parse_definition
from switchyard.engine.definitions.model import DefinitionError
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.monitor.filters import MonitorFilter

__all__ = ["open_engine"]

IBAN = "DE12ATTACK0MARK9931"

V1 = """
process: pay
variables:
  iban: {type: string, security: finance}
start: a
states:
  a:
    actions:
      - end_process: done
"""

V2 = """
process: pay
variables:
  iban: {type: string}
start: a
states:
  a:
    actions:
      - end_process: done
"""


async def test_a_newer_version_dropping_the_spec_does_not_open_old_instances_to_filters(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    """`--var 'iban contains …'` is refused to a non-member when the newest version of the
    process secures iban. An older version's instances hold secured values too: a newer
    version without the spec (or without the variable) must not make them a guessing tool."""
    root = await open_engine()
    await root.add_user("ops", licence="monitor")
    await root.add_user("fin", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    await publish(root, tmp_path, V1)
    await root.grant("pay", "ops", view=True)
    await open_engine.node(root)  # type: ignore[attr-defined]
    old = await root.start_process("pay", {"iban": IBAN})
    assert (await finished(root, old))["status"] == "completed"
    await publish(root, tmp_path, V2)
    ops = await open_engine(user="ops")
    probe = MonitorFilter(processes=["pay"], variables=["iban contains DE12ATTACK"])
    with pytest.raises(SwitchyardError, match="may not filter on iban"):
        await ops.monitor(probe)


IMPLICIT = """
process: x
variables:
  iban: {type: string, security: finance}
  leak: {type: string, default: ""}
start: a
states:
  a:
    actions:
      - loop:
          for_each: "range(20)"
          as: k
          do:
            - loop:
                for_each: "'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'"
                as: ch
                do:
                  - if: "iban[k] == ch"
                    then: [assign: {leak: "{{ leak ~ ch }}"}]
"""


@pytest.mark.xfail(
    strict=True,
    reason="hole left: implicit flow. A condition may read a secured value ('one bit'), "
    "and what its branches assign is not tainted by it: inside loops the bits add up to "
    "the whole value, copied into an ordinary variable (or log lines)",
)
def test_assignments_guarded_by_a_secured_condition_are_secured_like_it() -> None:
    with pytest.raises(DefinitionError, match="iban is secured by 'finance'"):
        parse_definition(IMPLICIT, "x.yaml")
