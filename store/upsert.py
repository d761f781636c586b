"""INSERT ... ON CONFLICT DO NOTHING for both backends.

Each backend's dialect module is imported when a statement is built for it: a command line
call on a SQLite store does not pay for SQLAlchemy's PostgreSQL dialect (~0.1 s, issue 14).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignore(conn: AsyncConnection, table: Table, keys: list[str]) -> Any:
    """An insert that silently skips rows whose ``keys`` already exist."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
