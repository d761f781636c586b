# ruff: noqa: RUF001  -- cron ranges print with an en dash (0–59)
"""The command line says what is wrong, and keeps the README's promises (issue 15, "Saying
what is wrong"): cron errors name the field and its range; global options after the
subcommand; naive `--from`; `--at` in the past; chained schedules and the zone of NEXT in
`schedule list`; `timers run --schedule` on a once schedule. The real binary, SQLite and
PostgreSQL."""

from __future__ import annotations

from e2e.conftest import Harness


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
