"""The Monitor screen's paging (PgDn/PgUp by the engine's keyset cursors), keyboard only;
the fixtures and helpers are test_monitor.py's."""

from __future__ import annotations

from typing import Any

import pytest
from switchyard.engine.api import Engine
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens.monitor import MonitorScreen
from textual.pilot import Pilot

from .test_monitor import (
    SIZE,
    Until,
    claim,
    claims,
    messages,
    monitor,
    row_ids,
    set_filter,
    status_line,
)

__all__ = ["claims"]  # the fixture, shared with test_monitor.py


async def test_a_page_asked_while_a_live_refresh_waits_is_loaded_first(
    claims: Engine, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live refresh waits while the cursor moves (NAV_QUIET); PgDn meanwhile must not
    wait behind it, nor query the page it leaves (it did: 0.3 s more per page change)."""
    from switchyard.tui.screens import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "PAGE", 3)
    monkeypatch.setattr(monitor_module, "NAV_QUIET", 30.0)  # the live refresh waits on
    ids = [await claim(claims, f"e{n}", "1") for n in range(5)]
    offsets: list[Any] = []
    query = claims.monitor

    async def spy(flt: Any, *, limit: int, **where: Any) -> Any:
        offsets.append(where)
        return await query(flt, limit=limit, **where)

    monkeypatch.setattr(claims, "monitor", spy)
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await set_filter(pilot, "process = claims")
        await until(lambda: len(row_ids(app)) == 3, what="the first page")
        screen = monitor(app)
        await claim(claims, "late", "1")  # a live refresh, held while the cursor moves
        await pilot.press("down")
        await until(lambda: screen._loading, what="the live refresh under way")
        offsets.clear()
        await pilot.press("pagedown")
        await until(lambda: screen._shown_offset == 3, what="the second page", timeout=10)
        # the page asked (past the first page's last row); the left page was not queried
        assert [(list(w), w["after"].id) for w in offsets] == [(["after"], ids[2])], offsets
        assert row_ids(app) == [ids[1], ids[0]]  # past the rows shown ("late" is above)


async def _paging_app(
    claims: Engine, until: Until, monkeypatch: pytest.MonkeyPatch, pilot: Pilot
) -> MonitorScreen:
    await pilot.press("3")
    await set_filter(pilot, "process = claims")
    await until(lambda: len(row_ids(pilot.app)) == 3, what="the first page")
    return monitor(pilot.app)  # type: ignore[arg-type]


async def test_paging_follows_rows_not_offsets_when_rows_move_between_pages(
    claims: Engine, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PgDn/PgUp go by the rows shown (the engine's keyset cursors): a row new at the top
    while on page 2 makes PgDn neither repeat nor skip a row (by offset it repeated the
    last row of page 2), and PgUp shows the rows just before the page."""
    from switchyard.tui.screens import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "PAGE", 3)
    ids = [await claim(claims, f"e{n}", "1") for n in range(9)]  # newest first: ids[::-1]
    newest = ids[::-1]
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _paging_app(claims, until, monkeypatch, pilot)
        assert row_ids(app) == newest[0:3]
        await pilot.press("pagedown")
        await until(lambda: row_ids(app) == newest[3:6], what="page 2")
        assert status_line(app).startswith("4–6 of 9"), status_line(app)  # noqa: RUF001
        top = await claim(claims, "new", "1")  # at the top, while on page 2
        await until(lambda: screen.total == 10, what="the live refresh counting it")
        assert row_ids(app) == newest[3:6]  # page 2 keeps its rows
        await pilot.press("pagedown")
        await until(lambda: row_ids(app) != newest[3:6], what="page 3")
        assert row_ids(app) == newest[6:9]  # not newest[5:8]: no row repeated
        assert status_line(app).startswith("7–9 of 10"), status_line(app)  # noqa: RUF001
        await pilot.press("pageup")
        await until(lambda: row_ids(app) != newest[6:9], what="page 2 again")
        assert row_ids(app) == newest[3:6]  # the rows just before page 3, none skipped
        assert status_line(app).startswith("4–6 of 10"), status_line(app)  # noqa: RUF001
        await pilot.press("pageup")
        await until(lambda: row_ids(app) != newest[3:6], what="page 1 again")
        assert row_ids(app) == newest[0:3]
        await pilot.press("pageup")  # nothing newer but the new row: the first page
        await until(lambda: row_ids(app) == [top, *newest[0:2]], what="the top")
        assert status_line(app).startswith("1–3 of 10"), status_line(app)  # noqa: RUF001
        await pilot.press("pageup")  # the first page itself: no more pages
        await until(lambda: any("no more pages" in m for m in messages(app)), what="refused")


async def test_paging_down_past_rows_that_left_shows_the_last_page(
    claims: Engine, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows past page 1 all gone (cancelled out of the filter) while on it: PgDn finds
    nothing past the cursor and shows the last page there is (here: the first)."""
    from switchyard.tui.screens import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "PAGE", 3)
    ids = [await claim(claims, f"e{n}", "1") for n in range(5)]
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _paging_app(claims, until, monkeypatch, pilot)
        for instance_id in ids[:2]:  # the two on page 2
            await claims.cancel(instance_id)
        await set_filter(pilot, "process = claims; status = queued")
        await until(lambda: len(row_ids(app)) == 3 and screen.total == 3, what="3 left")
        screen.total = 6  # as if a count from before: PgDn is allowed, nothing is past
        await pilot.press("pagedown")
        await until(lambda: screen._shown == (0, None) and screen.total == 3, what="page 1")
        assert row_ids(app) == ids[:1:-1]


async def test_a_second_page_key_before_the_page_shows_keeps_the_position_right(
    claims: Engine, until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PgDn twice while the next page is still being read: the rows past the page shown
    are asked once, and the position says the page shown (it said 7-9 over 4-6's rows:
    the second key counted a page the cursor of the first could not give)."""
    import asyncio

    from switchyard.tui.screens import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "PAGE", 3)
    ids = [await claim(claims, f"e{n}", "1") for n in range(9)]
    newest = ids[::-1]
    gate = asyncio.Event()
    query = claims.monitor

    async def held(flt: Any, *, limit: int, **where: Any) -> Any:
        if where:
            await gate.wait()
        return await query(flt, limit=limit, **where)

    monkeypatch.setattr(claims, "monitor", held)
    app = SwitchyardApp(claims)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _paging_app(claims, until, monkeypatch, pilot)
        await pilot.press("pagedown")
        await pilot.press("pagedown")
        gate.set()
        await until(lambda: row_ids(app) == newest[3:6], what="page 2")
        await pilot.pause()
        assert row_ids(app) == newest[3:6]
        assert status_line(app).startswith("4–6 of 9"), status_line(app)  # noqa: RUF001
        await pilot.press("pagedown")
        await until(lambda: row_ids(app) == newest[6:9], what="page 3")
        assert status_line(app).startswith("7–9 of 9"), status_line(app)  # noqa: RUF001
        assert screen.page_offset == 6
