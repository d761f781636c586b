"""Simple expressions as Python closures, beside Jinja (the sandbox's own checks kept).

An assign's expression is usually a name, a constant, arithmetic or a comparison
(``a + 1``, ``count < n``). Jinja evaluates it through a fresh context per call (about
half of an assign step's CPU). ``compile_fast`` turns such a tree (already parsed and
statically checked by the sandbox) into nested closures that do exactly what Jinja's
sandboxed code does for these nodes:

* a name: the scope's value, else the helper of that name; an unknown name is not
  guessed at: ``Fallback`` is raised and Jinja evaluates it (its own error message);
* a constant: its value;
* ``+ - * / // % **``: through the environment's ``call_binop`` (the size, exponent and
  integer limits), as the sandbox compiles them (all are intercepted);
* ``not``, unary ``-``/``+``, ``and``/``or``, one comparison (``== != < <= > >= in``,
  ``not in``): plain Python, as Jinja compiles them (it intercepts none of them).

Anything else (attributes, items, calls, filters, tests, literals of lists or dicts,
chained comparisons, conditionals, concatenation with ``~``) gives None: Jinja runs it.
The result gets the same after-check as Jinja's (``weight``, in expressions.py).

A template of text around such expressions (``"done {{ a }}"``) becomes one closure too
(``compile_text``): each expression's value through the environment's ``finalize`` and
``str``, the pieces joined by its ``concat``, as Jinja's compiled template does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import nodes

Scope = Mapping[str, Any]
Fast = Callable[[Scope], Any]


class Fallback(Exception):
    """Not decided here (an unknown name): Jinja evaluates the expression instead."""


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
_PLAIN_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def compile_fast(
    node: nodes.Expr,
    helpers: Mapping[str, Any],
    binop: Callable[[str, Any, Any], Any],
    intercepted: frozenset[str],
) -> Fast | None:
    """Closures for ``node``, or None when Jinja must evaluate it. ``binop(op, l, r)`` is
    the environment's checked operator for the ``intercepted`` ones."""
    if isinstance(node, nodes.Const):
        value = node.value
        return lambda scope: value
    if isinstance(node, nodes.Name) and node.ctx == "load":
        name = node.name

        def load(scope: Scope) -> Any:
            if name in scope:
                return scope[name]
            if name in helpers:
                return helpers[name]
            raise Fallback(name)

        return load
    if isinstance(node, nodes.BinExpr) and not isinstance(node, nodes.Concat):
        left = compile_fast(node.left, helpers, binop, intercepted)
        right = compile_fast(node.right, helpers, binop, intercepted)
        if left is None or right is None:
            return None
        op = node.operator
        if isinstance(node, nodes.And):
            return lambda scope: left(scope) and right(scope)
        if isinstance(node, nodes.Or):
            return lambda scope: left(scope) or right(scope)
        if op in intercepted:
            return lambda scope: binop(op, left(scope), right(scope))
        plain = _PLAIN_BINOPS.get(op)
        if plain is None:
            return None
        return lambda scope: plain(left(scope), right(scope))
    if isinstance(node, nodes.Not | nodes.Neg | nodes.Pos):
        inner = compile_fast(node.node, helpers, binop, intercepted)
        if inner is None:
            return None
        if isinstance(node, nodes.Not):
            return lambda scope: not inner(scope)
        if isinstance(node, nodes.Neg):
            return lambda scope: -inner(scope)
        return lambda scope: +inner(scope)
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        first = compile_fast(node.expr, helpers, binop, intercepted)
        second = compile_fast(node.ops[0].expr, helpers, binop, intercepted)
        compare = _COMPARE.get(node.ops[0].op)
        if first is None or second is None or compare is None:
            return None
        return lambda scope: compare(first(scope), second(scope))
    return None


def compile_text(
    body: list[nodes.Node],
    helpers: Mapping[str, Any],
    binop: Callable[[str, Any, Any], Any],
    intercepted: frozenset[str],
    finalize: Callable[[Any], Any],
    concat: Callable[[list[str]], str],
) -> Callable[[Scope], str] | None:
    """Closures for a template that is one output of text and simple expressions, or
    None (Jinja renders it). An unknown name raises ``Fallback`` as above."""
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts: list[Callable[[Scope], str]] = []

    def text_part(text: str) -> Callable[[Scope], str]:
        return lambda scope: text

    def value_part(fast: Fast) -> Callable[[Scope], str]:
        return lambda scope: str(finalize(fast(scope)))

    for node in body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append(text_part(node.data))
            continue
        if not isinstance(node, nodes.Expr):
            return None
        fast = compile_fast(node, helpers, binop, intercepted)
        if fast is None:
            return None
        parts.append(value_part(fast))
    return lambda scope: concat([part(scope) for part in parts])
