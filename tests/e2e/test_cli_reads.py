"""The command line's light read path (engine/reads.py, issue 14): ``lane list``,
``instances`` and ``schedule next`` answered without the engine's facade must refuse,
filter and mask exactly as the engine does, and print what the full path prints.

The person asking is the real uid's login (root in these tests). The store's first user,
its admin, is ``boss`` (an engine opened with ``user=``). ``--as LOGIN`` for one's own
login is no impersonation (no admin right needed) but is answered by the full path
(``--as`` is audited there): the same command, both ways, on the same store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from e2e.conftest import CLI_TIMEOUT, Harness
from sqlalchemy import text
from switchyard.engine.api import Engine
from switchyard.engine.people import MASK
from switchyard.engine.people.os_identity import os_login
from switchyard.engine.reads import NeedsEngine, Reader
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.engine.views import to_json

IBAN = "DE44IBAN-MARKER-5170042"
PAY = """
process: pay
variables:
  iban: {type: string, security: finance}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""
ME = os_login()
READS = (
    ("lane", "list"),
    ("instances", "--json"),
    ("instances", "--limit", "5"),
    ("schedule", "next", "nightly", "--from", "2026-03-28T00:00", "--count", "5"),
    ("schedule", "next", "nightly", "--from", "2026-03-28T00:00", "--json"),
)


@pytest.fixture
async def store(db_url: str, data_dir: Path, tmp_path: Path) -> AsyncIterator[Harness]:
    """A store whose admin is ``boss``: a lane, a schedule, the ``pay`` process with a
    secured variable (spec ``finance``: boss only), and one instance of it by boss."""
    boss = await Engine.open(db_url, data_dir=data_dir, user="boss")
    harness = Harness(db_url, data_dir, tmp_path, boss)
    try:
        await boss.add_lane("batch", 3)
        await boss.add_schedule(
            ScheduleSpec(name="nightly", command=["true"], cron="30 2 * * *", tz="Europe/Paris")
        )
        await boss.add_secspec("finance", users=["boss"])
        source = tmp_path / "pay.yaml"
        source.write_text(PAY)
        await boss.publish([source])
        await boss.start_process("pay", {"iban": IBAN})
        yield harness
    finally:
        try:
            await harness.cleanup()
        finally:
            await boss.close()


def light(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """``switchyard ARGS``, and whether the engine's facade answered (the full path)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from switchyard.tui.cli import main; main()",
         *args],
        capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT, check=False,
    )  # fmt: skip
    imports = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    full = any(line.rsplit("|", 1)[1].strip() == "switchyard.engine.api" for line in imports)
    stderr = "\n".join(line for line in proc.stderr.splitlines() if line not in imports)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, stderr), full


async def mine(store: Harness) -> int:
    """``ME`` becomes a user (no rights), starts a ``pay`` of its own (launch right), whose
    reason then carries the secured value (as a message quoting it would)."""
    await store.engine.add_user(ME)
    await store.engine.grant("pay", ME, launch=True)
    me = await Engine.open(store.db_url, data_dir=store.data_dir, user=ME)
    try:
        instance_id = await me.start_process("pay", {"iban": IBAN})
    finally:
        await me.close()
    async with store.engine.store.write() as conn:
        await conn.execute(
            text("UPDATE instances SET reason = :r WHERE id = :i"),
            {"r": f"rejected: {IBAN} is not valid", "i": instance_id},
        )
    return int(instance_id)


async def test_the_light_path_refuses_someone_who_is_not_a_user(store: Harness) -> None:
    with pytest.raises(NeedsEngine):  # the refusal is the engine's (it audits it)
        await Reader.open(store.db_url)
    for args in READS:
        proc, _ = light(store.env, *args)
        assert proc.returncode == 4, (args, proc.stdout, proc.stderr)
        assert proc.stderr == (
            f"error: not a Switchyard user: {ME} (an admin can add you: switchyard user add {ME})"
        ), args
        assert proc.stdout == ""
    refused = await store.engine.event_log("access.refused", limit=50)
    assert len(refused) == len(READS)


async def test_the_light_path_shows_only_what_one_may_view_and_masks_it(store: Harness) -> None:
    own = await mine(store)
    proc, full = light(store.env, "instances", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not full  # answered by the light path
    shown = json.loads(proc.stdout)
    assert [v["id"] for v in shown] == [own]  # boss's instance is not ME's to view
    assert IBAN not in proc.stdout and MASK in shown[0]["reason"]
    text_out, full = light(store.env, "instances")
    assert not full and IBAN not in text_out.stdout and MASK in text_out.stdout
    # a right given applies at once: the view right on pay shows boss's instance too
    await store.engine.grant("pay", ME, view=True)
    proc, _ = light(store.env, "instances", "--json")
    assert len(json.loads(proc.stdout)) == 2 and IBAN not in proc.stdout
    # the spec's member sees the value: masking is per person, not a blanket ****
    await store.engine.set_secspec("finance", users=["boss", ME])
    proc, _ = light(store.env, "instances", "--json")
    assert IBAN in proc.stdout


@pytest.mark.parametrize("admin", [False, True], ids=["user", "admin"])
async def test_the_light_path_prints_what_the_full_path_prints(store: Harness, admin: bool) -> None:
    await mine(store)
    if admin:
        await store.engine.set_user(ME, admin=True)
    calls = [
        *READS,
        ("instances", "--status", "waiting,queued", "--lane", "default", "--json"),
        ("instances", "--status", "bogus"),
        ("instances", "--limit", "0"),
        ("schedule", "next", "nosuch"),
        ("schedule", "next", "nightly", "--count", "0"),
    ]
    for args in calls:
        fast, full = light(store.env, *args)
        assert not full, args
        slow, full = light(store.env, "--as", ME, *args)
        assert full, args
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            slow.returncode,
            slow.stdout,
            slow.stderr,
        ), args
        assert fast.stdout or fast.returncode in (2, 3), args


async def test_the_light_path_answers_as_the_engine_does(store: Harness) -> None:
    """The same three reads in process: Reader and Engine, same person, same values."""
    await mine(store)
    reader = await Reader.open(store.db_url)
    engine = await Engine.open(store.db_url, data_dir=store.data_dir, user=ME)
    try:
        start = datetime(2026, 10, 24, 12, 0)
        assert to_json(await reader.lanes()) == to_json(await engine.lanes())
        assert to_json(await reader.instances(limit=10)) == to_json(
            await engine.instances(limit=10)
        )
        assert to_json(await reader.next_fires("nightly", 4, start)) == to_json(
            await engine.next_fires("nightly", 4, start)
        )
    finally:
        await reader.close()
        await engine.close()


async def test_a_store_that_is_not_current_is_refused_as_before(store: Harness) -> None:
    await mine(store)
    async with store.engine.store.write() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    fast, _ = light(store.env, "lane", "list")
    slow, _ = light(store.env, "--as", ME, "lane", "list")
    assert fast.returncode == slow.returncode == 2
    assert fast.stderr == slow.stderr
    assert "9999_future" in fast.stderr and "newer Switchyard" in fast.stderr
