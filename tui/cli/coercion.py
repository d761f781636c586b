"""Option values without pydantic when pydantic would change nothing (issue 14).

typer (0.2x) turns every option's value into its Python type with a pydantic
``TypeAdapter``, built when the option is first processed, even when no value was given:
importing pydantic and building the adapters was ~0.1 s of every ``lane list``. Here each
typer parameter gets a lazy coercion instead: a ``str`` option given a string, an ``int``
given an int (its default) or plain ASCII digits, a ``bool`` given a bool are returned as
they are (what the adapter returns for them); any other value (a sign, spaces, letters, a
list, a path, a choice, a parser or bounds on the option) goes to typer's own adapter,
built then, so its conversions and error messages are unchanged.
tests/tui/test_cli_coercion.py compares both on such values.

If typer's internals are not the ones this was written for, nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer._click import Context

#: longest digit string taken as an int here (pydantic's own limits stay in charge beyond)
MAX_DIGITS = 18
_SAME = object()


def plain_value(annotation: Any, value: Any) -> Any:
    """``value`` as typer's adapter would return it, when that is the value itself (or
    the int of plain digits); else ``_SAME`` (the adapter decides)."""
    if annotation is str and type(value) is str:
        return value
    if annotation is int:
        if type(value) is int:
            return value
        digits = type(value) is str and 0 < len(value) <= MAX_DIGITS
        if digits and value.isascii() and value.isdigit():
            return int(value)
    if annotation is bool and type(value) is bool:
        return value
    return _SAME


def install() -> bool:
    """Give typer's parameters the lazy coercion; False when typer is not as expected."""
    try:
        from typer import _coercion
        from typer import core as typer_core
    except ImportError:  # pragma: no cover - another typer
        return False
    base: Any = getattr(_coercion, "RuntimeParam", None)
    build: Any = getattr(_coercion, "build_runtime_param", None)
    param_class = getattr(typer_core, "_TyperParameter", None)
    original = getattr(param_class, "get_runtime_param", None)
    if base is None or build is None or param_class is None or original is None:
        return False  # pragma: no cover - another typer
    if getattr(original, "_switchyard_lazy", False):
        return True

    @dataclass(frozen=True)
    class Lazy(base):
        descriptor: Any
        plain: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
            if self.plain:
                same = plain_value(self.annotation, value)
                if same is not _SAME:
                    return same
            return build(self.descriptor)._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            d = self.type_descriptor
            self._runtime_param = Lazy(d.parameter_info, d.annotation, d, _plain(d))
        return self._runtime_param

    get_runtime_param._switchyard_lazy = True  # type: ignore[attr-defined]
    param_class.get_runtime_param = get_runtime_param
    return True


def _plain(descriptor: Any) -> bool:
    """An option whose adapter only converts (no parser, bounds, choices, paths, files)."""
    info = descriptor.parameter_info
    return (
        descriptor.annotation in (str, int, bool)
        and getattr(info, "parser", None) is None
        and getattr(info, "click_type", None) is None
        and getattr(info, "min", None) is None
        and getattr(info, "max", None) is None
        and not getattr(info, "clamp", False)
        and not descriptor.is_path
        and not descriptor.is_choice
        and not descriptor.is_file
    )
