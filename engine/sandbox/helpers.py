"""The helpers an expression may call (``HELPERS``): durations, dates, numbers and ``range``,
each bounded by the sandbox's limits. ``now`` and ``today`` are the sandbox's own (its clock).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from switchyard.engine.sandbox.limits import (
    MAX_RANGE,
    ExpressionError,
    check_int_source,
    check_size,
)

#: Names the sandbox provides; a definition may not declare variables with these names.
HELPERS: frozenset[str] = frozenset(
    {"now", "today", "days", "hours", "minutes", "seconds", "date", "datetime", "len", "min"}
    | {"max", "abs", "round", "int", "float", "str", "bool", "Decimal", "range"}
)


def _delta(unit: str) -> Callable[[Any], timedelta]:
    def make(n: Any) -> timedelta:
        return timedelta(**{unit: float(n) if isinstance(n, Decimal) else n})

    make.__name__ = unit
    return make


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    result = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return result.replace(tzinfo=UTC) if result.tzinfo is None else result


def _to_date(value: Any) -> date:
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    text = str(value).strip()
    return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)


def _to_int(value: Any = 0, *base: int) -> int:
    check_int_source(value)
    return check_size(int(value, *base) if base else int(value))


def _to_decimal(value: Any = "0") -> Decimal:
    return check_size(Decimal(repr(value) if isinstance(value, float) else value))


def _range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise ExpressionError(f"range of {len(result):,} items exceeds the limit {MAX_RANGE:,}")
    return result


def helper_globals(now_utc: Callable[[], datetime]) -> dict[str, Any]:
    """The sandbox's globals: every name in ``HELPERS``, ``now``/``today`` from ``now_utc``."""
    found: dict[str, Any] = {unit: _delta(unit) for unit in ("days", "hours", "minutes", "seconds")}
    found.update({f.__name__: f for f in (len, min, max, abs, round, float, str, bool)})
    found.update(
        now=now_utc,
        today=lambda: now_utc().date(),
        date=_to_date,
        datetime=_to_datetime,
        int=_to_int,
        Decimal=_to_decimal,
        range=_range,
    )
    return found
