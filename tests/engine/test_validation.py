"""add_schedule refuses bad input with the field at fault, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict, SwitchyardError
from switchyard.store.models import Event, Instance, Schedule

from engine.helpers import count_rows, spec

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # id, spec fields, field, words in the message
    ("unknown-lane", {"lane": "nowhere"}, "lane", "unknown lane 'nowhere'"),
    ("bad-cron", {"cron": "61 * * * *"}, "cron", "minute 61 is out of range 0–59"),  # noqa: RUF001
    ("cron-fields", {"cron": "* * *"}, "cron", "has 3 fields"),
    ("bad-tz", {"cron": "0 7 * * *", "tz": "Mars/Olympus"}, "tz", "unknown time zone"),
    ("bad-every", {"every": "5x"}, "every", "not a duration"),
    ("zero-every", {"every": "0s"}, "every", "zero"),
    ("bad-timeout", {"timeout": "soon"}, "timeout", "not a duration"),
    ("negative-timeout", {"timeout": "-5m"}, "timeout", "negative"),
    ("bad-at", {"at": "tomorrow-ish"}, "at", "not an ISO date-time"),
    ("bad-window", {"continuous": True, "window": "8-18"}, "window", "not a window"),
    ("window-not-continuous", {"cron": "0 7 * * *", "window": "08:00-18:00"}, "window", "only"),
    ("two-triggers", {"cron": "0 7 * * *", "every": "5m"}, "trigger", "exactly one"),
    ("bad-overlap", {"overlap": "sometimes"}, "overlap", "not an overlap policy"),
    ("parallel-zero", {"overlap": "parallel:0"}, "overlap", "N >= 1"),
    ("bad-misfire", {"misfire": "twice"}, "misfire", "not a misfire policy"),
    ("misfire-too-many", {"misfire": "each:5000"}, "misfire", "1 <= N <= 1000"),
    ("missing-command", {"command": []}, "command", "no command"),
    ("shell-two-parts", {"command": ["echo", "hi"], "shell": True}, "command", "one string"),
    ("nul-in-command", {"command": ["echo", "a\0b"]}, "command", "NUL"),
    ("bad-name", {"name": "has space"}, "name", "not a valid name"),
    ("bad-env", {"env": ["NOEQUALS"]}, "env", "not NAME=VALUE"),
    ("bad-env-name", {"env": ["1BAD=x"]}, "env", "not a valid environment variable"),
    ("unknown-after", {"after": "ghost"}, "after", "unknown schedule 'ghost'"),
    ("after-itself", {"after": "job"}, "after", "cannot start after itself"),
]


async def counts(engine: Engine) -> tuple[int, int, int]:
    return (
        await count_rows(engine, Schedule),
        await count_rows(engine, Instance),
        await count_rows(engine, Event),
    )


async def test_bad_schedules_are_refused_naming_the_field(engine: Engine) -> None:
    """Every case on one store (a fresh database per case would cost more than it tells)."""
    await engine.add_schedule(spec("existing"))
    before = await counts(engine)
    problems: list[str] = []
    for case, fields, field, words in CASES:
        fields = dict(fields)
        name = fields.pop("name", "job")
        command = fields.pop("command", ["true"])
        try:
            await engine.add_schedule(spec(name, command, **fields))
        except SwitchyardError as err:
            if err.field != field or words not in err.message:
                problems.append(f"{case}: got {err.field}: {err.message}")
            elif str(err) != f"{field}: {err.message}":
                problems.append(f"{case}: str() is {err!s}")
        else:
            problems.append(f"{case}: accepted")
        if await counts(engine) != before:
            problems.append(f"{case}: wrote something")
            before = await counts(engine)
    assert problems == []
    assert [s.name for s in await engine.schedules()] == ["existing"]


async def test_duplicate_name_is_a_conflict(engine: Engine) -> None:
    await engine.add_schedule(spec("job", ["echo", "one"]))
    before = await counts(engine)
    with pytest.raises(Conflict) as err:
        await engine.add_schedule(spec("job", ["echo", "two"]))
    assert err.value.field == "name"
    assert "exists already" in err.value.message
    assert await counts(engine) == before
    assert (await engine.schedule("job")).command == ["echo", "one"]


async def test_a_good_schedule_after_refusals_is_stored_whole(engine: Engine) -> None:
    with pytest.raises(SwitchyardError):
        await engine.add_schedule(spec("job", cron="bad cron"))
    view = await engine.add_schedule(
        spec(
            "job",
            ["echo", "hi"],
            cron="0 7 * * 1-5",
            tz="Europe/Paris",
            timeout="1h30m",
            overlap="parallel:3",
            misfire="each:7",
        )
    )
    assert (view.kind, view.overlap, view.misfire) == ("cron", "parallel:3", "each:7")
    assert view.timeout_seconds == 5400
    assert view.next_fire_at is not None
    assert await count_rows(engine, Schedule) == 1


async def test_update_refuses_bad_input_and_keeps_the_old_schedule(engine: Engine) -> None:
    await engine.add_schedule(spec("job", ["echo", "one"], cron="0 7 * * *"))
    await engine.add_schedule(spec("other"))
    with pytest.raises(SwitchyardError) as err:
        await engine.update_schedule(
            "job", spec("job", ["echo", "two"], cron="0 7 * * *", lane="x")
        )
    assert err.value.field == "lane"
    with pytest.raises(Conflict) as dup:
        await engine.update_schedule("job", spec("other", ["echo", "two"], cron="0 7 * * *"))
    assert dup.value.field == "name"
    view = await engine.schedule("job")
    assert view.command == ["echo", "one"]
