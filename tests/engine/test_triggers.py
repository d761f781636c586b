"""Tests for switchyard.engine.schedules.triggers: parsing, building, intervals, windows,
descriptions and fields (cron and the DST rule: test_triggers_dst.py)."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from switchyard.engine.schedules.triggers import (
    Trigger,
    TriggerError,
    format_duration,
    parse_duration,
    parse_window,
    parse_zone,
)

from engine.trigger_helpers import (
    BERLIN,
    LONDON,
    NEW_YORK,
    local,
    utc,
)

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
