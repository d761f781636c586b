"""Schedules start processes too: `schedule add ... --process NAME --var K=V`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import wait_status
from engine.process.helpers import publish, variables
from switchyard.engine.api import Engine
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.spec import ScheduleSpec

StartRuntime = Callable[..., Awaitable[Runtime]]

HELLO = """
process: hello
variables:
  who: {type: string, required: true}
  n: {type: integer, default: 1}
  said: {type: string}
start: s
states:
  s:
    actions:
      - assign: {said: "hello {{ who }} {{ n + 1 }}"}
"""


async def test_a_process_schedule_starts_the_newest_version_with_typed_variables(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, HELLO)
    view = await engine.add_schedule(
        ScheduleSpec("greet", on_demand=True, process="hello", variables=["who=ann", "n=4"])
    )
    assert (view.process, view.variables, view.command) == ("hello", {"who": "ann", "n": "4"}, [])
    await publish(engine, tmp_path, HELLO.replace("hello {{", "hi {{"))  # version 2
    await runtime(engine)
    instance_id = await engine.start("greet")
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert (await variables(engine, instance_id))["said"] == "hi ann 5"
    detail = await engine.instance_detail(instance_id)
    assert detail.version == 2
    assert detail.instance.schedule == "greet" and detail.instance.process == "hello"


async def test_a_fire_whose_variables_no_longer_fit_ends_in_error_saying_why(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, HELLO)
    await engine.add_schedule(
        ScheduleSpec("bad", on_demand=True, process="hello", variables=["n=x"])
    )
    await runtime(engine)
    instance_id = await engine.start("bad")
    row = await wait_status(engine, instance_id, "error", "completed")
    assert row["status"] == "error"
    assert "var n: not a valid integer" in row["reason"]
    assert "var who: required" in row["reason"]


async def test_process_schedules_are_checked_when_added(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(SwitchyardError, match="unknown process 'nope'"):
        await engine.add_schedule(ScheduleSpec("x", on_demand=True, process="nope"))
    with pytest.raises(SwitchyardError, match="either --process or a command"):
        await engine.add_schedule(ScheduleSpec("x", ["true"], on_demand=True, process="hello"))
    with pytest.raises(SwitchyardError, match="needs --process"):
        await engine.add_schedule(ScheduleSpec("x", ["true"], on_demand=True, variables=["a=1"]))
    assert await engine.schedules() == []
