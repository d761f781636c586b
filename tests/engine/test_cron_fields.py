# ruff: noqa: RUF001  -- the messages print ranges with an en dash
"""Cron errors in our words: each of the 5/6 fields named with its range, names, ranges,
steps and lists; the cron library's own text never reaches the user (CLI and form share
these messages through Trigger.build)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.engine.schedules.triggers import Trigger, TriggerError

BAD = [
    ("61 * * * *", "minute 61 is out of range 0–59"),
    ("1-70 * * * *", "minute 70 is out of range 0–59"),
    ("x * * * *", "minute 'x' is not a number 0–59"),
    ("? * * * *", "minute '?': ? stands only for any day or weekday"),
    ("*/0 * * * *", "minute step 0 must be at least 1"),
    ("*/x * * * *", "minute step 'x' is not a whole number"),
    ("1,,2 * * * *", "minute '1,,2' has an empty item in its list"),
    ("1- * * * *", "minute range '1-' needs a start and an end (a-b)"),
    ("0 24 * * *", "hour 24 is out of range 0–23"),
    ("0 7,25 * * *", "hour 25 is out of range 0–23"),
    ("0 7 0 * *", "day 0 is out of range 1–31"),
    ("0 7 32 * *", "day 32 is out of range 1–31"),
    ("0 7 * 13 *", "month 13 is out of range 1–12"),
    ("0 7 * foo *", "month 'foo' is not a number 1–12 or a month name (jan–dec)"),
    ("0 7 * * 8", "weekday 8 is out of range 0–7"),
    ("0 7 * * mun", "weekday 'mun' is not a number 0–7 or a day name (sun–sat)"),
    ("0 7 * * 1#6", "weekday '1#6': the n-th weekday (after #) must be 1–5"),
    ("0 7 * * * 61", "second 61 is out of range 0–59"),
    ("* * *", "'* * *' has 3 fields; expected 5 fields (minute hour day month weekday) or 6"),
    ("@reboot", "'@reboot' is not a cron alias; use one of @yearly"),
]
GOOD = [
    "30 1 * * *",
    "*/15 8-18 * * mon-fri",
    "0 22-2 * * fri-mon",  # ranges may wrap
    "5/15 * * jan-mar,oct *",
    "0 0 L * *",
    "0 9 ? * 1#2",
    "0 9 * * 7",
    "0 9 * * * 30",
    "@daily",
    "@hourly",
]


@pytest.mark.parametrize(("cron", "message"), BAD)
def test_a_bad_field_is_named_with_its_range(cron: str, message: str) -> None:
    with pytest.raises(TriggerError) as info:
        Trigger.build(cron=cron)
    assert info.value.field == "cron"
    assert info.value.message.startswith(message), info.value.message
    assert "acceptable" not in info.value.message and "bands" not in info.value.message


@pytest.mark.parametrize("cron", GOOD)
def test_valid_expressions_still_pass(cron: str) -> None:
    assert Trigger.build(cron=cron).kind == "cron"


def test_the_spec_says_the_same() -> None:
    with pytest.raises(SwitchyardError) as info:
        ScheduleSpec(name="n", command=["true"], cron="61 * * * *").trigger(datetime.now(UTC))
    assert str(info.value) == "cron: minute 61 is out of range 0–59"
