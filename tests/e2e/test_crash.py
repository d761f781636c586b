"""The crash test: `kill -9` a serve node mid-command, restart, and check the restore."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

pytestmark = pytest.mark.slow


async def test_kill_9_mid_command_is_restored_in_error_and_orphan_killed(sy) -> None:
    sy.cli("schedule", "add", "crashy", "--on-demand", "--", "sh", "-c", "echo started; sleep 60")
    first = await sy.serve()
    iid = int(sy.cli("start", "crashy").stdout)
    row = await sy.wait_running(iid)
    await sy.wait_log(iid, "started")
    pgid = row["pgid"]
    assert row["node_id"] == first.node_id
    leader = psutil.Process(pgid)
    assert leader.ppid() == first.pid  # the command really is serve's child ...
    assert os.getpgid(pgid) == pgid != os.getpgid(first.pid)  # ... in its own process group

    os.kill(first.pid, signal.SIGKILL)  # the real thing: no handler, no cleanup
    first.popen.wait(10)  # reap it, as its parent shell would

    # the command survives as an orphan; the store still says running
    assert sy.pid_alive(pgid) and sy.group_alive(pgid)
    assert psutil.Process(pgid).ppid() != first.pid
    assert (await sy.engine.instance(iid)).status == "running"
    assert await sy.engine.live_serve_node() is None  # a dead node is not live

    second = await sy.serve()
    view = await sy.wait_status(iid, "error", within=15)
    assert "restored in error" in (view.reason or ""), view.reason
    assert first.node_id in view.reason
    await sy.until(lambda: not sy.group_alive(pgid), within=10, what="orphan group killed")

    # not vanished, not re-run: one instance, started once
    listed = sy.json("instances", "--schedule", "crashy")
    assert [(i["id"], i["status"]) for i in listed] == [(iid, "error")]
    assert listed[0]["node_id"] == first.node_id
    assert sy.log_text(iid).count("started") == 1
    assert (await sy.engine.live_serve_node()).id == second.node_id

    # and a stop of the second node leaves it so
    second.send(signal.SIGTERM)
    assert await second.exited() == 0
    assert len(await sy.engine.instances(schedule="crashy")) == 1
    assert sy.log_text(iid).count("started") == 1
