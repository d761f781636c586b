"""The marks a recovery finds commands by.

The mark a recovery finds a command by (``SWITCHYARD_GROUP_OF``, runs/leftovers.py) is
the engine's, never the definition's: a command run's env may not set it, neither as a
plain value nor through a secret (``secret:`` / ``secretfile:``), which the runner puts
on top of the plain environment. Otherwise a schedule could give its command another
instance's mark (its command then killed by that instance's recovery or cancel) or none
(its leftovers then run on beside the retry after its node died)."""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from switchyard.engine.runs.execution import build_spec
from switchyard.engine.runs.leftovers import GROUP_MARK, group_mark, kill_marked_groups
from switchyard.engine.runs.runner import CommandRun, Masker

from engine.process.tools import environ_readable

HANG = 30.0


@pytest.mark.parametrize("given", ["plain", "secret:mark", "secretfile:mark"])
async def test_a_command_runs_with_the_engines_mark_whatever_its_env_says(
    tmp_path: Path, given: str
) -> None:
    forged = group_mark(7, "another-node")
    value = forged if given == "plain" else given
    row = {
        "id": 5,
        "node_id": "this-node",
        "command": ["sh", "-c", f'echo "${GROUP_MARK}"'],
        "env": {GROUP_MARK: value},
    }
    spec = build_spec(row, {"mark": forged}, 1.0)
    run = CommandRun(spec, tmp_path / "run.log", Masker([]))
    await run.start()
    result = await asyncio.wait_for(run.wait(), HANG)
    assert result.status == "completed"
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert lines == [group_mark(5, "this-node")], lines


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a process of another user")
def test_a_marked_process_of_another_user_is_not_killed() -> None:
    """The scan reads every process's environment when the engine runs as root: a process
    of another user carrying a mark (set by that user, not by the engine, whose commands
    run as its own user) is not the engine's to kill, nor is the group it sits in (which
    that user may have joined: a group of root's in its session)."""
    mark = group_mark(9, "dead-node-1-abcdef")
    env = {"PATH": "/usr/bin:/bin", GROUP_MARK: mark}
    other = pwd.getpwnam("nobody").pw_uid
    proc = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True, user=other)
    try:
        environ_readable(proc.pid)
        assert kill_marked_groups({mark}) == set()
        assert proc.poll() is None  # left alone
    finally:
        proc.kill()
        proc.wait()


def test_a_marked_process_of_this_user_is_killed() -> None:
    mark = group_mark(9, "dead-node-2-abcdef")
    env = {"PATH": "/usr/bin:/bin", GROUP_MARK: mark}
    proc = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    try:
        environ_readable(proc.pid)
        assert kill_marked_groups({mark}) == {mark}
        assert proc.wait(10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
