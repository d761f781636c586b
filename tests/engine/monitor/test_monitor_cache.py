"""The monitor's cache (identity, rights, specs, the cap, per engine) never shows what a
change has taken away: a change made by another engine, or by another process, applies
to the very next page (the change token read in the page's own statement). And keyset
paging: cursor pages are the offset pages, both ways. Both backends.

Each change test fails when the change token is not replaced (kernel/tx.py) or not
checked: the engine would serve the page from what it cached before the change."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import fields
from pathlib import Path

import pytest
from engine.helpers import wait_status
from switchyard.engine.api import Engine
from switchyard.engine.errors import Refused, SwitchyardError
from switchyard.engine.monitor.api import FilterTooBroad, MonitorRow
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.views import InstanceView

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

CLAIMS = """
process: claims
variables:
  employee: {type: string, required: true}
  iban: {type: string, security: finance}
start: check
states:
  check:
    actions:
      - end_process: done
"""
CLAIMS_FILTER = MonitorFilter(processes=["claims"])


async def setup(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path, instances: int = 1
) -> tuple[Engine, Engine, list[int]]:
    """root (admin) and mona (monitor licence, view right on claims), ``instances``
    completed claims; mona's cache warm (two pages read)."""
    root = await open_engine()
    path = tmp_path / "claims.yaml"
    path.write_text(textwrap.dedent(CLAIMS).lstrip(), encoding="utf-8")
    await root.add_secspec("finance", users=[root.login])
    await root.publish([path])
    await runtime(root)
    ids = [
        await root.start_process("claims", {"employee": f"e{n}", "iban": f"DE00SECRET{n:03d}"})
        for n in range(instances)
    ]
    for instance_id in ids:
        await wait_status(root, instance_id, "completed")
    await root.add_user("mona", licence="monitor")
    await root.grant("claims", "mona", view=True)
    mona = await open_engine(user="mona")
    for _ in range(2):
        assert len((await mona.monitor(CLAIMS_FILTER)).rows) == min(instances, 100)
    return root, mona, ids


async def test_a_rights_change_by_another_engine_applies_to_the_next_page(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root, mona, _ = await setup(open_engine, runtime, tmp_path)
    await root.revoke("claims", "mona", view=True)
    assert (await mona.monitor(CLAIMS_FILTER)).rows == []
    await root.grant("claims", "mona", view=True)
    assert len((await mona.monitor(CLAIMS_FILTER)).rows) == 1
    # the licence: the rule is checked again on the identity read afresh (and audited)
    await root.set_user("mona", licence="direct")
    with pytest.raises(Refused, match="mona needs the monitor licence"):
        await mona.monitor(CLAIMS_FILTER)
    await root.set_user("mona", licence="monitor")
    assert len((await mona.monitor(CLAIMS_FILTER)).rows) == 1


async def test_a_spec_or_parameter_change_applies_to_the_next_page(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root, mona, _ = await setup(open_engine, runtime, tmp_path, instances=2)
    (row, _) = (await mona.monitor(CLAIMS_FILTER)).rows
    assert row.variables["iban"] == "****"
    await root.set_secspec("finance", users=[root.login, "mona"])
    # the cached specs would refuse this: checked against the token before refusing
    assert len((await mona.monitor(MonitorFilter(variables=["iban exists"]))).rows) == 2
    (row, _) = (await mona.monitor(CLAIMS_FILTER)).rows
    assert row.variables["iban"].startswith("DE00SECRET")
    assert not [e for e in await root.audit() if e.action == "refused"]
    await root.set_secspec("finance", users=[root.login])
    (row, _) = (await mona.monitor(CLAIMS_FILTER)).rows
    assert row.variables["iban"] == "****"
    with pytest.raises(Refused, match="mona may not filter on iban"):
        await mona.monitor(MonitorFilter(variables=["iban exists"]))
    await root.set_param("max_monitored_flows", 100)
    assert (await mona.monitor(CLAIMS_FILTER)).limit == 100


CHANGE = """
import asyncio, sys
from pathlib import Path
from switchyard.engine.api import Engine

async def main() -> None:
    engine = await Engine.open(sys.argv[1], data_dir=Path(sys.argv[2]))
    try:
        if sys.argv[3] == "revoke":
            await engine.revoke("claims", "mona", view=True)
        else:
            await engine.grant("claims", "mona", view=True)
    finally:
        await engine.close()

asyncio.run(main())
"""


async def change_in_another_process(db_url: str, data_dir: Path, what: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHANGE,
        db_url,
        str(data_dir),
        what,
        env={**os.environ},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def test_a_rights_change_by_another_process_applies_before_its_event_arrives(
    open_engine: OpenEngine,
    runtime: StartRuntime,
    tmp_path: Path,
    db_url: str,
    data_dir: Path,
) -> None:
    """mona's engine has no events feed running here: only the token can tell it."""
    _, mona, _ = await setup(open_engine, runtime, tmp_path)
    await change_in_another_process(db_url, data_dir, "revoke")
    assert (await mona.monitor(CLAIMS_FILTER)).rows == []
    await change_in_another_process(db_url, data_dir, "grant")
    assert len((await mona.monitor(CLAIMS_FILTER)).rows) == 1


async def test_cursor_pages_are_the_offset_pages_both_ways(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    """7 instances, pages of 3; the test clock is fixed, so they share one updated_at and
    the id orders them (the cursor's tie-break)."""
    root, mona, ids = await setup(open_engine, runtime, tmp_path, instances=7)
    for engine in (root, mona):
        by_offset = [
            [r.instance.id for r in (await engine.monitor(CLAIMS_FILTER, limit=3, offset=o)).rows]
            for o in (0, 3, 6)
        ]
        assert [i for page in by_offset for i in page] == sorted(ids, reverse=True)
        first = await engine.monitor(CLAIMS_FILTER, limit=3)
        second = await engine.monitor(CLAIMS_FILTER, limit=3, after=first.rows[-1].cursor)
        third = await engine.monitor(CLAIMS_FILTER, limit=3, after=second.rows[-1].cursor)
        pages = [[r.instance.id for r in p.rows] for p in (first, second, third)]
        assert pages == by_offset
        assert third.total == second.total == 7
        back = await engine.monitor(CLAIMS_FILTER, limit=3, before=third.rows[0].cursor)
        assert [r.instance.id for r in back.rows] == by_offset[1]
        top = await engine.monitor(CLAIMS_FILTER, limit=3, before=second.rows[0].cursor)
        assert [r.instance.id for r in top.rows] == by_offset[0]
        above = await engine.monitor(CLAIMS_FILTER, limit=3, before=first.rows[0].cursor)
        assert above.rows == [] and above.total == 7
        past = await engine.monitor(CLAIMS_FILTER, limit=3, after=third.rows[-1].cursor)
        assert past.rows == [] and past.total == 7
    with pytest.raises(SwitchyardError, match="give one of offset, after and before"):
        await root.monitor(CLAIMS_FILTER, offset=3, after=first.rows[-1].cursor)


async def test_a_cursor_page_checks_the_cap_too(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root, _, _ = await setup(open_engine, runtime, tmp_path, instances=3)
    first = await root.monitor(CLAIMS_FILTER, limit=1)
    await root.set_param("max_monitored_flows", 100)
    for n in range(98):
        await root.start_process("claims", {"employee": f"x{n}"})
    with pytest.raises(FilterTooBroad, match="filter matches 101 instances; the limit is 100"):
        await root.monitor(CLAIMS_FILTER, limit=1, after=first.rows[-1].cursor)


async def test_rows_built_without_init_set_every_field(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    """The monitor builds its rows without the dataclasses' ``__init__`` (rows.py
    ``_made``): every field of InstanceView and MonitorRow must be set, and equal to what the
    ordinary views give."""
    root, _, (instance_id,) = await setup(open_engine, runtime, tmp_path)
    (row,) = (await root.monitor(CLAIMS_FILTER)).rows
    # the variables are decoded when first read (rows.py ``_Variables``), then a field
    assert set(vars(row)) == {f.name for f in fields(MonitorRow)} - {"variables"} | {"_stored"}
    assert row.variables == {"employee": "e0", "iban": "DE00SECRET000"}
    assert set(vars(row)) == {f.name for f in fields(MonitorRow)}
    assert set(vars(row.instance)) == {f.name for f in fields(InstanceView)}
    assert row.instance == await root.instance(instance_id)
    assert row.updated_at is not None and row.updated_at.tzinfo is not None
    assert row.variables == {"employee": "e0", "iban": "DE00SECRET000"}
