"""Run one command as its own process group, stream its masked output to a log and a sink.

Output format: one log line per output line, decoded as UTF-8 (errors replaced), newline (and a
trailing CR) stripped, secrets replaced by ``****``.  stderr lines carry the prefix ``"stderr: "``.
Lines longer than ``MAX_LINE`` characters are split into pieces of at most that many characters
(a secret is never cut in two). A run keeps ``MAX_LOG_BYTES`` of output: past it, one line
says so and the rest is read (the command is not blocked) and dropped.  The run owns its process group: when the leader exits, any
processes still left in the group are terminated (SIGTERM, then SIGKILL after ``kill_grace``).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from switchyard.engine.kernel.nodes import process_start_time
from switchyard.engine.people.masking import TextMasker as Masker
from switchyard.store import filemodes

log = logging.getLogger(__name__)

STDERR_PREFIX = "stderr: "
MAX_LINE = 64 * 1024  # characters per log line; longer lines are split
#: bytes of output one run keeps in its log; past it the output is read and dropped, so a
#: command printing forever (`yes`) cannot fill the node's disk
MAX_LOG_BYTES = 256 * 1024 * 1024
READ_CHUNK = 64 * 1024
BATCH_LINES = 500  # a batch is flushed when it reaches this many lines ...
FLUSH_INTERVAL = 0.05  # ... or this many seconds after its first line arrived
MAX_PENDING = 10 * BATCH_LINES  # readers pause (back-pressure on the child) above this
POLL = 0.05  # process-group polling interval while killing
KILL_WAIT = 5.0  # how long to wait for the group to vanish after SIGKILL
DRAIN_IDLE = 1.0  # give up on pipes held open by escaped processes after this much silence
MASK = "****"

Status = Literal["completed", "failed", "cancelled", "timeout", "error"]
LineSink = Callable[[list[str]], Awaitable[None]]


class RunnerStartError(Exception):
    """The command could not be started; ``str(exc)`` is a human-readable reason."""


@dataclass
class CommandSpec:
    argv: list[str]
    shell: bool = False  # then argv is a single string run by /bin/sh -c
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # added on top of os.environ
    secret_env: dict[str, str] = field(default_factory=dict)  # NAME -> secret value
    secret_files: dict[str, str] = field(default_factory=dict)  # NAME -> value; child gets a path
    timeout: float | None = None
    kill_grace: float = 5.0


@dataclass(frozen=True)
class ProcessHandle:
    pid: int
    pgid: int
    start_time: float  # psutil create_time of the child; 0.0 if it exited before it was read
    host: str


@dataclass(frozen=True)
class RunResult:
    status: Status
    exit_code: int | None  # the leader's return code; negative = killed by that signal
    reason: str


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True while the group has a member that is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    import psutil  # here: reading a log from the command line need not import it

    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def read_log(log_path: Path, offset: int = 0) -> tuple[list[str], int]:
    """Complete lines from byte ``offset`` on, and the offset just past the last of them."""
    try:
        with Path(log_path).open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        data = b""
    if (end := data.rfind(b"\n")) < 0:
        return [], offset
    return data[:end].decode("utf-8", errors="replace").split("\n"), offset + end + 1


async def follow_log(
    log_path: Path, offset: int = 0, poll: float = 0.2
) -> AsyncIterator[list[str]]:
    """Tail ``log_path`` forever (the file may not exist yet), yielding batches of lines."""
    while True:
        lines, offset = await asyncio.to_thread(read_log, log_path, offset)
        if lines:
            yield lines
        else:
            await asyncio.sleep(poll)


def start_problem(exc: OSError, cwd: str | None) -> str:
    """``cannot start: PATH: what the system said``, once, without ``[Errno N]``."""
    words = exc.strerror or str(exc)
    if exc.filename is None:
        return f"cannot start: {words}"
    if cwd is not None and exc.filename == cwd:
        return f"cannot start: bad working directory {cwd}: {words}"
    return f"cannot start: {exc.filename}: {words}"


class CommandRun:
    """One run of a command.  ``start()`` spawns it and begins streaming output at once."""

    def __init__(
        self, spec: CommandSpec, log_path: Path, masker: Masker, on_lines: LineSink | None = None
    ) -> None:
        self._spec = spec
        self._log_path = Path(log_path)
        # values handed to the child as secrets are always masked, whatever the caller passed
        self._masker = masker.with_secrets([*spec.secret_env.values(), *spec.secret_files.values()])
        self._on_lines = on_lines
        self._proc: asyncio.subprocess.Process | None = None
        self._handle: ProcessHandle | None = None
        self._log: IO[str] | None = None
        self._secret_paths: list[str] = []
        self._task: asyncio.Task[RunResult] | None = None
        self._kill_task: asyncio.Task[None] | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._pending: list[str] = []
        self._has_data = asyncio.Event()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._blocked = 0
        self.interrupted_reason: str | None = None  # set by ``interrupt``: the node stops
        self.interrupted_as: Literal["error", "cancelled"] = "error"
        self._eof = False
        self._last_read = 0.0
        self._started = 0.0
        self._cancelled = False
        self._timed_out = False
        self._exited = False  # the leader exited by itself (no kill begun before)
        self._error: str | None = None
        self._logged = 0  # characters of output kept in the log so far

    @property
    def handle(self) -> ProcessHandle | None:
        return self._handle

    # -- starting -----------------------------------------------------------------------------

    def _prepare_files(self, env: dict[str, str]) -> None:
        try:
            self._log = filemodes.open_private(  # 0600 in a 0700 folder
                Path(self._log_path), "a", encoding="utf-8", errors="replace"
            )
        except OSError as exc:
            raise RunnerStartError(
                f"cannot start: cannot open the log {self._log_path}: {exc.strerror or exc}"
            ) from exc
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # keep secrets off disk
        for name, value in self._spec.secret_files.items():
            try:
                fd, path = tempfile.mkstemp(prefix="switchyard-secret-", dir=shm)  # mode 0600
                self._secret_paths.append(path)
                with os.fdopen(fd, "wb") as f:
                    f.write(value.encode())
            except OSError as exc:
                raise RunnerStartError(
                    f"cannot start: cannot write the secret file for {name}: {exc.strerror or exc}"
                ) from exc
            env[name] = path

    def _cleanup_files(self) -> None:
        for path in self._secret_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._secret_paths.clear()
        if self._log is not None:
            logfile, self._log = self._log, None
            with contextlib.suppress(OSError):
                logfile.close()

    async def start(self) -> ProcessHandle:
        if self._proc is not None:
            raise RuntimeError("this run was already started")
        spec = self._spec
        if spec.shell and len(spec.argv) != 1:
            raise RunnerStartError("cannot start: shell=True needs exactly one command string")
        if not spec.argv:
            raise RunnerStartError("cannot start: empty command")
        argv = ["/bin/sh", "-c", spec.argv[0]] if spec.shell else list(spec.argv)
        env = {**os.environ, **spec.env, **spec.secret_env}
        try:
            await asyncio.to_thread(self._prepare_files, env)  # opens files: off the loop
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            self._cleanup_files()
            raise RunnerStartError(start_problem(exc, spec.cwd)) from exc
        except (ValueError, TypeError) as exc:  # e.g. a NUL byte in an argument or the env
            self._cleanup_files()
            raise RunnerStartError(f"cannot start: {exc}") from exc
        except BaseException:
            self._cleanup_files()
            raise
        pid = self._proc.pid  # start_new_session: the child leads its own session and group
        self._started = self._last_read = asyncio.get_running_loop().time()
        start_time = process_start_time(pid) or 0.0
        self._handle = ProcessHandle(pid, pid, start_time, socket.gethostname())
        self._task = asyncio.create_task(self._supervise())
        return self._handle

    # -- waiting and killing ------------------------------------------------------------------

    async def wait(self) -> RunResult:
        """The run's result.  Cancelling a caller of wait() does not stop the run: use cancel()."""
        if self._task is None:
            raise RuntimeError("start() was not called")
        return await asyncio.shield(self._task)

    def ran_out(self) -> bool:
        """Whether the command's leader has exited by itself (no kill begun, no timeout):
        it did what it does, whatever becomes of its output now. Also while its exit is
        not yet reaped (a zombie, looked at without reaping it)."""
        proc = self._proc
        if self._exited:  # also when the group's leftovers are being killed after it
            return True
        if proc is None or self._kill_task is not None or self._timed_out or self._cancelled:
            return False
        if proc.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped already: its return code is on its way
            return True
        return info is not None

    async def interrupt(
        self, reason: str, ended_as: Literal["error", "cancelled"] = "error"
    ) -> None:
        """The node stops: kill the group; its instance ends ``ended_as`` with ``reason``."""
        self.interrupted_reason = reason
        self.interrupted_as = ended_as
        await self.cancel()

    async def cancel(self) -> None:
        """Kill the group (SIGTERM, SIGKILL after kill_grace); a no-op once the leader exited."""
        proc = self._proc
        if proc is None or proc.returncode is not None or self._task is None or self._task.done():
            return
        if self._kill_task is None:
            self._cancelled = True
        await asyncio.shield(self._begin_kill())

    def _begin_kill(self) -> asyncio.Task[None]:
        if self._kill_task is None:
            self._kill_task = asyncio.create_task(self._kill_group())
        return self._kill_task

    async def _wait_gone(self, pgid: int, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, seconds)
        # the group scan reads every pid in /proc: off the event loop
        while loop.time() < deadline and await asyncio.to_thread(_group_alive, pgid):  # noqa: ASYNC110
            await asyncio.sleep(POLL)

    async def _kill_group(self) -> None:
        assert self._handle is not None
        pgid = self._handle.pgid
        _signal_group(pgid, signal.SIGTERM)
        _signal_group(pgid, signal.SIGCONT)  # so stopped members see the SIGTERM
        await self._wait_gone(pgid, self._spec.kill_grace)
        if await asyncio.to_thread(_group_alive, pgid):
            _signal_group(pgid, signal.SIGKILL)
            await self._wait_gone(pgid, KILL_WAIT)

    async def _leader_exit(self) -> int:
        """Wait for the leader to exit (proc.wait() also waits for the pipes to close)."""
        proc = self._proc
        assert proc is not None
        if proc.returncode is None:
            with contextlib.suppress(OSError):
                fd = os.pidfd_open(proc.pid)
                loop = asyncio.get_running_loop()
                exited: asyncio.Future[None] = loop.create_future()

                def on_exit() -> None:
                    if not exited.done():
                        exited.set_result(None)

                loop.add_reader(fd, on_exit)
                try:
                    await exited
                finally:
                    loop.remove_reader(fd)
                    os.close(fd)
        while proc.returncode is None:  # noqa: ASYNC110 - set by the child watcher soon after
            await asyncio.sleep(0.01)
        return proc.returncode

    async def _supervise(self) -> RunResult:
        proc, spec = self._proc, self._spec
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._pump(proc.stdout, "")),
            asyncio.create_task(self._pump(proc.stderr, STDERR_PREFIX)),
        ]
        self._flusher = asyncio.create_task(self._flush_loop())
        deadline = None if spec.timeout is None else self._started + spec.timeout
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    returncode = await self._leader_exit()
                self._exited = self._kill_task is None
            except TimeoutError:
                if self._kill_task is None:
                    self._timed_out = True
                    self._begin_kill()
                returncode = await self._leader_exit()
            assert self._handle is not None
            pgid = self._handle.pgid
            if self._kill_task is None and await asyncio.to_thread(_group_alive, pgid):
                self._begin_kill()  # background processes outliving the leader
            if self._kill_task is not None:
                await self._kill_task
            await self._drain()
            self._eof = True
            self._has_data.set()
            await self._flusher
            return self._result(returncode)
        except asyncio.CancelledError:
            if self._handle is not None:  # no scan of every pid here: zombies ignore a signal
                _signal_group(self._handle.pgid, signal.SIGKILL)
            raise
        finally:
            for task in [*self._readers, self._flusher]:
                task.cancel()
            self._cleanup_files()

    async def _drain(self) -> None:
        """Let the readers reach EOF; stop them if a process outside the group holds a pipe."""
        loop = asyncio.get_running_loop()
        while pending := (await asyncio.wait(self._readers, timeout=DRAIN_IDLE))[1]:
            if not self._blocked and loop.time() - self._last_read >= DRAIN_IDLE:
                for task in pending:
                    task.cancel()
                if (transport := getattr(self._proc, "_transport", None)) is not None:
                    transport.close()
                return

    def _result(self, returncode: int) -> RunResult:
        how = f"exit code {returncode}" if returncode >= 0 else f"killed by signal {-returncode}"
        if self._error is not None:
            return RunResult("error", returncode, self._error)
        if self._cancelled:
            return RunResult("cancelled", returncode, f"{how} after cancel")
        if self._timed_out:
            return RunResult("timeout", returncode, f"timed out after {self._spec.timeout:g}s")
        return RunResult("completed" if returncode == 0 else "failed", returncode, how)

    # -- output -------------------------------------------------------------------------------

    def _pieces(self, line: str) -> list[str]:
        masked = self._masker.mask(line)
        return [masked[i : i + MAX_LINE] for i in range(0, max(len(masked), 1), MAX_LINE)]

    async def _pump(self, stream: asyncio.StreamReader, prefix: str) -> None:
        loop = asyncio.get_running_loop()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buf = ""
        while True:
            chunk = await stream.read(READ_CHUNK)
            self._last_read = loop.time()
            buf += decoder.decode(chunk, final=not chunk)
            lines: list[str] = []
            if "\n" in buf:
                *complete, buf = buf.split("\n")
                for line in complete:
                    lines += self._pieces(line.removesuffix("\r"))
            while len(buf) > MAX_LINE:
                head, buf = self._masker.mask_head(buf, MAX_LINE)
                if not head:
                    break
                lines.append(head)
            if not chunk and buf:
                lines += self._pieces(buf)
            if lines:
                await self._push([prefix + line for line in lines])
            if not chunk:
                return

    async def _push(self, lines: list[str]) -> None:
        self._pending += lines
        self._has_data.set()
        if len(self._pending) >= BATCH_LINES:
            self._full.set()
        while len(self._pending) >= MAX_PENDING:
            self._room.clear()
            self._blocked += 1
            try:
                await self._room.wait()
            finally:
                self._blocked -= 1

    async def _flush_loop(self) -> None:
        while True:
            await self._has_data.wait()
            if not self._eof and len(self._pending) < BATCH_LINES:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), FLUSH_INTERVAL)
            self._has_data.clear()
            self._full.clear()
            lines, self._pending = self._pending, []
            self._room.set()
            for i in range(0, len(lines), BATCH_LINES):
                await self._emit(lines[i : i + BATCH_LINES])
            if self._eof and not self._pending:
                return

    async def _emit(self, batch: list[str]) -> None:
        if self._logged > MAX_LOG_BYTES:
            return
        self._logged += sum(len(line) + 1 for line in batch)
        if self._logged > MAX_LOG_BYTES:
            batch = [
                f"switchyard: output past {MAX_LOG_BYTES:,} bytes is not kept (the command goes on)"
            ]
        if self._log is not None:
            try:
                self._log.write("".join(f"{line}\n" for line in batch))
                self._log.flush()
            except OSError as exc:  # e.g. disk full: stop the run rather than lose output silently
                self._error = f"cannot write log {self._log_path}: {exc}"
                self._log = None
                if self._proc is not None and self._proc.returncode is None:
                    self._begin_kill()
        if self._on_lines is not None:
            try:
                await self._on_lines(batch)
            except Exception:
                log.exception("on_lines sink failed; no more lines will be sent to it")
                self._on_lines = None
