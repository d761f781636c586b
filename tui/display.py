"""Short, console-only renderings of engine values (times, statuses, commands).

The CLI's longer forms live in ``formatting.py``. Times are shown in the machine's local
zone; "now" always comes from the engine's clock, so a fixed clock gives fixed screens.
"""

from __future__ import annotations

import shlex
from datetime import date, datetime, timedelta

from rich.text import Text
from switchyard.tui.formatting import span as span  # re-exported: display.span

# Status -> theme colour name (looked up in the app's theme by ``status_text``).
STATUS_COLOURS: dict[str, str] = {
    "completed": "success",
    "running": "primary",
    "queued": "secondary",
    "waiting": "secondary",
    "failed": "error",
    "error": "error",
    "cancelled": "warning",
    "skipped": "warning",
    "missed": "warning",
}


def styled(value: str, style: str | None) -> Text:
    """Text whose style is a span, so two cells compare equal only if styles match too."""
    text = Text(value, end="")
    if style and value:
        text.stylize(style)
    return text


def status_text(status: str | None, colours: dict[str, str]) -> Text:
    if not status:
        return styled("-", None)
    return styled(status, colours.get(STATUS_COLOURS.get(status, "")))


def next_fire(at: datetime | None, now: datetime) -> str:
    """Local time: '20:25:18' today, '29 Mar 01:30' this year, else '02 Jan 2027'."""
    if at is None:
        return "-"
    local, today = at.astimezone(), now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M:%S")
    if local.year != today.year:
        return local.strftime("%d %b %Y")
    return local.strftime("%d %b %H:%M")


def clock_time(at: datetime | None, now: datetime, *, today: date | None = None) -> str:
    """'12:00:05' today (local), else '27 Mar 12:00' (``today``: now's local date, if the
    caller has it already)."""
    if at is None:
        return "-"
    local = at.astimezone()
    if local.date() == (today or now.astimezone().date()):
        return local.strftime("%H:%M:%S")
    return local.strftime("%d %b %H:%M")


def full_time(at: datetime | None) -> str:
    """'Sun 29 Mar 2026 02:00:00 BST' in the local zone."""
    if at is None:
        return "-"
    return at.astimezone().strftime("%a %d %b %Y %H:%M:%S %Z")


def command_short(argv: list[str]) -> str:
    """The command with the program's directory left out: 'python3 -u -c ...'."""
    if not argv:
        return ""
    return shlex.join([argv[0].rsplit("/", 1)[-1], *argv[1:]])


def command_line(argv: list[str], *, shell: bool = False) -> str:
    if shell and len(argv) == 1:
        return argv[0]
    return shlex.join(argv)


def truncate(text: Text, width: int) -> Text:
    """A copy of ``text`` cut to ``width`` cells with an ellipsis."""
    if width <= 0:
        return Text("", end="")
    if text.cell_len <= width:
        return text
    cut = text.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def duration(seconds: float) -> str:
    return span(timedelta(seconds=seconds))
