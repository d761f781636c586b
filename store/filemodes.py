"""File modes of everything Switchyard keeps on disk: directories 0700, files 0600.

A store file, its folder, the data dir and the secret key are refused when group or others
may read or write them (a secured value, a secret or the key would be readable by any
local user), unless the operator opts in with ``--allow-shared-mode``. Every file
Switchyard creates is created 0600 (and chmod-ed, whatever the umask), every directory
0700. The process umask is 0o077 from the CLI entry and every ``Engine.open``.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import IO

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
#: group or others may read or write (execute on a directory alone leaks no content)
SHARED_BITS = stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH
#: refused whatever the options (it holds the database credentials)
NEVER_SHARED = frozenset({"env file"})


class SharedModeError(Exception):
    """A file or folder is readable or writable by group or others (exit 2)."""

    exit_code = 2

    def __init__(self, path: Path, mode: int, what: str) -> None:
        self.path = path
        self.mode = mode
        chmod = f"chmod {'700' if what.endswith('dir') else '600'} it"
        hint = chmod if what in NEVER_SHARED else f"{chmod}, or pass --allow-shared-mode"
        super().__init__(
            f"{what}: {path} has mode {mode:04o}, readable or writable by others ({hint})"
        )


class ForeignOwnerError(SharedModeError):
    """A store file or folder, the data dir or the key belongs to another uid (exit 2).

    Like git's ``safe.directory``: acting in another user's store (even as root) would run
    its commands and write its files under this process's uid."""

    def __init__(self, path: Path, owner: int, what: str) -> None:
        self.path = path
        self.owner = owner
        name = login_of(owner)
        me = login_of(os.geteuid())
        super(SharedModeError, self).__init__(
            f"{what}: {path} belongs to {name}, not to {me} (run as its owner: "
            f"sudo -u {name} switchyard …; or pass --allow-shared-mode)"
        )


def login_of(uid: int) -> str:
    """The login of ``uid`` (``uid N`` when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def private_umask() -> None:
    """From here on, files this process creates are 0600 and directories 0700."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700. An existing folder is left as it is:
    whether it may be used is :func:`check_private`'s call."""
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Make an existing file 0600 (a no-op when it is already)."""
    try:
        if stat.S_IMODE(os.stat(path).st_mode) != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass


def open_private(path: Path, mode: str = "a", **kwargs: object) -> IO:  # type: ignore[type-arg]
    """``open(path, mode)`` for a file that is created 0600 (its folder 0700); an existing
    file keeps its mode."""
    private_dir(path.parent)
    flags = os.O_WRONLY | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    try:
        fd, made = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE), True
    except FileExistsError:
        fd, made = os.open(path, flags), False
    try:
        if made:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
        return os.fdopen(fd, mode, **kwargs)  # type: ignore[call-overload,no-any-return]
    except BaseException:
        os.close(fd)
        raise


def shared(path: Path) -> int | None:
    """The mode of ``path`` when group or others may read or write it, else None (also when
    it does not exist)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    return mode if mode & SHARED_BITS else None


def check_private(paths: Iterable[tuple[Path, str]]) -> None:
    """Raise SharedModeError for the first existing ``(path, what)`` that group or others
    may read or write."""
    for path, what in paths:
        mode = shared(path)
        if mode is not None:
            raise SharedModeError(path, mode, what)


def check_owned(paths: Iterable[tuple[Path, str]]) -> None:
    """Raise ForeignOwnerError for the first existing ``(path, what)`` that another uid
    than this process's (effective) one owns; a root process is no exception. Owned by
    root is fine (e.g. a root-owned 0755 folder above a service account's store): root
    can change anything anyway."""
    me = os.geteuid()
    for path, what in paths:
        owner = owner_uid(path)
        if owner is not None and owner not in (me, 0):
            raise ForeignOwnerError(path, owner, what)


def owner_uid(path: Path) -> int | None:
    """The uid owning ``path`` (None when it does not exist)."""
    try:
        return os.stat(path).st_uid
    except OSError:
        return None
