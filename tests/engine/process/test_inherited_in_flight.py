"""A step a dead node left in flight (``kill -9`` during its command) stays in flight until
a run reaches it: a run that stops before (a sibling branch restored in error stops the
branch; a node stopping) does not take it for a step it killed itself. It used to mark
it ``cancelled`` (a step a join killed, run again as a matter of course), so the command,
which may have done its work before the crash, ran again unasked after a skip or a retry,
instead of being restored in error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from engine.conftest import BASE
from engine.helpers import instance_row, until, wait_status
from engine.process.helpers import journal, publish
from engine.process.tools import CrashableNode, age_node, group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

# both branches' commands in flight when the node dies; branch 1's under a work item's
# button (resuming it reads the item: the branch is still on its way when branch 0 fails)
TWO = """
process: twoflight
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - run: {command: [sh, -c, "[ -e {{ dir }}/go ] && exit 0; echo $$ > {{ dir }}/a.pid; exec sleep 30"]}
            - - send_work_item: {form: ok, to: {user: bob}}
forms:
  ok:
    fields: [{name: note, type: text}]
    buttons:
      Ok:
        - run: {command: [sh, -c, "echo x >> {{ dir }}/b.runs; [ -e {{ dir }}/go ] && exit 0; echo $$ > {{ dir }}/b.pid; exec sleep 30"]}
"""

A, B = "0:s/0/b0/0", "0:s/0/b1/0/button/0"


async def _items(engine: Engine) -> list[int]:
    return [row.id for row in (await engine.work_items("all")).rows]


async def test_a_dead_nodes_step_in_flight_is_restored_in_error_not_run_again(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await engine.add_user("bob", licence="direct")
    await publish(engine, tmp_path, TWO)
    iid = await engine.start_process("twoflight", {"dir": str(tmp_path)})
    groups: list[int] = []
    try:
        async with CrashableNode(db_url, data_dir, tmp_path) as node:
            groups.append(await read_pid(tmp_path / "a.pid", within=15))
            item_id = (await until(lambda: _items(engine), what="the item"))[0]
            await engine.complete_work_item(item_id, "Ok", {"note": "go"})
            groups.append(await read_pid(tmp_path / "b.pid", within=15))
            await node.crash()  # both commands in flight
        for g in groups:
            kill_group(g)
        await age_node(engine, node.node_id, BASE - timedelta(hours=1))
        (tmp_path / "go").touch()
        await runtime(engine)  # restores it: branch 0's command in error, branch 1 stopped
        row = await wait_status(engine, iid, "error", "completed", within=10)
        assert row["error_step"] == A, row["reason"]
        assert (await journal(engine, iid))[B]["status"] == "started"
        await engine.skip(iid)  # branch 1 goes on: its command too is restored in error
        row = await wait_status(engine, iid, "error", "completed", within=10)
        assert row["status"] == "error"
        assert row["error_step"] == B, row["reason"]
        assert "in flight" in row["reason"]
        assert (tmp_path / "b.runs").read_text().count("x") == 1
        assert (await instance_row(engine, iid))["status"] == "error"
    finally:
        for g in groups:
            kill_group(g)


# two commands in flight side by side when the node dies: the instance row records the
# process group of one of them only
PAIR = """
process: pairflight
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - [run: {command: [sh, -c, "echo $$ > {{ dir }}/a.pid; exec sleep 30"]}]
            - [run: {command: [sh, -c, "echo $$ > {{ dir }}/b.pid; exec sleep 30"]}]
"""


async def test_every_command_a_dead_node_left_running_is_killed_by_the_recovery(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await publish(engine, tmp_path, PAIR)
    iid = await engine.start_process("pairflight", {"dir": str(tmp_path)})
    groups: list[int] = []
    try:
        async with CrashableNode(db_url, data_dir, tmp_path) as node:
            groups += [await read_pid(tmp_path / f"{b}.pid", within=15) for b in "ab"]
            await until(lambda: _recorded(engine, iid), what="a group to be recorded")
            await node.crash()
        assert all(group_alive(g) for g in groups)
        await age_node(engine, node.node_id, BASE - timedelta(hours=1))
        await runtime(engine)  # restores it (both commands in error: they were in flight)
        row = await wait_status(engine, iid, "error", "completed", within=10)
        assert "in flight" in row["reason"]
        # neither runs on unsupervised (a retry would run it a second time beside it)
        await until(lambda: not any(group_alive(g) for g in groups), within=5, what="both dead")
    finally:
        for g in groups:
            kill_group(g)


async def _recorded(engine: Engine, iid: int) -> bool:
    return bool((await instance_row(engine, iid))["pgid"])


async def test_a_cancel_of_a_dead_nodes_instance_kills_every_command_it_left(
    engine: Engine, tmp_path: Path, db_url: str, data_dir: Path
) -> None:
    await publish(engine, tmp_path, PAIR)
    iid = await engine.start_process("pairflight", {"dir": str(tmp_path)})
    groups: list[int] = []
    try:
        async with CrashableNode(db_url, data_dir, tmp_path) as node:
            groups += [await read_pid(tmp_path / f"{b}.pid", within=15) for b in "ab"]
            await until(lambda: _recorded(engine, iid), what="a group to be recorded")
            await node.crash()
        await age_node(engine, node.node_id, BASE - timedelta(hours=1))
        await engine.cancel(iid)  # no node answers: the cancel ends it itself
        assert (await instance_row(engine, iid))["status"] == "cancelled"
        await until(lambda: not any(group_alive(g) for g in groups), within=5, what="both dead")
    finally:
        for g in groups:
            kill_group(g)
