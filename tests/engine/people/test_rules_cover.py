"""Every public operation of the engine declares its rule where it is defined
(``@rule`` from engine/people/rules.py), or says why it has none (``@unchecked``); a rule
that reads an argument names one the method has; nothing else carries a rule."""

from __future__ import annotations

import inspect

from switchyard.engine.api import Engine
from switchyard.engine.people.rules import ATTR, Declared, public_operations, rule_of


def test_every_public_engine_operation_has_a_rule_or_a_reason() -> None:
    operations = public_operations(Engine)
    assert len(operations) > 60  # the walk found the operations of every mixin
    missing = [name for name in operations if rule_of(Engine, name) is None]
    assert missing == [], (
        "give these engine operations a @rule (engine/people/rules.py) where they are "
        f"defined, or @unchecked with the reason: {missing}"
    )
    for name in operations:
        found = rule_of(Engine, name)
        assert found is not None
        if found.rule is None:
            assert found.unchecked and found.unchecked.strip(), name
        else:
            assert found.unchecked is None, name


def test_the_unchecked_operations_are_the_known_few() -> None:
    unchecked = {
        name: found.unchecked
        for name in [*public_operations(Engine), "open"]
        if (found := rule_of(Engine, name)) is not None and found.rule is None
    }
    assert sorted(unchecked) == ["close", "open", "secret_values", "start_feed"]


def test_rules_that_read_an_argument_name_one_the_operation_has() -> None:
    for name in public_operations(Engine):
        found = rule_of(Engine, name)
        assert found is not None
        if found.rule is None:
            continue
        params = list(inspect.signature(getattr(Engine, name)).parameters)
        if found.rule.reads:
            assert found.arg in params, (name, found.arg, params)
        else:
            assert found.arg is None, name


def test_no_rule_sits_on_something_that_is_not_an_operation() -> None:
    """A rule on a private helper or a plain function would never run: none there."""
    operations = {*public_operations(Engine), "open"}
    stray = []
    for klass in Engine.__mro__:
        for name, value in vars(klass).items():
            fn = value.__func__ if isinstance(value, classmethod | staticmethod) else value
            if isinstance(getattr(fn, ATTR, None), Declared) and name not in operations:
                stray.append(f"{klass.__qualname__}.{name}")
    assert stray == []


def test_each_operation_is_wrapped_by_its_own_rule() -> None:
    """What ``@guarded`` installed is the declaration of the method it wraps."""
    assert rule_of(Engine, "start_process") is not None
    found = rule_of(Engine, "start_process")
    assert found is not None and found.rule is not None
    assert (found.rule.name, found.arg) == ("launch", "name")
    found = rule_of(Engine, "complete_work_item")
    assert found is not None and found.rule is not None
    assert (found.rule.name, found.arg) == ("on_work_item", "item_id")
    found = rule_of(Engine, "set_user")
    assert found is not None and found.rule is not None
    assert (found.rule.name, found.arg) == ("admin", None)


def test_guarded_operations_keep_their_names_and_docs() -> None:
    assert Engine.start_process.__name__ == "start_process"
    assert Engine.publish.__doc__ and "All files or none" in Engine.publish.__doc__
