"""Where Switchyard keeps its files, and how it makes them private, for the console and
the command line: the data dir, the process umask, 0600 files, the check that refuses a
file group or others may read or write (``SharedModeRefused``), and the ``--db`` check.
Store-layer errors leave as engine errors (engine/kernel/boundary.py)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO

from switchyard.store import filemodes

# store.db and the boundary (SQLAlchemy) are imported in the functions that need them, so
# that the command line's --help and option checks import neither.


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/switchyard`` (``~/.local/share/switchyard`` without it)."""
    from switchyard.store import db

    return db.default_data_dir()


def private_umask() -> None:
    """From here on, files this process creates are 0600 and directories 0700."""
    filemodes.private_umask()


def open_private(path: Path, mode: str = "a", encoding: str = "utf-8") -> IO[str]:
    """Open ``path`` as a 0600 text file in a 0700 folder, whatever the umask (OSError as
    is: it is a file of this process, not the store)."""
    handle: IO[str] = filemodes.open_private(path, mode, encoding=encoding)
    return handle


def check_private(paths: Iterable[tuple[Path, str]]) -> None:
    """``SharedModeRefused`` (exit 2) for the first ``(path, what)`` that group or others
    may read or write."""
    from switchyard.engine.kernel.boundary import store_errors

    with store_errors():
        filemodes.check_private(paths)


def check_store_url(url: str) -> None:
    """Refuse a ``--db`` value that cannot name a store (exit 2, field ``db``)."""
    from switchyard.engine.kernel.boundary import store_errors
    from switchyard.store import db

    with store_errors():
        db.check_url(url)
