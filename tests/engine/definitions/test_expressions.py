"""The expression sandbox: native values, date math, escapes refused, bombs refused fast."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from switchyard.engine.sandbox.expressions import HELPERS, ExpressionError, Sandbox

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(now=lambda: NOW)


@pytest.mark.parametrize(
    ("expr", "scope", "expected"),
    [
        ("amount > 1000", {"amount": 1500}, True),
        ("amount > 1000", {"amount": Decimal("999.99")}, False),
        ("count + 1", {"count": 41}, 42),
        ("name ~ '!'", {"name": "hi"}, "hi!"),
        ("items | length", {"items": [1, 2, 3]}, 3),
        ("[a, b]", {"a": 1, "b": 2}, [1, 2]),
        ("secret.token", {"secret": {"token": "s3"}}, "s3"),
        ("Decimal('1.10') + Decimal('2.20')", {}, Decimal("3.30")),
        ("int('7') * 6", {}, 42),
        ("max(3, 9, 4) - min(3, 9, 4)", {}, 6),
        ("range(3) | list", {}, [0, 1, 2]),
        ("round(2.567, 1)", {}, 2.6),
        ("str(5) ~ 'x'", {}, "5x"),
        ("2 ** 10", {}, 1024),
        ("{{ amount * 2 }}", {"amount": 4}, 8),  # a wrapped expression is tolerated
    ],
)
def test_evaluate_native(sb: Sandbox, expr: str, scope: dict[str, Any], expected: Any) -> None:
    result = sb.evaluate(expr, scope)
    assert result == expected
    assert type(result) is type(expected)


def test_date_math(sb: Sandbox) -> None:
    assert sb.evaluate("now()", {}) == NOW
    assert sb.evaluate("today()", {}) == date(2024, 3, 10)
    assert sb.evaluate("now() + days(2)", {}) == NOW + timedelta(days=2)
    assert sb.evaluate("now() + hours(1) + minutes(30) + seconds(5)", {}) == NOW + timedelta(
        hours=1, minutes=30, seconds=5
    )
    assert sb.evaluate("due < now()", {"due": NOW - timedelta(seconds=1)}) is True
    assert sb.evaluate("datetime('2024-03-09T00:00:00') < now()", {}) is True
    assert sb.evaluate("datetime('2024-03-09T00:00:00Z')", {}) == datetime(2024, 3, 9, tzinfo=UTC)
    assert sb.evaluate("date('2024-03-12') - today()", {}) == timedelta(days=2)
    assert sb.evaluate("(date('2024-03-12') - today()).days", {}) == 2
    assert sb.evaluate("now().isoformat()", {}) == "2024-03-10T12:00:00+00:00"
    assert sb.evaluate("days(n)", {"n": Decimal("1.5")}) == timedelta(days=1.5)


def test_naive_now_is_taken_as_utc() -> None:
    sb = Sandbox(now=lambda: datetime(2024, 1, 1, 8, 0))
    assert sb.evaluate("now()", {}) == datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def test_render_natives_and_text(sb: Sandbox) -> None:
    scope = {"count": 1, "name": "Ann", "items": [1, 2]}
    assert sb.render("{{ count + 1 }}", scope) == 2
    assert sb.render("{{items}}", scope) == [1, 2]
    assert sb.render("{{- count -}}", scope) == 1
    assert sb.render("Hello {{ name }}", scope) == "Hello Ann"
    assert sb.render("{{ count }}{{ count }}", scope) == "11"
    assert sb.render("{{ '}}' }}", scope) == "}}"
    assert sb.render("plain {text}", scope) == "plain {text}"
    assert sb.render(5, scope) == 5
    assert sb.render(None, scope) is None
    nested = {"a": ["{{ count }}", {"b": "x{{ name }}"}], "c": True}
    assert sb.render(nested, scope) == {"a": [1, {"b": "xAnn"}], "c": True}


def test_check_and_names(sb: Sandbox) -> None:
    sb.check("a + b")
    sb.check_template("x {{ a }} y")
    assert sb.names("a + b | default(c) + secret.k + now().day", template=False) == {
        "a",
        "b",
        "c",
        "secret",
    }
    assert sb.names("Hi {{ name }}, {{ days(2) }}", template=True) == {"name"}
    with pytest.raises(ExpressionError, match="syntax error"):
        sb.check("a +")
    with pytest.raises(ExpressionError, match="syntax error"):
        sb.check_template("{{ a ")
    with pytest.raises(ExpressionError, match="statements"):
        sb.check_template("{% if a %}x{% endif %}")
    assert "range" in HELPERS and "now" in HELPERS


def test_helpers_are_exactly_the_sandbox_globals() -> None:
    """A name in HELPERS that the sandbox does not offer (or the reverse) would let a
    definition declare a variable that shadows a helper, or fail on a documented one."""
    from switchyard.engine.sandbox.helpers import helper_globals

    assert set(helper_globals(lambda: NOW)) == HELPERS
    assert set(Sandbox()._env.globals) == HELPERS


def test_strict_undefined_names_the_variable(sb: Sandbox) -> None:
    with pytest.raises(ExpressionError, match="'amonut' is undefined"):
        sb.evaluate("amonut > 5", {"amount": 1})
    with pytest.raises(ExpressionError, match="'amonut' is undefined"):
        sb.evaluate("amonut", {})
    with pytest.raises(ExpressionError, match="'who' is undefined"):
        sb.render("hi {{ who }}", {})
    with pytest.raises(ExpressionError, match="'who' is undefined"):
        sb.render("{{ [who] }}", {})


ESCAPES = [
    "''.__class__.__mro__",
    "''.__class__.__mro__[1].__subclasses__()",
    "cycler.__init__.__globals__",
    "lipsum.__globals__",
    "self",
    "self._TemplateReference__context",
    "config",
    "request",
    "namespace",
    "joiner",
    "cycler",
    "lipsum",
    "dict(a=1)",
    "x['__class__']",
    "x['_' ~ '_class__']",
    "x.__class__",
    "(x|attr('__class__'))",
    "[x]|map(attribute='__class__')|list",
    "now.__globals__",
    "[].append(1)",
    "'{0.__class__}'.format(1)",
]


@pytest.mark.parametrize("expr", ESCAPES)
def test_escapes_fail(sb: Sandbox, expr: str) -> None:
    with pytest.raises(ExpressionError):
        sb.evaluate(expr, {"x": "s"})
    with pytest.raises(ExpressionError):
        sb.render("{{ " + expr + " }}", {"x": "s"})
    with pytest.raises(ExpressionError):
        sb.render("a {{ " + expr + " }} b", {"x": "s"})


def test_escape_messages(sb: Sandbox) -> None:
    with pytest.raises(ExpressionError, match="unsafe attribute '__class__'"):
        sb.check("''.__class__.__mro__")
    with pytest.raises(ExpressionError, match="unsafe attribute '__init__'"):
        sb.check("cycler.__init__.__globals__")
    with pytest.raises(ExpressionError, match="'config' is undefined"):
        sb.evaluate("config", {})


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(10) %}x{% endfor %}",
        "{% set x = 1 %}",
        "{% macro m() %}{% endmacro %}",
        "{% include 'x' %}",
        "no braces {% if 1 %}{% endif %}",
    ],
)
def test_statements_are_refused(sb: Sandbox, template: str) -> None:
    with pytest.raises(ExpressionError, match="statements"):
        sb.render(template, {})


BOMBS = [
    "'a' * 10**9",
    "10 ** 10 ** 10",
    "10 ** 100000",
    "7 ** 1000 * 7 ** 1000",
    "[1] * 10**8",
    "(1, 2) * 10**8",
    "('a' * 100000) + 'b'",
    "[0] * 60000 + [0] * 60000",
    "[[1] * 1000] * 1000",
    "range(10**9)",
    "range(10001)|list",
    "'x'|center(10**9)",
    "'x'.ljust(10**9)",
    "'x'.zfill(10**9)",
    "'\t'.expandtabs(10**8)",
    "'{:>1000000000}'.format(1)",
    "'{:{w}}'.format(1, w=10**9)",
    "'%0999999999d' % 1",
    "'%*d' % (10**9, 1)",
    "'%0999999999d'|format(1)",
    "('a' * 100000)|replace('a', 'aa')",
    "('a' * 1000).replace('a', 'a' * 1000)",
    "range(10000)|join('a' * 100)",
    "('a' * 100).join(range(10000)|map('string'))",
    "[[1] * 100] * 1000|sum(start=[])",
    "('&' * 50000)|forceescape|forceescape",
    "'a'.translate({97: 'bbbb'})",
    "['a']|batch(10**9, 'x')|list",
    "[1]|slice(10**9)|list",
    "'x'|indent(10**9)",
    "'x x x'|wordwrap(1, wrapstring='y' * 10**5)",
    "(1).to_bytes(10**9, 'big')",
    "Decimal('1e999999999')",
    "int(Decimal('1e999999999'))",
    "Decimal('1e999999999')|int",
    "(2 ** 1000) * (2 ** 1000) * (2 ** 1000) * (2 ** 1000) * (2 ** 1000)",
    "int('9' * 1300)",
]


@pytest.mark.parametrize("expr", BOMBS)
def test_bombs_fail_quickly(sb: Sandbox, expr: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError):
        sb.evaluate(expr, {})
    assert time.perf_counter() - started < 0.5


def test_render_output_cap(sb: Sandbox) -> None:
    with pytest.raises(ExpressionError, match="output too large"):
        sb.render("{{ 'a' * 60000 }}{{ 'b' * 60000 }}", {})
    assert len(sb.render("x{{ 'a' * 60000 }}", {})) == 60001


def test_ordinary_errors_are_wrapped(sb: Sandbox) -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        sb.evaluate("1 / 0", {})
    with pytest.raises(ExpressionError, match="TypeError"):
        sb.evaluate("'a' - 1", {})
    with pytest.raises(ExpressionError, match="ValueError"):
        sb.evaluate("date('not a date')", {})
    with pytest.raises(ExpressionError, match="no attribute"):
        sb.evaluate("m.missing", {"m": {}})
    with pytest.raises(ExpressionError, match=r"nested too deeply|syntax error"):
        sb.evaluate("(" * 5000 + "1" + ")" * 5000, {})


def test_within_limits_still_works(sb: Sandbox) -> None:
    assert len(sb.evaluate("'a' * 100000", {})) == 100000
    assert sb.evaluate("10 ** 1000", {}) == 10**1000
    assert sb.evaluate("'%05.2f' % 3.14159", {}) == "03.14"
    assert sb.evaluate("'{:>5}'.format('ab')", {}) == "   ab"
    assert sb.evaluate("'a-b'.replace('-', '+')", {}) == "a+b"
    assert sb.evaluate("','.join(['a', 'b'])", {}) == "a,b"
    assert sb.evaluate("[1, 2]|join('-')", {}) == "1-2"
    assert sb.evaluate("[1, 2, 3]|sum", {}) == 6


def test_compiled_expressions_are_cached(sb: Sandbox) -> None:
    sb.evaluate("a + 1", {"a": 1})
    started = time.perf_counter()
    for i in range(2000):
        sb.evaluate("a + 1", {"a": i})
    assert time.perf_counter() - started < 1.0
