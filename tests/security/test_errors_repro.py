"""The reproductions of issue 11, section 6, run on the real `switchyard` binary: each one
gets one line on stderr and its documented exit code (2 bad input, 3 unknown, 4 refused,
5 store unreachable), never a traceback, and writes nothing."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from security._errors_helpers import SWITCHYARD, cli, seed, snapshot, sync_url
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool


def one_error(proc: Any, code: int, *words: str) -> str:
    """The process exited ``code`` with exactly one stderr line, containing ``words``."""
    lines = proc.stderr.splitlines()
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}


@pytest.fixture
def store(db_url: str, tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """A seeded store on each backend, and a synchronous engine to snapshot it."""
    old = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = env["XDG_DATA_HOME"]  # the seed's data dir = the CLI's
    try:
        seed(db_url, tmp_path)
    finally:
        if old is None:
            os.environ.pop("XDG_DATA_HOME")
        else:
            os.environ["XDG_DATA_HOME"] = old
    reader = create_engine(sync_url(db_url), poolclass=NullPool)
    yield db_url, reader
    reader.dispose()


# ------------------------------------------------------------- huge numbers
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["lane", "add", "x", "--concurrency", "99999999999999999999"], ["concurrency:"]),
        (["lane", "add", "x", "--concurrency", "2147483647"], ["concurrency: must be between"]),
        (["schedule", "add", "s", "--every", "99999999999999999999d", "--", "echo"], ["every:"]),
        (["instances", "--since", "99999999999d"], ["too long"]),
        (["events", "--since", "99999999999d"], ["since:", "too long"]),
        (["log", "99999999999999999999999"], ["instance_id:", "out of range"]),
        (["instances", "--limit", "-1"], ["limit: must be between 1 and"]),
    ],
)
def test_huge_numbers_are_refused_in_one_line(
    store: tuple[str, Any], env: dict[str, str], args: list[str], words: list[str]
) -> None:
    db, reader = store
    before = snapshot(reader)
    one_error(cli("--db", db, *args, env=env), 2, *words)
    assert snapshot(reader) == before


def test_an_id_beyond_the_store_is_unknown_or_refused(
    store: tuple[str, Any], env: dict[str, str]
) -> None:
    db, _ = store
    one_error(cli("--db", db, "log", "2147483647", env=env), 3, "unknown instance")
    one_error(cli("--db", db, "instance", "show", "2147483648", env=env), 2, "out of range")


# ------------------------------------------------------- empty and wrong values
def test_an_empty_program_and_an_empty_time_zone_are_refused(
    store: tuple[str, Any], env: dict[str, str]
) -> None:
    db, reader = store
    before = snapshot(reader)
    one_error(
        cli("--db", db, "schedule", "add", "z", "--on-demand", "--", "", env=env),
        2,
        "command: the program to run is empty",
    )
    one_error(
        cli("--db", db, "schedule", "add", "z", "--on-demand", "--tz", "", "--", "true", env=env),
        2,
        "tz: empty",
    )
    assert snapshot(reader) == before


def test_unknown_process_and_parameter_exit_3(store: tuple[str, Any], env: dict[str, str]) -> None:
    db, reader = store
    before = snapshot(reader)
    one_error(cli("--db", db, "start", "nosuch", "--var", "a=1", env=env), 3, "nosuch")
    one_error(cli("--db", db, "param", "set", "nosuch", "1", env=env), 3, "unknown parameter")
    assert snapshot(reader) == before


def test_a_name_longer_than_its_column_is_refused(
    store: tuple[str, Any], env: dict[str, str]
) -> None:
    db, reader = store
    before = snapshot(reader)
    for args, length in (
        (["lane", "add"], 101),
        (["group", "add"], 101),
        (["schedule", "add"], 201),
    ):
        tail = ["--on-demand", "--", "true"] if args[0] == "schedule" else []
        proc = cli("--db", db, *args, "n" * length, *tail, env=env)
        one_error(proc, 2, "name")
    assert snapshot(reader) == before


# ------------------------------------------------------------ definition files
@pytest.mark.parametrize(
    ("content", "byte"),
    [
        (b"\x00\x01\xff\xfe binary", 2),
        ("process: p\n".encode("utf-16"), 0),
        (b"process: caf\xe9\n", 12),
    ],
    ids=["binary", "utf-16", "latin-1"],
)
@pytest.mark.parametrize("verb", ["validate", "publish"])
def test_a_definition_that_is_not_utf8_is_named_with_its_byte(
    store: tuple[str, Any],
    env: dict[str, str],
    tmp_path: Path,
    content: bytes,
    byte: int,
    verb: str,
) -> None:
    db, reader = store
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    before = snapshot(reader)
    proc = cli("--db", db, "process", verb, str(path), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    issue, count = proc.stderr.splitlines()  # the definition report: its line and a count
    assert issue.startswith(f"{path}:1:1: (file): not UTF-8 text (byte {byte}")
    assert count == "1 error(s) in 1 file(s); nothing published"
    assert snapshot(reader) == before


def test_a_command_that_is_not_a_string_is_refused_at_its_line(
    store: tuple[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    db, reader = store
    path = tmp_path / "c42.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            process: c42
            start: a
            states:
              a:
                actions:
                  - run: {command: 42}
            """
        )
    )
    before = snapshot(reader)
    proc = cli("--db", db, "process", "publish", str(path), env=env)
    assert proc.returncode == 2
    assert f"{path}:6:24: states.a.actions[0].run.command: expected a string or a list" in (
        proc.stderr
    )
    assert snapshot(reader) == before


# --------------------------------------------------------------------- --db
def test_a_file_that_is_not_a_store_is_refused_and_left_alone(
    tmp_path: Path, env: dict[str, str]
) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n" * 40)
    passwd.chmod(0o600)  # a private file: the mode check lets it through to the content
    before = passwd.read_bytes()
    one_error(
        cli("--db", str(passwd), "whoami", env=env),
        2,
        f"db: {passwd} is not a Switchyard store",
    )
    one_error(cli("--db", "/etc/passwd", "whoami", env=env), 2, "db: /etc/passwd")  # 0644
    assert passwd.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]  # no WAL, no journal


def test_another_programs_sqlite_database_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    other.chmod(0o600)
    one_error(cli("--db", str(other), "whoami", env=env), 2, "not a Switchyard store")
    with sqlite3.connect(other) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["notes"]


@pytest.mark.parametrize(
    ("db", "words"),
    [
        ("a" * 131_000, ["db: too long (131000 characters, at most 4096)"]),
        ("mysql://x/y", ["db: unsupported database 'mysql'"]),
        ("", ["db: empty"]),
        ("sqlite:///tmp/a\x01b.db", ["db:", "control character"]),
    ],
    ids=["long", "mysql", "empty", "control"],
)
def test_a_bad_db_value_is_refused_naming_db(
    tmp_path: Path, env: dict[str, str], db: str, words: list[str]
) -> None:
    proc = cli("--db", db, "whoami", env=env)
    one_error(proc, 2, *words)
    assert len(proc.stderr) < 1000


def test_a_postgresql_host_that_refuses_is_unreachable(env: dict[str, str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = cli("--db", f"postgresql://u:pw@127.0.0.1:{port}/db", "whoami", env=env)
    line = one_error(proc, 5, "store unreachable")
    assert "pw" not in line  # the password is never shown


def test_a_postgresql_host_that_never_answers_is_unreachable_after_the_timeout(
    env: dict[str, str],
) -> None:
    async def silent() -> None:
        accepted: list[asyncio.StreamWriter] = []

        async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # accept, then say nothing

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        env2 = {**env, "SWITCHYARD_CONNECT_TIMEOUT": "1"}
        proc = await asyncio.to_thread(
            cli, "--db", f"postgresql://u@127.0.0.1:{port}/db", "whoami", env=env2, timeout=60
        )
        server.close()
        one_error(proc, 5, "store unreachable")

    asyncio.run(silent())


def test_an_unknown_host_is_unreachable(env: dict[str, str]) -> None:
    proc = cli("--db", "postgresql://u@no-such-host.invalid/db", "whoami", env=env)
    one_error(proc, 5, "store unreachable")


# ------------------------------------------------------------ the last resort
def test_an_internal_error_is_one_line_exit_1_and_its_traceback_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (simulated: lane listing raises) still ends as one line; the traceback goes
    to the data dir's cli-errors.log (0600)."""
    import typer.main
    from switchyard.engine.api import Engine
    from switchyard.engine.reads import Reader
    from switchyard.tui import cli as cli_module
    from typer.testing import CliRunner

    data = tmp_path / "xdg" / "switchyard"
    data.mkdir(parents=True)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))

    async def broken(self: Engine) -> None:
        raise RuntimeError("boom\nsecond line")

    db = str(tmp_path / "s.db")

    async def create() -> None:
        await (await Engine.open(db, create=True)).close()

    asyncio.run(create())
    monkeypatch.setattr(Engine, "lanes", broken)
    monkeypatch.setattr(Reader, "lanes", broken)  # the light read path answers lane list
    assert typer.main.get_command(cli_module.app)  # the app builds
    result = CliRunner().invoke(
        cli_module.app, ["--db", db, "lane", "list"], catch_exceptions=False
    )
    assert result.exit_code == 1
    log = data / "cli-errors.log"
    assert result.stderr.splitlines() == [
        f"error: internal: RuntimeError: boom (a bug; traceback in {log})"
    ]
    assert "Traceback" in log.read_text() and "RuntimeError: boom" in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o600


# ------------------------------------------------------------- other inputs
def test_other_hostile_inputs_get_one_line(
    store: tuple[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    db, reader = store
    before = snapshot(reader)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    one_error(cli("--db", db, "process", "validate", str(fifo), env=env), 2, "regular file")
    one_error(cli("--db", db, "serve", "--grace", "nan", env=env), 2, "grace:")
    proc = subprocess.run(
        [str(SWITCHYARD), "--db", db, "secret", "set", "k"],
        input=b"\xff\xfe-not-utf-8",
        capture_output=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode() == "error: value: not UTF-8 text (byte 0)\n"
    assert snapshot(reader) == before
