"""Console tests: an engine on a fresh SQLite store with a fixed clock and known schedules.

Work items: ``expenses`` sets up people and the expense-approval process, runs a node and
opens bob's engine; ``workitems_snapshot_app`` is ``snapshot_app`` for bob with one item.

Every test runs with TZ=UTC (screens show local time) and its own XDG_CONFIG_HOME, so
neither the machine's zone nor the user's keymap leaks in.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.db import Store
from switchyard.tui.app import SwitchyardApp

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
PY = sys.executable

SCHEDULES = [
    ScheduleSpec(
        "nightly-backup",
        ["/opt/backup/run", "--full"],
        cron="30 1 * * *",
        tz="Europe/London",
        lane="maintenance",
    ),
    ScheduleSpec(
        "sales-report",
        ["./report", "--region", "emea"],
        cron="45 6 * * 1-5",
        tz="America/New_York",
        lane="reports",
    ),
    ScheduleSpec("contact-sync", ["./sync"], every="15m", lane="reports"),
    ScheduleSpec("cleanup-temp", ["sh", "-c", "rm -rf /tmp/x"], on_demand=True),
]
LANES = {"maintenance": 1, "reports": 1}


@pytest.fixture(autouse=True)
def console_env(tmp_path: Path) -> Iterator[None]:
    """TZ=UTC and an empty config dir for every console test (restored afterwards)."""
    saved = {k: os.environ.get(k) for k in ("TZ", "XDG_CONFIG_HOME")}
    os.environ["TZ"] = "UTC"
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    time.tzset()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        time.tzset()


async def seed(engine: Engine) -> None:
    for lane, concurrency in LANES.items():
        await engine.add_lane(lane, concurrency)
    for spec in SCHEDULES:
        await engine.add_schedule(spec)


async def open_engine(url: str, data_dir: Path) -> Engine:
    return await Engine.open(url, data_dir=data_dir, clock=FixedClock(NOW), user="tester")


@pytest.fixture
async def engine(sqlite_url: str, data_dir: Path) -> AsyncIterator[Engine]:
    """An open engine (fixed clock at 2026-03-28 12:00 UTC) with lanes and schedules."""
    eng = await open_engine(sqlite_url, data_dir)
    await seed(eng)
    try:
        yield eng
    finally:
        await eng.close()


async def _until(
    probe: Callable[[], Any | Awaitable[Any]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for polling, not a cancel scope
    what: str = "condition",
) -> Any:
    """Poll ``probe`` (sync or async) until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
def until() -> Callable[..., Awaitable[Any]]:
    """``await until(probe, timeout=..., what=...)``: poll instead of sleeping."""
    return _until


class SnapshotApp(SwitchyardApp):
    """Closes its engine when it stops."""

    async def on_unmount(self) -> None:
        await self.engine.close()


@pytest.fixture
def snapshot_app(sqlite_url: str, data_dir: Path) -> SwitchyardApp:
    """For snap_compare, which runs the app on an event loop of its own: the data is loaded
    on another loop first, and the app gets an engine that connects lazily on the app's
    loop (the schema is there already) and closes when the app stops. Four queued runs,
    one paused schedule; no runtime, so nothing changes with time."""

    async def prepare() -> None:
        engine = await open_engine(sqlite_url, data_dir)
        try:
            await seed(engine)
            for name in ("sales-report", "nightly-backup", "contact-sync", "sales-report"):
                await engine.start(name)
            await engine.set_paused("contact-sync", True)
        finally:
            await engine.close()

    asyncio.run(prepare())
    engine = Engine(Store(sqlite_url), data_dir=data_dir, clock=FixedClock(NOW), user="tester")
    return SnapshotApp(engine)


# ------------------------------------------------------------------ work items
EXPENSE = """
process: expense-approval
variables:
  employee: {type: string, required: true}
  amount:   {type: decimal, required: true}
  iban:     {type: string, security: finance-only}
  category: {type: string}
  urgent:   {type: boolean}
  decision: {type: string, report: true}
  note_seen: {type: string}
start: submit
states:
  submit:
    actions:
      - if: "amount > 1000"
        then:
          - send_work_item: {form: approve, to: {workgroup: managers}, due: 2d}
        else:
          - assign: {decision: auto-approved}
      - change_state: pay
  pay:
    actions:
      - end_process: paid
forms:
  approve:
    fields:
      - employee
      - amount
      - iban
      - {name: category, type: choice, choices: [travel, meals, other]}
      - {name: paid_on, type: date, label: Paid on}
      - urgent
      - {name: note, type: text, multiline: true, required: true}
    buttons:
      Approve: [assign: {decision: approved, note_seen: "{{ note }}"}]
      Deny:    [assign: {decision: denied}, end_process: denied]
"""
IBAN = "DE89370400440532013000"


async def setup_expense(root: Engine, directory: Path) -> None:
    """bob (group licence) in managers, carol in finance (who may see the iban), the
    expense-approval process published; alice may start it."""
    await root.add_user("alice", licence="direct")
    await root.add_user("bob", licence="group")
    await root.add_user("carol", licence="monitor")
    await root.add_group("managers")
    await root.add_group("finance")
    await root.add_member("managers", "bob")
    await root.add_member("finance", "carol")
    await root.add_secspec("finance-only", groups=["finance"])
    path = directory / "expense.yaml"
    path.write_text(textwrap.dedent(EXPENSE).lstrip(), encoding="utf-8")
    await root.publish([path])
    await root.grant("expense-approval", "alice", launch=True)


async def start_expense(
    root: Engine, url: str, data_dir: Path, amount: str = "1500.00"
) -> tuple[int, int]:
    """alice starts an expense; (instance id, work item id) once it waits on its item
    (a runtime must be running)."""
    alice = await Engine.open(url, data_dir=data_dir, clock=FixedClock(NOW), user="alice")
    try:
        instance_id = await alice.start_process(
            "expense-approval", {"employee": "Ann", "amount": amount, "iban": IBAN}
        )
    finally:
        await alice.close()

    async def item() -> int | None:
        page = await root.work_items("all")
        return next((r.id for r in page.rows if r.instance_id == instance_id), None)

    item_id = await _until(item, timeout=20, what="the work item")
    return instance_id, int(item_id)


@dataclass
class Expenses:
    """The admin engine (``root``, with a runtime), bob's engine (its event feed on),
    and ``start()``: a new expense waiting in managers -> (instance id, item id)."""

    root: Engine
    bob: Engine
    runtime: Runtime
    url: str
    data_dir: Path

    async def start(self, amount: str = "1500.00") -> tuple[int, int]:
        return await start_expense(self.root, self.url, self.data_dir, amount)


@pytest.fixture
async def expenses(
    engine: Engine, sqlite_url: str, data_dir: Path, tmp_path: Path
) -> AsyncIterator[Expenses]:
    await setup_expense(engine, tmp_path)
    runtime = Runtime(engine, mode="console")
    await runtime.start()
    bob = await Engine.open(sqlite_url, data_dir=data_dir, clock=FixedClock(NOW), user="bob")
    await bob.start_feed(interval=0.05)
    try:
        yield Expenses(engine, bob, runtime, sqlite_url, data_dir)
    finally:
        await runtime.stop(grace=1)
        await bob.close()


@pytest.fixture
def workitems_snapshot_app(sqlite_url: str, data_dir: Path, tmp_path: Path) -> SwitchyardApp:
    """Like ``snapshot_app``, for bob: one expense of 1500.00 waiting in managers."""

    async def prepare() -> None:
        root = await open_engine(sqlite_url, data_dir)
        try:
            await setup_expense(root, tmp_path)
            runtime = Runtime(root, mode="console")
            await runtime.start()
            try:
                await start_expense(root, sqlite_url, data_dir)
            finally:
                await runtime.stop(grace=1)
        finally:
            await root.close()

    asyncio.run(prepare())
    engine = Engine(Store(sqlite_url), data_dir=data_dir, clock=FixedClock(NOW), user="bob")
    return SnapshotApp(engine)
