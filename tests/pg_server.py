"""A throw-away PostgreSQL server for the test session.

``PgServer.start()`` initdb's a fresh data directory in a temp dir, starts a
postmaster on 127.0.0.1 (free port, unix socket in the temp dir, fsync off) and
``stop()`` shuts it down (``pg_ctl stop -m immediate``) and removes the dir.

One server per test run: under pytest-xdist the first worker that needs PostgreSQL
starts it (``shared_server()``: a file lock and a JSON state file in the run's
shared temp dir), the others attach to it, and the controller stops it at the end
(``stop_shared_server()``).

initdb refuses to run as root, so when we are root every server command runs
as the ``postgres`` OS user via ``runuser`` and the temp dir is chowned to it.

Per-test databases: ``create_database()`` / ``drop_database()`` (psycopg,
autocommit, connected to the ``postgres`` maintenance database).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_USER = "postgres"  # database superuser created by initdb (and OS user when root)
HOST = "127.0.0.1"
_NEEDED = ("initdb", "pg_ctl", "postgres")


class PgUnavailable(RuntimeError):
    """PostgreSQL server binaries are not installed here."""


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _NEEDED)


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric sort key ("15" > "9.6")
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres.

    Order: ``pg_config --bindir``; the newest ``/usr/lib/postgresql/*/bin``;
    ``pg_ctl`` on PATH (symlinks resolved). Raises PgUnavailable.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        candidates.append(Path(pg_ctl).resolve().parent)
    for bindir in candidates:
        if _has_binaries(bindir):
            return bindir
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found "
        f"(looked in: {', '.join(map(str, candidates)) or 'pg_config/PATH/usr/lib/postgresql'}); "
        "install them, e.g. `apt-get install postgresql`"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _reachable_by_others(path: Path) -> bool:
    """True if every directory from / down to ``path`` is world-traversable."""
    path = path.resolve()
    for p in (path, *path.parents):
        try:
            if not p.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


@dataclass
class PgServer:
    bindir: Path
    root: Path = field(init=False)  # temp dir: socket dir + log; data in root/data
    port: int = 0
    run_as: str | None = None  # OS user to run server commands as (None: ourselves)
    _started: bool = False

    # -- sharing between processes (pytest-xdist workers) -------------------
    def state(self) -> dict[str, str | int | None]:
        return {
            "bindir": str(self.bindir),
            "root": str(self.root),
            "port": self.port,
            "run_as": self.run_as,
        }

    @classmethod
    def attach(cls, state: dict[str, str | int | None]) -> PgServer:
        """A handle on a server another process started (``stop()`` stops it)."""
        server = cls(Path(str(state["bindir"])), port=int(state["port"] or 0))
        server.root = Path(str(state["root"]))
        server.run_as = str(state["run_as"]) if state["run_as"] else None
        server._started = True
        return server

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    # -- process helpers -------------------------------------------------
    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        return cmd

    def _run(self, *args: str, timeout: float = 120) -> None:
        # Output goes to a file, never a pipe: pg_ctl's postmaster could inherit
        # a pipe and keep it open, making subprocess.run() wait forever.
        out = self.root / f"{args[0]}.out"
        with open(out, "ab") as fh:
            proc = subprocess.run(
                self._cmd(*args),
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                cwd=self.root,
                check=False,
            )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self._cmd(*args))} failed (exit {proc.returncode}):\n"
                + out.read_text(errors="replace")[-4000:]
                + self._log_tail()
            )

    def _log_tail(self) -> str:
        try:
            return "\n--- postgres.log ---\n" + self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- lifecycle ---------------------------------------------------------
    def start(self, *, stop_at_exit: bool = True) -> PgServer:
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(PG_USER)
            except KeyError:
                raise PgUnavailable(
                    f"running as root but there is no {PG_USER!r} OS user to run "
                    "initdb/postgres as (the Debian postgresql package creates it)"
                ) from None
            if not shutil.which("runuser"):
                raise PgUnavailable("running as root but `runuser` (util-linux) is missing")
            self.run_as = PG_USER
            # The postgres user must be able to traverse down to the temp dir.
            base = Path(tempfile.gettempdir())
            if not _reachable_by_others(base):
                base = Path("/tmp")
            self.root = Path(tempfile.mkdtemp(prefix="switchyard-pg-", dir=base))
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        else:
            self.root = Path(tempfile.mkdtemp(prefix="switchyard-pg-"))
        self.root.chmod(0o755)
        if stop_at_exit:
            atexit.register(self.stop)  # safety net if the fixture teardown never runs

        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            PG_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        last_error: Exception | None = None
        for _attempt in range(3):  # the free port may be grabbed before we bind it
            self.port = _free_port()
            self._write_conf()
            try:
                self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "start")
            except RuntimeError as exc:
                last_error = exc
                continue
            self._started = True
            return self
        self.stop()
        raise RuntimeError(f"could not start PostgreSQL: {last_error}")

    def _write_conf(self) -> None:
        # postgresql.auto.conf is read last, so rewriting it wins on a retry.
        conf = self.datadir / "postgresql.auto.conf"
        conf.write_text(
            "# written by tests/pg_server.py\n"
            f"listen_addresses = '{HOST}'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.root}'\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
            "max_connections = 200\n"
            "log_min_messages = warning\n"
        )

    def stop(self) -> None:
        root = getattr(self, "root", None)
        if root is None or not root.exists():
            return
        if self._started:
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
            self._started = False
        shutil.rmtree(root, ignore_errors=True)

    # -- databases -----------------------------------------------------------
    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={HOST} port={self.port} user={PG_USER} dbname={dbname}"

    def url(self, dbname: str, driver: str = "asyncpg") -> str:
        """SQLAlchemy URL, e.g. ``postgresql+asyncpg://postgres@127.0.0.1:5432/db``."""
        return f"postgresql+{driver}://{PG_USER}@{HOST}:{self.port}/{dbname}"

    def create_database(self, prefix: str = "switchyard") -> str:
        import psycopg
        from psycopg import sql

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def start_server(*, stop_at_exit: bool = True) -> tuple[PgServer, float]:
    """Start a server; returns it and the seconds it took. Raises PgUnavailable."""
    t0 = time.monotonic()
    server = PgServer(find_bindir()).start(stop_at_exit=stop_at_exit)
    return server, time.monotonic() - t0


STATE_FILE = "switchyard-pg.json"
LOCK_FILE = "switchyard-pg.lock"


def shared_server(run_dir: Path) -> tuple[PgServer, float]:
    """The run's server, started by the first caller (any process) and attached to by the
    others; ``run_dir`` is a folder every process of the run sees (the xdist controller's
    temp dir). Its owner is whoever calls :func:`stop_shared_server` at the end of the
    run, not the caller. Raises PgUnavailable (remembered for the other callers)."""
    state_file = run_dir / STATE_FILE
    with open(run_dir / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if state_file.exists():
            state = json.loads(state_file.read_text())
            if "unavailable" in state:
                raise PgUnavailable(state["unavailable"])
            return PgServer.attach(state), float(state["seconds"])
        try:
            server, seconds = start_server(stop_at_exit=False)
        except PgUnavailable as exc:
            state_file.write_text(json.dumps({"unavailable": str(exc)}))
            raise
        state_file.write_text(json.dumps({**server.state(), "seconds": seconds}))
        return server, seconds


def shared_server_seconds(run_dir: Path) -> float | None:
    """How long the run's shared server took to start (None: none was started)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        return float(json.loads((run_dir / STATE_FILE).read_text())["seconds"])
    return None


def stop_shared_server(run_dir: Path) -> None:
    """Stop the server :func:`shared_server` started in ``run_dir``, if any."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        state = json.loads((run_dir / STATE_FILE).read_text())
        if "unavailable" not in state:
            PgServer.attach(state).stop()
