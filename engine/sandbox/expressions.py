"""The sandbox for expressions and templates, on Jinja's ``ImmutableSandboxedEnvironment``.

* Templates hold only ``{{ ... }}`` (and ``{# #}``); ``{% ... %}`` statements are refused.
* No attribute/item access to names starting with ``_``, no ``self``; Jinja's default globals
  are gone; only the helpers in :data:`HELPERS` are offered.
* Bounded work: operators, filters and ``str`` methods that can amplify are checked before
  they run (strings/collections over 100,000 chars/items, counting shared parts each time;
  exponents over 1000; integers over 4096 bits; ``range`` over 10,000; output over 64 KiB).
  ``~`` chains and a template's output pieces are joined only while the total stays within
  the limit; formats (``%``, ``format``, ``str.format``) are sized from their fields and
  longest argument first; ``indent``/``wordwrap`` from their lines; every result (also of a
  bare expression, lists and dicts included) is checked after.
  Chained ``a ** b ** c`` is refused: Jinja evaluates it left to right, unlike Python.
* Unknown variables are errors (``StrictUndefined``) naming the variable. Every failure is an
  :class:`ExpressionError`. Compiled code is cached per :class:`Sandbox`.

Helpers: ``now()`` (aware UTC), ``today()``, ``days/hours/minutes/seconds(n)``, ``date(s)``,
``datetime(s)`` (ISO; naive taken as UTC), ``len min max abs round int float str bool``,
``Decimal``, ``range``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from switchyard.engine.sandbox.fast import Fallback, Fast, compile_fast, compile_text
from switchyard.engine.sandbox.helpers import HELPERS as HELPERS  # (re-exported)
from switchyard.engine.sandbox.helpers import helper_globals
from switchyard.engine.sandbox.limits import (
    FILTER_CHECKS,
    MAX_EXPONENT,
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_OUTPUT,
    MAX_PAD,
    MAX_SOURCE,
    ExpressionError,
    bounded_concat,
    check_format_output,
    check_format_string,
    check_int_arg,
    check_join,
    check_printf,
    check_replace,
    check_size,
    format_fields,
    guard_filter,
    guard_join,
    int_too_large,
    printf_args,
    printf_fields,
    too_large,
    weight,
)

_SINGLE = re.compile(r"\A\{\{-?(.*?)-?\}\}\Z", re.DOTALL)


class _CodeGenerator(CodeGenerator):
    """``a ~ b ~ c`` compiles to a bounded concatenation (Jinja's own joins first)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.sandbox_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Env(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})
    code_generator_class = _CodeGenerator
    template_class: type[Template]  # _Template, set below (defined after this class)

    @staticmethod
    def sandbox_concat(parts: Iterable[Any]) -> str:
        return bounded_concat(parts)

    @staticmethod
    def concat(parts: Iterable[str]) -> str:  # a template's output pieces
        return bounded_concat(parts, MAX_OUTPUT, "template output")

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(attribute, str) and attribute.startswith("_"):
            raise SecurityError(f"unsafe attribute {attribute!r}")
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("_"):
            raise SecurityError(f"unsafe attribute {argument!r}")
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        owner = getattr(value, "__self__", None)
        name = getattr(value, "__name__", "")
        if not (isinstance(owner, str) and name in ("format", "format_map")):
            return super().wrap_str_format(value)
        check_format_string(owner)
        inner = super().wrap_str_format(value)
        if inner is None:
            return None
        fields, fmt = format_fields(owner), owner

        @wraps(inner)
        def checked(*args: Any, **kwargs: Any) -> str:
            given = [*args, *kwargs.values()]
            if name == "format_map" and args and isinstance(args[0], Mapping):
                given = list(args[0].values())
            check_format_output(fields, given, fmt)
            return inner(*args, **kwargs)

        return checked

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        seqs = (str, list, tuple)
        if operator == "**":
            if (
                isinstance(right, int | float | Decimal)
                and not -MAX_EXPONENT <= right <= MAX_EXPONENT
            ):
                raise ExpressionError(f"exponent {right} exceeds the limit {MAX_EXPONENT}")
            big = isinstance(left, int) and isinstance(right, int) and right > 0
            if big and max(0, left.bit_length() - 1) * int(right) > MAX_INT_BITS:
                raise int_too_large()
        elif operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, seqs) and isinstance(n, int) and weight(seq) * n > MAX_ITEMS:
                    raise too_large()
            ints = isinstance(left, int) and isinstance(right, int)
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise int_too_large()
        elif operator == "+" and isinstance(left, seqs) and isinstance(right, seqs):
            if weight(left) + weight(right) > MAX_ITEMS:
                raise too_large()
        elif operator == "%" and isinstance(left, str):
            check_printf(left)
            check_format_output(printf_fields(left), printf_args(right), left)
        return check_size(self.binop_table[operator](left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        first = args[0] if args else None
        if isinstance(owner, str):
            if name in ("center", "ljust", "rjust", "zfill"):
                check_int_arg(first, MAX_ITEMS, "width")
            elif name == "expandtabs":
                check_int_arg(kwargs.get("tabsize", first), MAX_PAD, "tab size")
            elif name == "replace" and len(args) >= 2:
                check_replace(owner, str(args[0]), str(args[1]), *args[2:3])
            elif name == "join" and args:
                items = list(args[0])
                check_join(items, owner)
                args = (items, *args[1:])
            elif name in ("translate", "maketrans"):
                raise ExpressionError(f"str.{name} is not allowed")
        elif isinstance(owner, int) and name == "to_bytes":
            check_int_arg(kwargs.get("length", first), MAX_ITEMS, "length")
        return check_size(super().call(context, obj, *args, **kwargs))


def _check_tree(tree: nodes.Node, template: bool) -> None:
    """Static checks: no statements (templates), no ``self``/``_`` names, no chained ``**``."""
    problems: list[str] = []  # pre-order: for a.__x.__y the last one found comes first in source
    for node in tree.find_all(nodes.Node):
        if template and isinstance(node, nodes.Stmt) and not isinstance(node, nodes.Output):
            raise ExpressionError(
                "statements ({% ... %}) are not allowed; use {{ ... }} expressions only"
            )
        if isinstance(node, nodes.Name) and (node.name == "self" or node.name.startswith("_")):
            problems.append(f"name {node.name!r} is not allowed")
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            problems.append(f"unsafe attribute {node.attr!r}")
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
            if isinstance(key, str) and key.startswith("_"):
                problems.append(f"unsafe attribute {key!r}")
        elif isinstance(node, nodes.Pow) and isinstance(node.left, nodes.Pow):
            problems.append(
                "chained '**' is not allowed (Jinja evaluates it left to right, unlike "
                "Python); compute one power at a time"
            )
    if problems:
        raise ExpressionError(problems[-1])


def _parse_problem(exc: BaseException) -> str:
    """What is wrong with a source that does not parse. Jinja's lexer raises ValueError for
    a number literal past Python's 4300-digit limit of int(str)."""
    return "a number literal too long" if type(exc) is ValueError else _describe(exc)


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_TYPE_NAME = re.compile(r"\w+ object|None")


def _from_source(source: str) -> Callable[[re.Match[str]], str]:
    def keep(quoted: re.Match[str]) -> str:
        inner = quoted.group(0)[1:-1]
        return quoted.group(0) if inner in source or _TYPE_NAME.fullmatch(inner) else "…"

    return keep


def _describe(exc: BaseException, source: str | None = None) -> str:
    """One line for an expression's failure. With ``source`` (evaluating), a quoted part of
    Jinja's own message that the source does not hold is cut: ``m[iban[4:]]`` failed with
    "'dict object' has no attribute 'ATTACK0MARK9931'", a value the masker cannot know."""
    if isinstance(exc, TemplateSyntaxError):
        where = f" (line {exc.lineno})" if exc.lineno and exc.lineno > 1 else ""
        return f"syntax error: {exc.message}{where}"
    if isinstance(exc, TemplateError):
        message = exc.message or type(exc).__name__
        return message if source is None else _QUOTED.sub(_from_source(source), message)
    fixed: dict[type[BaseException], str] = {
        ZeroDivisionError: "division by zero",
        RecursionError: "expression nested too deeply",
    }
    # Python's own messages quote the offending value ("invalid literal for int() with
    # base 10: 'x'"): errors reach the journal and the history, which never hold values
    return fixed.get(type(exc)) or f"{type(exc).__name__}: {_QUOTED.sub('…', str(exc))}"


class _Expression(TemplateExpression):
    """A compiled bare expression, with its closures when it is simple (sandbox/fast.py)."""

    fast: Fast | None = None


class _Template(Template):
    """A compiled template, with its closure when it is text around simple expressions."""

    fast: Callable[[Mapping[str, Any]], str] | None = None


_Env.template_class = _Template
_NO_CONTEXT: Any = None  # _Env.call_binop never reads its context


class Sandbox:
    """Evaluates expressions and renders templates from process definitions, safely."""

    def __init__(self, *, now: Callable[[], datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        env = _Env(undefined=StrictUndefined, finalize=check_size, autoescape=False)
        env.globals.clear()
        env.globals.update(helper_globals(self._now_utc))
        for name, func in list(env.filters.items()):
            env.filters[name] = guard_filter(func, FILTER_CHECKS.get(name))
        env.filters["join"] = guard_join(env.filters["join"])
        self._env = env
        self._expressions = lru_cache(maxsize=4096)(self._compile_expression)
        self._templates = lru_cache(maxsize=4096)(self._compile_template)

    def _now_utc(self) -> datetime:
        value = self._now()
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # -- parsing and compiling (cached) --

    def _parse_expression(self, expr: str) -> nodes.Template:
        if len(expr) > MAX_SOURCE:
            raise ExpressionError(f"expression longer than {MAX_SOURCE:,} chars")
        single = _SINGLE.match(expr.strip())
        if single and "{{" not in single.group(1):  # tolerate "{{ expr }}" where expr is wanted
            expr = single.group(1)
        try:
            parser = Parser(self._env, expr, state="variable")
            node = parser.parse_expression()
            if not parser.stream.eos:
                token = parser.stream.current
                raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", 1)
        except (TemplateError, RecursionError, ValueError) as exc:
            raise ExpressionError(_parse_problem(exc)) from None
        tree = nodes.Template([nodes.Output([node], lineno=1)], lineno=1)
        tree.set_environment(self._env)
        _check_tree(tree, template=False)
        return tree

    def _compile_expression(self, expr: str) -> TemplateExpression:
        out = self._parse_expression(expr).body[0]
        assert isinstance(out, nodes.Output)
        node = out.nodes[0]
        body = [nodes.Assign(nodes.Name("result", "store"), node, lineno=1)]
        compiled = _Expression(self._compile(nodes.Template(body, lineno=1)), False)
        if not self._env.intercepted_unops:  # fast.py evaluates unary operators plainly
            compiled.fast = compile_fast(
                node, self._env.globals, self._binop, self._env.intercepted_binops
            )
        return compiled

    def _binop(self, op: str, left: Any, right: Any) -> Any:
        return self._env.call_binop(_NO_CONTEXT, op, left, right)

    def _compile(self, tree: nodes.Template) -> Template:
        tree.set_environment(self._env)
        try:
            return self._env.from_string(tree)
        except (TemplateError, RecursionError, ValueError) as exc:
            raise ExpressionError(_parse_problem(exc)) from None

    def _parse_template(self, text: str) -> nodes.Template:
        if len(text) > MAX_SOURCE:
            raise ExpressionError(f"template longer than {MAX_SOURCE:,} chars")
        try:
            tree = self._env.parse(text)
        except (TemplateError, RecursionError, ValueError) as exc:
            raise ExpressionError(_parse_problem(exc)) from None
        _check_tree(tree, template=True)
        return tree

    def _compile_template(self, text: str) -> Template | TemplateExpression:
        """A TemplateExpression for a string that is exactly one ``{{ expr }}``, else a Template."""
        tree = self._parse_template(text)
        single = _SINGLE.match(text)
        body = tree.body
        if (
            single
            and len(body) == 1
            and isinstance(body[0], nodes.Output)
            and len(body[0].nodes) == 1
            and not isinstance(body[0].nodes[0], nodes.TemplateData)
        ):
            return self._expressions(single.group(1))
        compiled = self._compile(tree)
        if isinstance(compiled, _Template) and not self._env.intercepted_unops:
            compiled.fast = compile_text(
                body,
                self._env.globals,
                self._binop,
                self._env.intercepted_binops,
                check_size,
                self._env.concat,
            )
        return compiled

    # -- public API --

    def check(self, expr: str) -> None:
        """Parse ``expr`` (a bare expression); raise ExpressionError if invalid or unsafe."""
        self._expressions(expr)

    def check_template(self, text: str) -> None:
        """Parse ``text`` as a template; raise ExpressionError if invalid or unsafe."""
        self._templates(text)

    def names(self, expr_or_template: str, *, template: bool) -> set[str]:
        """The undeclared variable names an expression or template reads (helpers excluded)."""
        if template:
            tree = self._parse_template(expr_or_template)
        else:
            tree = self._parse_expression(expr_or_template)
        return set(meta.find_undeclared_variables(tree)) - HELPERS

    def evaluate(self, expr: str, scope: Mapping[str, Any]) -> Any:
        """The native value of a bare expression, e.g. ``"amount > 1000"`` -> ``True``."""
        return self._run(self._expressions(expr), scope, expr)

    def render(self, value: Any, scope: Mapping[str, Any]) -> Any:
        """Render templates inside ``value`` (recursing into dicts and lists).

        A string that is exactly one ``{{ expr }}`` gives the native value of ``expr``; other
        strings containing ``{{`` render to a string (one containing ``{%`` is refused, as
        statements are not allowed); everything else passes through unchanged.
        """
        if isinstance(value, str):
            if "{{" not in value and "{%" not in value:
                return value
            return self._run(self._templates(value), scope, value)
        if isinstance(value, dict):
            return {k: self.render(v, scope) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, scope) for v in value]
        return value

    def renderer(self, value: Any) -> Callable[[Mapping[str, Any]], Any] | None:
        """``render(value, scope)`` as a function of the scope, its template compiled now
        (engine/process/program.py prepares a definition's assigns once); None for what
        it does not prepare (a list or a dict, a template that does not compile: ``render``
        says why when the step runs)."""
        if isinstance(value, dict | list):
            return None
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return lambda scope: value
        try:
            compiled = self._templates(value)
        except ExpressionError:
            return None
        run = self._run
        fast = compiled.fast if isinstance(compiled, _Expression) else None
        if fast is None:
            return lambda scope: run(compiled, scope, value)

        def render_fast(scope: Mapping[str, Any]) -> Any:
            # ``_run``'s first branch, without its dispatch: the closures, the after-check
            # (an unknown name: ``_run`` again, which goes on to Jinja's own error)
            try:
                result = fast(scope)
                heavy = weight(result) > MAX_ITEMS
            except Fallback:
                return run(compiled, scope, value)
            except ExpressionError:
                raise
            except Exception as exc:
                raise ExpressionError(_describe(exc, value)) from None
            if heavy:
                raise too_large()
            return result

        return render_fast

    def _run(
        self, compiled: Template | TemplateExpression, scope: Mapping[str, Any], source: str
    ) -> Any:
        try:
            fast = compiled.fast if isinstance(compiled, _Expression) else None
            if fast is not None:  # a simple expression as closures (sandbox/fast.py)
                try:
                    result = fast(scope)
                except Fallback:  # an unknown name: Jinja's own error below
                    pass
                else:
                    if weight(result) > MAX_ITEMS:
                        raise too_large()
                    return result
            if isinstance(compiled, TemplateExpression):
                # TemplateExpression.__call__ without its per-call ChainMap merge of the
                # globals (a third of an assign's cost): one flat dict, shared.
                template = compiled._template
                context = template.new_context({**self._env.globals, **scope}, shared=True)
                for _ in template.root_render_func(context):
                    pass
                result = context.vars["result"]
                if weight(result) > MAX_ITEMS:  # also raises on an Undefined inside
                    raise too_large()
                return result
            text = compiled.fast if isinstance(compiled, _Template) else None
            out = None
            if text is not None:  # text around simple expressions (sandbox/fast.py)
                with suppress(Fallback):  # an unknown name: Jinja's own error below
                    out = text(scope)
            if out is None:
                out = compiled.render(scope)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(_describe(exc, source)) from None
        if len(out) > MAX_OUTPUT // 4 and len(out.encode()) > MAX_OUTPUT:
            raise ExpressionError(f"template output too large (over {MAX_OUTPUT // 1024} KiB)")
        return out
