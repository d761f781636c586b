"""`switchyard serve` as a real process, driven by real CLI processes."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

INSTANCE_FIELDS = {
    "id",
    "schedule",
    "lane",
    "status",
    "queued_at",
    "started_at",
    "ended_at",
    "exit_code",
}


def by_name(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


def proc_cmdlines() -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out[int(path.parent.name)] = path.read_bytes()
        except OSError:
            continue
    return out


async def test_start_instances_log_follow_and_cancel(sy) -> None:
    serve = await sy.serve()
    go = sy.tmp_path / "go"
    sy.cli_many(
        ["schedule", "add", "steps", "--on-demand", "--env", f"GO={go}", "--", "sh", "-c",
         'echo step 1; while [ ! -e "$GO" ]; do sleep 0.05; done; echo step 2; sleep 0.3; '
         "echo step 3"],
        ["schedule", "add", "sleeper", "--on-demand", "--", "sleep", "60"],
    )  # fmt: skip

    out = sy.cli("start", "steps").stdout.strip()
    assert out.isdigit(), out
    iid = int(out)

    # `log --follow` prints lines while the command runs and returns when it ends
    follow = sy.popen("log", str(iid), "--follow")
    first = await asyncio.wait_for(asyncio.to_thread(follow.stdout.readline), 20)
    assert first == "step 1\n"
    assert await sy.status(iid) == "running"  # the command waits for $GO: this was live
    go.touch()
    # (not communicate(): it would skip what readline() already buffered)
    rest = await asyncio.wait_for(asyncio.to_thread(follow.stdout.read), 20)
    assert await asyncio.to_thread(follow.wait, 5) == 0, follow.stderr.read()
    assert (first + rest).splitlines() == ["step 1", "step 2", "step 3"]

    listed = sy.json("instances")
    assert len(listed) == 1
    item = listed[0]
    assert item.keys() >= INSTANCE_FIELDS, item
    assert item["id"] == iid and item["schedule"] == "steps" and item["lane"] == "default"
    assert item["status"] == "completed" and item["exit_code"] == 0
    queued, started, ended = (
        datetime.fromisoformat(item[k]) for k in ("queued_at", "started_at", "ended_at")
    )
    assert queued <= started < ended
    assert ended - started >= timedelta(seconds=0.3)
    assert item["node_id"] == serve.node_id
    assert sy.cli("log", str(iid)).stdout.splitlines() == ["step 1", "step 2", "step 3"]
    assert str(iid) in sy.cli("instances").stdout

    # cancel: a queued instance at once, a running one by killing its process group
    running_id = int(sy.cli("start", "sleeper").stdout)
    row = await sy.wait_running(running_id)
    queued_id = int(sy.cli("start", "steps").stdout)  # waits behind it (concurrency 1)
    assert await sy.status(queued_id) == "queued"
    out = sy.cli("cancel", str(queued_id)).stdout
    assert out.strip() == f"instance {queued_id}: cancelled"
    out = sy.cli("cancel", str(running_id)).stdout
    assert f"instance {running_id}:" in out
    view = await sy.wait_status(running_id, "cancelled", within=15)
    assert "cancel" in (view.reason or "")
    await sy.until(lambda: not sy.group_alive(row["pgid"]), within=10, what="group gone")
    again = sy.cli("cancel", str(running_id), expect=2)
    assert again.stderr.startswith("error: id")
    assert (await sy.engine.instance(queued_id)).started_at is None  # never ran


async def test_secret_reaches_command_env_but_no_log_or_argv(sy) -> None:
    value = "tok-" + "9c1e5b77d0aa4f6e"
    sy.cli("secret", "set", "API_KEY", input=value)
    sy.cli(
        "schedule", "add", "leaky", "--on-demand",
        "--env", "TOKEN=secret:API_KEY", "--env", "TOKFILE=secretfile:API_KEY",
        "--", "sh", "-c",
        'echo "token=$TOKEN"; echo "file=$(cat "$TOKFILE")"; echo "err=$TOKEN" >&2; '
        "echo ready; sleep 2.5",
    )  # fmt: skip
    assert by_name(sy.json("schedule", "list"))["leaky"]["env"] == {
        "TOKEN": "secret:API_KEY",
        "TOKFILE": "secretfile:API_KEY",
    }
    await sy.serve()
    iid = int(sy.cli("start", "leaky").stdout)
    row = await sy.wait_running(iid)
    await sy.wait_log(iid, "ready")

    # the value is in the command's environment (so the test means something) ...
    environ = Path(f"/proc/{row['pgid']}/environ").read_bytes()
    assert f"TOKEN={value}".encode() in environ.split(b"\0")
    # ... and on no process's command line while it runs
    leaking = {pid: c for pid, c in proc_cmdlines().items() if value.encode() in c}
    assert not leaking, leaking

    await sy.wait_status(iid, "completed", within=15)
    lines = sy.cli("log", str(iid)).stdout.splitlines()
    assert "token=****" in lines and "file=****" in lines and "stderr: err=****" in lines
    assert value not in "\n".join(lines) and value not in sy.log_text(iid)
    assert all(value not in s.output() for s in sy.serves)
    if sy.backend == "sqlite":  # encrypted at rest
        for path in Path(sy.db_url.split("///", 1)[1]).parent.glob("switchyard.db*"):
            assert value.encode() not in path.read_bytes()


async def test_serve_picks_up_work_from_other_processes(sy) -> None:
    await sy.serve()
    sy.cli("schedule", "add", "ping", "--on-demand", "--", "echo", "pong")
    iid = int(sy.cli("start", "ping").stdout)
    view = await sy.wait_status(iid, "completed", within=10)
    assert view.started_at - view.queued_at < timedelta(seconds=2.5)  # picked up promptly
    assert sy.log_text(iid) == "pong\n"

    # a schedule added while serve runs fires without a restart
    sy.cli("schedule", "add", "tick", "--every", "2s", "--", "echo", "tick")

    async def two_ticks():
        done = [v for v in await sy.engine.instances(schedule="tick") if v.status == "completed"]
        return done if len(done) >= 2 else None

    done = await sy.until(two_ticks, within=10, what="two fires of 'tick'")
    fires = sorted(v.fire_at for v in done)
    assert fires[1] - fires[0] == timedelta(seconds=2)
    assert all(v.origin == "schedule" for v in done)
    sy.cli("schedule", "pause", "tick")


async def test_sigterm_waits_for_running_command(sy) -> None:
    serve = await sy.serve()
    sy.cli(
        "schedule", "add", "brief", "--on-demand", "--", "sh", "-c", "echo begin; sleep 2; echo end"
    )
    iid = int(sy.cli("start", "brief").stdout)
    await sy.wait_log(iid, "begin")
    asked = datetime.now(UTC)
    serve.send(signal.SIGTERM)
    assert await serve.exited(within=30) == 0
    view = await sy.engine.instance(iid)
    assert (view.status, view.exit_code) == ("completed", 0)
    assert view.ended_at > asked  # serve waited for the command to end
    assert sy.log_text(iid) == "begin\nend\n"
    assert "stopped" in serve.output()
    assert await sy.engine.live_serve_node() is None


async def test_sigterm_after_grace_interrupts_and_kills_the_group(sy) -> None:
    serve = await sy.serve("--grace", "1")
    sy.cli("schedule", "add", "long", "--on-demand", "--", "sh", "-c", "echo begin; sleep 60")
    iid = int(sy.cli("start", "long").stdout)
    row = await sy.wait_running(iid)
    await sy.wait_log(iid, "begin")
    t0 = time.monotonic()
    serve.send(signal.SIGTERM)
    assert await serve.exited(within=30) == 0
    assert time.monotonic() - t0 < 15
    view = await sy.engine.instance(iid)
    assert view.status == "error", view
    assert "interrupted" in (view.reason or "")
    assert not sy.group_alive(row["pgid"])
    assert not sy.pid_alive(row["pgid"])


async def test_live_serve_node_follows_serve(sy) -> None:
    assert await sy.engine.live_serve_node() is None
    serve = await sy.serve()
    node = await sy.until(sy.engine.live_serve_node, within=5, what="a live serve node")
    assert node.id == serve.node_id and node.mode == "serve" and node.pid == serve.pid
    serve.send(signal.SIGTERM)
    assert await serve.exited() == 0
    assert await sy.engine.live_serve_node() is None
