"""people: users, groups, members, rights, security specifications, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 04:35:26.988824
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from switchyard.store.models import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_LIST = sa.text("'[]'")
EMPTY_MAP = sa.text("'{}'")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=True),
        sa.Column("login", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("as_login", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False, server_default=EMPTY_MAP),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_login"), ["login"], unique=False)

    op.create_table(
        "group_members",
        sa.Column("group", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("login", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.PrimaryKeyConstraint("group", "login"),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_login"), ["login"], unique=False)

    op.create_table(
        "groups",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )

    op.create_table(
        "rights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("subject_kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("launch", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("view", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("manage", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process", "subject_kind", "subject", name="uq_rights_process_subject"),
    )
    with op.batch_alter_table("rights", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rights_process"), ["process"], unique=False)

    op.create_table(
        "secspecs",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("users", sa.JSON(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("groups", sa.JSON(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("roles", sa.JSON(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )

    op.create_table(
        "users",
        sa.Column("login", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column(
            "licence",
            sqlmodel.sql.sqltypes.AutoString(length=20),
            nullable=False,
            server_default="direct",
        ),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("roles", sa.JSON(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("login"),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("secspecs")
    with op.batch_alter_table("rights", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rights_process"))
    op.drop_table("rights")
    op.drop_table("groups")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_login"))
    op.drop_table("group_members")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_login"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
    op.drop_table("audit_log")
