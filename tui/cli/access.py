"""How the command line is reached, before typer parses it: the process umask, the service
account's env file, SSH forced commands, and what a person may not choose when they come
through the store owner's account (sudo or ssh).

- **Env file.** ``~/.config/switchyard/env`` of the real uid's home (from the password
  database, never ``$HOME``): ``SWITCHYARD_*=value`` lines, e.g. ``SWITCHYARD_DB=postgresql://…``
  with its password. Variables already in the environment win. Refused (exit 2) when
  group or others may read or write it, or when another uid owns it.
- **SSH forced command.** ``command="switchyard --ssh-user alice",restrict`` in the store
  owner's ``authorized_keys``: sshd ignores the client's command line and puts it in
  ``SSH_ORIGINAL_COMMAND``. It is split with shlex (no shell), a leading ``switchyard`` word
  is dropped, and the words must start with a switchyard command; they are appended to the
  forced command's own options. A forced command that names a command itself ignores
  ``SSH_ORIGINAL_COMMAND``. No ``SSH_ORIGINAL_COMMAND``: the console (the key needs ``pty``).
- **Delegation.** When ``SUDO_USER`` is set or ``--ssh-user`` is used, the store is the
  service account's (its environment and env file): ``--db`` on the command line is
  refused (exit 4), before or after the command words; through ssh ``--ssh-user`` too.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path

from switchyard.engine import paths

ENV_FILE = Path(".config") / "switchyard" / "env"
ENV_KEY = re.compile(r"^SWITCHYARD_[A-Z0-9_]{1,64}$")
#: global options that take a value (so the scan for the command word skips it)
VALUED_OPTIONS = frozenset({"--db", "--as", "--ssh-user"})
#: what a person coming through the owner's account may not choose: the store (a store of
#: their own would run its commands as the service account)
STORE_OPTIONS = ("--db",)
SSH_FORBIDDEN = (*STORE_OPTIONS, "--ssh-user")
#: commands a person coming through the owner's account may not run: ``demo`` makes a store
#: of its own in which the person is an admin, and ``demo --open`` gives them a console
#: whose node runs that store's commands as the service account
DELEGATED_FORBIDDEN_COMMANDS = frozenset({"demo"})
SWITCHYARD_WORD = "switchyard"


class AccessError(Exception):
    """One line for stderr and the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def env_file_path(uid: int | None = None) -> Path:
    home = pwd.getpwuid(os.getuid() if uid is None else uid).pw_dir
    return Path(home) / ENV_FILE


def load_env_file(environ: MutableMapping[str, str], path: Path | None = None) -> Path | None:
    """Fill ``environ`` from the env file (variables already set win); returns its path
    when one was read."""
    path = path or env_file_path()
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid():
        raise AccessError(f"env file: {path} belongs to uid {info.st_uid}, not to you", 2)
    paths.check_private([(path, "env file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessError(f"env file: cannot read {path}: {exc}", 2) from exc
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not ENV_KEY.match(key):
            raise AccessError(f"env file: {path}:{number}: expected SWITCHYARD_NAME=value", 2)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        environ.setdefault(key, value)
    return path


def split_globals(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` cut before its command word: (global options, the command and the rest)."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--" or not word.startswith("-"):
            break
        index += 2 if word in VALUED_OPTIONS else 1
    return argv[:index], argv[index:]


def named(options: Iterable[str], words: list[str]) -> str | None:
    """The first of ``options`` among ``words`` (``--db X`` or ``--db=X``), before ``--``."""
    for word in words:
        if word == "--":
            return None
        name = word.split("=", 1)[0]
        if name in options:
            return name
    return None


def _refuse_command(words: list[str], how: str) -> None:
    command = [w for w in words[:2] if w != "--"][:1]  # `switchyard -- demo` runs demo too
    if command and command[0] in DELEGATED_FORBIDDEN_COMMANDS:
        raise AccessError(
            f"{command[0]}: not accepted through {how}: it makes a store of its own, whose "
            "commands would run as the service account",
            4,
        )


def ssh_user_of(globals_: list[str]) -> str | None:
    for index, word in enumerate(globals_):
        if word == "--ssh-user" and index + 1 < len(globals_):
            return globals_[index + 1]
        if word.startswith("--ssh-user="):
            return word.split("=", 1)[1]
    return None


def forced_argv(
    argv: list[str], environ: Mapping[str, str], commands: Callable[[], Iterable[str]]
) -> list[str]:
    """The argv to run: under an SSH forced command (``--ssh-user``), the client's request
    from ``SSH_ORIGINAL_COMMAND`` appended to the forced options; else ``argv``. Raises
    AccessError for what a person may not ask for."""
    globals_, rest = split_globals(argv)
    ssh = ssh_user_of(globals_) is not None or named(["--ssh-user"], globals_) is not None
    delegated = ssh or bool(environ.get("SUDO_USER"))
    if delegated:
        option = named(STORE_OPTIONS, argv)  # also after the command (tui/cli/globals.py)
        if option:
            how = "ssh" if ssh else "sudo"
            raise AccessError(
                f"{option}: not accepted through {how}: the store is the service account's "
                "(SWITCHYARD_DB in its environment or ~/.config/switchyard/env)",
                4,
            )
        _refuse_command(rest, "ssh" if ssh else "sudo")
    original = environ.get("SSH_ORIGINAL_COMMAND")
    if not ssh or rest or original is None:
        return argv
    try:
        words = shlex.split(original)
    except ValueError as exc:
        raise AccessError(f"ssh: cannot parse the command {original[:200]!r}: {exc}", 2) from exc
    if words and Path(words[0]).name == SWITCHYARD_WORD:
        words = words[1:]
    option = named(SSH_FORBIDDEN, words)
    if option:
        raise AccessError(f"{option}: not accepted through ssh", 4)
    wanted_globals, command = split_globals(words)
    if not command:
        if words:
            raise AccessError("ssh: name a switchyard command (e.g. whoami)", 2)
        return argv  # an empty request: the console
    if command[0] not in set(commands()):
        raise AccessError(f"ssh: '{command[0][:100]}' is not a switchyard command", 2)
    _refuse_command(command, "ssh")
    return [*globals_, *wanted_globals, *command]
