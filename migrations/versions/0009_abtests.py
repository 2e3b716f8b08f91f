"""A/B tests: ab_tests, ab_outcome_windows (per arm/metric/window/source sufficient statistics),
ab_unit_outcomes (raw outcomes summed per unit)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ab_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("arms", sa.JSON(), nullable=False),
        sa.Column("traffic", sa.JSON(), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("metric_type", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("guardrails", sa.JSON(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("min_units", sa.Integer(), nullable=False),
        sa.Column("min_events", sa.Integer(), nullable=False),
        sa.Column("tuning_n", sa.Integer(), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("srm", sa.JSON(), nullable=True),
        sa.Column("transition_id", sa.Integer(), nullable=True),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("stopped_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_ab_tests_model_id_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_tests")),
        sa.UniqueConstraint("model_id", "name", name=op.f("uq_ab_tests_model_id_name")),
    )
    op.create_index(op.f("ix_ab_tests_model_id"), "ab_tests", ["model_id"], unique=False)
    op.create_index(op.f("ix_ab_tests_transition_id"), "ab_tests", ["transition_id"], unique=False)
    op.create_table(
        "ab_outcome_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("arm", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("sum_sq", sa.Float(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["ab_tests.id"],
            name=op.f("fk_ab_outcome_windows_test_id_ab_tests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_outcome_windows")),
        sa.UniqueConstraint(
            "test_id",
            "arm",
            "metric",
            "window_start",
            "source",
            name=op.f("uq_ab_outcome_windows_test_id_arm_metric_window_start_source"),
        ),
    )
    op.create_table(
        "ab_unit_outcomes",
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("unit", sa.String(length=250), nullable=False),
        sa.Column("arm", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["ab_tests.id"],
            name=op.f("fk_ab_unit_outcomes_test_id_ab_tests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("test_id", "metric", "unit", name=op.f("pk_ab_unit_outcomes")),
    )
    op.create_index(
        "ix_ab_unit_outcomes_test_metric_arm", "ab_unit_outcomes", ["test_id", "metric", "arm"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ab_unit_outcomes_test_metric_arm", table_name="ab_unit_outcomes")
    op.drop_table("ab_unit_outcomes")
    op.drop_table("ab_outcome_windows")
    op.drop_index(op.f("ix_ab_tests_transition_id"), table_name="ab_tests")
    op.drop_index(op.f("ix_ab_tests_model_id"), table_name="ab_tests")
    op.drop_table("ab_tests")
