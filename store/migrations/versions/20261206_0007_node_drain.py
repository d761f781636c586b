"""nodes: draining_at, drain_grace (switchyard node drain)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from switchyard.store.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("draining_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("drain_grace", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("drain_grace")
        batch_op.drop_column("draining_at")
