"""Every public operation of the engine has a rule (engine/people/rules.py), or says why
it has none."""

from __future__ import annotations

from switchyard.engine.api import Engine
from switchyard.engine.people.rules import RULES, UNCHECKED, public_operations


def test_every_public_engine_operation_has_a_rule() -> None:
    operations = public_operations(Engine)
    missing = [name for name in operations if name not in RULES and name not in UNCHECKED]
    assert missing == [], (
        "give these engine operations a rule in engine/people/rules.py (RULES), or list "
        f"them in UNCHECKED with the reason: {missing}"
    )
    assert [name for name in RULES if name not in operations] == []  # no stale rules


def test_guarded_operations_keep_their_names_and_docs() -> None:
    assert Engine.start_process.__name__ == "start_process"
    assert Engine.publish.__doc__ and "All files or none" in Engine.publish.__doc__
