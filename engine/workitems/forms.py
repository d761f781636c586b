"""Form values: check what a person typed against the form's fields (required, type,
choices, min/max, pattern), and split a completed item's values into variable updates
and form-local names the button's actions may read.

Values are kept JSON-ready: text as str, number as int, decimal as a str of the
Decimal, date as ISO ``YYYY-MM-DD``, checkbox as bool, choice as the choice itself.
Error messages say what is wrong with a field, never what was typed in it (the value may
be secured).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from switchyard.engine.definitions import values as process_values
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.sandbox.form_patterns import fullmatches
from switchyard.engine.sandbox.limits import decimal_in_range

TRUE = {"true", "yes", "y", "1", "x", "on"}
FALSE = {"false", "no", "n", "0", "", "off"}


class FormInvalid(SwitchyardError):
    """Some fields are not right; ``errors`` maps each field name to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        text = "; ".join(f"field {name}: {problem}" for name, problem in errors.items())
        super().__init__(next(iter(errors), "form"), text)

    def __str__(self) -> str:
        return self.message


def editable(field: Mapping[str, Any]) -> bool:
    return not field.get("readonly") and field.get("type") != "display"


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def convert(field: Mapping[str, Any], value: Any) -> Any:
    """One field's value, normalised; raises ValueError with the problem."""
    kind = field["type"]
    if kind == "checkbox":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValueError("expected yes or no")
    if blank(value):
        return None
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            number = int(str(value).strip().replace("_", ""))
        except ValueError:
            raise ValueError("expected a whole number") from None
        _check_bounds(field, number)
        return number
    if kind == "decimal":
        try:
            amount = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError("expected a decimal number, like 1250.00") from None
        if not decimal_in_range(amount):
            raise ValueError("expected a decimal number, like 1250.00")
        _check_bounds(field, amount)
        return str(amount)
    if kind == "date":
        if isinstance(value, datetime):
            day = value.date()
        elif isinstance(value, date):
            day = value
        else:
            try:
                day = date.fromisoformat(str(value).strip())
            except ValueError:
                raise ValueError("expected a date as YYYY-MM-DD") from None
        _check_bounds(field, day)
        return day.isoformat()
    if kind == "choice":
        for choice in field.get("choices") or []:
            if str(choice) == str(value).strip():
                return choice
        options = ", ".join(str(c) for c in field.get("choices") or [])
        raise ValueError(f"choose one of: {options}")
    text = str(value)
    if not field.get("multiline"):
        text = text.strip()
    pattern = field.get("pattern")
    if pattern and not fullmatches(pattern, text):
        raise ValueError(f"does not match the pattern {pattern}")
    return text


def _check_bounds(field: Mapping[str, Any], value: Any) -> None:
    low, high = field.get("min"), field.get("max")
    if isinstance(value, date):
        low = date.fromisoformat(low) if isinstance(low, str) else low
        high = date.fromisoformat(high) if isinstance(high, str) else high
    elif isinstance(value, Decimal):
        low = Decimal(str(low)) if low is not None else None
        high = Decimal(str(high)) if high is not None else None
    if low is not None and value < low:
        raise ValueError(f"must be at least {field['min']}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {field['max']}")


def check(
    fields: list[dict[str, Any]],
    given: Mapping[str, Any],
    *,
    draft: Mapping[str, Any] | None = None,
    current: Mapping[str, Any] | None = None,
    partial: bool = False,
) -> dict[str, Any]:
    """The values of every editable field: ``given`` over ``draft`` over the variables'
    ``current`` values. Unknown or read-only names in ``given`` are errors. ``partial``
    (a draft) skips the required check. Raises :class:`FormInvalid` with every problem."""
    errors: dict[str, str] = {}
    by_name = {f["name"]: f for f in fields}
    for name in given:
        if name not in by_name:
            known = ", ".join(f["name"] for f in fields if editable(f))
            errors[name] = f"no such field on this form (fields: {known})"
        elif not editable(by_name[name]):
            errors[name] = "read-only"
    out: dict[str, Any] = {}
    for field in fields:
        if not editable(field):
            continue
        name = field["name"]
        if name in given:
            raw = given[name]
        elif draft and name in draft:
            raw = draft[name]
        elif current and field.get("variable") and name in current:
            raw = process_values.to_json(current[name])
        else:
            raw = None
        try:
            value = convert(field, raw)
        except ValueError as exc:
            errors.setdefault(name, str(exc))
            continue
        if value is None and field.get("required") and not partial:
            errors.setdefault(name, "required")
            continue
        out[name] = value
    if errors:
        raise FormInvalid(errors)
    return out


def split(
    fields: list[dict[str, Any]], values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(variable updates, form-local names) of a completed item's values."""
    updates: dict[str, Any] = {}
    local: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        if name not in values or not editable(field):
            continue
        value = values[name]
        if field["type"] == "decimal" and value is not None:
            value = Decimal(str(value))
        elif field["type"] == "date" and value is not None:
            value = date.fromisoformat(str(value))
        (updates if field.get("variable") else local)[name] = value
    return updates, local
