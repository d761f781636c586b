"""Stores for the identity tests: one shared by root with everyone (the mode a careless site
runs in), and one owned by a service account (the mode the README recommends)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from security._identity_helpers import (
    SWITCHYARD,
    TIMEOUT,
    as_user,
    clean_env,
    home_of,
    write_owned,
)


def root_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SWITCHYARD), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


@dataclass
class SharedStore:
    """Root's store in a folder everyone may write (0777; SQLite file 0666)."""

    folder: Path
    env: dict[str, str]  # SWITCHYARD_DB and SWITCHYARD_DATA, for anyone

    def root(self, *args: str) -> subprocess.CompletedProcess[str]:
        return root_cli(clean_env("/root", **self.env), "--allow-shared-mode", *args)

    def audit(self) -> list[dict[str, Any]]:
        return json.loads(ok(self.root("audit", "--json")))


def shared_store(db_url: str) -> Iterator[SharedStore]:
    folder = Path(tempfile.mkdtemp(prefix="switchyard-shared-"))
    try:
        env = {"SWITCHYARD_DATA": str(folder / "data")}
        env["SWITCHYARD_DB"] = db_url if db_url.startswith("postgresql") else str(folder / "s.db")
        store = SharedStore(folder, env)
        ok(root_cli(clean_env("/root", **env), "init"))
        for path in [folder, *folder.rglob("*")]:
            os.chmod(path, 0o777 if path.is_dir() else 0o666)
        yield store
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class ServiceStore:
    """A store owned by the service account ``user``: its URL in the account's 0600 env file
    (``~/.config/switchyard/env``), data in its home, everything 0700/0600."""

    user: str
    binary: str

    @property
    def home(self) -> Path:
        return home_of(self.user)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """As the service account, with a clean environment plus ``env``."""
        return as_user(self.user, self.binary, *args, env=clean_env(str(self.home), **env), cwd="/")


def service_store(user: str, binary: str, db_url: str) -> ServiceStore:
    home = home_of(user)
    db = db_url if db_url.startswith("postgresql") else str(home / "store" / "switchyard.db")
    lines = f"# the service account's store\nSWITCHYARD_DB={db}\nSWITCHYARD_DATA={home / 'data'}\n"
    write_owned(home / ".config" / "switchyard" / "env", lines, user)
    store = ServiceStore(user, binary)
    ok(store.run("init"))
    return store
