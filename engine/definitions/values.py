"""Variable values: typed in the engine (Decimal, date, datetime), JSON in the store."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from switchyard.engine.sandbox.limits import MAX_DECIMAL_EXPONENT, decimal_in_range


class ValueProblem(ValueError):
    pass


def coerce(value: Any, type_name: str | None) -> Any:
    """A value (often a string typed by a person) as the declared type, or ValueProblem."""
    if value is None or type_name is None:
        return value
    try:
        if type_name == "string":
            return value if isinstance(value, str) else str(value)
        if type_name == "integer":
            if isinstance(value, bool):
                raise ValueProblem("not an integer")
            if isinstance(value, int):
                return value
            if isinstance(value, float | Decimal) and value == int(value):
                return int(value)
            return int(str(value).strip())
        if type_name == "decimal":
            if isinstance(value, bool):
                raise ValueProblem("not a decimal")
            number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
            if not decimal_in_range(number):
                raise ValueProblem(
                    f"not a finite decimal with an exponent within ±{MAX_DECIMAL_EXPONENT}"
                )
            return number
        if type_name == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise ValueProblem("not a boolean (true/false)")
        if type_name == "date":
            if isinstance(value, datetime):
                return value.date()
            return value if isinstance(value, date) else date.fromisoformat(str(value).strip())
        if type_name == "datetime":
            if not isinstance(value, datetime):
                value = datetime.fromisoformat(str(value).strip())
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if type_name in ("list", "map"):
            if isinstance(value, str):  # typed on a command line: JSON
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ValueProblem(f"not a {type_name} (give JSON): {exc.msg}") from None
            if type_name == "list" and isinstance(value, list | tuple):
                return list(value)
            if type_name == "map" and isinstance(value, dict):
                return dict(value)
            raise ValueProblem(f"not a {type_name}")
    except (ValueError, TypeError, InvalidOperation) as exc:
        if isinstance(exc, ValueProblem):
            raise
        # never the value itself: this message may reach the journal and the history
        raise ValueProblem(f"not a valid {type_name}") from exc
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def json_size(doc: Any, limit: int) -> int:
    """Bytes of ``doc`` as compact UTF-8 JSON. Checked on every step, so encoded in one go
    by the C encoder (the chunked pure-Python walk that stopped at ``limit`` cost ~40 us a
    step). A document over the limit is refused, so its text lives only for this call."""
    del limit  # kept for the callers: the whole text is measured
    text = _ENCODER.encode(doc)
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


_encode_text = json.encoder.encode_basestring  # a string, not ASCII-escaped, as _ENCODER


def json_len(value: Any) -> int:
    """``json_size`` of one JSON value (already ``to_json``), without encoding the common
    scalars: the step programs (engine/process/program.py) keep a variables document's
    size up to date from the sizes of the values a step replaces and sets."""
    kind = type(value)
    if kind is int:
        return len(int.__repr__(value))
    if kind is str:
        text = _encode_text(value)
        return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    return json_size(value, 0)


class TooLarge(ValueError):
    """A variables document over ``max_variables_bytes``."""


def too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"variables over the max_variables_bytes limit of {limit:,} bytes; nothing of "
        "this step was written"
    )


def check_size(doc: Any, limit: int) -> None:
    """TooLarge (one line, naming the parameter) when ``doc`` is over ``limit`` bytes."""
    if json_size(doc, limit) > limit:
        raise too_large(limit)


_PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON as they are


def to_json(value: Any) -> Any:
    if type(value) in _PLAIN:  # the common case first: runs on every step's variables
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_json(v) for v in value]
    return value


def load(values: dict[str, Any], specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stored JSON values back as their declared types (unknown names pass through)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = specs.get(name)
        try:
            out[name] = coerce(value, spec.get("type")) if spec else value
        except ValueProblem:
            out[name] = value
    return out


def _named(where: str, name: str) -> str:
    return f"{where} {name}" if where else name


def initial(
    specs: dict[str, dict[str, Any]], given: dict[str, Any], *, where: str = "var"
) -> dict[str, Any]:
    """Start values: defaults, then the given ones (coerced); every problem named."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name not in specs:
            known = ", ".join(sorted(specs)) or "none"
            problems.append(f"{_named(where, name)}: unknown variable (declared: {known})")
            continue
        try:
            out[name] = coerce(value, specs[name].get("type"))
        except ValueProblem as exc:
            problems.append(f"{_named(where, name)}: {exc}")
    for name, spec in specs.items():
        if name in out:
            continue
        if spec.get("default") is not None:
            out[name] = coerce(spec["default"], spec.get("type"))
        elif spec.get("required"):
            problems.append(f"{_named(where, name)}: required, and not given")
        else:
            out[name] = None
    if problems:
        raise ValueProblem("; ".join(problems))
    return out
