"""Small text helpers shared by the CLI and the screens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def when(at: datetime | None, *, local: bool = True) -> str:
    """A timestamp as people read it: local time, to the second; '-' when none."""
    if at is None:
        return "-"
    value = at.astimezone() if local else at.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def when_zoned(at: datetime | None) -> str:
    """``when`` with the zone it is read in (the local one): ``2026-12-01 09:00:00 CET``."""
    if at is None:
        return "-"
    return f"{when(at)} {at.astimezone().tzname()}"


def span(delta: timedelta | None) -> str:
    """A duration in its two largest units: 45s, 3m12s, 2h05m, 3d04h."""
    if delta is None:
        return "-"
    total = max(0, int(delta.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned text table (for the CLI)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)
