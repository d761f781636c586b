"""The `switchyard` command line's root: the typer app with its global options, and
the helpers every command module shares (``run``, ``fail``, ``emit_json``, ``state``).

Every refused operation prints one line, ``error: FIELD: what is wrong``, to stderr and
exits with a documented code (tui/cli/errors.py: 2 bad input, 3 unknown, 4 refused,
5 store unreachable); nothing is written. Listing commands take ``--json``.
The commands live in tui/cli/commands/ and are merged into this app by
tui/cli/registry.py; this module imports none of them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from switchyard.engine.paths import check_store_url
from switchyard.engine.views import to_json
from switchyard.tui.cli.errors import SwitchyardGroup, emit

if TYPE_CHECKING:
    from switchyard.engine.api import Engine
    from switchyard.engine.reads import Reader

app = typer.Typer(
    cls=SwitchyardGroup,  # the error funnel: one line and an exit code, never a traceback
    help="Switchyard: schedules, lanes, live runs and logs, from the terminal.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)

T = TypeVar("T")
DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="SWITCHYARD_DB", help="Store URL or SQLite path."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as this Switchyard user (admins only; audited)."),
]
SharedOption = Annotated[
    bool,
    typer.Option(
        "--allow-shared-mode",
        help="Open a store, data dir or key that group or others may read or write.",
    ),
]
SshUserOption = Annotated[
    str | None,
    typer.Option(
        "--ssh-user",
        help="For an SSH key's forced command in the store owner's authorized_keys: "
        "the person the key belongs to (honoured only for the store's owner, under sshd).",
    ),
]


class State:
    db: str | None = None
    as_user: str | None = None
    allow_shared_mode: bool = False
    ssh_user: str | None = None

    def open_options(self, *, create: bool) -> dict[str, Any]:
        """Engine.open's options from the global ones; ``create``: make a missing store."""
        return {
            "as_user": self.as_user,
            "create": create,
            "allow_shared_mode": self.allow_shared_mode,
            "ssh_user": self.ssh_user,
        }


state = State()


def fail(message: str, code: int = 2) -> None:
    emit(message)
    raise typer.Exit(code)


def run(fn: Callable[[Engine], Awaitable[T]], *, db: str | None = None, create: bool = False) -> T:
    """Open the store (made only when ``create``: console, serve, demo, init), run ``fn``."""
    import asyncio  # here, like the engine: --help and typos need neither

    from switchyard.engine.api import Engine

    async def main() -> T:
        engine = await Engine.open(db or state.db, **state.open_options(create=create))
        try:
            return await fn(engine)
        finally:
            await engine.close()

    try:
        return asyncio.run(main())
    except (SwitchyardError, StoreUnavailable) as exc:
        fail(str(exc), exc.exit_code)
    raise AssertionError("unreachable")


def read(light: Callable[[Reader], Awaitable[T]], full: Callable[[Engine], Awaitable[T]]) -> T:
    """A read-only command: ``light`` through engine/reads.py's ``Reader`` (no engine
    facade, nothing written: what ``lane list`` and ``instances`` pay for, issue 14), or
    ``full`` through ``run`` when the reader says only the engine may answer (a refusal
    to audit, a first start, ``--as``: ``NeedsEngine``). Both give the same answer."""
    import asyncio

    from switchyard.engine.reads import NeedsEngine, Reader

    async def main() -> T:
        reader = await Reader.open(
            state.db,
            as_user=state.as_user,
            allow_shared_mode=state.allow_shared_mode,
            ssh_user=state.ssh_user,
        )
        try:
            return await light(reader)
        finally:
            await reader.close()

    try:
        return asyncio.run(main())
    except NeedsEngine:
        return run(full)
    except (SwitchyardError, StoreUnavailable) as exc:
        fail(str(exc), exc.exit_code)
    raise AssertionError("unreachable")


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(to_json(value), indent=2))


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    db: DbOption = None,
    as_user: AsOption = None,
    allow_shared_mode: SharedOption = False,
    ssh_user: SshUserOption = None,
) -> None:
    """Without a command: open the console."""
    if db is not None:
        check_store_url(db)  # one line naming `db` for an empty, huge or foreign value
    if as_user is not None and not _is_login(as_user):
        fail("as: not a login (letters, digits, _ . @ -; at most 100 characters)")
    state.db = db
    state.as_user = as_user
    state.allow_shared_mode = allow_shared_mode
    state.ssh_user = ssh_user
    if ctx.invoked_subcommand is None:
        from switchyard.tui.app import run_console

        # errors: the funnel (tui/cli/errors.py)
        run_console(db, **state.open_options(create=True))


def _is_login(name: str) -> bool:
    from switchyard.engine.people.api import LOGIN

    return LOGIN.match(name) is not None


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``K=V`` options as a dict; a malformed one is refused naming the option."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"{option}: expected NAME=VALUE, got {pair!r}")
        out[name.strip()] = value
    return out
