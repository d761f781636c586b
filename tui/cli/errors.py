"""The command line's single error funnel: every exception a command lets out becomes one
line on stderr, ``error: FIELD: what is wrong``, and a documented exit code.

    0  done
    2  bad input (a malformed value, an unknown option, a file that is not a store)
    3  unknown thing (instance, schedule, process, parameter ...)
    4  refused (a missing licence or right)
    5  store unreachable (a host that does not answer, no permission on the file)
    1  an internal error (a bug): one line here, the traceback in the data dir's
       ``cli-errors.log``; ``SWITCHYARD_DEBUG=1`` shows it instead

Integer options and arguments are checked before a command runs: outside the 32-bit
range an id column holds, they are refused (exit 2) instead of overflowing.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from switchyard.engine.errors import EXIT_INTERNAL, StoreUnavailable, SwitchyardError
from switchyard.engine.paths import default_data_dir, open_private
from switchyard.tui.cli import coercion
from switchyard.tui.cli.globals import hoist_globals
from typer import _click as click  # typer vendors click: its exceptions, not click's
from typer._click import exceptions as cx
from typer._click.utils import _detect_program_name
from typer.core import TyperGroup, TyperOption
from typer.exceptions import Abort, Exit

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
# Ids are 32-bit columns on PostgreSQL; every other integer (limits, counts, concurrency)
# is bounded far lower by the engine. Beyond this no integer can name or mean anything.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
MAX_LINE = 500  # an error line never floods a terminal with a 100,000-character value
ERROR_LOG = "cli-errors.log"


def one_line(text: str) -> str:
    """Whitespace and control characters collapsed, long values cut: it stays one line."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= MAX_LINE else flat[:MAX_LINE] + "..."


def emit(message: str) -> None:
    click.echo(f"error: {one_line(message)}", err=True)


def _in_range(value: Any, param: click.Parameter) -> None:
    numbers = value if isinstance(value, list | tuple) else [value]
    for number in numbers:
        integer = isinstance(number, int) and not isinstance(number, bool)
        if integer and not INT_MIN <= number <= INT_MAX:
            message = f"{number} is out of range (at most {INT_MAX})"
            # typer's vendored click types `param` as its private _TyperParameter
            raise cx.BadParameter(message, param=param)  # type: ignore[arg-type]


def _bounded(callback: Any) -> Any:
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        _in_range(value, param)
        return callback(ctx, param, value) if callback is not None else value

    return check


def bound_integers(command: click.Command) -> None:
    """Every parameter of the tree refuses an integer a database column cannot hold
    (outside 32 bits), before the command runs."""
    for param in command.params:
        param.callback = _bounded(param.callback)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            bound_integers(sub)


def _field(param: click.Parameter | None) -> str:
    if param is None:
        return "usage"
    if isinstance(param, TyperOption):
        longest = max(param.opts, key=len)
        return longest.lstrip("-")
    return param.name or "usage"


def usage_line(exc: cx.UsageError) -> str:
    if isinstance(exc, cx.MissingParameter):
        return f"{_field(exc.param)}: missing"
    if isinstance(exc, cx.BadParameter):
        return f"{_field(exc.param)}: {exc.message}"
    where = exc.ctx.command_path if exc.ctx is not None else "usage"
    return f"{where}: {exc.format_message()} (see {where} --help)"


def _log_internal(exc: BaseException) -> str:
    """Append the traceback to the data dir's error log (0600); return where, or ""."""
    folder = default_data_dir()
    if not folder.is_dir():
        return ""
    path = folder / ERROR_LOG
    try:
        with open_private(path, "a") as fh:  # 0600 whatever the umask
            fh.write(f"--- {datetime.now(UTC).isoformat()} {one_line(' '.join(sys.argv))}\n")
            fh.write("".join(traceback.format_exception(exc)))
    except OSError:
        return ""
    return str(path)


def exit_for(exc: BaseException) -> tuple[str | None, int]:
    """The one line (None: already said) and the exit code for what a command raised."""
    if isinstance(exc, Exit):
        return None, exc.exit_code
    if isinstance(exc, cx.NoArgsIsHelpError):
        click.echo(exc.format_message())  # the help asked for by giving nothing
        return f"{exc.ctx.command_path}: give a command", EXIT_BAD_INPUT
    if isinstance(exc, cx.UsageError):
        return usage_line(exc), EXIT_BAD_INPUT
    if isinstance(exc, Abort | KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, SwitchyardError):
        return str(exc), exc.exit_code
    from switchyard.engine.kernel.boundary import store_failure  # SQLAlchemy: only here

    store = store_failure(exc)  # the engine's translation, also for what escaped it
    if store is not None and store.exit_code != EXIT_INTERNAL:
        return str(store), store.exit_code
    if os.environ.get("SWITCHYARD_DEBUG"):
        raise exc
    where = _log_internal(exc)
    original = exc.__cause__ if isinstance(exc, StoreUnavailable) and exc.__cause__ else exc
    cause = getattr(original, "orig", None) or original  # a driver error: its words, not SQL
    lines = str(cause).strip().splitlines()
    detail = f"{type(cause).__name__}: {lines[0] if lines else ''}"
    return (
        f"internal: {detail} (a bug; "
        + (
            f"traceback in {where})"
            if where
            else "rerun with SWITCHYARD_DEBUG=1 for the traceback)"
        ),
        EXIT_INTERNAL,
    )


class SwitchyardGroup(TyperGroup):
    """The top-level group: parses, runs, and funnels whatever comes out into one line."""

    _bounded = False

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not self._bounded:
            coercion.install()  # option values without pydantic when it changes nothing
            bound_integers(self)
            self._bounded = True
        argv = hoist_globals(list(sys.argv[1:] if args is None else args), self)
        name = prog_name or _detect_program_name()
        code = 0
        try:
            with self.make_context(name, argv, **extra) as ctx:
                self.invoke(ctx)
        except BaseException as exc:  # the funnel: everything ends as one line
            if isinstance(exc, SystemExit):
                raise
            if isinstance(exc, EOFError):
                exc = Abort()
            message, code = exit_for(exc)
            if message is not None:
                emit(message)
        if standalone_mode:
            sys.exit(code)
        return code


def fail_now(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    emit(message)
    raise Exit(code)
