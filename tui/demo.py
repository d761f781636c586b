"""Demo data: a few lanes and schedules that show what Switchyard does.

Loaded into a store of its own (``<data dir>/demo/switchyard.db``) unless ``--db`` names
one, so trying the demo never touches real schedules. Loading twice adds nothing.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict
from switchyard.engine.paths import default_data_dir
from switchyard.engine.schedules.spec import ScheduleSpec

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
    published = await engine.publish(PROCESSES)
    if any(p.changed for p in published):
        added.extend(p.name for p in published if p.changed)
        await engine.start_process("invoice-run")
        await engine.start_process("invoice-run", {"region": "apac", "customers": '["x","y"]'})
    if added:  # something to watch in the queue straight away
        await engine.start("nightly-backup")
        await engine.start("sales-report-0645")
        await engine.start("contact-sync-0700")
        await engine.start("cleanup-temp")
    return added
