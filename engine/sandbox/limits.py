"""Size limits of the expression sandbox (see engine/sandbox/expressions.py): the checks that run
before an operator, filter or ``str`` method may build a value, and after it did."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

MAX_ITEMS = 100_000  # chars of a string / items of a collection built inside the sandbox
MAX_OUTPUT = 64 * 1024  # rendered template output, in bytes
MAX_EXPONENT = 1000
MAX_INT_BITS = 4096
MAX_RANGE = 10_000
MAX_SOURCE = 64 * 1024
_MAX_DEC_EXP = 4096
MAX_DECIMAL_EXPONENT = _MAX_DEC_EXP  # a decimal's adjusted exponent, in and out of the sandbox
MAX_PAD = 64  # indent width, tab size, wrap string
_MAX_SPEC = 1000  # width / precision inside a format spec

_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
_CONTAINERS = (list, tuple, set, frozenset)


class ExpressionError(Exception):
    """An expression or template that does not parse, is unsafe, or fails when evaluated."""


T = TypeVar("T")


def too_large(what: str = "expression result") -> ExpressionError:
    return ExpressionError(f"{what} too large (limit {MAX_ITEMS:,} chars/items)")


def int_too_large() -> ExpressionError:
    return ExpressionError(f"integer result too large (over {MAX_INT_BITS} bits)")


if TYPE_CHECKING:
    from jinja2 import Undefined

_UNDEFINED: list[type[Undefined]] = []  # imported on first use (issue 14: not at import)


def _undefined() -> type[Undefined]:
    if not _UNDEFINED:
        from jinja2 import Undefined

        _UNDEFINED.append(Undefined)
    return _UNDEFINED[0]


def weight(value: Any, budget: int = MAX_ITEMS) -> int:
    """Chars + items in ``value``, nested, shared parts counted each time; stops past budget.

    Meeting an Undefined (``[missing]``) raises its error, naming the variable."""
    kind = type(value)  # the common results first: what the loop below gives them
    if kind is str:
        return len(value)
    if kind is int or kind is bool or kind is float or value is None:
        return 1
    undefined = _undefined()
    total, stack = 0, [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, undefined):
            item._fail_with_undefined_error()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, _CONTAINERS):
            total += len(item) + 1
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 1
    return total


def check_size(value: T) -> T:
    if isinstance(value, (str, bytes, dict, *_CONTAINERS)):
        if weight(value) > MAX_ITEMS:
            raise too_large()
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise int_too_large()
    elif isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) > _MAX_DEC_EXP:
        raise ExpressionError(f"decimal result out of range (exponent over {_MAX_DEC_EXP})")
    return value


def _check_number(num: str | None, what: str = "format width") -> None:
    if num == "*":
        raise ExpressionError("'*' width in a % format is not allowed")
    if num and int(num) > _MAX_SPEC:
        raise ExpressionError(f"{what} {num} exceeds the limit {_MAX_SPEC}")


def check_printf(fmt: str) -> None:
    for m in _PRINTF.finditer(fmt):
        _check_number(m.group(1))
        _check_number(m.group(2))


def check_format_string(fmt: str) -> None:
    for _text, field, spec, _conv in string.Formatter().parse(fmt):
        if field is not None and spec and "{" in spec:
            raise ExpressionError("nested fields in a format spec are not allowed")
        for num in re.findall(r"\d+", spec or "") if field is not None else ():
            _check_number(num)


def check_replace(s: str, old: str, new: str, count: int | None = None) -> None:
    hits = (len(s) + 1) if old == "" else s.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(s) + hits * max(0, len(new) - len(old)) > MAX_ITEMS:
        raise too_large("replace result")


def decimal_in_range(value: Decimal) -> bool:
    """A finite decimal whose exponent is within ``MAX_DECIMAL_EXPONENT`` (``1E+999999999``
    is a short string, but formatted with ``{:f}`` it is a billion digits)."""
    return value.is_finite() and abs(value.adjusted()) <= _MAX_DEC_EXP


def _str_len(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Decimal) and value.is_finite():  # "{:f}": every digit of 1E+N
        return len(str(value)) + abs(value.adjusted())
    return len(str(value))


def bounded_concat(parts: Iterable[Any], limit: int = MAX_ITEMS, what: str = "'~' result") -> str:
    """``"".join(map(str, parts))``, refused as soon as the pieces pass ``limit`` chars
    (before the joined string is built)."""
    pieces: list[str] = []
    size = 0
    for part in parts:
        text = part if isinstance(part, str) else str(part)
        size += len(text)
        if size > limit:
            raise too_large(what) if limit == MAX_ITEMS else _output_too_large()
        pieces.append(text)
    return "".join(pieces)


def _output_too_large() -> ExpressionError:
    return ExpressionError(f"template output too large (over {MAX_OUTPUT // 1024} KiB)")


def check_format_output(fields: list[str], args: Iterable[Any], fmt: str) -> None:
    """A format with ``fields`` (their specs) over ``args``: refused when it could exceed
    MAX_ITEMS chars (each field as long as the longest argument plus its width)."""
    longest = max((_str_len(a) for a in args), default=0)
    size = len(fmt)
    for spec in fields:
        widths = [int(n) for n in re.findall(r"\d+", spec)]
        size += longest + max(widths, default=0) - (len(spec) if spec.startswith("%") else 0)
        if size > MAX_ITEMS:
            raise too_large("format result")


def printf_fields(fmt: str) -> list[str]:
    return [m.group(0) for m in _PRINTF.finditer(fmt) if m.group(3) != "%"]


def format_fields(fmt: str) -> list[str]:
    try:
        return [spec or "" for _t, f, spec, _c in string.Formatter().parse(fmt) if f is not None]
    except ValueError as exc:
        raise ExpressionError(f"bad format string: {exc}") from None


def printf_args(right: Any) -> list[Any]:
    if isinstance(right, tuple):
        return list(right)
    if isinstance(right, dict):
        return list(right.values())
    return [right]


def _check_format(v: Any, *a: Any, **k: Any) -> None:
    check_printf(str(v))
    check_format_output(printf_fields(str(v)), [*a, *k.values()], str(v))


def _check_indent(s: Any, width: Any = 4, *a: Any, **k: Any) -> None:
    check_int_arg(width, MAX_PAD, "indent width")
    pad = len(width) if isinstance(width, str) else int(width or 0)
    text = str(s)
    if len(text) + (text.count("\n") + 1) * pad > MAX_ITEMS:
        raise too_large("indent result")


def _check_wordwrap(
    env: Any,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    *a: Any,
    **k: Any,
) -> None:
    check_int_arg(wrapstring or "", MAX_PAD, "wrap string length")
    text, sep = str(s), wrapstring or "\n"
    if len(text) + (len(text) // max(1, int(width)) + 1) * len(sep) > MAX_ITEMS:
        raise too_large("wordwrap result")


def check_join(items: list[Any], sep: str) -> None:
    size = len(sep) * max(0, len(items) - 1)
    for item in items:
        size += len(item) if isinstance(item, str) else weight(item)
        if size > MAX_ITEMS:
            break
    if size > MAX_ITEMS:
        raise too_large("join result")


def check_int_arg(value: Any, limit: int, what: str) -> None:
    if isinstance(value, str):
        value = len(value)
    if isinstance(value, int) and value > limit:
        raise ExpressionError(f"{what} {value} exceeds the limit {limit:,}")


def _check_sum_start(start: Any) -> None:
    if not isinstance(start, int | float | Decimal | timedelta):
        raise ExpressionError("sum of strings or lists is not allowed; use join or +")


def check_int_source(value: Any) -> None:
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > 1300:
        raise int_too_large()


# Pre-checks for the filters that can amplify, called with the filter's own arguments.
FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": lambda v, width=80, *a, **k: check_int_arg(width, MAX_ITEMS, "width"),
    "indent": _check_indent,
    "batch": lambda v, linecount, *a, **k: check_int_arg(linecount, MAX_ITEMS, "batch"),
    "slice": lambda ctx, v, slices, *a, **k: check_int_arg(slices, MAX_RANGE, "slices"),
    "format": _check_format,
    "replace": lambda ctx, s, old, new, n=None: check_replace(str(s), str(old), str(new), n),
    "wordwrap": _check_wordwrap,
    "sum": lambda env, it, attribute=None, start=0: _check_sum_start(start),
    "int": lambda v, *a, **k: check_int_source(v),
}


def guard_filter(func: Callable[..., Any], pre: Callable[..., None] | None) -> Callable[..., Any]:
    @wraps(func)  # keeps jinja's pass_context / pass_environment marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if pre is not None:
            pre(*args, **kwargs)
        return check_size(func(*args, **kwargs))

    return guarded


def guard_join(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def join(ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        if attribute is None:
            check_join(items, str(d))
        elif len(items) > MAX_ITEMS:
            raise too_large("join input")
        return check_size(func(ctx, items, d, attribute))

    return join
