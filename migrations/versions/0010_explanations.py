"""explanations (global importances per run or model version, local sample) and model card text

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=100), nullable=False),
        sa.Column("importances", sa.JSON(), nullable=False),
        sa.Column("per_class", sa.JSON(), nullable=True),
        sa.Column("dataset", sa.JSON(), nullable=True),
        sa.Column("n_features", sa.Integer(), nullable=False),
        sa.Column("source_run_id", sa.String(length=32), nullable=True),
        sa.Column("local_key", sa.String(length=1500), nullable=True),
        sa.Column("local_rows", sa.Integer(), nullable=True),
        sa.Column("local_size", sa.BigInteger(), nullable=True),
        sa.Column("local_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_explanations_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_explanations"),
        sa.UniqueConstraint("run_id", name="uq_explanations_run_id"),
        sa.UniqueConstraint("version_id", name="uq_explanations_version_id"),
    )
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("intended_use", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("limitations", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("limitations")
        batch.drop_column("intended_use")
    op.drop_table("explanations")
