"""A throw-away PostgreSQL server for a bench's ``--postgres``, started as the tests start
theirs (tests/pg_server.py: ``initdb`` in a temp dir with the installed server binaries,
``/usr/lib/postgresql/*/bin`` or ``pg_config --bindir``; on 127.0.0.1, a free port,
``fsync``, ``synchronous_commit`` and ``full_page_writes`` off), stopped and removed
when the bench ends. Nothing is kept between runs."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pg_server import PgServer, start_server


@contextlib.contextmanager
def postgres_server() -> Iterator[PgServer]:
    """A running server (raises pg_server.PgUnavailable without the binaries)."""
    server, seconds = start_server()
    print(f"PostgreSQL {server.bindir.parent.name} started in {seconds:.1f} s (fsync off)")
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def store_url(postgres: bool, tmp: Path) -> Iterator[str]:
    """A fresh store's URL: a new database on a throw-away server, or a SQLite file."""
    if not postgres:
        yield f"sqlite:///{tmp / 'store.db'}"
        return
    with postgres_server() as server:
        yield server.url(server.create_database("bench"))
