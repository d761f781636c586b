"""Tests for switchyard.engine.schedules.triggers: cron on local wall-clock time, the DST
rule (gaps coalesce, repeated hours fire once) and dst_note."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from switchyard.engine.schedules.triggers import (
    Trigger,
    dst_note,
)

from engine.trigger_helpers import (
    BERLIN,
    EU_AUTUMN,
    EU_SPRING,
    LONDON,
    NEW_YORK,
    US_AUTUMN,
    US_SPRING,
    fires_on,
    local,
    utc,
)

# --- cron and the DST rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "cron", "day", "expected"),
    [
        # Europe/London: gap 01:00-02:00 (spring), 01:00-02:00 repeated (autumn)
        (LONDON, "30 1 * * *", EU_SPRING, [utc(2026, 3, 29, 1, 0)]),  # -> 02:00 BST
        (LONDON, "30 2 * * *", EU_SPRING, [utc(2026, 3, 29, 1, 30)]),  # 02:30 BST exists
        (LONDON, "30 1 * * *", EU_AUTUMN, [utc(2026, 10, 25, 0, 30)]),  # first 01:30 (BST)
        (LONDON, "30 2 * * *", EU_AUTUMN, [utc(2026, 10, 25, 2, 30)]),
        # Europe/Berlin: gap 02:00-03:00, 02:00-03:00 repeated
        (BERLIN, "30 2 * * *", EU_SPRING, [utc(2026, 3, 29, 1, 0)]),  # -> 03:00 CEST
        (BERLIN, "30 1 * * *", EU_SPRING, [utc(2026, 3, 29, 0, 30)]),
        (BERLIN, "30 2 * * *", EU_AUTUMN, [utc(2026, 10, 25, 0, 30)]),  # first 02:30 (CEST)
        (BERLIN, "30 1 * * *", EU_AUTUMN, [utc(2026, 10, 24, 23, 30)]),
        # America/New_York: gap 02:00-03:00, 01:00-02:00 repeated
        (NEW_YORK, "30 2 * * *", US_SPRING, [utc(2026, 3, 8, 7, 0)]),  # -> 03:00 EDT
        (NEW_YORK, "30 1 * * *", US_SPRING, [utc(2026, 3, 8, 6, 30)]),
        (NEW_YORK, "30 1 * * *", US_AUTUMN, [utc(2026, 11, 1, 5, 30)]),  # first 01:30 (EDT)
        (NEW_YORK, "30 2 * * *", US_AUTUMN, [utc(2026, 11, 1, 7, 30)]),
    ],
)
def test_daily_job_fires_once_on_transition_day(
    tz: str, cron: str, day: date, expected: list[datetime]
) -> None:
    trigger = Trigger.build(cron=cron, tz=tz)
    assert fires_on(trigger, day) == expected
    # and exactly once on the days either side, at the same wall-clock time
    for other in (day - timedelta(days=1), day + timedelta(days=1)):
        fires = fires_on(trigger, other)
        assert len(fires) == 1
        assert local(fires[0], tz)[:5] == cron.split()[1].zfill(2) + ":" + cron.split()[0]


@pytest.mark.parametrize(
    ("tz", "day", "gap_fire", "count"),
    [
        (LONDON, EU_SPRING, utc(2026, 3, 29, 1), 23),
        (BERLIN, EU_SPRING, utc(2026, 3, 29, 1), 23),
        (NEW_YORK, US_SPRING, utc(2026, 3, 8, 7), 23),
    ],
)
def test_hourly_on_spring_day(tz: str, day: date, gap_fire: datetime, count: int) -> None:
    fires = fires_on(Trigger.build(cron="0 * * * *", tz=tz), day)
    assert len(fires) == count
    assert gap_fire in fires
    assert len(set(fires)) == len(fires)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(fires))


def test_hourly_at_half_past_on_spring_day_london() -> None:
    fires = fires_on(Trigger.build(cron="30 * * * *", tz=LONDON), EU_SPRING)
    assert len(fires) == 24  # 01:30 does not exist but still fires (at 02:00 BST), once
    assert [local(f, LONDON) for f in fires[:3]] == [
        "00:30:00+0000",
        "02:00:00+0100",
        "02:30:00+0100",
    ]


@pytest.mark.parametrize(
    ("tz", "day"), [(LONDON, EU_AUTUMN), (BERLIN, EU_AUTUMN), (NEW_YORK, US_AUTUMN)]
)
def test_hourly_on_autumn_day_fires_each_wall_hour_once(tz: str, day: date) -> None:
    fires = fires_on(Trigger.build(cron="0 * * * *", tz=tz), day)
    assert len(fires) == 24  # the day is 25h long, but the repeated hour fires once
    assert [int(local(f, tz)[:2]) for f in fires] == list(range(24))
    assert max(b - a for a, b in pairwise(fires)) == timedelta(hours=2)


def test_quarter_hours_coalesce_in_london_gap() -> None:
    trigger = Trigger.build(cron="*/15 * * * *", tz=LONDON)
    fires = trigger.fires(utc(2026, 3, 29, 0, 40), 5)
    # 01:00, 01:15, 01:30, 01:45 (nonexistent) and the real 02:00 BST are one fire
    assert fires == [
        utc(2026, 3, 29, 0, 45),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 15),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 29, 1, 45),
    ]


def test_gap_times_coalesce_without_a_match_at_gap_end() -> None:
    fires = Trigger.build(cron="15,45 * * * *", tz=LONDON).fires(utc(2026, 3, 29, 0), 4)
    assert fires == [
        utc(2026, 3, 29, 0, 15),
        utc(2026, 3, 29, 0, 45),
        utc(2026, 3, 29, 1, 0),  # 01:15 and 01:45 do not exist: one fire at 02:00 BST
        utc(2026, 3, 29, 1, 15),  # 02:15 BST
    ]


def test_quarter_hours_coalesce_in_new_york_gap() -> None:
    fires = Trigger.build(cron="*/15 * * * *", tz=NEW_YORK).fires(utc(2026, 3, 8, 6, 50), 3)
    assert fires == [utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 15), utc(2026, 3, 8, 7, 30)]
    assert local(fires[0], NEW_YORK) == "03:00:00-0400"


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        (
            LONDON,
            utc(2026, 10, 24, 23, 50),
            [(0, 0), (0, 15), (0, 30), (0, 45), (2, 0), (2, 15)],  # 01:xx GMT pass skipped
        ),
        (
            NEW_YORK,
            utc(2026, 11, 1, 4, 50),
            [(5, 0), (5, 15), (5, 30), (5, 45), (7, 0), (7, 15)],  # 01:xx EST pass skipped
        ),
    ],
)
def test_quarter_hours_in_repeated_hour_fire_first_pass_only(
    tz: str, after: datetime, expected: list[tuple[int, int]]
) -> None:
    fires = Trigger.build(cron="*/15 * * * *", tz=tz).fires(after, 6)
    day = fires[0].date()
    assert fires == [datetime.combine(day, time(h, m), tzinfo=UTC) for h, m in expected]


def test_next_fire_from_inside_the_repeated_hour() -> None:
    trigger = Trigger.build(cron="*/15 * * * *", tz=LONDON)
    assert trigger.next_fire(utc(2026, 10, 25, 0, 10)) == utc(2026, 10, 25, 0, 15)  # 1st pass
    assert trigger.next_fire(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 2, 0)  # 2nd pass


def test_six_field_cron_seconds() -> None:
    every20 = Trigger.build(cron="*/20 * * * * 30", tz=LONDON)
    assert every20.fires(utc(2026, 1, 10, 12, 0), 3) == [
        utc(2026, 1, 10, 12, 0, 30),
        utc(2026, 1, 10, 12, 20, 30),
        utc(2026, 1, 10, 12, 40, 30),
    ]
    daily = Trigger.build(cron="30 1 * * * 15", tz=LONDON)
    assert fires_on(daily, EU_SPRING) == [utc(2026, 3, 29, 1, 0)]  # 01:30:15 in the gap
    assert fires_on(daily, EU_AUTUMN) == [utc(2026, 10, 25, 0, 30, 15)]
    assert fires_on(daily, date(2026, 6, 1)) == [utc(2026, 6, 1, 0, 30, 15)]
    # every second in the gap coalesces too
    secs = Trigger.build(cron="* * * * * *", tz=LONDON).fires(utc(2026, 3, 29, 0, 59, 58), 4)
    assert secs == [
        utc(2026, 3, 29, 0, 59, 59),
        utc(2026, 3, 29, 1, 0, 0),
        utc(2026, 3, 29, 1, 0, 1),
        utc(2026, 3, 29, 1, 0, 2),
    ]


def test_ordinary_days_and_strictly_after() -> None:
    trigger = Trigger.build(cron="0 2 * * *", tz=LONDON)
    assert trigger.next_fire(utc(2026, 1, 10)) == utc(2026, 1, 10, 2)
    assert trigger.next_fire(utc(2026, 7, 10)) == utc(2026, 7, 10, 1)
    assert trigger.next_fire(utc(2026, 7, 10, 1)) == utc(2026, 7, 11, 1)  # strictly after
    got = trigger.next_fire(datetime(2026, 7, 10, 5, 30, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert got == utc(2026, 7, 10, 1)
    assert got is not None and got.tzinfo is UTC


def test_macro_expression() -> None:
    assert Trigger.build(cron="@daily", tz=NEW_YORK).next_fire(utc(2026, 1, 1)) == utc(
        2026, 1, 1, 5
    )


@pytest.mark.parametrize("cron", ["*/15 * * * *", "30 1 * * *", "0 * * * *", "30 2 * * 0"])
@pytest.mark.parametrize(
    ("tz", "start"),
    [(LONDON, utc(2026, 3, 27)), (BERLIN, utc(2026, 10, 23)), (NEW_YORK, utc(2026, 10, 30))],
)
def test_fires_matches_chained_next_fire(cron: str, tz: str, start: datetime) -> None:
    trigger = Trigger.build(cron=cron, tz=tz)
    fires = trigger.fires(start, 60)
    chained, cursor = [], start
    for _ in range(60):
        nxt = trigger.next_fire(cursor)
        assert nxt is not None
        chained.append(nxt)
        cursor = nxt
    assert fires == chained
    assert fires == sorted(set(fires))  # strictly increasing, no duplicates
    # no wall-clock time fires twice
    walls = [f.astimezone(ZoneInfo(tz)).replace(tzinfo=None, fold=0) for f in fires]
    assert len(set(walls)) == len(walls)


def test_fires_count_edge_cases() -> None:
    trigger = Trigger.build(cron="0 2 * * *")
    assert trigger.fires(utc(2026, 1, 1), 0) == []
    assert trigger.fires(utc(2026, 1, 1), -3) == []
    assert len(trigger.fires(utc(2026, 1, 1), 3)) == 3


# --- dst_note -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "cron", "fire", "note"),
    [
        (
            LONDON,
            "30 1 * * *",
            utc(2026, 3, 29, 1),
            "01:30 does not exist (DST gap): fired at 02:00",
        ),
        (
            NEW_YORK,
            "30 2 * * *",
            utc(2026, 3, 8, 7),
            "02:30 does not exist (DST gap): fired at 03:00",
        ),
        (
            BERLIN,
            "30 2 * * *",
            utc(2026, 3, 29, 1),
            "02:30 does not exist (DST gap): fired at 03:00",
        ),
        (
            LONDON,
            "*/15 * * * *",
            utc(2026, 3, 29, 1),
            "01:00 to 01:45 do not exist (DST gap): fired once at 02:00",
        ),
        (LONDON, "30 1 * * *", utc(2026, 10, 25, 0, 30), "01:30 occurs twice: fired at the first"),
        (NEW_YORK, "30 1 * * *", utc(2026, 11, 1, 5, 30), "01:30 occurs twice: fired at the first"),
        (BERLIN, "30 2 * * *", utc(2026, 10, 25, 0, 30), "02:30 occurs twice: fired at the first"),
        (LONDON, "0 2 * * *", utc(2026, 3, 29, 1), "UTC offset +01:00 (was +00:00)"),  # real 02:00
        (LONDON, "30 2 * * *", utc(2026, 10, 25, 2, 30), "UTC offset +00:00 (was +01:00)"),
        (LONDON, "30 1 * * *", utc(2026, 10, 26, 1, 30), "UTC offset +00:00 (was +01:00)"),
        (NEW_YORK, "30 3 * * *", utc(2026, 3, 8, 7, 30), "UTC offset -04:00 (was -05:00)"),
    ],
)
def test_dst_note_on_transition_days(tz: str, cron: str, fire: datetime, note: str) -> None:
    assert Trigger.build(cron=cron, tz=tz).next_fire(fire - timedelta(seconds=1)) == fire
    assert dst_note(fire, tz, cron) == note


def test_dst_note_without_cron_and_second_occurrence() -> None:
    assert dst_note(utc(2026, 3, 29, 1), LONDON) == "UTC offset +01:00 (was +00:00)"
    assert dst_note(utc(2026, 10, 25, 1, 30), LONDON) == "01:30 occurs twice: fired at the second"


@pytest.mark.parametrize("tz", [LONDON, BERLIN, NEW_YORK, "UTC", "Asia/Tokyo"])
@pytest.mark.parametrize("cron", ["30 1 * * *", "30 2 * * *", "*/15 * * * *", "0 * * * *"])
def test_dst_note_none_on_ordinary_days(tz: str, cron: str) -> None:
    trigger = Trigger.build(cron=cron, tz=tz)
    for start in (utc(2026, 1, 12), utc(2026, 7, 12)):
        fires = [f for f in trigger.fires(start, 200) if f < start + timedelta(days=7)]
        assert len(fires) >= 7
        for fire in fires:
            assert dst_note(fire, tz, cron) is None


@pytest.mark.parametrize(
    ("tz", "cron", "days"),
    [
        (LONDON, "30 1 * * *", (EU_SPRING, EU_AUTUMN)),
        (BERLIN, "30 2 * * *", (EU_SPRING, EU_AUTUMN)),
        (LONDON, "30 2 * * *", (EU_SPRING, EU_AUTUMN)),
        (NEW_YORK, "30 2 * * *", (US_SPRING, US_AUTUMN)),
        (NEW_YORK, "30 1 * * *", (US_AUTUMN,)),  # 01:30 EST is before the spring gap
    ],
)
def test_dst_note_present_on_each_transition_day(
    tz: str, cron: str, days: tuple[date, ...]
) -> None:
    trigger = Trigger.build(cron=cron, tz=tz)
    for day in days:
        (fire,) = fires_on(trigger, day)
        assert dst_note(fire, tz, cron) is not None
