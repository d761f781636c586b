"""Screens at 80x24 as SVG snapshots (update: pytest tests/tui --snapshot-update).

snap_compare runs the app on an event loop of its own, so the data is loaded first on
another loop and the app gets an engine that connects lazily on the app's loop (the schema
is already there) and closes it when the app stops. Fixed clock, TZ=UTC, no runtime and
nothing running: nothing on these screens changes with time.
"""

from __future__ import annotations

from switchyard.tui.app import SwitchyardApp
from textual.pilot import Pilot
from textual.widgets import Input

SIZE = (80, 24)


async def settle(pilot: Pilot, selector: str, rows: int) -> None:
    for _ in range(100):
        if (
            pilot.app.screen.query(selector)
            and pilot.app.screen.query_one(selector).row_count >= rows
        ):
            break
        await pilot.pause(0.05)
    await pilot.pause()


def test_schedules_screen(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await settle(pilot, "#schedules", 4)
        await pilot.press("j", "j")  # nightly-backup: its details below the table

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_queue_screen(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("2")
        await settle(pilot, "#queue", 4)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_schedule_form_with_dst_preview(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await settle(pilot, "#schedules", 4)
        await pilot.press("a")
        for _ in range(100):
            if isinstance(pilot.app.focused, Input):
                break
            await pilot.pause(0.05)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.press(*"london-report", "tab", "tab")
        await pilot.press(*"30 1 * * *", "tab", "ctrl+u", *"Europe/London")
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)
