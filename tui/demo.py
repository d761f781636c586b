"""Demo data: a few lanes and schedules that show what Switchyard does, and the expense
approval of DESIGN.md with people, groups, a security spec, a secret and rights.

Loaded into a store of its own (``<data dir>/demo/switchyard.db``) unless ``--db`` names
one, so trying the demo never touches real schedules. Loading twice adds nothing.

Every screen has something on first start: schedules (a chain: contact-sync-0700 then
outlook-sync; a continuous log-shipper), queued runs, expenses waiting for the demo user
(who is in ``managers`` and ``finance``), an expense paid by a child process, a payment in
``error`` to retry, the people on Admin and what all this did on Events. Every command is
``sh`` or this Python (``sys.executable``): nothing the machine might not have.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict
from switchyard.engine.paths import default_data_dir
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.tui.filters import parse_filter

PY = sys.executable


def demo_url() -> str:
    return f"sqlite+aiosqlite:///{default_data_dir() / 'demo' / 'switchyard.db'}"


def _py(code: str) -> list[str]:
    return [PY, "-u", "-c", code]


TICKER = "import time,datetime\nwhile True:\n    print('tick', datetime.datetime.now().strftime('%H:%M:%S'), flush=True)\n    time.sleep(1)"
BACKUP = "import time\nfor i in range(1, 31):\n    print(f'copying chunk {i}/30', flush=True)\n    time.sleep(0.5)\nprint('backup complete')"
REPORT = "import os,time\nprint('report for', os.environ.get('REGION','?'))\ntime.sleep(4)\nprint('token is', os.environ['API_TOKEN'])"

SCHEDULES = [
    ScheduleSpec(
        "nightly-backup",
        _py(BACKUP),
        cron="30 1 * * *",
        tz="Europe/London",
        lane="maintenance",
    ),
    ScheduleSpec(
        "sales-report-0645",
        _py(REPORT),
        cron="45 6 * * 1-5",
        tz="America/New_York",
        lane="reports",
        env=["REGION=emea", "API_TOKEN=secret:api_token"],
    ),
    ScheduleSpec(
        "contact-sync-0700",
        _py(
            "import time\nprint('syncing contacts')\ntime.sleep(3)\nprint('synced 1,204 contacts')"
        ),
        cron="0 7 * * 1-5",
        tz="America/New_York",
        lane="reports",
    ),
    ScheduleSpec(
        "outlook-sync",
        _py("print('outlook sync done')"),
        on_demand=True,
        lane="reports",
        after="contact-sync-0700",
    ),
    ScheduleSpec("health-check", ["true"], every="5m", lane="default", overlap="skip"),
    ScheduleSpec(
        "log-shipper",
        _py(TICKER),
        continuous=True,
        window="00:00-23:59",
        lane="streams",
    ),
    ScheduleSpec(
        "cleanup-temp", ["sh", "-c", "echo removing old files; sleep 2; echo done"], on_demand=True
    ),
]

LANES = {"maintenance": 1, "reports": 1, "streams": 2}
PROCESSES = sorted((Path(__file__).parent / "demo_processes").glob("*.yaml"))

#: (login, name, licence, groups); the demo user joins managers and finance
PEOPLE = [
    ("alice", "Alice Archer", "direct", ["staff"]),
    ("bob", "Bob Baker", "group", ["managers"]),
    ("carol", "Carol Cole", "monitor", ["finance"]),
]
GROUPS = ["staff", "managers", "finance"]
SAVED_FILTERS = {"expenses": "process=expense-approval", "errors": "status=error"}
#: expenses started at load: over 1000 they wait for a manager, the last one is paid at once
EXPENSES = [
    {"employee": "Ann", "amount": "1500.00", "iban": "DE89370400440532013000"},
    {"employee": "Raj", "amount": "2380.40", "iban": "FR1420041010050500013M02606"},
    {"employee": "Mei", "amount": "1125.00", "iban": "GB29NWBK60161331926819"},
    {"employee": "Tom", "amount": "89.90", "iban": "NL91ABNA0417164300"},
]


async def _load_people(engine: Engine) -> None:
    """Groups, people, the ``finance-only`` security spec and the ``pay_token`` secret
    (before the processes that name them are published)."""
    groups = {g.name for g in await engine.groups()}
    for group in GROUPS:
        if group not in groups:
            await engine.add_group(group)
    users = {u.login for u in await engine.users()}
    for login, name, licence, member_of in PEOPLE:
        if login not in users:
            await engine.add_user(login, name, licence=licence)
        for group in member_of:
            await engine.add_member(group, login)
    for group in ("managers", "finance"):
        await engine.add_member(group, engine.login)
    if "finance-only" not in {s.name for s in await engine.secspecs()}:
        await engine.add_secspec("finance-only", groups=["finance"])
    if "pay_token" not in {s.key for s in await engine.secrets()}:
        await engine.set_secret("pay_token", "demo-bank-token-7731")


async def _start_expenses(engine: Engine) -> None:
    await engine.grant("expense-approval", "staff", launch=True)
    await engine.grant("expense-approval", "finance", view=True)
    for expense in EXPENSES:
        await engine.start_process("expense-approval", expense)
    # a payment that fails (amount 0) and waits in error for a retry with a fixed amount
    await engine.start_process("expense-payment", {"employee": "Lea", "amount": "0"})
    # Monitor (key 3) is empty until a filter: two saved ones to pick (f, or type the name)
    now = engine.clock.now()
    for name, text in SAVED_FILTERS.items():
        await engine.save_filter(name, parse_filter(text, now=now))


async def load_demo(engine: Engine) -> list[str]:
    added: list[str] = []
    for name, concurrency in LANES.items():
        with contextlib.suppress(Conflict):
            await engine.add_lane(name, concurrency)
    if "api_token" not in {s.key for s in await engine.secrets()}:
        await engine.set_secret("api_token", "demo-s3cr3t-token")
    existing = {s.name for s in await engine.schedules()}
    for spec in SCHEDULES:
        if spec.name not in existing:
            await engine.add_schedule(spec)
            added.append(spec.name)
    await _load_people(engine)
    published = await engine.publish(PROCESSES)
    if any(p.changed for p in published):
        added.extend(p.name for p in published if p.changed)
        await engine.start_process("invoice-run")
        await engine.start_process("invoice-run", {"region": "apac", "customers": '["x","y"]'})
        await _start_expenses(engine)
    if added:  # something to watch in the queue straight away
        await engine.start("nightly-backup")
        await engine.start("sales-report-0645")
        await engine.start("contact-sync-0700")
        await engine.start("cleanup-temp")
    return added
