"""`switchyard log ID [--follow]` on another host: a CLI whose data dir is a different
directory (no log files, another secret key) prints the same masked lines as the node
that ran the command, and follows them live, because the node writes them to the store."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

VALUE = "e2e-s3cr3t-value"
SWITCHYARD = Path(sys.executable).parent / "switchyard"


def other_host(sy: Any) -> dict[str, str]:
    data = sy.tmp_path / "host-b"
    data.mkdir(mode=0o700)
    return {**sy.env, "SWITCHYARD_DATA": str(data)}


async def test_log_and_log_follow_from_another_data_dir(sy: Any) -> None:
    sy.cli("secret", "set", "TOKEN", input=VALUE + "\n")
    gate = sy.tmp_path / "gate"
    script = (
        'echo "token=$TOKEN"; echo first >&2; '
        f"while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.02; done; echo second"
    )
    sy.cli("schedule", "add", "talk", "--on-demand", "--env", "TOKEN=secret:TOKEN", "--", "sh", "-c", script)  # fmt: skip
    await sy.serve()
    instance_id = int(sy.cli("start", "talk").stdout)
    await sy.wait_log(instance_id, "first")

    env_b = other_host(sy)
    follow = subprocess.Popen(  # noqa: ASYNC220 - the real CLI, as a person runs it
        [str(SWITCHYARD), "log", str(instance_id), "--follow"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_b,
    )
    sy.popens.append(follow)
    assert follow.stdout is not None
    first = [
        await asyncio.wait_for(asyncio.to_thread(follow.stdout.readline), 30) for _ in range(2)
    ]
    assert first == ["token=****\n", "stderr: first\n"]  # while the command still runs
    assert await sy.status(instance_id) == "running"

    gate.touch()
    rest, err = await asyncio.to_thread(follow.communicate, timeout=30)
    assert follow.returncode == 0, err
    assert rest == "second\n"
    expected = "token=****\nstderr: first\nsecond\n"
    assert sy.log_text(instance_id) == expected  # the node's own file

    once = subprocess.run(  # noqa: ASYNC221
        [str(SWITCHYARD), "log", str(instance_id)],
        capture_output=True,
        text=True,
        env=env_b,
        timeout=60,
        check=False,
    )
    assert once.returncode == 0, once.stderr
    assert once.stdout == expected and VALUE not in once.stdout
    host_b_logs = Path(env_b["SWITCHYARD_DATA"]) / "logs"
    assert not host_b_logs.exists() or not any(host_b_logs.iterdir())  # no file on host B
