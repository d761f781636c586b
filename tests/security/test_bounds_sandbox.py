"""Every operator and filter of the expression sandbox has a bounded result: ``~`` chains,
formats reusing one argument, indent, wordwrap, literals of shared values, template output.
Where it can, the check comes before the value is built."""

from __future__ import annotations

from typing import Any

import pytest
from switchyard.engine.sandbox.expressions import MAX_ITEMS, ExpressionError, Sandbox

BIG = "x" * MAX_ITEMS  # as large as a single value may be
SCOPE: dict[str, Any] = {"v": BIG, "line": "ab\n" * 30_000, "small": "abc"}


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("expr", "what"),
    [
        pytest.param("~".join(["v"] * 1500), "'~' result too large", id="v~v~...~v (1,500)"),
        ("small ~ v", "'~' result too large"),
        ("v + small", "too large"),
        ("v * 2", "too large"),
        ("[v] * 2", "too large"),
        ("[v, v, v]", "expression result too large"),
        ("{'a': v, 'b': v}", "expression result too large"),
        ("[v, v] | join", "join result too large"),
        ("'%(a)s%(a)s' % {'a': v}", "format result too large"),
        ("'%s%s' % (v, small)", "format result too large"),
        ("'%(a)s%(a)s' | format(a=v)", "format result too large"),
        ("'{0}{0}'.format(v)", "format result too large"),
        ("'{a}{a}'.format_map({'a': v})", "format result too large"),
        ("v | replace('x', 'yy')", "replace result too large"),
        ("v.replace('x', 'yy')", "replace result too large"),
        ("small | center(200000)", "width 200000 exceeds the limit"),
        ("line | indent(8, true)", "indent result too large"),
        ("v | wordwrap(1)", "wordwrap result too large"),
        ("range(100000)", "exceeds the limit 10,000"),
        ("range(10000) | list | join('xxxxxxxxxxx')", "join result too large"),
    ],
)
def test_every_amplifier_is_bounded(sandbox: Sandbox, expr: str, what: str) -> None:
    with pytest.raises(ExpressionError) as info:
        sandbox.evaluate(expr, SCOPE)
    assert what in str(info.value)


@pytest.mark.timeout(10)
def test_a_template_of_many_pieces_is_refused_before_it_is_joined(sandbox: Sandbox) -> None:
    with pytest.raises(ExpressionError) as info:
        sandbox.render("{{ v }}," * 20, SCOPE)
    assert "template output too large (over 64 KiB)" in str(info.value)


def test_small_values_still_work(sandbox: Sandbox) -> None:
    assert sandbox.evaluate("small ~ '-' ~ 1 ~ '-' ~ small", SCOPE) == "abc-1-abc"
    assert sandbox.evaluate("'%s/%05d' % (small, 7)", SCOPE) == "abc/00007"
    assert sandbox.evaluate("'{0}-{0}'.format(small)", SCOPE) == "abc-abc"
    assert sandbox.evaluate("'%(a)s' | format(a=small)", SCOPE) == "abc"
    assert sandbox.evaluate("'%s' | format(v)", SCOPE) == BIG  # exactly at the limit
    assert sandbox.evaluate("small | indent(2, true)", SCOPE) == "  abc"
    assert sandbox.render("{{ small }} and {{ small ~ 1 }}", SCOPE) == "abc and abc1"
    assert len(sandbox.evaluate("[small] * 1000", SCOPE)) == 1000
    wrapped = sandbox.evaluate(
        "'aaa bbb' | wordwrap(3, break_on_hyphens=false, wrapstring='|')", SCOPE
    )
    assert wrapped == "aaa|bbb"
    assert sandbox.evaluate("'a\nb' | indent(width=2, first=true)", SCOPE) == "  a\n  b"
