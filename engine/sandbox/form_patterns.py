"""Form field patterns: a definition's ``pattern`` is a regular expression written by
whoever publishes the process, matched against what a person types when the item is
completed. Python's ``re`` has no time bound: ``(a+)+$`` against forty a's and a ``!``
backtracks for hours, and the console's embedded node would freeze with it (one event
loop). So patterns are matched with the ``regex`` package, whose matching takes a
``timeout``; a pattern that takes longer than MATCH_TIMEOUT refuses the field. At publish
time a pattern must compile and be at most MAX_PATTERN_CHARS long.
"""

from __future__ import annotations

import re

MAX_PATTERN_CHARS = 500
MATCH_TIMEOUT = 0.25  # seconds, per field check
TOO_SLOW = "the pattern took too long to check"


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with a form pattern at publish time, or None."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern is {len(pattern)} characters, at most {MAX_PATTERN_CHARS} allowed"
    import regex  # here: the engine's facade imports this module, a command line call need not

    try:  # re's messages first (they are the ones people know), then regex's own
        re.compile(pattern)
        regex.compile(pattern)
    except (re.error, regex.error) as exc:
        return f"bad pattern: {exc}"
    return None


def fullmatches(pattern: str, text: str) -> bool:
    """Whether ``text`` matches all of ``pattern``; raises ValueError(TOO_SLOW) when the
    check would take longer than MATCH_TIMEOUT."""
    import regex

    try:
        return regex.fullmatch(pattern, text, timeout=MATCH_TIMEOUT) is not None
    except TimeoutError:
        raise ValueError(TOO_SLOW) from None
