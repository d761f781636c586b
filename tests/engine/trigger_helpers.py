"""Shared by the trigger tests: zones, DST days and small time helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from switchyard.engine.schedules.triggers import (
    Trigger,
)

LONDON, BERLIN, NEW_YORK = "Europe/London", "Europe/Berlin", "America/New_York"
EU_SPRING, EU_AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
US_SPRING, US_AUTUMN = date(2026, 3, 8), date(2026, 11, 1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The instants at which the local day starts and the next one starts (midnights exist)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def fires_on(trigger: Trigger, day: date) -> list[datetime]:
    start, end = day_bounds(day, trigger.tz)
    return [f for f in trigger.fires(start - timedelta(microseconds=1), 200) if f < end]


def local(dt: datetime, tz: str) -> str:
    return dt.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S%z")
