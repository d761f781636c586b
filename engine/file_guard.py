"""What an engine checks on disk before it opens a store: who owns the store (the uid whose
``SUDO_USER`` / ``--ssh-user`` may be believed) and that nobody else can read it.

The owner of a SQLite store is the owner of its file (of its folder while the file is not
made yet); of a PostgreSQL store, the owner of the data dir holding its secret key (whoever
holds the database credentials can write the store directly anyway).
"""

from __future__ import annotations

from pathlib import Path

from switchyard.store import filemodes
from switchyard.store.db import Store


def store_owner(store: Store, data_dir: Path) -> int | None:
    """The uid owning the store, or None when nothing exists yet (this process makes it)."""
    path = store.sqlite_path
    if path is not None and str(path) != ":memory:":
        return filemodes.owner_uid(path)
    return filemodes.owner_uid(data_dir)


def check_modes(store: Store, data_dir: Path, key_file: Path) -> None:
    """Raise filemodes.SharedModeError when group or others may read or write the store's
    files, its folder, the data dir or the secret key."""
    paths: list[tuple[Path, str]] = [(p, "db") for p in store.sqlite_files()]
    if store.sqlite_path is not None and str(store.sqlite_path) != ":memory:":
        paths.append((store.sqlite_path.parent, "db dir"))
    paths += [(data_dir, "data dir"), (key_file, "secret key")]
    filemodes.check_private(paths)
