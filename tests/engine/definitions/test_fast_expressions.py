"""Simple expressions run as closures (engine/sandbox/fast.py): the same value or the same
error as Jinja's sandboxed code, the same limits, and anything else still goes to Jinja."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from switchyard.engine.sandbox.expressions import Sandbox, _Expression
from switchyard.engine.sandbox.limits import ExpressionError

SCOPE: dict[str, Any] = {"a": 3, "b": 0, "s": "ab", "items": [1, 2], "d": Decimal("1.5")}

SIMPLE = [
    "a",
    "a + 1",
    "a - 10",
    "a * 2 + 1",
    "a / 2",
    "a // 2",
    "a % 2",
    "a ** 3",
    "-a",
    "not b",
    "a and b",
    "a or b",
    "a > 2",
    "a == 3",
    "a != 3",
    "1 in items",
    "5 not in items",
    "d * 2",
    "s + 'c'",
    "s * 3",
    "s * 100000",  # the sandbox's size limit
    "2 ** 5000",  # the exponent limit
    "a ** 1000 * a ** 1000",  # the integer limit
    "a / b",  # division by zero
    "s + 1",  # a type error
    "missing + 1",  # unknown: Jinja names it
    "items * 60000",  # the size limit on lists
    "true",
    "none",
]
OTHER = ["len(items)", "items[0]", "s.upper()", "a if b else 2", "s ~ a", "1 < a < 5"]


def outcome(sandbox: Sandbox, expr: str) -> tuple[str, Any]:
    try:
        return "value", sandbox.evaluate(expr, SCOPE)
    except ExpressionError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("expr", SIMPLE)
def test_a_simple_expression_runs_as_closures_with_jinjas_result(expr: str) -> None:
    fast = Sandbox()
    compiled = fast._expressions(expr)
    assert isinstance(compiled, _Expression) and compiled.fast is not None
    jinja = Sandbox()
    jinja._expressions(expr).fast = None  # the same sandbox, Jinja's code only
    assert outcome(fast, expr) == outcome(jinja, expr)


@pytest.mark.parametrize("expr", OTHER)
def test_anything_else_still_runs_in_jinja(expr: str) -> None:
    compiled = Sandbox()._expressions(expr)
    assert getattr(compiled, "fast", None) is None


def test_a_template_of_one_expression_uses_the_closures() -> None:
    sandbox = Sandbox()
    assert sandbox.render("{{ a + 1 }}", SCOPE) == 4
    assert sandbox._templates("{{ a + 1 }}").fast is not None


@pytest.mark.parametrize("expr", ["_x + 1", "self", "a.__class__"])
def test_refused_names_are_refused_before_any_closure(expr: str) -> None:
    with pytest.raises(ExpressionError):
        Sandbox().evaluate(expr, {"_x": 1, "a": 1})


TEXTS = [
    "done {{ a }}",
    "{{ a }}{{ b }}",  # a string, never the number 30
    "x {{ a * 2 + 1 }} y {{ s }} z",
    "{{ d * 2 }} {{ none }} {{ true }} {{ 1.5 }}",
    "big {{ s * 100000 }}",  # the sandbox's size limit, inside a template
    "pad {{ a / b }}",  # division by zero
    "{{ missing }} after",  # unknown: Jinja names it
    "{{ items }} as text",
]


def rendered(sandbox: Sandbox, text: str) -> tuple[str, Any]:
    try:
        return "value", sandbox.render(text, SCOPE)
    except ExpressionError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("text", TEXTS)
def test_text_around_simple_expressions_is_one_closure_with_jinjas_output(text: str) -> None:
    fast = Sandbox()
    compiled = fast._templates(text)
    assert getattr(compiled, "fast", None) is not None
    jinja = Sandbox()
    jinja._templates(text).fast = None  # the same sandbox, Jinja's code only
    assert rendered(fast, text) == rendered(jinja, text)


@pytest.mark.parametrize("text", ["n {{ len(items) }}", "{{ s.upper() }}!", "{{ a | string }} x"])
def test_text_around_other_expressions_still_renders_in_jinja(text: str) -> None:
    assert getattr(Sandbox()._templates(text), "fast", None) is None


def prepared(sandbox: Sandbox, value: Any) -> tuple[str, Any]:
    render = sandbox.renderer(value)
    assert render is not None
    try:
        return "value", render(SCOPE)
    except ExpressionError as exc:
        return "error", str(exc)


@pytest.mark.parametrize(
    "value",
    [f"{{{{ {expr} }}}}" for expr in SIMPLE + OTHER] + TEXTS + ["plain text", 42, None, True],
)
def test_a_value_prepared_once_renders_as_render_does(value: Any) -> None:
    """``Sandbox.renderer`` (the step programs' assigns, engine/process/program.py): the
    same value or the same error as ``render`` on every call."""
    sandbox = Sandbox()
    assert prepared(sandbox, value) == rendered(Sandbox(), value)
    assert prepared(sandbox, value) == rendered(sandbox, value)


def test_what_a_renderer_does_not_prepare() -> None:
    sandbox = Sandbox()
    assert sandbox.renderer([1, "{{ a }}"]) is None and sandbox.renderer({"k": "v"}) is None
    assert sandbox.renderer("{{ a +* }}") is None  # refused when the step runs, as before
