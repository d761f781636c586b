"""Issue 16 defect 7: a wait's duration may be an expression, like every other field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from engine.helpers import wait_status
from engine.process.helpers import publish
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


PATIENT = """
process: patient
variables:
  patience: {type: string, default: 1h}
  after: {type: string}
start: s
states:
  s:
    actions:
      - wait: {for: "{{ patience }}"}
      - assign: {after: waited}
"""


async def test_a_wait_for_an_expression_waits_that_long(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, PATIENT)
    await runtime(engine)
    instance_id = await engine.start_process("patient", {"patience": "2h"})
    row = await wait_status(engine, instance_id, "waiting", "error")
    assert row["status"] == "waiting", row["reason"]
    assert _utc(row["wake_at"]) == clock.at + timedelta(hours=2)  # the variable's, not 1h
    clock.at += timedelta(hours=2, seconds=1)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]


async def test_a_number_of_seconds_from_an_expression_is_a_duration(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, clock: FixedClock
) -> None:
    await publish(engine, tmp_path, PATIENT.replace("{{ patience }}", "{{ 60 * 30 }}"))
    await runtime(engine)
    instance_id = await engine.start_process("patient")
    row = await wait_status(engine, instance_id, "waiting")
    assert _utc(row["wake_at"]) == clock.at + timedelta(minutes=30)
    clock.at += timedelta(minutes=31)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]


async def test_an_expression_that_is_not_a_duration_fails_the_step(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, PATIENT)
    await runtime(engine)
    instance_id = await engine.start_process("patient", {"patience": "soon"})
    row = await wait_status(engine, instance_id, "error", "waiting", "completed")
    assert row["status"] == "error"
    assert "for: bad duration" in row["reason"]


async def test_a_literal_bad_duration_is_still_refused_at_publish(
    engine: Engine, tmp_path: Path
) -> None:
    with pytest.raises(DefinitionError) as caught:
        await publish(engine, tmp_path, PATIENT.replace("{{ patience }}", "soon"))
    assert "bad duration" in str(caught.value)
    assert "p.yaml:9:" in str(caught.value)
