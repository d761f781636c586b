"""Variable specifications and literal values checked against a variable's type.

A spec is ``{type, required: false, default, security, report: false}``; a bare type name
(``amount: decimal``) is shorthand for ``{type: decimal}``. Literals normalise to JSON:
decimals become strings (``"12.50"``), dates and datetimes ISO strings (a datetime without a
zone is UTC). Strings are strict: ``007``, ``yes`` or ``1.10`` unquoted are numbers or
booleans in YAML, so a string variable refuses them ("quote it").
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from switchyard.engine.definitions.ctx import IDENT, RESERVED, Ctx, describe, is_template, unknown
from switchyard.engine.definitions.yamlsrc import join, jsonable, shorten
from switchyard.engine.sandbox.limits import MAX_DECIMAL_EXPONENT, decimal_in_range
from yaml.nodes import Node, ScalarNode

TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime", "list", "map")
_SPEC_KEYS = ("type", "required", "default", "security", "report")


def literal(type_name: str, value: Any) -> tuple[bool, Any, str]:
    """``(ok, normalised, problem)`` for a literal given to a variable of ``type_name``.

    Templates (strings with ``{{``) and null fit every type; they pass unchanged.
    """
    if value is None or (isinstance(value, str) and is_template(value)):
        return True, value, ""
    article = "an" if type_name[0] in "aeiou" else "a"
    fail = (False, None, f"expected {article} {type_name}, got {describe(value)}")
    if type_name == "string":
        if isinstance(value, str):
            return True, value, ""
        if isinstance(value, bool | int | float):
            return False, None, f"{fail[2]} (quote it to make it a string)"
        return fail
    if type_name == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (True, value, "") if ok else fail
    if type_name == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return fail
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            return False, None, f"expected a decimal, got {describe(value)}"
        if not decimal_in_range(number):
            return (
                False,
                None,
                (
                    f"expected a finite decimal with an exponent within ±{MAX_DECIMAL_EXPONENT}, "
                    f"got {shorten(str(value))!r}"
                ),
            )
        return True, str(number), ""
    if type_name == "boolean":
        return (True, value, "") if isinstance(value, bool) else fail
    if type_name == "date":
        return _date(value, fail)
    if type_name == "datetime":
        return _datetime(value, fail)
    if type_name == "list":
        return (True, value, "") if isinstance(value, list) else fail
    if type_name == "map":
        return (True, value, "") if isinstance(value, dict) else fail
    return True, value, ""


def _date(value: Any, fail: tuple[bool, Any, str]) -> tuple[bool, Any, str]:
    if isinstance(value, datetime):
        return fail
    if isinstance(value, date):
        return True, value.isoformat(), ""
    if isinstance(value, str):
        try:
            return True, date.fromisoformat(value.strip()).isoformat(), ""
        except ValueError:
            return False, None, f"expected an ISO date like 2024-03-31, got {value!r}"
    return fail


def _datetime(value: Any, fail: tuple[bool, Any, str]) -> tuple[bool, Any, str]:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return False, None, f"expected an ISO datetime like 2024-03-31T09:00:00Z, got {value!r}"
    if isinstance(value, datetime):
        return True, (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(), ""
    if isinstance(value, date):
        return True, datetime(value.year, value.month, value.day, tzinfo=UTC).isoformat(), ""
    return fail


def var_name(ctx: Ctx, key: Node, path: str, what: str = "variable") -> str | None:
    name = str(key.value) if isinstance(key, ScalarNode) else ""
    if ctx.too_long(key, path, what, name):
        return None
    if not IDENT.match(name):
        ctx.error(
            key, path, f"{what} name {name!r} is not valid (a letter, then letters, digits, _)"
        )
        return None
    if name in RESERVED:
        ctx.error(key, path, f"{what} name {name!r} is reserved")
        return None
    return name


def parse_spec(ctx: Ctx, node: Node, path: str) -> dict[str, Any] | None:
    """A normalised spec ``{type, required, default, security, report}`` or None (reported)."""
    if isinstance(node, ScalarNode):
        type_name = ctx.text(node, path)
        if type_name is None:
            return None
        if type_name not in TYPES:
            ctx.error(node, path, unknown("type", type_name, TYPES))
            return None
        return {"type": type_name, "required": False, "default": None, "security": None}
    keys = ctx.mapping(node, path, _SPEC_KEYS, required=("type",))
    if keys is None or "type" not in keys:
        return None
    type_node = keys["type"][1]
    type_name = ctx.text(type_node, join(path, "type"))
    if type_name is None:
        return None
    if type_name not in TYPES:
        ctx.error(type_node, join(path, "type"), unknown("type", type_name, TYPES))
        return None
    spec: dict[str, Any] = {"type": type_name, "required": False, "default": None}
    spec["security"] = None
    spec["report"] = False
    for flag in ("required", "report"):
        if flag in keys:
            value = ctx.flag(keys[flag][1], join(path, flag))
            spec[flag] = bool(value)
    if "security" in keys:
        sec_node = keys["security"][1]
        security = ctx.text(sec_node, join(path, "security"))
        known = ctx.known.secspecs
        if security is not None and known is not None and security not in known:
            ctx.error(sec_node, join(path, "security"), f"unknown security spec {security!r}")
        spec["security"] = security
    if "default" in keys:
        default_node = keys["default"][1]
        ok, value = ctx.value(default_node, join(path, "default"))
        if ok:
            fits, normal, problem = literal(type_name, value)
            if isinstance(value, str) and is_template(value):
                fits, problem = False, "a default must be a literal, not a template"
            if fits:
                spec["default"] = jsonable(normal)
            else:
                ctx.error(default_node, join(path, "default"), f"bad default: {problem}")
    return spec


def parse_specs(ctx: Ctx, node: Node, path: str, what: str = "variable") -> dict[str, Any]:
    """``{name: spec}`` of a mapping of variable specs; bad names and specs reported."""
    out: dict[str, Any] = {}
    for name, key, value in ctx.entries(node, path):
        checked = var_name(ctx, key, path, what)
        spec = parse_spec(ctx, value, join(path, name))
        if checked is not None and spec is not None:
            out[checked] = spec
    return out


def spec_order(spec: dict[str, Any]) -> dict[str, Any]:
    """The exact key order of a normalised spec."""
    keys = ("type", "required", "default", "security", "report")
    return {k: spec.get(k, False if k in ("required", "report") else None) for k in keys}
