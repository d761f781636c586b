"""The Monitor's live refresh keeps each row's cells while what the row shows is the same
(monitor_cells.shown_fields): what else the cells depend on must still show at once (guards
written in review; each fails if that dependency is left out of the cells kept)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from switchyard.tui import display
from switchyard.tui.app import SwitchyardApp

from .test_monitor import SIZE, Until, cell, monitor, row_ids, set_filter


def updated(app: SwitchyardApp, instance_id: int) -> str:
    """The ``updated`` cell, uncut (the column is left out at 80 columns)."""
    return str(monitor(app).table.full_cell(str(instance_id), "updated"))


async def _shown(app: SwitchyardApp, pilot: Any, until: Until, count: int) -> None:
    await pilot.press("3")
    await set_filter(pilot, "process=expense-approval")
    await until(lambda: len(row_ids(app)) == count, what=f"{count} rows")


async def test_a_row_that_ends_while_shown_keeps_its_running_time(
    expenses: Any, until: Until
) -> None:
    """Running, its time moves with the clock; once it ends, it shows the time it ran and
    stops moving (not the stale time of the last tick, nor the clock's)."""
    going, _ = await expenses.start()
    engine = expenses.root
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await _shown(app, pilot, until, 1)
        engine.clock.at += timedelta(minutes=3)
        monitor(app)._render_rows()  # as the tick does
        assert cell(app, going, "running") == "3m00s"
        engine.clock.at += timedelta(seconds=20)  # no tick since: the cell shows 3m00s
        await engine.cancel(going)
        await until(lambda: cell(app, going, "status") == "cancelled", what="the cancel")
        assert cell(app, going, "running") == "3m20s"
        engine.clock.at += timedelta(minutes=5)
        monitor(app)._render_rows()
        assert cell(app, going, "running") == "3m20s"


async def test_the_day_changing_shows_the_updated_time_with_its_date(
    expenses: Any, until: Until
) -> None:
    """``updated`` shows a time of today as 12:00:05, another day's with its date: the
    rows kept from before midnight show their date once the day changes."""
    going, _ = await expenses.start()
    engine = expenses.root
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await _shown(app, pilot, until, 1)
        row = monitor(app).rows[str(going)]
        assert updated(app, going) == display.clock_time(row.updated_at, engine.clock.now())
        assert ":" in updated(app, going)[-3:]  # HH:MM:SS
        engine.clock.at += timedelta(days=1)
        monitor(app)._render_rows()
        now = engine.clock.now()
        assert updated(app, going) == display.clock_time(row.updated_at, now)
        assert row.updated_at is not None
        assert row.updated_at.astimezone().strftime("%d %b") in updated(app, going)


async def test_a_theme_change_recolours_the_kept_rows(expenses: Any, until: Until) -> None:
    going, _ = await expenses.start()
    engine = expenses.root
    app = SwitchyardApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await _shown(app, pilot, until, 1)
        table = monitor(app).table
        before = table.full_cell(str(going), "status")
        status = monitor(app).rows[str(going)].instance.status
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        monitor(app)._render_rows()
        after = table.full_cell(str(going), "status")
        assert after == display.status_text(status, app.colours)
        assert after != before
