"""Running one claimed instance's command, with every transition committed.

Order of commits: claimed (running) -> process started (pgid, start time, log path) ->
ended (status, exit code). The process group and its start time are in the store
before the command can do anything, so a node that dies mid-run leaves enough behind
for the next node to kill the orphan and restore the instance in error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from switchyard.engine.instances.completion import finish
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST
from switchyard.engine.kernel.ports import HasBus, LogFiles, SecretValues, Transactions
from switchyard.engine.people.masking import TextMasker as Masker
from switchyard.engine.runs.leftovers import GROUP_MARK, group_mark
from switchyard.engine.runs.log_chunks import ChunkWriter
from switchyard.engine.runs.runner import CommandRun, CommandSpec, RunnerStartError
from switchyard.engine.schedules.spec import SECRET_FILE_PREFIX, SECRET_PREFIX
from switchyard.store import filemodes
from switchyard.store.models import CANCELLED, COMPLETED, ERROR, FAILED, RUNNING
from switchyard.store.queries import instances as inst_q

log = logging.getLogger(__name__)

STATUS_OF_RESULT = {
    "completed": COMPLETED,
    "failed": FAILED,
    "timeout": FAILED,
    "cancelled": CANCELLED,
    "error": ERROR,
}


class MissingSecret(Exception):
    pass


def one_line_reason(text: str) -> str:
    """``cannot start: ...`` on one line (RunnerStartError already says "cannot start")."""
    first = (text.strip().splitlines() or [""])[0]
    return first if first.startswith("cannot start") else f"cannot start: {first}"


def build_spec(row: dict[str, Any], secrets: dict[str, str], kill_grace: float) -> CommandSpec:
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    secret_files: dict[str, str] = {}
    for name, value in (row.get("env") or {}).items():
        if value.startswith((SECRET_PREFIX, SECRET_FILE_PREFIX)):
            key = value.split(":", 1)[1]
            if key not in secrets:
                raise MissingSecret(f"env {name}: unknown secret '{key}'")
            target = secret_files if value.startswith(SECRET_FILE_PREFIX) else secret_env
            target[name] = secrets[key]
        else:
            env[name] = value
    env.setdefault("SWITCHYARD_INSTANCE_ID", str(row["id"]))
    # the engine's mark, never the definition's: a secret (which the runner puts on top of
    # env) could otherwise give the command another instance's mark, or none (leftovers.py)
    secret_env.pop(GROUP_MARK, None)
    secret_files.pop(GROUP_MARK, None)
    env[GROUP_MARK] = group_mark(int(row["id"]), str(row.get("node_id") or ""))
    if row.get("schedule_name"):
        env.setdefault("SWITCHYARD_SCHEDULE", row["schedule_name"])
    return CommandSpec(
        argv=list(row["command"]),
        shell=bool(row.get("shell")),
        cwd=row.get("cwd"),
        env=env,
        secret_env=secret_env,
        secret_files=secret_files,
        timeout=row.get("timeout_seconds"),
        kill_grace=kill_grace,
    )


@runtime_checkable
class ExecutionPorts(Transactions, HasBus, LogFiles, SecretValues, Protocol):
    """A command run's needs: its log file, the secrets (environment, masking), commits,
    and the bus for its log lines."""


async def execute(
    engine: ExecutionPorts,
    row: dict[str, Any],
    running: dict[int, CommandRun],
    kill_grace: float,
    chunks: ChunkWriter,
) -> str:
    """Run a claimed instance to its end; returns the final status. Its log lines go to
    its file, the bus's log channel and the store (``chunks``), all written before its end
    is committed."""
    instance_id = int(row["id"])
    log_path = engine.log_path(instance_id)
    where = f"{log_path} on {HOST}"
    try:
        secrets = await engine.secret_values()
        spec = build_spec(row, secrets, kill_grace)
    except Exception as exc:  # a secret went missing or cannot be decrypted
        async with engine.tx() as tx:
            await finish(tx, row, ERROR, f"cannot start: {exc}")
        return ERROR

    async def on_lines(lines: list[str]) -> None:
        engine.bus.publish(ev.EngineEvent(ev.INSTANCE_LOG, str(instance_id), {"lines": lines}))
        await chunks.append(instance_id, lines, where=where)

    masker = Masker(secrets.values())
    run = CommandRun(spec, log_path, masker, on_lines=on_lines)
    running[instance_id] = run
    try:
        try:
            handle = await run.start()
        except RunnerStartError as exc:  # the command never ran: an error, not a failure
            note = masker.mask(f"switchyard: {exc}")
            await asyncio.to_thread(_note_in_log, Path(log_path), f"{note}\n")
            await chunks.append(instance_id, [note], where=where)
            await chunks.close(instance_id)
            async with engine.tx() as tx:
                await inst_q.set_fields(tx.conn, instance_id, {"log_path": str(log_path)})
                await finish(tx, row, ERROR, one_line_reason(str(exc)))
            return ERROR
        async with engine.tx() as tx:
            await inst_q.set_fields(
                tx.conn,
                instance_id,
                {
                    "pgid": handle.pgid,
                    "proc_start_time": handle.start_time,
                    "host": handle.host,
                    "log_path": str(log_path),
                    "current_action": "run",
                    "updated_at": tx.now,
                },
            )
            tx.emit(
                ev.INSTANCES_CHANGED,
                instance_id,
                ids=[instance_id],
                status=RUNNING,
                lane=row["lane"],
            )
        result = await run.wait()
        await chunks.close(instance_id)  # every line in the store before the end
    finally:
        running.pop(instance_id, None)
    status = STATUS_OF_RESULT.get(result.status, ERROR)
    reason = result.reason
    if run.interrupted_reason:
        status, reason = STATUS_OF_RESULT[run.interrupted_as], run.interrupted_reason
    elif status == CANCELLED:
        reason = f"cancelled ({result.reason})"
    async with engine.tx() as tx:
        await finish(tx, row, status, reason, result.exit_code)
    return status


def _note_in_log(path: Path, text: str) -> None:
    """One line in the instance's log (blocking: called through to_thread)."""
    with contextlib.suppress(OSError), filemodes.open_private(path, "a") as fh:
        fh.write(text)
