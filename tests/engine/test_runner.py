"""Tests for switchyard.engine.runs.runner with real subprocesses (sh, python, sleep)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from switchyard.engine.kernel.nodes import process_start_time
from switchyard.engine.runs.leftovers import (
    GROUP_MARK,
    group_mark,
    kill_marked_groups,
    kill_stale_group,
)
from switchyard.engine.runs.runner import (
    BATCH_LINES,
    MAX_LINE,
    STDERR_PREFIX,
    CommandRun,
    CommandSpec,
    Masker,
    ProcessHandle,
    RunnerStartError,
    follow_log,
    read_log,
)

from engine.process.tools import environ_readable

HANG = 60.0  # generous: only there so a broken runner fails instead of hanging
PY = sys.executable


def gone(pid: int) -> bool:
    """Dead, or a zombie (this container's init does not reap orphans)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + HANG
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return gone(pid)


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.seen = asyncio.Event()

    async def __call__(self, lines: list[str]) -> None:
        self.batches.append(list(lines))
        self.seen.set()

    @property
    def lines(self) -> list[str]:
        return [line for batch in self.batches for line in batch]

    async def first_line(self) -> str:
        await asyncio.wait_for(self.seen.wait(), HANG)
        return self.batches[0][0]


async def run(
    spec: CommandSpec, tmp_path: Path, masker: Masker | None = None
) -> tuple[CommandRun, Sink, Path]:
    sink = Sink()
    log_path = tmp_path / "logs" / "run.log"
    cmd = CommandRun(spec, log_path, masker or Masker([]), sink)
    await cmd.start()
    return cmd, sink, log_path


async def finish(cmd: CommandRun):
    return await asyncio.wait_for(cmd.wait(), HANG)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# -- Masker -----------------------------------------------------------------------------------


def test_masker_masks_every_occurrence_and_ignores_empty() -> None:
    m = Masker(["", "hunter2"])
    assert m.mask("a hunter2 b hunter2") == "a **** b ****"
    assert m.mask("nothing here") == "nothing here"
    assert Masker([""]).mask("abc") == "abc"


def test_masker_overlapping_secrets_mask_fully() -> None:
    m = Masker(["abcd", "cdef", "abc"])
    assert m.mask("xabcdefx") == "x****x"
    assert m.mask("abcabc") == "****"


def test_masker_multiline_secret_masks_each_line() -> None:
    m = Masker(["-----BEGIN KEY-----\nMIIEsecretbody\n-----END KEY-----"])
    assert m.mask("leaked MIIEsecretbody here") == "leaked **** here"


# -- status and output ------------------------------------------------------------------------


async def test_exit_zero_is_completed(tmp_path: Path) -> None:
    cmd, _, _ = await run(CommandSpec([PY, "-c", "print('hi')"]), tmp_path)
    result = await finish(cmd)
    assert (result.status, result.exit_code, result.reason) == ("completed", 0, "exit code 0")
    assert await cmd.wait() == result  # wait() can be called again


async def test_nonzero_exit_is_failed(tmp_path: Path) -> None:
    cmd, _, _ = await run(CommandSpec(["sh", "-c", "exit 3"]), tmp_path)
    result = await finish(cmd)
    assert (result.status, result.exit_code, result.reason) == ("failed", 3, "exit code 3")


async def test_handle_describes_the_child(tmp_path: Path) -> None:
    cmd, _, _ = await run(CommandSpec(["sleep", "30"]), tmp_path)
    handle = cmd.handle
    assert isinstance(handle, ProcessHandle)
    assert handle.pgid == handle.pid == os.getpgid(handle.pid)
    assert handle.host == socket.gethostname()
    assert handle.start_time == process_start_time(handle.pid)
    await cmd.cancel()
    assert (await finish(cmd)).status == "cancelled"


async def test_stdout_and_stderr_reach_log_and_sink(tmp_path: Path) -> None:
    script = "echo out1; echo err1 >&2; echo out2; printf 'no newline'"
    cmd, sink, log_path = await run(CommandSpec(["sh", "-c", script]), tmp_path)
    assert (await finish(cmd)).status == "completed"
    expected = {"out1", "out2", "no newline", STDERR_PREFIX + "err1"}
    assert set(log_lines(log_path)) == expected
    assert set(sink.lines) == expected
    assert [x for x in sink.lines if not x.startswith(STDERR_PREFIX)] == [
        "out1",
        "out2",
        "no newline",
    ]


async def test_shell_env_and_cwd(tmp_path: Path) -> None:
    spec = CommandSpec(['echo "$GREETING from $(pwd)"'], shell=True, cwd=str(tmp_path))
    spec.env["GREETING"] = "hello"
    cmd, sink, _ = await run(spec, tmp_path)
    assert (await finish(cmd)).status == "completed"
    assert sink.lines == [f"hello from {tmp_path}"]


async def test_log_is_appended_across_runs(tmp_path: Path) -> None:
    for word in ("first", "second"):
        cmd, _, log_path = await run(CommandSpec(["echo", word]), tmp_path)
        await finish(cmd)
    assert log_lines(log_path) == ["first", "second"]


async def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    cmd, sink, _ = await run(CommandSpec(["printf", "a\\377b\\n"]), tmp_path)
    await finish(cmd)
    assert sink.lines == ["a\ufffdb"]


async def test_ten_thousand_lines_in_order_and_batched(tmp_path: Path) -> None:
    cmd, sink, log_path = await run(
        CommandSpec([PY, "-u", "-c", "for i in range(10000): print(i)"]), tmp_path
    )
    assert (await finish(cmd)).status == "completed"
    expected = [str(i) for i in range(10000)]
    assert sink.lines == expected
    assert log_lines(log_path) == expected
    assert len(sink.batches) < 10000
    assert max(len(b) for b in sink.batches) <= BATCH_LINES


async def test_very_long_line_is_split_and_secret_not_cut(tmp_path: Path) -> None:
    code = "print('x' * 65530 + 'TOPSECRET' + 'y' * 100000); print('after')"
    cmd, sink, log_path = await run(CommandSpec([PY, "-c", code]), tmp_path, Masker(["TOPSECRET"]))
    assert (await finish(cmd)).status == "completed"
    lines = log_lines(log_path)
    assert lines[-1] == "after"
    assert all(len(line) <= MAX_LINE for line in lines)
    assert len(lines) > 2
    assert "".join(lines[:-1]) == "x" * 65530 + "****" + "y" * 100000
    assert sink.lines == lines


async def test_broken_sink_does_not_break_the_run(tmp_path: Path) -> None:
    async def bad_sink(lines: list[str]) -> None:
        raise ValueError("boom")

    log_path = tmp_path / "run.log"
    cmd = CommandRun(CommandSpec(["sh", "-c", "echo a; echo b"]), log_path, Masker([]), bad_sink)
    await cmd.start()
    assert (await finish(cmd)).status == "completed"
    assert log_lines(log_path) == ["a", "b"]


# -- secrets ----------------------------------------------------------------------------------


async def test_secret_printed_by_child_is_masked_everywhere(tmp_path: Path) -> None:
    secret = "s3cr3t-Value-42"
    spec = CommandSpec(["sh", "-c", 'echo "token=$TOKEN"; echo "$TOKEN$TOKEN" >&2'])
    spec.secret_env["TOKEN"] = secret
    cmd, sink, log_path = await run(spec, tmp_path, Masker([secret]))
    assert (await finish(cmd)).status == "completed"
    text = log_path.read_text()
    assert secret not in text
    assert all(secret not in line for line in sink.lines)
    assert sorted(sink.lines) == sorted(["token=****", STDERR_PREFIX + "****"])


async def test_secret_env_values_are_masked_even_if_caller_forgot(tmp_path: Path) -> None:
    spec = CommandSpec(["sh", "-c", 'echo "pw=$PW"'], secret_env={"PW": "forgotten-secret"})
    cmd, sink, log_path = await run(spec, tmp_path, Masker([]))
    await finish(cmd)
    assert sink.lines == ["pw=****"]
    assert "forgotten-secret" not in log_path.read_text()


async def test_secret_env_in_environ_but_not_cmdline(tmp_path: Path) -> None:
    secret = "env-only-secret-9f8e"
    spec = CommandSpec(["sleep", "30"], secret_env={"API_KEY": secret})
    cmd, _, _ = await run(spec, tmp_path)
    assert cmd.handle is not None
    pid = cmd.handle.pid
    # read once the child has exec'd: in the middle of the exec (a loaded machine) the
    # kernel shows an empty cmdline for a moment
    for _ in range(250):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if cmdline.split(b"\0")[0] == b"sleep":
            break
        await asyncio.sleep(0.02)
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert cmdline.split(b"\0")[0] == b"sleep"
    assert secret.encode() not in cmdline
    assert f"API_KEY={secret}".encode() in environ
    await cmd.cancel()
    assert (await finish(cmd)).status == "cancelled"


async def test_secret_file_is_private_readable_and_removed(tmp_path: Path) -> None:
    secret = "file-secret-\u00e9-123"
    code = (
        "import hashlib, os\n"
        "p = os.environ['KEYFILE']\n"
        "print('sha', hashlib.sha256(open(p, 'rb').read()).hexdigest())\n"
        "print('mode', oct(os.stat(p).st_mode & 0o777))\n"
        "print('path', p)\n"
        "print('raw', open(p).read())\n"
    )
    spec = CommandSpec([PY, "-c", code], secret_files={"KEYFILE": secret})
    cmd, sink, log_path = await run(spec, tmp_path)
    assert (await finish(cmd)).status == "completed"
    out = dict(line.split(" ", 1) for line in sink.lines)
    assert out["sha"] == hashlib.sha256(secret.encode()).hexdigest()
    assert out["mode"] == "0o600"
    assert out["raw"] == "****"
    assert out["path"] != secret
    assert not Path(out["path"]).exists()
    assert secret not in log_path.read_text()


# -- timeout, cancel, kill --------------------------------------------------------------------

GROUP_SCRIPT = "sleep 100 & echo $!; sleep 100"


async def test_timeout_kills_child_and_grandchild(tmp_path: Path) -> None:
    cmd, sink, _ = await run(CommandSpec(["sh", "-c", GROUP_SCRIPT], timeout=0.5), tmp_path)
    result = await finish(cmd)
    assert (result.status, result.reason) == ("timeout", "timed out after 0.5s")
    assert result.exit_code == -signal.SIGTERM
    grandchild = int(sink.lines[0])
    assert cmd.handle is not None
    assert gone(cmd.handle.pid)
    assert gone(grandchild)


async def test_cancel_kills_child_and_grandchild(tmp_path: Path) -> None:
    cmd, sink, _ = await run(CommandSpec(["sh", "-c", GROUP_SCRIPT]), tmp_path)
    grandchild = int(await sink.first_line())
    assert not gone(grandchild)
    await asyncio.wait_for(cmd.cancel(), HANG)
    result = await finish(cmd)
    assert (result.status, result.exit_code) == ("cancelled", -signal.SIGTERM)
    assert result.reason == "killed by signal 15 after cancel"
    assert gone(grandchild)


async def test_sigterm_trapping_child_is_sigkilled_after_grace(tmp_path: Path) -> None:
    script = "trap '' TERM; sleep 100 & echo $!; sleep 100"
    cmd, sink, _ = await run(CommandSpec(["sh", "-c", script], kill_grace=0.5), tmp_path)
    grandchild = int(await sink.first_line())
    await asyncio.wait_for(cmd.cancel(), HANG)
    result = await finish(cmd)
    assert (result.status, result.exit_code) == ("cancelled", -signal.SIGKILL)
    assert result.reason == "killed by signal 9 after cancel"
    assert gone(grandchild)


async def test_leftover_background_process_is_reaped_when_leader_exits(tmp_path: Path) -> None:
    cmd, sink, _ = await run(CommandSpec(["sh", "-c", "sleep 100 & echo $!"]), tmp_path)
    result = await finish(cmd)
    assert (result.status, result.reason) == ("completed", "exit code 0")
    assert gone(int(sink.lines[0]))


async def test_cancel_after_exit_keeps_real_status(tmp_path: Path) -> None:
    cmd, _, _ = await run(CommandSpec(["true"]), tmp_path)
    result = await finish(cmd)
    await cmd.cancel()
    assert result.status == "completed"
    assert (await cmd.wait()).status == "completed"


# -- start errors -----------------------------------------------------------------------------


async def test_missing_program_raises_start_error(tmp_path: Path) -> None:
    cmd = CommandRun(CommandSpec(["no-such-prog-xyz"]), tmp_path / "r.log", Masker([]))
    with pytest.raises(RunnerStartError, match="no-such-prog-xyz") as info:
        await cmd.start()
    assert str(info.value).startswith("cannot start: ")
    assert cmd.handle is None


async def test_start_error_says_cannot_start_once_with_the_path(tmp_path: Path) -> None:
    """One "cannot start", the path, the system's words; no "[Errno 2]" noise."""
    program = str(tmp_path / "opt" / "pay")
    cmd = CommandRun(CommandSpec([program]), tmp_path / "r.log", Masker([]))
    with pytest.raises(RunnerStartError) as info:
        await cmd.start()
    assert str(info.value) == f"cannot start: {program}: No such file or directory"
    missing = str(tmp_path / "missing-dir")
    cmd = CommandRun(CommandSpec(["true"], cwd=missing), tmp_path / "r.log", Masker([]))
    with pytest.raises(RunnerStartError) as info:
        await cmd.start()
    assert str(info.value) == (
        f"cannot start: bad working directory {missing}: No such file or directory"
    )


async def test_bad_cwd_raises_start_error_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing-dir")
    spec = CommandSpec(["true"], cwd=missing, secret_files={"F": "v"})
    with pytest.raises(RunnerStartError, match="missing-dir"):
        await CommandRun(spec, tmp_path / "r.log", Masker([])).start()


async def test_shell_needs_single_string(tmp_path: Path) -> None:
    spec = CommandSpec(["echo", "a"], shell=True)
    with pytest.raises(RunnerStartError):
        await CommandRun(spec, tmp_path / "r.log", Masker([])).start()


# -- stale groups -----------------------------------------------------------------------------


def test_kill_stale_group_checks_host_and_start_time() -> None:
    with subprocess.Popen(
        ["sh", "-c", GROUP_SCRIPT], stdout=subprocess.PIPE, start_new_session=True
    ) as proc:
        try:
            assert proc.stdout is not None
            grandchild = int(proc.stdout.readline())
            start = process_start_time(proc.pid)
            assert start is not None
            host = socket.gethostname()
            assert not kill_stale_group(proc.pid, start + 1.0, host)
            assert not kill_stale_group(proc.pid, start - 0.05, host)
            assert not kill_stale_group(proc.pid, None, host)
            assert not kill_stale_group(proc.pid, start, host + "-elsewhere")
            assert proc.poll() is None and not gone(grandchild)
            assert kill_stale_group(proc.pid, start, host)
            assert proc.wait(timeout=HANG) == -signal.SIGKILL
            assert wait_gone(grandchild)
            assert not kill_stale_group(proc.pid, start, host)  # gone now
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def test_process_start_time_of_gone_process_is_none() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert process_start_time(proc.pid) is None
    assert process_start_time(os.getpid()) == psutil.Process().create_time()


# -- reading logs -----------------------------------------------------------------------------


def test_read_log_returns_complete_lines_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    assert read_log(path) == ([], 0)
    path.write_bytes("one\ntwo \u00e9\nthr".encode())
    lines, offset = read_log(path)
    assert lines == ["one", "two \u00e9"]
    assert offset == len("one\ntwo \u00e9\n".encode())
    assert read_log(path, offset) == ([], offset)
    with path.open("ab") as f:
        f.write(b"ee\nfour\n")
    assert read_log(path, offset) == (["three", "four"], path.stat().st_size)


async def test_follow_log_tails_a_running_command(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "follow.log"
    script = "for i in 1 2 3; do echo line$i; sleep 0.1; done; echo done"
    cmd = CommandRun(CommandSpec(["sh", "-c", script]), log_path, Masker([]))

    async def collect() -> list[str]:
        seen: list[str] = []
        async for batch in follow_log(log_path, poll=0.02):
            seen += batch
            if "done" in seen:
                return seen

    collector = asyncio.create_task(collect())
    await cmd.start()
    assert await asyncio.wait_for(collector, HANG) == ["line1", "line2", "line3", "done"]
    await finish(cmd)


def test_marked_groups_are_those_of_the_instance_and_node_named() -> None:
    """The mark names the node too: the same instance id of another store's node on this
    host (a test store beside production) is never taken for the dead node's."""
    env = {"PATH": "/usr/bin:/bin", GROUP_MARK: group_mark(5, "other-host-1-abcdef")}
    proc = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    try:
        environ_readable(proc.pid)  # not still inside execve (an empty environment)
        assert kill_marked_groups({group_mark(5, "dead-host-2-123456")}) == set()
        assert proc.poll() is None  # another node's instance 5: left alone
        assert kill_marked_groups({group_mark(5, "other-host-1-abcdef")}) == {
            group_mark(5, "other-host-1-abcdef")
        }
        assert proc.wait(5) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
