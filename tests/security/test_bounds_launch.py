"""Any failure while launching a run ends the instance in ``error`` with one line, and its
lane goes on: a NUL byte in a secret reaching the environment, a command that does not
exist, a working directory that cannot be entered. Real node, real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.queries import secrets as secret_q

from ._bounds_helpers import ended, node, publish

pytestmark = pytest.mark.timeout(60)


async def put_raw_secret(engine: Engine, key: str, value: str) -> None:
    """A secret row written straight into the store (the CLI refuses such values)."""
    async with engine.tx() as tx:
        await secret_q.put(tx.conn, key, engine.secret_box.encrypt(value), tx.now)
        tx.emit(ev.SECRET_CHANGED, key)  # nodes re-read their secrets


async def start_then_next(engine: Engine, bad: ScheduleSpec) -> tuple[dict, dict]:
    """Start ``bad`` and then a plain command on the same one-slot lane: both rows once
    ended (the second only runs when the first left the lane)."""
    await engine.add_schedule(bad)
    await engine.add_schedule(
        ScheduleSpec(name="next", command=["true"], lane="one", on_demand=True)
    )
    first = await engine.start(bad.name)
    second = await engine.start("next")
    return await ended(engine, first), await ended(engine, second)


def one_line_error(row: dict, *words: str) -> None:
    assert row["status"] == "error", row
    assert "\n" not in (row["reason"] or "")
    for word in words:
        assert word in row["reason"]


@pytest.mark.parametrize("how", ["secret", "secretfile"])
async def test_a_nul_byte_in_a_secret_ends_the_run_in_error(
    db_url: str, data_dir: Path, how: str
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await engine.add_lane("one", 1)
        await put_raw_secret(engine, "tok", "abc\x00defghijk")
        bad = ScheduleSpec(
            name="bad", command=["true"], lane="one", on_demand=True, env=[f"X={how}:tok"]
        )
        first, second = await start_then_next(engine, bad)
    if how == "secret":
        one_line_error(first, "cannot start", "null byte")
    else:  # a file holds any byte: the command runs
        assert first["status"] == "completed", first
    assert second["status"] == "completed", second


async def test_a_nul_byte_in_a_plain_env_value_ends_the_run_in_error(
    db_url: str, data_dir: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await engine.add_lane("one", 1)
        bad = ScheduleSpec(name="bad", command=["true"], lane="one", on_demand=True, env=["X=a"])
        await engine.add_schedule(bad)
        async with engine.tx() as tx:  # as if it got there some other way
            await tx.conn.exec_driver_sql(
                "UPDATE schedules SET env = '{\"X\": \"a\\u0000b\"}' WHERE name = 'bad'"
            )
        await engine.add_schedule(
            ScheduleSpec(name="next", command=["true"], lane="one", on_demand=True)
        )
        first = await ended(engine, await engine.start("bad"))
        second = await ended(engine, await engine.start("next"))
    one_line_error(first, "cannot start")
    assert second["status"] == "completed", second


@pytest.mark.parametrize(
    ("command", "cwd", "words"),
    [
        (["/nonexistent/switchyard-no-such-command"], None, ["cannot start", "No such file"]),
        (["true"], "/nonexistent/dir", ["cannot start", "bad working directory"]),
        (["true"], "/etc/passwd", ["cannot start", "bad working directory"]),  # not a dir
        (["/etc/passwd"], None, ["cannot start", "Permission denied"]),
    ],
)
async def test_a_command_that_cannot_start_ends_in_error(
    db_url: str, data_dir: Path, command: list[str], cwd: str | None, words: list[str]
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await engine.add_lane("one", 1)
        bad = ScheduleSpec(name="bad", command=command, cwd=cwd, lane="one", on_demand=True)
        first, second = await start_then_next(engine, bad)
    one_line_error(first, *words)
    assert second["status"] == "completed", second


NUL_PROCESS = """
process: nulenv
lane: one
start: s
states:
  s:
    actions:
      - run:
          command: [/bin/true]
          env: {X: "{{ secret.tok }}"}
"""


async def test_a_process_run_with_a_nul_secret_ends_in_error(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await engine.add_lane("one", 1)
        await put_raw_secret(engine, "tok", "abc\x00defghijk")
        await publish(engine, tmp_path, NUL_PROCESS)
        await engine.add_schedule(
            ScheduleSpec(name="next", command=["true"], lane="one", on_demand=True)
        )
        first = await ended(engine, await engine.start_process("nulenv"))
        second = await ended(engine, await engine.start("next"))
    one_line_error(first, "null byte")
    assert second["status"] == "completed", second


async def test_spawn_hands_a_task_failure_to_its_handler() -> None:
    import asyncio

    from switchyard.engine.kernel.tasks import spawn

    seen: list[str] = []
    handled = asyncio.Event()

    async def boom() -> None:
        raise ValueError("embedded null byte\nsecond line")

    async def on_error(exc: BaseException) -> None:
        seen.append(str(exc))
        handled.set()

    task = spawn(boom(), name="boom", on_error=on_error)
    await asyncio.wait_for(handled.wait(), 5)
    assert task.done() and seen == ["embedded null byte\nsecond line"]
