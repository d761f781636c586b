"""What an engine checks on disk before it opens a store: who owns the store (the uid whose
``SUDO_USER`` / ``--ssh-user`` may be believed) and that nobody else can read it.

The owner of a SQLite store is the owner of its file (of its folder while the file is not
made yet); of a PostgreSQL store, the owner of the data dir holding its secret key (whoever
holds the database credentials can write the store directly anyway).
"""

from __future__ import annotations

import os
from pathlib import Path

from switchyard.store import filemodes
from switchyard.store.db import Store


def store_owner(store: Store, data_dir: Path, *, create: bool) -> int | None:
    """The uid owning the store; None when that cannot be known (nobody is its owner then).

    When ``create``, a missing SQLite file belongs to this process (it makes it), and a
    missing data dir is made now (0700), so a PostgreSQL store's owner is this process."""
    path = store.sqlite_path
    if path is not None and str(path) != ":memory:":
        owner = filemodes.owner_uid(path)
        return os.getuid() if owner is None and create else owner
    if create:
        filemodes.private_dir(data_dir)
    return filemodes.owner_uid(data_dir)


def check_modes(store: Store, data_dir: Path, key_file: Path) -> None:
    """Raise filemodes.SharedModeError when group or others may read or write the store's
    files, its folder, the data dir or the secret key."""
    filemodes.check_private(_guarded(store, data_dir, key_file))


def check_owner(store: Store, data_dir: Path, key_file: Path) -> None:
    """Raise filemodes.ForeignOwnerError when the store's files, its folder, the data dir
    or the secret key belong to another uid than this process's (root included)."""
    filemodes.check_owned(_guarded(store, data_dir, key_file))


def _guarded(store: Store, data_dir: Path, key_file: Path) -> list[tuple[Path, str]]:
    paths: list[tuple[Path, str]] = [(p, "db") for p in store.sqlite_files()]
    if store.sqlite_path is not None and str(store.sqlite_path) != ":memory:":
        paths.append((store.sqlite_path.parent, "db dir"))
    return [*paths, (data_dir, "data dir"), (key_file, "secret key")]
