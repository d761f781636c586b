"""Tests for switchyard.engine.schedules.triggers: parsing, the DST rule, intervals, windows, notes."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from switchyard.engine.schedules.triggers import (
    Trigger,
    TriggerError,
    dst_note,
    format_duration,
    parse_duration,
    parse_window,
    parse_zone,
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


# --- errors and parsing -------------------------------------------------------------------


def test_trigger_error_shape() -> None:
    err = TriggerError("every", "'x' is not a duration")
    assert isinstance(err, ValueError)
    assert (err.field, err.message) == ("every", "'x' is not a duration")
    assert str(err) == "every: 'x' is not a duration"
    again = pickle.loads(pickle.dumps(err))
    assert (again.field, again.message, str(again)) == (err.field, err.message, str(err))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1d12h", 129600),
        ("90", 90),
        ("1.5h", 5400),
        ("0.5m", 30),
        (" 2H ", 7200),
        ("1h 30m", 5400),
    ],
)
def test_parse_duration_accepts(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0", "0s", "0h0m", "-5m", "abc", "5x", "1.5s", "1h1h", "m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(TriggerError) as info:
        parse_duration(text, field="every")
    assert info.value.field == "every"
    assert f"'{text}'" in info.value.message
    assert "30s" in info.value.message  # names the accepted forms


def test_parse_duration_default_field() -> None:
    with pytest.raises(TriggerError) as info:
        parse_duration("soon")
    assert info.value.field == "duration"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5400, "1h30m"), (30, "30s"), (86400, "1d"), (90061, "1d1h1m1s"), (0, "0s"), (3600, "1h")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    if seconds:
        assert parse_duration(text) == timedelta(seconds=seconds)


def test_format_duration_fractions_and_negatives() -> None:
    assert format_duration(timedelta(milliseconds=1500)) == "1.5s"
    assert format_duration(timedelta(minutes=-5)) == "-5m"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:00-18:00", (time(8), time(18))),
        ("22:00-06:00", (time(22), time(6))),
        (" 9:05 - 17:30 ", (time(9, 5), time(17, 30))),
        ("00:00-23:59", (time(0), time(23, 59))),
    ],
)
def test_parse_window(text: str, expected: tuple[time, time]) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["08:00-08:00", "25:00-06:00", "08:60-09:00", "8-18", "", "9am"])
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(TriggerError) as info:
        parse_window(text)
    assert info.value.field == "window"
    assert f"'{text}'" in info.value.message


def test_parse_zone() -> None:
    assert parse_zone(LONDON) == ZoneInfo(LONDON)
    with pytest.raises(TriggerError) as info:
        parse_zone("Mars/Base")
    assert info.value.field == "tz"
    assert info.value.message == "unknown time zone 'Mars/Base'"
    with pytest.raises(TriggerError) as info:
        parse_zone("../etc/passwd", field="zone")
    assert info.value.field == "zone"


# --- build validation ---------------------------------------------------------------------

KIND_MSG = "give exactly one of --cron, --every, --at, --on-demand, --continuous"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"cron": "* * * * *", "every": "5m"}, {"on_demand": True, "continuous": True}],
)
def test_build_needs_exactly_one_kind(kwargs: dict[str, object]) -> None:
    with pytest.raises(TriggerError) as info:
        Trigger.build(**kwargs)  # type: ignore[arg-type]
    assert (info.value.field, info.value.message) == ("trigger", KIND_MSG)


@pytest.mark.parametrize(
    ("kwargs", "field", "needle"),
    [
        ({"cron": "0 25 * * *"}, "cron", "hour 25 is out of range 0–23"),  # noqa: RUF001
        ({"cron": "* * *"}, "cron", "3 fields"),
        ({"cron": "* * * * * * *"}, "cron", "7 fields"),
        ({"cron": "0 0 31 2 *"}, "cron", "never matches"),
        ({"cron": "hello world this is bad"}, "cron", "hello"),
        ({"cron": "0 2 * * *", "tz": "Mars/Base"}, "tz", "Mars/Base"),
        ({"every": "5 minutes"}, "every", "5 minutes"),
        ({"every": "0s"}, "every", "0s"),
        ({"at": "next tuesday"}, "at", "next tuesday"),
        ({"cron": "0 2 * * *", "window": "08:00-18:00"}, "window", "--continuous"),
        ({"continuous": True, "window": "08:00"}, "window", "08:00"),
        ({"cron": "0 2 * * *", "anchor": "2026-01-01"}, "anchor", "--every"),
        ({"every": "1h", "anchor": "yesterday"}, "anchor", "yesterday"),
    ],
)
def test_build_rejects(kwargs: dict[str, object], field: str, needle: str) -> None:
    with pytest.raises(TriggerError) as info:
        Trigger.build(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert needle in info.value.message


def test_direct_construction_is_validated() -> None:
    with pytest.raises(TriggerError):
        Trigger(kind="cron")
    with pytest.raises(TriggerError):
        Trigger(kind="every", every=timedelta(0))
    with pytest.raises(TriggerError):
        Trigger(kind="at", at=datetime(2026, 1, 1))  # naive
    with pytest.raises(TriggerError):
        Trigger(kind="weekly")  # type: ignore[arg-type]
    trigger = Trigger(kind="on_demand")
    with pytest.raises(dataclasses.FrozenInstanceError):
        trigger.tz = LONDON  # type: ignore[misc]


def test_next_fire_needs_an_aware_datetime() -> None:
    with pytest.raises(TriggerError) as info:
        Trigger.build(cron="0 2 * * *").next_fire(datetime(2026, 1, 1))
    assert info.value.field == "after"


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


# --- every --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["30s", "5m", "2h", "1d"])
def test_every_is_absolute_time_across_dst(text: str) -> None:
    step = parse_duration(text)
    anchor = "2026-03-28T12:00:00+00:00"
    for tz in (LONDON, NEW_YORK):
        trigger = Trigger.build(every=text, anchor=anchor, tz=tz)
        start = utc(2026, 3, 29, 0, 59) if step < timedelta(days=1) else utc(2026, 3, 28, 12)
        fires = trigger.fires(start, 5)
        assert all(b - a == step for a, b in pairwise(fires))
        assert all((f - utc(2026, 3, 28, 12)) % step == timedelta(0) for f in fires)


def test_every_day_keeps_24h_in_utc_while_wall_clock_moves() -> None:
    trigger = Trigger.build(every="1d", anchor="2026-03-28T12:00", tz=LONDON)
    fires = trigger.fires(utc(2026, 3, 28, 11), 3)
    assert fires == [utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), utc(2026, 3, 30, 12)]
    assert [local(f, LONDON) for f in fires] == [
        "12:00:00+0000",
        "13:00:00+0100",
        "13:00:00+0100",
    ]


def test_every_default_anchor_is_the_epoch() -> None:
    assert Trigger.build(every="5m").next_fire(utc(2026, 5, 1, 10, 2, 30)) == utc(2026, 5, 1, 10, 5)
    assert Trigger.build(every="1h").next_fire(utc(2026, 5, 1, 10)) == utc(2026, 5, 1, 11)
    assert Trigger.build(every="30s").next_fire(utc(2026, 5, 1, 10, 0, 29)) == utc(
        2026, 5, 1, 10, 0, 30
    )


def test_every_with_future_anchor_starts_at_anchor() -> None:
    trigger = Trigger.build(every="2h", anchor="2026-06-01T09:00", tz=NEW_YORK)
    assert trigger.anchor == utc(2026, 6, 1, 13)
    assert trigger.next_fire(utc(2026, 1, 1)) == utc(2026, 6, 1, 13)
    assert trigger.next_fire(utc(2026, 6, 1, 13)) == utc(2026, 6, 1, 15)
    assert trigger.next_fire(utc(2026, 6, 1, 14, 59)) == utc(2026, 6, 1, 15)


# --- at, on demand, continuous ------------------------------------------------------------


def test_once_at() -> None:
    trigger = Trigger.build(at="2026-12-01T09:00")
    assert trigger.next_fire(utc(2026, 11, 1)) == utc(2026, 12, 1, 9)
    assert trigger.next_fire(utc(2026, 12, 1, 9)) is None
    assert trigger.next_fire(utc(2027, 1, 1)) is None
    assert trigger.fires(utc(2026, 1, 1), 5) == [utc(2026, 12, 1, 9)]


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-07-01 09:00", NEW_YORK, utc(2026, 7, 1, 13)),  # naive = in tz
        ("2026-12-01T09:00+01:00", NEW_YORK, utc(2026, 12, 1, 8)),  # explicit offset wins
        ("2026-12-01T09:00Z", LONDON, utc(2026, 12, 1, 9)),
        ("2026-03-29T01:30", LONDON, utc(2026, 3, 29, 1)),  # in the gap -> 02:00 BST
        ("2026-10-25T01:30", LONDON, utc(2026, 10, 25, 0, 30)),  # repeated -> first
    ],
)
def test_once_at_parsing(text: str, tz: str, expected: datetime) -> None:
    assert Trigger.build(at=text, tz=tz).at == expected


def test_on_demand_and_continuous_never_fire() -> None:
    for trigger in (Trigger.build(on_demand=True), Trigger.build(continuous=True)):
        assert trigger.next_fire(utc(2026, 1, 1)) is None
        assert trigger.fires(utc(2026, 1, 1), 3) == []
        assert trigger.next_window_open(utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("window", "wall", "inside"),
    [
        ("08:00-18:00", time(7, 59), False),
        ("08:00-18:00", time(8, 0), True),
        ("08:00-18:00", time(17, 59), True),
        ("08:00-18:00", time(18, 0), False),
        ("22:00-06:00", time(21, 59), False),
        ("22:00-06:00", time(22, 0), True),
        ("22:00-06:00", time(23, 30), True),
        ("22:00-06:00", time(0, 0), True),
        ("22:00-06:00", time(5, 59), True),
        ("22:00-06:00", time(6, 0), False),
        ("22:00-06:00", time(12, 0), False),
    ],
)
def test_in_window_uses_wall_clock(window: str, wall: time, inside: bool) -> None:
    trigger = Trigger.build(continuous=True, window=window, tz=LONDON)
    for day in (date(2026, 1, 15), date(2026, 7, 15)):  # GMT and BST
        at = datetime.combine(day, wall, tzinfo=ZoneInfo(LONDON))
        assert trigger.in_window(at) is inside
        assert trigger.in_window(at.astimezone(ZoneInfo("Asia/Tokyo"))) is inside


def test_in_window_without_window() -> None:
    assert Trigger.build(continuous=True).in_window(utc(2026, 1, 1, 3))


def test_next_window_open() -> None:
    night = Trigger.build(continuous=True, window="22:00-06:00", tz=LONDON)
    assert night.next_window_open(utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 21)
    assert night.next_window_open(utc(2026, 7, 1, 23)) == utc(2026, 7, 2, 21)  # already open
    assert night.next_window_open(utc(2026, 7, 1, 21)) == utc(2026, 7, 2, 21)  # strictly after
    early = Trigger.build(continuous=True, window="01:30-05:00", tz=LONDON)
    assert early.next_window_open(utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)  # gap: 02:00
    assert early.next_window_open(utc(2026, 10, 24, 12)) == utc(2026, 10, 25, 0, 30)  # first
    assert Trigger.build(cron="0 2 * * *").next_window_open(utc(2026, 1, 1)) is None


# --- describe, fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "text"),
    [
        (Trigger.build(cron="0 2 * * *", tz=LONDON), "cron 0 2 * * * Europe/London"),
        (Trigger.build(cron="  0   2 * * * "), "cron 0 2 * * * UTC"),
        (Trigger.build(every="5m"), "every 5m"),
        (Trigger.build(every="5400"), "every 1h30m"),
        (
            Trigger.build(every="1d", anchor="2026-03-28T12:00", tz=LONDON),
            "every 1d from 2026-03-28 12:00 Europe/London",
        ),
        (Trigger.build(at="2026-12-01T09:00"), "once at 2026-12-01 09:00 UTC"),
        (
            Trigger.build(at="2026-07-01T09:00", tz=NEW_YORK),
            "once at 2026-07-01 09:00 America/New_York",
        ),
        (Trigger.build(on_demand=True), "on demand"),
        (Trigger.build(continuous=True, window="08:00-18:00"), "continuous 08:00-18:00"),
        (Trigger.build(continuous=True), "continuous"),
        (
            Trigger.build(continuous=True, window="22:00-06:00", tz=BERLIN),
            "continuous 22:00-06:00 Europe/Berlin",
        ),
    ],
)
def test_describe(trigger: Trigger, text: str) -> None:
    assert trigger.describe() == text


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger.build(cron="*/15 * * * *", tz=LONDON),
        Trigger.build(cron="30 1 * * * 15", tz=NEW_YORK),
        Trigger.build(every="1h30m"),
        Trigger.build(every="1d", anchor="2026-03-28T12:00", tz=LONDON),
        Trigger.build(at="2026-12-01T09:00", tz=BERLIN),
        Trigger.build(on_demand=True),
        Trigger.build(continuous=True),
        Trigger.build(continuous=True, window="22:00-06:00", tz=NEW_YORK),
    ],
)
def test_fields_round_trip(trigger: Trigger) -> None:
    fields = trigger.to_fields()
    assert all(isinstance(v, str | int | float) for v in fields.values())
    back = Trigger.from_fields(json.loads(json.dumps(fields)))
    assert back == trigger
    assert back.describe() == trigger.describe()
    assert back.next_fire(utc(2026, 3, 1)) == trigger.next_fire(utc(2026, 3, 1))


def test_fields_shape() -> None:
    assert Trigger.build(every="5m", tz=LONDON).to_fields() == {
        "kind": "every",
        "tz": LONDON,
        "every": 300,
    }
    assert Trigger.build(continuous=True, window="08:00-18:00").to_fields() == {
        "kind": "continuous",
        "tz": "UTC",
        "window": "08:00-18:00",
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "weekly"}, "kind"),
        ({}, "kind"),
        ({"kind": "cron", "tz": "UTC"}, "cron"),
        ({"kind": "every", "every": 0}, "every"),
        ({"kind": "every", "every": "soon"}, "every"),
        ({"kind": "at", "at": "not a date"}, "at"),
        ({"kind": "cron", "cron": "0 2 * * *", "tz": "Mars/Base"}, "tz"),
    ],
)
def test_from_fields_rejects(fields: dict[str, object], field: str) -> None:
    with pytest.raises(TriggerError) as info:
        Trigger.from_fields(fields)
    assert info.value.field == field


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
