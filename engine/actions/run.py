"""run: a command, as in a command schedule (argv, no shell unless asked, own process
group, stdin closed), streaming its output into the instance log.

The process group and its start time reach the store (``ctx.on_process_started``) before
the command can do anything, so a node that dies mid-run leaves enough behind for the
next node to kill the orphan. A cancelled step kills the whole group.
"""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import Any, ClassVar

from switchyard.engine.actions.base import (
    ActionContext,
    ActionFailed,
    Directive,
    Done,
    RanToItsEnd,
)
from switchyard.engine.people.masking import TextMasker as Masker
from switchyard.engine.people.masking import holds_fragment
from switchyard.engine.runs.leftovers import GROUP_MARK, group_mark
from switchyard.engine.runs.runner import CommandRun, CommandSpec, RunnerStartError


def _argv(command: Any, shell: bool) -> list[str]:
    if isinstance(command, str):
        return [command] if shell else shlex.split(command)
    return [str(part) for part in command]


class RunAction:
    kind: ClassVar[str] = "run"
    side_effects: ClassVar[bool] = True

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive:
        shell = bool(args.get("shell"))
        argv = _argv(ctx.render(args["command"]), shell)
        secrets = [s for s in ctx.secrets.values() if s]
        hidden = Masker(secrets)  # a secret or a transform of it (upper, reversed, base64 ...)
        for part in argv:
            if hidden.mask(part) != part or holds_fragment(part, secrets):  # or a slice
                raise ActionFailed(
                    "a secret would appear on the command line; pass it in env", retryable=False
                )
        env = {str(k): str(ctx.render(v)) for k, v in (args.get("env") or {}).items()}
        env.setdefault("SWITCHYARD_INSTANCE_ID", str(ctx.instance_id))
        env[GROUP_MARK] = group_mark(ctx.instance_id, ctx.node_id)  # how a recovery finds it
        cwd = ctx.render(args.get("cwd")) if args.get("cwd") else None
        spec = CommandSpec(
            argv=argv,
            shell=shell,
            cwd=cwd,
            env=env,
            timeout=ctx.timeout or None,
            kill_grace=float(ctx.extra.get("kill_grace", 5.0)),
        )
        log_path = Path(ctx.extra.get("log_path") or ctx.data_dir / "logs" / "run.log")
        masker = Masker([*secrets, *ctx.extra.get("mask_values", ())])  # + secured variables
        run = CommandRun(spec, log_path, masker, on_lines=ctx.extra.get("on_lines"))
        try:
            handle = await run.start()
        except RunnerStartError as exc:
            raise ActionFailed(str(exc), retryable=False) from exc  # says "cannot start"
        try:
            if ctx.on_process_started is not None:
                await ctx.on_process_started(handle)
            result = await run.wait()
        except asyncio.CancelledError:
            if run.ran_out():  # stopped after the command had ended: nothing to kill
                await ctx.log(["switchyard: the command had ended when its step was stopped"])
                result = await run.wait()  # its output stored (the stop waits for it)
                if result.status == "completed":  # done: its step is recorded so
                    raise RanToItsEnd(Done(note=f"exit {result.exit_code}")) from None
            await asyncio.shield(run.cancel())
            raise
        if result.status == "completed":
            return Done(note=f"exit {result.exit_code}")
        if result.status == "cancelled":
            raise asyncio.CancelledError
        raise ActionFailed(result.reason or f"exit code {result.exit_code}")
