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
from pg_server import PgServer, PgUnavailable, start_server

# =============================================================================
# Databases: a real PostgreSQL server for the session + per-test database URLs
#
#   pg_server   (session)  the running server (tests/pg_server.py); started
#                          lazily, only if some selected test needs PostgreSQL.
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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    global _pg_start_seconds
    try:
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
        server.stop()


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_start_seconds is not None:
        terminalreporter.write_line(
            f"PostgreSQL test server: initdb + start took {_pg_start_seconds:.2f}s"
        )


# =============================================================================
# (end of database fixtures)
# =============================================================================
