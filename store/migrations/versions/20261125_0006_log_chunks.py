"""log chunks: instance logs in the store, readable from any host

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from switchyard.store.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_chunks",
        sa.Column("instance_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("instance_id", "seq"),
    )
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_chunks_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_chunks_created_at"))
    op.drop_table("log_chunks")
