"""Files on disk: the data dir and every folder 0700, every file 0600 (whatever the umask);
a store, its folder, the data dir or the key that others may read or write is refused
(exit 2, one line naming the file and its mode) unless --allow-shared-mode; only `init`,
`serve`, `demo` and the console make a store: anything else on a missing store exits 3 and
creates nothing. Real CLI processes started with umask 022, both backends."""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SWITCHYARD = Path(sys.executable).parent / "switchyard"
TIMEOUT = 60.0
ME = pwd.getpwuid(os.getuid()).pw_name


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class Cli:
    """`switchyard` with a clean environment and the usual umask 022."""

    def __init__(self, db: str, data: Path, home: Path) -> None:
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "SWITCHYARD_DB": db,
            "SWITCHYARD_DATA": str(data),
        }

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SWITCHYARD), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            preexec_fn=lambda: os.umask(0o022),
        )

    def __call__(self, *args: str, input: str = "") -> subprocess.CompletedProcess[str]:
        proc = self.popen(*args)
        out, err = proc.communicate(input, timeout=TIMEOUT)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def ok(self, *args: str, input: str = "") -> str:
        proc = self(*args, input=input)
        assert proc.returncode == 0, (args, proc.returncode, proc.stderr)
        return proc.stdout


@pytest.fixture
def place(db_url: str, tmp_path: Path) -> Iterator[tuple[Cli, Path, Path | None]]:
    """(cli, data dir, SQLite file or None); nothing exists yet under tmp_path/site."""
    site = tmp_path / "site"
    sqlite = None if db_url.startswith("postgresql") else site / "store" / "switchyard.db"
    yield Cli(str(sqlite) if sqlite else db_url, site / "data", tmp_path), site / "data", sqlite


def test_every_folder_is_0700_and_every_file_0600(
    place: tuple[Cli, Path, Path | None], tmp_path: Path
) -> None:
    cli, data, sqlite = place
    cli.ok("init")
    cli.ok("secret", "set", "api_token", input="a-long-secret-value")
    cli.ok("schedule", "add", "hello", "--on-demand", "--", "/bin/echo", "hello")
    instance = cli.ok("start", "hello").strip()
    serve = cli.popen("serve", "--grace", "1")
    log = data / "logs" / f"{instance}.log"
    try:
        deadline = time.monotonic() + 45
        while not (log.exists() and "hello" in log.read_text()):
            assert serve.poll() is None, serve.communicate()
            assert time.monotonic() < deadline, "the run never logged"
            time.sleep(0.1)
        files = [log, data / "secret.key"]
        folders = [data, data / "logs"]
        if sqlite is not None:  # the node holds the store open: -wal and -shm exist now
            files += [sqlite, Path(f"{sqlite}-wal"), Path(f"{sqlite}-shm")]
            folders.append(sqlite.parent)
        seen = {str(p): oct(mode(p)) for p in files + folders}
        assert seen == {str(p): oct(0o600) for p in files} | {str(p): oct(0o700) for p in folders}
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=TIMEOUT)

    # the console's log of warnings
    from switchyard.tui.app import _log_to_file

    old = os.umask(0o022)
    try:
        handler = _log_to_file(tmp_path / "console" / "console.log")
        handler.close()
    finally:
        os.umask(old)
    assert (mode(tmp_path / "console"), mode(tmp_path / "console" / "console.log")) == (
        0o700,
        0o600,
    )


def test_what_others_may_read_is_refused_unless_allowed(
    place: tuple[Cli, Path, Path | None],
) -> None:
    cli, data, sqlite = place
    cli.ok("init")
    cli.ok("secret", "set", "api_token", input="a-long-secret-value")
    shared: list[tuple[Path, int, str, str]] = [
        (data, 0o755, "data dir", "chmod 700"),
        (data / "secret.key", 0o640, "secret key", "chmod 600"),
    ]
    if sqlite is not None:
        shared += [
            (sqlite, 0o644, "db", "chmod 600"),
            (sqlite, 0o606, "db", "chmod 600"),
            (sqlite.parent, 0o770, "db dir", "chmod 700"),
        ]
    for path, loose, what, fix in shared:
        before = mode(path)
        path.chmod(loose)
        try:
            proc = cli("lane", "add", "wide")
            assert (proc.returncode, proc.stdout, proc.stderr) == (
                2,
                "",
                f"error: {what}: {path} has mode {loose:04o}, readable or writable by others "
                f"({fix} it, or pass --allow-shared-mode)\n",
            )
            assert cli.ok("--allow-shared-mode", "whoami").startswith(f"{ME}: ")
        finally:
            path.chmod(before)
    assert "wide" not in cli.ok("lane", "list")  # nothing was written by a refused run


def test_only_init_serve_demo_and_the_console_make_a_store(
    place: tuple[Cli, Path, Path | None], tmp_path: Path
) -> None:
    cli, _data, sqlite = place
    nowhere = Path("/tmp") / f"switchyard-{uuid.uuid4().hex}" / "dir" / "x.db"
    proc = cli("--db", f"sqlite:///{nowhere}", "whoami")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        3,
        "",
        f"error: db: no store at {nowhere}\n",
    )
    assert not nowhere.parent.parent.exists()

    for args in (["whoami"], ["lane", "list"], ["instances"], ["secret", "list"]):
        proc = cli(*args)
        assert proc.returncode == 3, (args, proc.stderr)
        assert proc.stderr.startswith("error: db: no store at "), proc.stderr
        assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no site, no data dir, no XDG
    if sqlite is None:
        assert public_tables(cli.env["SWITCHYARD_DB"]) == 0

    assert cli.ok("init").startswith("store ready: ")
    assert cli.ok("init").startswith("store ready: ")  # again: nothing to do
    assert cli.ok("whoami").startswith(f"{ME}: ")


def public_tables(url: str) -> int:
    import psycopg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    return int(row[0]) if row else 0
