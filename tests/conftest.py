"""Shared fixtures for the switchyard test-suite.

Keep each group of fixtures in its own clearly marked section.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_postgresql.janitor import DatabaseJanitor

# tests/ has no __init__.py; make tests/pg_server.py importable under any import mode.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
from pg_server import (
    PgServer,
    PgUnavailable,
    shared_server,
    shared_server_seconds,
    start_server,
    stop_shared_server,
)

# =============================================================================
# Databases: a real PostgreSQL server for the session + per-test database URLs
#
#   pg_server   (session)  the running server (tests/pg_server.py); started
#                          lazily, only if some selected test needs PostgreSQL.
#                          One per run: under pytest-xdist the first worker
#                          that needs it starts it, the others attach, and the
#                          controller stops it after the last test.
#   db_url      (function) parametrised [sqlite] / [postgresql]: SQLAlchemy
#                          async URL of a FRESH EMPTY database, dropped after.
#                          The postgresql param carries @pytest.mark.postgres,
#                          so `-m "not postgres"` deselects it.
#   sqlite_url  (function) SQLite-only variant (e.g. for snapshot tests).
#   data_dir    (function) tmp_path / "data" (created) for a per-test data dir.
#
# No PostgreSQL binaries: postgresql params are skipped, except when $CI is set,
# where they fail (CI must test PostgreSQL).
# =============================================================================

_pg_start_seconds: float | None = None


def _xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _xdist_controller(config: pytest.Config) -> bool:
    return not _xdist_worker(config) and bool(getattr(config.option, "numprocesses", None))


def _run_dir(config: pytest.Config) -> Path:
    """A folder all processes of this run share: the controller's base temp dir (each xdist
    worker's base temp dir is a subfolder of it)."""
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    base = factory.getbasetemp()
    return base.parent if _xdist_worker(config) else base


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    global _pg_start_seconds
    shared = _xdist_worker(request.config)
    try:
        if shared:
            server, _pg_start_seconds = shared_server(_run_dir(request.config))
        else:
            server, _pg_start_seconds = start_server()
    except PgUnavailable as exc:
        problem = str(exc)
    else:
        problem = None
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but PostgreSQL is unavailable: {problem}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {problem}")
    try:
        yield server
    finally:
        if not shared:  # the xdist controller stops the shared one (pytest_sessionfinish)
            server.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _xdist_controller(session.config):
        stop_shared_server(_run_dir(session.config))


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'switchyard.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path)
        return
    server: PgServer = request.getfixturevalue("pg_server")
    # pytest-postgresql's janitor creates the database and drops it afterwards
    # (terminating leftover connections first).
    name = f"switchyard_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(
        user="postgres", host="127.0.0.1", port=server.port, dbname=name, version=None
    ):
        yield server.url(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return _sqlite_url(tmp_path)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(mode=0o700)  # a shared data dir is refused (store/filemodes.py)
    return path


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    seconds = _pg_start_seconds
    if _xdist_controller(config):
        seconds = shared_server_seconds(_run_dir(config))
    if seconds is not None:
        terminalreporter.write_line(f"PostgreSQL test server: initdb + start took {seconds:.2f}s")


# =============================================================================
# (end of database fixtures)
# =============================================================================
