"""A node in a pid namespace of its own on this host (a container on the host's network:
same host name, its own pids) is judged by its heartbeat, not by a pid that names another
process here. Before, its pid (1 inside its namespace) was looked up in ours, the node
looked dead at once, and a restore took its running work over while it still ran it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from switchyard.engine.kernel.nodes import HOST, PID_NS
from switchyard.engine.node import recovery
from switchyard.engine.schedules.spec import ScheduleSpec

from .conftest import SWITCHYARD, Harness, ServeProc

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("unshare"),
    reason="root and unshare: a pid namespace of its own",
)


async def test_a_node_in_another_pid_namespace_is_not_taken_for_dead(sy: Harness) -> None:
    log = sy.tmp_path / "serve-ns.log"
    with log.open("wb") as fh:
        popen = subprocess.Popen(  # noqa: ASYNC220 - the real process
            ["unshare", "--pid", "--fork", "--mount-proc", str(SWITCHYARD), "serve"],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=sy.env,
            start_new_session=True,
        )
    serve = ServeProc(popen, log)
    sy.serves.append(serve)  # killed at teardown
    await serve.ready()
    await sy.engine.add_schedule(ScheduleSpec("long", ["sleep", "60"], on_demand=True))
    instance_id = await sy.engine.start("long")
    row = await sy.wait_running(instance_id)

    (node,) = [n for n in await sy.engine.nodes() if n.id == serve.node_id]
    assert node.host == HOST and node.pid == 1  # pid 1 here is another process
    assert node.state == "live"
    assert await recovery.restore(sy.engine) == 0
    after = await sy.row(instance_id)
    assert after["status"] == "running" and after["node_id"] == row["node_id"]
    assert PID_NS is not None
