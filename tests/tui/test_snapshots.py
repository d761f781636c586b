"""Screens at 80x24 as SVG snapshots (update serially:
``pytest -n0 tests/tui/test_snapshots.py --snapshot-update``, then look at each SVG):
every screen and the main dialogs at 80x24, and two screens at 200x50.

snap_compare runs the app on an event loop of its own, so the data is loaded first on
another loop and the app gets an engine that connects lazily on the app's loop (the schema
is already there) and closes it when the app stops. Fixed clock, TZ=UTC, no runtime and
nothing running: nothing on these screens changes with time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from switchyard.tui.app import SwitchyardApp
from textual.pilot import Pilot
from textual.widgets import Input

SIZE = (80, 24)
WIDE = (200, 50)


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


def test_admin_users_tab(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        engine = pilot.app.engine  # type: ignore[attr-defined]
        await engine.add_user("alice", name="Alice Smith", licence="designer", roles=["ops-lead"])
        await engine.add_user("bob", name="Bob Jones", licence="monitor")
        await engine.add_group("ops")
        await engine.add_member("ops", "alice")
        await pilot.press("5")
        await settle(pilot, "#admin-users", 3)
        await pilot.press("j")  # bob: in full below the table

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_work_items_screen(snap_compare, workitems_snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("4")
        await settle(pilot, "#wi-groups", 1)  # bob's item waits in managers

    assert snap_compare(workitems_snapshot_app, terminal_size=SIZE, run_before=ready)


def test_work_item_form(snap_compare, workitems_snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("4")
        await settle(pilot, "#wi-groups", 1)
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(pilot.app.focused, Input):
                break
            await pilot.pause(0.05)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(workitems_snapshot_app, terminal_size=SIZE, run_before=ready)


MONITOR_CLAIMS = """\
process: claims
variables:
  employee: {type: string, required: true}
  amount: {type: decimal, required: true}
start: review
states:
  review:
    actions:
      - end_process: done
"""


def test_monitor_screen(snap_compare, snapshot_app: SwitchyardApp, tmp_path) -> None:
    async def ready(pilot: Pilot) -> None:
        engine = pilot.app.engine  # type: ignore[attr-defined]
        path = tmp_path / "claims.yaml"
        path.write_text(MONITOR_CLAIMS, encoding="utf-8")
        await engine.publish([path])
        for who, amount in [("Ann", "1500"), ("Bob", "200"), ("Cy", "2500.75"), ("Di", "1200")]:
            await engine.start_process("claims", {"employee": who, "amount": amount})
        await pilot.press("3", "slash")
        pilot.app.screen.query_one("#monitor-filter", Input).cursor_blink = False
        await pilot.press(*"process=claims; amount > 1000", "enter")
        await settle(pilot, "#monitor", 3)
        await pilot.press("space")  # the first row marked, the cursor on the second

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_events_screen(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        engine = pilot.app.engine  # type: ignore[attr-defined]
        engine.node_id = "ops-1-a1b2c3"  # else random: the node column would change
        clock, now = engine.clock, engine.clock.at
        for minutes, name, value in [
            (95, "max_monitored_flows", "10000"),
            (40, "handler_response_timeout", "45s"),
            (5, "block_launch_during_restore", "true"),
        ]:
            clock.at = now - timedelta(minutes=minutes)
            await engine.set_param(name, value)
        clock.at = now - timedelta(minutes=2)
        await engine.set_secret("smtp-password", "hunter2-pass")  # the name only, never the value
        clock.at = now
        await pilot.press("6")
        await settle(pilot, "#events", 4)
        await pilot.press("down")  # the parameter change below in full

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_queue_screen_wide(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("2")
        await settle(pilot, "#queue", 4)

    assert snap_compare(snapshot_app, terminal_size=WIDE, run_before=ready)


async def _monitor_rows(pilot: Pilot, tmp_path: Path) -> None:
    engine = pilot.app.engine  # type: ignore[attr-defined]
    path = tmp_path / "claims.yaml"
    path.write_text(MONITOR_CLAIMS, encoding="utf-8")
    await engine.publish([path])
    for who, amount in [("Ann", "1500"), ("Bob", "200"), ("Cy", "2500.75")]:
        await engine.start_process("claims", {"employee": who, "amount": amount})
    await pilot.press("3", "slash")
    pilot.app.screen.query_one("#monitor-filter", Input).cursor_blink = False
    await pilot.press(*"process=claims", "enter")
    await settle(pilot, "#monitor", 3)


def test_monitor_screen_wide(snap_compare, snapshot_app: SwitchyardApp, tmp_path) -> None:
    async def ready(pilot: Pilot) -> None:
        await _monitor_rows(pilot, tmp_path)

    assert snap_compare(snapshot_app, terminal_size=WIDE, run_before=ready)


def test_instance_detail(snap_compare, snapshot_app: SwitchyardApp, tmp_path) -> None:
    async def ready(pilot: Pilot) -> None:
        await _monitor_rows(pilot, tmp_path)
        await pilot.press("enter")
        await settle(pilot, "#detail-vars", 2)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_timers_overlay(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await settle(pilot, "#schedules", 4)
        await pilot.press("ctrl+t")
        await settle(pilot, "#timers", 2)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_help_overlay(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("2")
        await settle(pilot, "#queue", 4)
        await pilot.press("question_mark")
        await settle(pilot, "#help-keys", 5)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_cancel_confirm(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("2")
        await settle(pilot, "#queue", 4)
        await pilot.press("c")
        for _ in range(100):
            if pilot.app.screen.query("#confirm-message"):
                break
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_lane_concurrency_form(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("2")
        await settle(pilot, "#queue", 4)
        await pilot.press("L")
        for _ in range(100):
            if pilot.app.screen.query("#lane-name"):
                break
            await pilot.pause(0.05)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_admin_params_tab(snap_compare, snapshot_app: SwitchyardApp) -> None:
    async def ready(pilot: Pilot) -> None:
        await pilot.press("5")
        await settle(pilot, "#admin-users", 1)
        for _ in range(6):
            if pilot.app.screen.tab == "params":  # type: ignore[attr-defined]
                break
            await pilot.press("tab")
        await settle(pilot, "#admin-params", 5)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=ready)


def test_every_snapshot_file_has_its_test() -> None:
    """syrupy fails a serial run on an unused snapshot but cannot under pytest-xdist (each
    worker sees only part of the run): the same check, one file per snapshot test."""
    folder = Path(__file__).parent / "__snapshots__" / Path(__file__).stem
    tests = {name for name in globals() if name.startswith("test_")}
    orphans = sorted(p.name for p in folder.glob("*.svg") if p.stem not in tests)
    assert not orphans, f"snapshots without a test (delete them): {orphans}"
