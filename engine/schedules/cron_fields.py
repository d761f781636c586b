"""Cron expressions checked field by field, in our words: what is wrong names the field and
its range (``minute 61 is out of range 0-59``, with an en dash), never the cron library's text.

Five fields (minute hour day month weekday) or six with seconds last. Each field is a
comma-separated list of items; an item is ``*``, a value, or a range ``a-b`` (it may wrap,
``fri-mon``, ``22-2``), each optionally with a step ``/n`` (n >= 1). Months and weekdays
take names (``jan``…``dec``, ``sun``…``sat``; weekday 7 is Sunday too); day and weekday
take ``?`` (any), day ``L`` (the last day), weekday ``d#n`` (the n-th such day, n 1 to 5).
The ``@`` aliases are ``@yearly @annually @monthly @weekly @daily @midnight @hourly``.
Shared by `switchyard schedule add|next` and the console's schedule form (through
triggers.py): both show the same message.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMS = "expected 5 fields (minute hour day month weekday) or 6 with seconds last"
ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DASH = "\N{EN DASH}"  # ranges read 0–59 as in print  # noqa: RUF003
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    any_mark: bool = False  # `?` allowed

    @property
    def range(self) -> str:
        return f"{self.low}{DASH}{self.high}"

    def expected(self) -> str:
        if not self.names:
            return f"a number {self.range}"
        kind = "a month name" if self.name == "month" else "a day name"
        return f"a number {self.range} or {kind} ({self.names[0]}{DASH}{self.names[-1]})"


FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day", 1, 31, any_mark=True),
    CronField("month", 1, 12, MONTHS),
    CronField("weekday", 0, 7, DAYS, any_mark=True),
)
SECOND = CronField("second", 0, 59)


class CronProblem(ValueError):
    """What is wrong with one field, in words for the user."""


def _value(text: str, f: CronField) -> int:
    if text.isdigit():
        number = int(text)
        if not f.low <= number <= f.high:
            raise CronProblem(f"{f.name} {number} is out of range {f.range}")
        return number
    if text.lower() in f.names:
        return f.low + f.names.index(text.lower())
    raise CronProblem(f"{f.name} '{text}' is not {f.expected()}")


def _base(text: str, f: CronField) -> None:
    if text == "*":
        return
    if text == "?":
        if not f.any_mark:
            raise CronProblem(f"{f.name} '?': ? stands only for any day or weekday")
        return
    if f.name == "day" and text.upper() == "L":
        return
    if f.name == "weekday" and "#" in text:
        day, _, nth = text.partition("#")
        _value(day, f)
        if not (nth.isdigit() and 1 <= int(nth) <= 5):
            raise CronProblem(f"weekday '{text}': the n-th weekday (after #) must be 1{DASH}5")
        return
    if "-" in text[1:]:
        start, _, end = text.partition("-")
        if not start or not end:
            raise CronProblem(f"{f.name} range '{text}' needs a start and an end (a-b)")
        _value(start, f)
        _value(end, f)
        return
    _value(text, f)


def _item(text: str, f: CronField, whole: str) -> None:
    if not text:
        raise CronProblem(f"{f.name} '{whole}' has an empty item in its list")
    base, slash, step = text.partition("/")
    if slash:
        if not step.isdigit():
            raise CronProblem(f"{f.name} step '{step}' is not a whole number")
        if int(step) < 1:
            raise CronProblem(f"{f.name} step {int(step)} must be at least 1")
        if "#" in base or base.upper() == "L" or base == "?":
            raise CronProblem(f"{f.name} '{text}': a step goes after *, a value or a range")
    _base(base, f)


def cron_problem(expression: str) -> str | None:
    """What is wrong with ``expression`` (naming the field and its range), or None."""
    text = " ".join(str(expression).split())
    if text.startswith("@"):
        if text.lower() in ALIASES:
            return None
        return f"'{text}' is not a cron alias; use one of {', '.join(ALIASES)}"
    parts = text.split()
    if len(parts) not in (5, 6):
        return f"'{text}' has {len(parts)} fields; {FORMS}"
    fields = FIELDS + ((SECOND,) if len(parts) == 6 else ())
    try:
        for part, f in zip(parts, fields, strict=True):
            for item in part.split(","):
                _item(item, f, part)
    except CronProblem as exc:
        return str(exc)
    return None
