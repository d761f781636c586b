"""Alembic, driven from code: the app migrates its store on start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaTooNew(Exception):
    """The database was migrated by a newer Switchyard than this one."""


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def has_schema(connection: Connection) -> bool:
    """True when the database holds a Switchyard schema (any migration applied)."""
    return bool(MigrationContext.configure(connection).get_current_heads())


def upgrade_to_head(connection: Connection) -> None:
    cfg = alembic_config(connection)
    script = ScriptDirectory.from_config(cfg)
    current = set(MigrationContext.configure(connection).get_current_heads())
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
