"""The Schedules screen and the schedule form, driven from the keyboard only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.engine.api import Engine
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.confirm import ConfirmScreen
from switchyard.tui.screens.schedule_form import ScheduleForm
from switchyard.tui.screens.schedules import SchedulesScreen
from textual.pilot import Pilot
from textual.widgets import Static

SIZE = (80, 24)
Until = Callable[..., Awaitable[Any]]  # the `until` fixture: poll, never sleep
ROWS = ["cleanup-temp", "contact-sync", "nightly-backup", "sales-report"]


def row_keys(app: SwitchyardApp) -> list[str]:
    table = app.screen.query_one("#schedules")
    return [str(r.key.value) for r in table.ordered_rows]


def cell(app: SwitchyardApp, row: str, column: str) -> str:
    return str(app.screen.query_one("#schedules").get_cell(row, column))


def text_of(app: SwitchyardApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def tab_to(pilot: Pilot, field: str) -> None:
    """Press Tab until the form field ``field`` has focus (as a user would)."""
    for _ in range(40):
        if pilot.app.focused is not None and pilot.app.focused.id == f"f-{field}":
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached {field}")


async def open_form(pilot: Pilot, until: Until) -> ScheduleForm:
    await pilot.press("a")
    form = await until(lambda: isinstance(pilot.app.screen, ScheduleForm), what="the form")
    await until(lambda: pilot.app.focused is not None, what="focus")
    assert form
    return pilot.app.screen  # type: ignore[return-value]


async def test_add_schedule_from_the_keyboard(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: row_keys(app) == ROWS, what="rows")
        form = await open_form(pilot, until)
        assert app.focused.id == "f-name"
        await pilot.press(*"hourly-report")
        await tab_to(pilot, "cron")
        await pilot.press(*"61 * * * *")
        await tab_to(pilot, "command")
        await pilot.press(*"./report.sh --hourly 'two words'")

        error = text_of(app, "#e-cron")
        assert "61" in error and form.query_one("#field-cron").has_class("-error")
        assert "complete the trigger" in text_of(app, "#preview")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ScheduleForm)  # refused: still open, values kept
        assert app.focused.id == "f-cron"
        assert "hourly-report" not in {v.name for v in await engine.schedules()}

        await pilot.press("ctrl+u", *"5 * * * *")
        assert not form.query_one("#field-cron").has_class("-error")
        assert text_of(app, "#e-cron") == ""
        await pilot.press("ctrl+s")
        await until(lambda: isinstance(app.screen, SchedulesScreen), what="form closed")
        await until(lambda: "hourly-report" in row_keys(app), what="the new row")

        view = await engine.schedule("hourly-report")
        assert view.command == ["./report.sh", "--hourly", "two words"]
        assert view.trigger.startswith("cron 5 * * * *")
        assert cell(app, "hourly-report", "next") == "12:05:00"  # today: the time only
        assert app.screen.query_one("#schedules").selected_key == "hourly-report"


async def test_save_error_lands_on_its_field(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot, until)
        await pilot.press(*"nightly-backup")  # exists already: only the store knows
        await tab_to(pilot, "cron")
        await pilot.press(*"0 3 * * *")
        await tab_to(pilot, "command")
        await pilot.press(*"true")
        assert text_of(app, "#e-name") == ""
        await pilot.press("ctrl+s")
        await until(lambda: text_of(app, "#e-name"), what="the save error")
        assert "exists already" in text_of(app, "#e-name")
        assert isinstance(app.screen, ScheduleForm)
        assert app.screen.query_one("#f-command").value == "true"


async def test_preview_shows_ten_fires_and_the_dst_note(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot, until)
        await pilot.press(*"london")
        await tab_to(pilot, "cron")
        await pilot.press(*"30 1 * * *")
        await tab_to(pilot, "tz")
        await pilot.press("ctrl+u", *"Europe/London")
        preview = text_of(app, "#preview").splitlines()
        fires = [line for line in preview if not line.startswith("⚠")]
        notes = [line for line in preview if line.startswith("⚠")]
        assert len(fires) == 10
        # 2026-03-29: 01:30 does not exist in London (clocks go 01:00 -> 02:00)
        assert fires[0] == "Sun 29 Mar 02:00 BST  01:00Z"
        assert fires[1] == "Mon 30 Mar 01:30 BST  00:30Z"
        assert notes == ["⚠ 01:30 does not exist (DST gap): fired at 02:00"]
        assert "(Europe/London)" in text_of(app, "#preview-title")
        await pilot.press("ctrl+u", *"Mars/Olympus")
        assert "unknown time zone 'Mars/Olympus'" in text_of(app, "#e-tz")


async def test_edit_keeps_values_and_renames(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: row_keys(app) == ROWS, what="rows")
        await pilot.press("j", "j", "enter")  # nightly-backup
        form = await until(
            lambda: app.screen if isinstance(app.screen, ScheduleForm) else None, what="form"
        )
        assert form.query_one("#f-cron").value == "30 1 * * *"
        assert form.query_one("#f-tz").value == "Europe/London"
        assert form.query_one("#f-lane").value == "maintenance"
        assert form.query_one("#f-command").value == "/opt/backup/run --full"
        await until(lambda: app.focused is not None and app.focused.id == "f-name", what="name")
        await pilot.press("end", *"-v2", "ctrl+s")
        await until(lambda: "nightly-backup-v2" in row_keys(app), what="renamed row")
        assert "nightly-backup" not in row_keys(app)


async def test_pause_resume_run_now_and_delete(engine: Engine, until: Until) -> None:
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: row_keys(app) == ROWS, what="rows")
        await pilot.press("G")  # sales-report
        assert app.screen.query_one("#schedules").selected_key == "sales-report"
        await pilot.press("p")
        await until(lambda: cell(app, "sales-report", "next") == "paused", what="paused")
        assert (await engine.schedule("sales-report")).paused
        await pilot.press("p")
        await until(lambda: cell(app, "sales-report", "next") != "paused", what="resumed")
        assert not (await engine.schedule("sales-report")).paused

        await pilot.press("r")
        runs = await until(lambda: engine.instances(schedule="sales-report"), what="a run")
        notes = [n.message for n in app._notifications]
        assert f"sales-report: instance #{runs[0].id} queued" in notes
        await until(lambda: cell(app, "sales-report", "last") == "queued", what="last result")

        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("n")  # keep it
        assert isinstance(app.screen, SchedulesScreen)
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(lambda: "sales-report" not in row_keys(app), what="row removed")
        assert "sales-report" not in {v.name for v in await engine.schedules()}
        assert row_keys(app) == ROWS[:3]


async def test_schedules_follow_changes_made_elsewhere(engine: Engine, until: Until) -> None:
    from switchyard.engine.schedules.spec import ScheduleSpec

    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE):
        await until(lambda: row_keys(app) == ROWS, what="rows")
        table = app.screen.query_one("#schedules")
        await engine.add_schedule(ScheduleSpec("aaa-first", ["true"], every="1h"))
        await until(lambda: row_keys(app)[0] == "aaa-first", what="row added in order")
        await engine.set_paused("contact-sync", True)
        await until(lambda: cell(app, "contact-sync", "next") == "paused", what="cell update")
        await engine.remove_schedule("cleanup-temp")
        await until(lambda: "cleanup-temp" not in row_keys(app), what="row removed")
        assert table.row_count == 4


async def test_ctrl_s_on_a_wrong_form_says_what_blocks_saving(engine: Engine, until: Until) -> None:
    """Saving a form with wrong fields focuses the first one and says, on the form's message
    line, every field that blocks saving; an empty command is one of them. Cron errors name
    the field of the expression and its range."""
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: row_keys(app) == ROWS, what="rows")
        form = await open_form(pilot, until)
        placeholder = form.query_one("#f-name").placeholder
        assert placeholder and placeholder not in ROWS  # not an existing schedule's name

        await pilot.press("ctrl+s")  # nothing filled in
        await until(lambda: text_of(app, "#form-message"), what="the message")
        message = text_of(app, "#form-message")
        assert message.startswith("not saved: fix ")
        for field in ("name", "cron", "command"):
            assert field in message, message
        assert app.focused is not None and app.focused.id == "f-name"
        assert "required" in text_of(app, "#e-command")
        assert form.query_one("#field-command").has_class("-error")

        await pilot.press(*"hourly-report")
        await tab_to(pilot, "cron")
        await pilot.press(*"61 * * * *")
        await tab_to(pilot, "command")
        await pilot.press(*"true")
        await pilot.press("ctrl+s")
        await until(lambda: app.focused is not None and app.focused.id == "f-cron", what="cron")
        assert text_of(app, "#e-cron") == "✗ minute 61 is out of range 0–59"  # noqa: RUF001
        assert text_of(app, "#form-message") == (
            "not saved: fix cron (minute 61 is out of range 0–59)"  # noqa: RUF001
        )
        assert isinstance(app.screen, ScheduleForm)

        await pilot.press("ctrl+u", *"5 * * * *")
        assert text_of(app, "#form-message") == ""  # fixed: the message goes
        await pilot.press("ctrl+s")
        await until(lambda: isinstance(app.screen, SchedulesScreen), what="form closed")
