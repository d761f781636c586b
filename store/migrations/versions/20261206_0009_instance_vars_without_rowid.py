"""instance_vars: a WITHOUT ROWID table on SQLite (the monitor's variable conditions)

A variable condition other than ``=`` (``amount > 4000``) is checked per candidate
instance by its primary key (instance_id, name). In a rowid table that key is a separate
index, so each check also reads the table row for ``num``/``text``; WITHOUT ROWID the key
is the table, and one seek finds the value. At 1,000,000 instances (bench/monitor.py,
sqlite3 alone): the cap count of ``process + status + amount > 4000`` (1,000 candidates)
1.50 -> 0.89 ms, its page 1.26 -> 0.91 ms. Nothing else changes (no code reads a rowid of
it; the two value indexes hold the key columns already). PostgreSQL: nothing to do.

Upgrading copies the table (about 8 s for 2,000,000 rows on a 2-core machine).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    "CREATE INDEX ix_instance_vars_name_num ON instance_vars (name, num, instance_id)",
    "CREATE INDEX ix_instance_vars_name_text ON instance_vars (name, text, instance_id)",
)


def _rebuild(rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE instance_vars_new (instance_id INTEGER NOT NULL, name VARCHAR(100)"
        " NOT NULL, num FLOAT, text VARCHAR(200), PRIMARY KEY (instance_id, name))"
        + ("" if rowid else " WITHOUT ROWID")
    )
    op.execute(
        "INSERT INTO instance_vars_new (instance_id, name, num, text)"
        " SELECT instance_id, name, num, text FROM instance_vars"
    )
    op.execute("DROP TABLE instance_vars")
    op.execute("ALTER TABLE instance_vars_new RENAME TO instance_vars")
    for index in INDEXES:
        op.execute(index)


def upgrade() -> None:
    _rebuild(rowid=False)


def downgrade() -> None:
    _rebuild(rowid=True)
