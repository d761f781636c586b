"""The command line as a user types it: real `switchyard` processes, no serve needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.slow

SCHEDULE_FIELDS = {
    "id",
    "name",
    "trigger",
    "kind",
    "lane",
    "overlap",
    "misfire",
    "after",
    "command",
    "env",
    "paused",
    "next_fire_at",
    "last_fire_at",
    "last_result",
}


def by_name(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


async def test_lanes_schedules_round_trip(sy) -> None:
    out = sy.cli("lane", "add", "batch", "--concurrency", "2").stdout
    assert "batch" in out
    lanes = by_name(sy.json("lane", "list"))
    assert lanes["batch"] == {"name": "batch", "concurrency": 2, "running": 0, "queued": 0}
    assert lanes["default"]["concurrency"] == 1

    before = datetime.now(UTC)
    added = sy.json(
        "schedule", "add", "every5", "--every", "5m", "--lane", "batch", "--", "echo", "hi"
    )
    assert added["name"] == "every5" and added["kind"] == "every"
    sy.cli_many(
        ["schedule", "add", "nightly", "--cron", "30 1 * * *", "--tz", "Europe/London", "--",
         "echo", "night"],
        ["schedule", "add", "manual", "--on-demand", "--", "echo", "manual"],
        ["schedule", "add", "keeper", "--continuous", "--window", "08:00-18:00", "--tz",
         "Europe/London", "--", "sleep", "1"],
    )  # fmt: skip

    listed = sy.json("schedule", "list")
    assert {s["name"] for s in listed} == {"every5", "nightly", "manual", "keeper"}
    for item in listed:
        assert item.keys() >= SCHEDULE_FIELDS, item
        assert item["paused"] is False
    s = by_name(listed)
    assert s["every5"]["lane"] == "batch" and s["every5"]["command"] == ["echo", "hi"]
    every_next = datetime.fromisoformat(s["every5"]["next_fire_at"])
    assert before < every_next <= datetime.now(UTC) + timedelta(minutes=5, seconds=1)
    assert s["nightly"]["kind"] == "cron" and s["nightly"]["lane"] == "default"
    assert "30 1 * * *" in s["nightly"]["trigger"] and "Europe/London" in s["nightly"]["trigger"]
    nightly_next = datetime.fromisoformat(s["nightly"]["next_fire_at"]).astimezone(UTC)
    assert nightly_next > before
    assert s["manual"]["kind"] == "on_demand" and s["manual"]["next_fire_at"] is None
    assert s["keeper"]["kind"] == "continuous" and s["keeper"]["next_fire_at"] is not None
    lane_text, text = (p.stdout for p in sy.cli_many(["lane", "list"], ["schedule", "list"]))
    assert "batch" in lane_text
    assert all(name in text for name in ("every5", "nightly", "manual", "keeper"))

    autumn, spring, autumn_text = sy.cli_many(
        ["schedule", "next", "nightly", "--count", "5", "--from", "2026-10-23T00:00:00+00:00",
         "--json"],
        ["schedule", "next", "nightly", "--count", "5", "--from", "2026-03-27T00:00:00Z", "--json"],
        ["schedule", "next", "nightly", "--count", "5", "--from", "2026-10-23T00:00:00+00:00"],
    )  # fmt: skip

    # autumn: 01:30 happens twice on 25 Oct 2026 in London; it fires once, at the first
    fires = json.loads(autumn.stdout)
    assert len(fires) == 5
    local = [datetime.fromisoformat(f["local"]) for f in fires]
    assert [d.date().isoformat() for d in local] == [f"2026-10-{d}" for d in range(23, 28)]
    assert all((d.hour, d.minute) == (1, 30) for d in local)
    utc = {datetime.fromisoformat(f["local"]).date().day: f["at"] for f in fires}
    assert utc[25] == "2026-10-25T00:30:00+00:00"  # the first 01:30 (BST)
    assert utc[26] == "2026-10-26T01:30:00+00:00"  # GMT from now on
    assert sum(1 for f in fires if f["note"]) >= 1
    lines = autumn_text.stdout.splitlines()
    assert len(lines) == 5 and sum("2026-10-25 01:30:00" in line for line in lines) == 1

    # spring: 01:30 does not exist on 29 Mar 2026; still exactly one fire that day
    fires = json.loads(spring.stdout)
    days = [datetime.fromisoformat(f["local"]).date().isoformat() for f in fires]
    assert days == [f"2026-03-{d}" for d in range(27, 32)]
    gap_day = next(f for f in fires if f["local"].startswith("2026-03-29"))
    assert gap_day["at"] == "2026-03-29T01:00:00+00:00"  # 02:00 BST, just after the gap

    # pause / resume / remove
    assert "paused" in sy.cli("schedule", "pause", "nightly").stdout
    paused = by_name(sy.json("schedule", "list"))["nightly"]
    assert paused["paused"] is True and paused["next_fire_at"] is None
    resume, _ = sy.cli_many(["schedule", "resume", "nightly"], ["schedule", "remove", "every5"])
    assert "resumed" in resume.stdout
    after = by_name(sy.json("schedule", "list"))
    assert after["nightly"]["paused"] is False
    assert datetime.fromisoformat(after["nightly"]["next_fire_at"]) == nightly_next
    assert "every5" not in after
    gone = sy.cli("schedule", "remove", "every5", expect=None)
    assert gone.returncode != 0 and gone.stderr.startswith("error: schedule")


# (arguments, the field the one-line error must name)
BAD_INPUT = [
    (["schedule", "add", "s1", "--lane", "nope", "--every", "5m", "--", "true"], "lane"),
    (["schedule", "add", "s1", "--cron", "61 * * * *", "--", "true"], "cron"),
    (["schedule", "add", "s1", "--cron", "0 2 * * *", "--tz", "Mars/Olympus", "--", "true"], "tz"),
    (["schedule", "add", "s1", "--every", "5 parsecs", "--", "true"], "every"),
    (["schedule", "add", "dup", "--every", "5m", "--", "true"], "name"),
    (["schedule", "add", "s1", "--at", "next tuesday-ish", "--", "true"], "at"),
    (["schedule", "add", "s1", "--every", "5m"], "command"),
    (["schedule", "add", "s1", "--every", "5m", "--env", "T=secret:NOPE", "--", "true"], "env"),
    (["lane", "add", "default"], "name"),
]
# more of the same kind; checked before the store is touched, so SQLite only
MORE_BAD_INPUT = [
    (["schedule", "add", "s1", "--cron", "not a cron", "--", "true"], "cron"),
    (["schedule", "add", "s1", "--every", "0s", "--", "true"], "every"),
    (["schedule", "add", "s1", "--every", "5m", "--timeout", "soon", "--", "true"], "timeout"),
    (["schedule", "add", "s1", "--continuous", "--window", "25:00-26:00", "--", "true"], "window"),
    (["schedule", "add", "s1", "--every", "5m", "--overlap", "sometimes", "--", "true"], "overlap"),
    (["schedule", "add", "bad name!", "--every", "5m", "--", "true"], "name"),
    (["lane", "add", "wide", "--concurrency", "0"], "concurrency"),
    (["schedule", "next", "dup", "--from", "yesterday"], "from"),
]


async def check_refused(sy, cases: list[tuple[list[str], str]]) -> None:
    """Each call: exit 2, one stderr line "error: FIELD...", no stdout; nothing written."""
    sy.cli("schedule", "add", "dup", "--on-demand", "--", "true")
    schedules, lanes = await sy.engine.schedules(), await sy.engine.lanes()

    problems = []
    results = sy.cli_many(*(args for args, _ in cases), expect=None)
    for (args, field), proc in zip(cases, results, strict=True):
        lines = proc.stderr.strip().splitlines()
        ok = (
            proc.returncode == 2
            and len(lines) == 1
            and lines[0].startswith(f"error: {field}")
            and proc.stdout == ""
        )
        if not ok:
            problems.append(f"{args}: exit {proc.returncode}, stderr={proc.stderr!r}")
    assert not problems, "\n".join(problems)

    assert await sy.engine.schedules() == schedules
    assert await sy.engine.lanes() == lanes
    assert await sy.engine.instances() == []


async def test_bad_input_is_refused_with_one_line_and_nothing_written(sy) -> None:
    await check_refused(sy, BAD_INPUT)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_more_bad_input(sy) -> None:
    await check_refused(sy, MORE_BAD_INPUT)


async def test_secret_set_reads_stdin_and_list_shows_names_only(sy) -> None:
    value = "s3cret-Value-for-list-7f3a"
    proc = sy.cli("secret", "set", "API_KEY", input=value + "\n")
    assert value not in proc.stdout + proc.stderr
    sy.cli("secret", "set", "OTHER", input="x" * 12)
    as_json, text = (
        p.stdout for p in sy.cli_many(["secret", "list", "--json"], ["secret", "list"])
    )
    listed = json.loads(as_json)
    assert [s["key"] for s in listed] == ["API_KEY", "OTHER"]
    assert value not in as_json
    assert "API_KEY" in text and value not in text
    empty = sy.cli("secret", "set", "EMPTY", input="", expect=2)
    assert empty.stderr.startswith("error: value")
    assert [s["key"] for s in sy.json("secret", "list")] == ["API_KEY", "OTHER"]
