# ruff: noqa: RUF001  -- cron ranges print with an en dash
"""The command line says what is wrong, and keeps the README's promises (issue 15, "Saying
what is wrong"): cron errors name the field and its range; global options after the
subcommand; naive `--from`; `--at` in the past; chained schedules and the zone of NEXT in
`schedule list`; `timers run --schedule` on a once schedule. The real binary, SQLite and
PostgreSQL."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from datetime import UTC, datetime

from e2e.conftest import SWITCHYARD, Harness


async def test_cron_errors_name_the_field_and_its_range(sy: Harness) -> None:
    cases = {
        "61 * * * *": "error: cron: minute 61 is out of range 0–59",
        "0 24 * * *": "error: cron: hour 24 is out of range 0–23",
        "0 7 * * mun": "error: cron: weekday 'mun' is not a number 0–7 or a day name (sun–sat)",
    }
    calls = [["schedule", "add", "s1", "--cron", cron, "--", "true"] for cron in cases]
    for (cron, line), proc in zip(cases.items(), sy.cli_many(*calls, expect=2), strict=True):
        assert proc.stderr.strip() == line, cron
    assert await sy.engine.schedules() == []


async def test_global_options_work_after_the_subcommand(sy: Harness) -> None:
    """`switchyard lane list --db URL` as well as `switchyard --db URL lane list`; the last
    one given wins; under sudo a --db anywhere is refused as before."""
    sy.cli("lane", "add", "reports")
    env = {k: v for k, v in sy.env.items() if k != "SWITCHYARD_DB"}
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=60)
    after = run([str(SWITCHYARD), "lane", "list", "--db", sy.db_url, "--json"], env=env)
    assert after.returncode == 0, after.stderr
    assert "reports" in {lane["name"] for lane in json.loads(after.stdout)}
    equals = run([str(SWITCHYARD), "lane", "list", f"--db={sy.db_url}"], env=env)
    assert equals.returncode == 0 and "reports" in equals.stdout, equals.stderr
    nowhere = str(sy.tmp_path / "none.db")
    last = run([str(SWITCHYARD), "--db", nowhere, "lane", "list", "--db", sy.db_url], env=env)
    assert last.returncode == 0 and "reports" in last.stdout, last.stderr
    first = run([str(SWITCHYARD), "--db", sy.db_url, "lane", "list", "--db", nowhere], env=env)
    assert first.returncode == 3 and first.stderr.startswith("error: db: no store"), first
    # a value that merely looks like the option stays the option's value
    arg = run([str(SWITCHYARD), "schedule", "add", "s1", "--every", "5m", "--cwd", "--db"], env=env)
    assert arg.returncode == 2 and "cwd" in arg.stderr, arg.stderr
    sudo = run(
        [str(SWITCHYARD), "lane", "list", "--db", sy.db_url], env={**env, "SUDO_USER": "mallory"}
    )
    assert sudo.returncode == 4 and sudo.stderr.startswith("error: --db: not accepted"), sudo


async def test_schedule_next_from_without_an_offset_is_in_the_schedules_zone(
    sy: Harness,
) -> None:
    sy.cli("schedule", "add", "nightly", "--cron", "30 1 * * *", "--tz", "Europe/Berlin",
           "--", "true")  # fmt: skip
    naive = sy.json("schedule", "next", "nightly", "--count", "1", "--from", "2026-12-01T01:00")
    aware = sy.json(
        "schedule", "next", "nightly", "--count", "1", "--from", "2026-12-01T01:00+01:00"
    )
    assert naive == aware
    assert datetime.fromisoformat(naive[0]["at"]) == datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


async def test_at_in_the_past_is_refused_unless_allowed(sy: Harness) -> None:
    past = sy.cli("schedule", "add", "old", "--at", "2020-01-01T09:00", "--", "true", expect=2)
    assert past.stderr.startswith("error: at: 2020-01-01T09:00 (UTC) is in the past"), past
    assert past.stdout == ""
    assert await sy.engine.schedules() == []
    sy.cli("schedule", "add", "old", "--at", "2020-01-01T09:00", "--allow-past", "--", "true")
    (view,) = await sy.engine.schedules()
    assert view.name == "old" and view.next_fire_at is None


async def test_schedule_list_shows_chains_and_the_zone_of_next(sy: Harness) -> None:
    sy.cli("schedule", "add", "nightly", "--cron", "30 1 * * *", "--", "true")
    sy.cli("schedule", "add", "sync", "--on-demand", "--after", "nightly", "--", "true")
    sy.env["TZ"] = "Europe/Berlin"
    lines = sy.cli("schedule", "list").stdout.splitlines()
    header = lines[0].split()
    assert header[:4] == ["NAME", "TRIGGER", "LANE", "NEXT"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "on demand, after nightly" in rows["sync"]
    assert "cron 30 1 * * * UTC" in rows["nightly"]
    assert re.search(r"\d\d:\d\d:\d\d (CET|CEST)\b", rows["nightly"]), rows["nightly"]


async def test_timers_run_uses_up_a_once_schedules_fire(sy: Harness) -> None:
    sy.cli("schedule", "add", "once", "--at", "2030-06-01T09:00", "--", "true")
    (before,) = await sy.engine.schedules()
    assert before.next_fire_at is not None
    ran = sy.cli("timers", "run", "--schedule", "once")
    assert "schedule:once fired: instance" in ran.stdout
    (after,) = await sy.engine.schedules()
    assert after.next_fire_at is None  # its one fire was forced: it does not fire again
    assert after.last_fire_at is not None
    listed = sy.json("timers", "list", "--schedule", "once")
    assert listed == []
