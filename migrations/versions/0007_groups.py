"""groups: user groups, grants to a group, and grants on every resource of a type

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00

``permissions`` rows now name exactly one of ``user_id`` or ``group_id``; ``resource_id`` "*" means
every experiment (or model).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_groups_name")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id", "group_id"], unique=False)
    with op.batch_alter_table("permissions") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_permissions_group_id_groups"), "groups", ["group_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_unique_constraint(
            op.f("uq_permissions_group_id_resource_type_resource_id"),
            ["group_id", "resource_type", "resource_id"],
        )
        batch.create_check_constraint(
            op.f("ck_permissions_one_grantee"), "(user_id IS NULL) <> (group_id IS NULL)"
        )


def downgrade() -> None:
    op.execute("DELETE FROM permissions WHERE group_id IS NOT NULL OR resource_id = '*'")
    with op.batch_alter_table("permissions") as batch:
        batch.drop_constraint(op.f("ck_permissions_one_grantee"), type_="check")
        batch.drop_constraint(op.f("uq_permissions_group_id_resource_type_resource_id"), type_="unique")
        batch.drop_constraint(op.f("fk_permissions_group_id_groups"), type_="foreignkey")
        batch.drop_column("group_id")
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_group_members_user", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("groups")
