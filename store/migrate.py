"""Alembic, driven from code: the app migrates its store on start.

Opening a store that is already current must not pay for Alembic (~0.35 s of imports on
every command line call): the stored revision is read with one plain query and compared
with ``HEAD``, the newest revision in ``migrations/versions`` (a constant kept equal to the
migrations folder's head by tests/store/test_migrations.py). Alembic is imported only when
the store needs creating or upgrading, or holds a revision this code does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: the newest revision in migrations/versions; a new migration updates it (a test checks)
HEAD = "0010"
VERSION_TABLE = "alembic_version"


class SchemaTooNew(Exception):
    """The database was migrated by a newer Switchyard than this one."""


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def current_heads(connection: Connection) -> set[str]:
    """The revisions the database is at (empty: no Switchyard schema), read as Alembic
    reads them, without importing it."""
    if VERSION_TABLE not in inspect(connection).get_table_names():
        return set()
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return {str(row[0]) for row in rows}


def has_schema(connection: Connection) -> bool:
    """True when the database holds a Switchyard schema (any migration applied)."""
    return bool(current_heads(connection))


def upgrade_to_head(connection: Connection) -> None:
    current = current_heads(connection)
    if current == {HEAD}:
        return  # current: no Alembic
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config(connection)
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = current - known
    if unknown:
        heads = ", ".join(sorted(script.get_heads()))
        raise SchemaTooNew(
            f"the database schema is at revision {', '.join(sorted(unknown))}, which this "
            f"Switchyard does not know (it knows up to {heads}): the database was upgraded by "
            "a newer Switchyard; upgrade this installation before using it"
        )
    if current != set(script.get_heads()):
        command.upgrade(cfg, "head")
