"""A process instance that never stops stepping (a state that changes to itself) ends in
``error`` once its step budget (``max_steps_per_instance``) is spent; a retry raises it
once; and while it runs, other instances queued on its lane still get their turn."""

from __future__ import annotations

from pathlib import Path

import pytest
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.queries import steps as step_q

from ._bounds_helpers import cli, ended, node, publish, row, until

pytestmark = pytest.mark.timeout(120)

LOOP = """
process: spin
lane: one
start: a
states:
  a:
    actions:
      - change_state: a
"""


async def test_a_self_loop_ends_in_error_at_its_step_budget_and_retry_raises_it_once(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await engine.add_lane("one", 1)
        await engine.set_param("max_steps_per_instance", 150)
        (result,) = await publish(engine, tmp_path, LOOP)
        assert any("can only change to itself" in w for w in result.warnings)
        spin = await engine.start_process("spin")
        first = await ended(engine, spin)
        assert first["status"] == "error", first
        assert first["reason"].endswith("step budget of 150 exhausted; retry raises it once")
        async with engine.store.read() as conn:
            assert len(await step_q.list_steps(conn, spin, limit=10_000)) == 151  # + the failed

        assert (
            await engine.retry(spin)
        ).status == "queued"  # raises the budget once: 150 more steps
        second = await ended(engine, spin)
        assert second["status"] == "error", second
        assert "step budget of 300 exhausted (already raised once by a retry)" in second["reason"]
        async with engine.store.read() as conn:
            assert len(await step_q.list_steps(conn, spin, limit=10_000)) == 301

        assert (await engine.retry(spin)).status == "queued"  # no more: it fails again at once
        third = await ended(engine, spin)
        assert "step budget of 300 exhausted" in third["reason"]
        async with engine.store.read() as conn:
            assert len(await step_q.list_steps(conn, spin, limit=10_000)) == 301


async def test_a_busy_instance_lets_the_others_on_its_lane_run(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await engine.add_lane("one", 1)
        await engine.set_param("max_steps_per_instance", 100_000)
        await publish(engine, tmp_path, LOOP)
        await engine.add_schedule(
            ScheduleSpec(name="other", command=["true"], lane="one", on_demand=True)
        )
        spin = await engine.start_process("spin")
        await until(lambda: _running(engine, spin), what="the loop running")
        other = await engine.start("other")
        done = await ended(engine, other)  # before the loop's 100,000 steps
        assert done["status"] == "completed", done
        assert (await row(engine, spin))["status"] in ("running", "queued", "waiting")
        await engine.cancel(spin)
        assert (await ended(engine, spin))["status"] == "cancelled"


async def _running(engine: object, instance_id: int) -> bool:
    return (await row(engine, instance_id))["status"] == "running"  # type: ignore[arg-type]


async def test_the_parameters_are_declared_with_their_rules(db_url: str, data_dir: Path) -> None:
    async with node(db_url, data_dir) as (engine, _):
        shown = {p.name: p for p in await engine.params()}
        assert shown["max_steps_per_instance"].value == 100_000
        assert shown["max_variables_bytes"].value == 1024 * 1024
        with pytest.raises(SwitchyardError, match="below the minimum 100"):
            await engine.set_param("max_steps_per_instance", 99)
        with pytest.raises(SwitchyardError, match="above the maximum"):
            await engine.set_param("max_variables_bytes", 10**12)
    listed = cli(db_url, data_dir, "param", "list")
    assert listed.returncode == 0, listed.stderr
    assert "max_steps_per_instance" in listed.stdout and "100000" in listed.stdout
    assert "max_variables_bytes" in listed.stdout and "1048576" in listed.stdout
    refused = cli(db_url, data_dir, "param", "set", "max_steps_per_instance", "5")
    assert refused.returncode == 2 and "below the minimum 100" in refused.stderr
