"""Each instance's variables document is capped (``max_variables_bytes``, default 1 MiB):
the step that would pass it ends the instance in ``error`` with a clear reason and is not
written; a start or retry with too much is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from switchyard.engine.errors import SwitchyardError
from switchyard.store.models import InstanceVar

from ._bounds_helpers import ended, node, publish

pytestmark = pytest.mark.timeout(120)

NAMES = [f"v{i:02d}" for i in range(12)]
GROW = (
    "process: grow\nstart: a\nvariables:\n"
    + "".join(f"  {n}: {{type: string, default: ''}}\n" for n in NAMES)
    + "states:\n  a:\n    actions:\n"
    + "".join(f"      - assign: {{{n}: \"{{{{ 'x' * 95000 }}}}\"}}\n" for n in NAMES)
)


async def test_the_write_that_passes_1_mib_does_not_land(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await publish(engine, tmp_path, GROW)
        instance_id = await engine.start_process("grow")
        row = await ended(engine, instance_id)
        async with engine.store.read() as conn:
            indexed = (
                await conn.execute(
                    select(InstanceVar.__table__.c.name).where(
                        InstanceVar.__table__.c.instance_id == instance_id
                    )
                )
            ).all()
    assert row["status"] == "error", row
    assert "\n" not in row["reason"]
    assert (
        "states.a.actions[11]: variables over the max_variables_bytes limit of 1,048,576"
        in (row["reason"])
    )
    stored = row["variables"]
    assert len(json.dumps(stored)) < 1024 * 1024
    assert all(len(stored[n]) == 95000 for n in NAMES[:11]) and stored["v11"] == ""
    assert {name for (name,) in indexed} <= set(NAMES)


async def test_a_lower_limit_applies_and_retry_after_fixing_works(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await engine.set_param("max_variables_bytes", 100_000)
        await publish(engine, tmp_path, GROW)
        instance_id = await engine.start_process("grow")
        row = await ended(engine, instance_id)
        assert row["status"] == "error", row
        assert "states.a.actions[1]: variables over the max_variables_bytes limit" in row["reason"]
        assert len(row["variables"]["v00"]) == 95000 and row["variables"]["v01"] == ""
        with pytest.raises(SwitchyardError, match="over the max_variables_bytes limit"):
            await engine.retry(instance_id, {"v01": "y" * 200_000})
        await engine.set_param("max_variables_bytes", 2 * 1024 * 1024)
        await engine.retry(instance_id)
        assert (await ended(engine, instance_id))["status"] == "completed"


async def test_a_start_with_too_much_is_refused(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await publish(engine, tmp_path, GROW)
        with pytest.raises(SwitchyardError) as info:
            await engine.start_process("grow", {"v00": "z" * (1024 * 1024 + 1)})
        assert info.value.field == "var"
        assert "max_variables_bytes limit of 1,048,576 bytes" in str(info.value)
