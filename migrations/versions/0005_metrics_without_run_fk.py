"""metrics: drop the foreign key to runs (one RI check per inserted point)

Writers lock the run row once per request instead (services.runs.writable_run takes FOR KEY
SHARE), and hard_delete_run locks the run, then deletes its points before the run itself.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metrics") as batch:  # SQLite: table rebuild; PostgreSQL: ALTER TABLE
        batch.drop_constraint("fk_metrics_run_id_runs", type_="foreignkey")


def downgrade() -> None:
    # Points whose run is gone would fail the constraint: remove them first.
    op.execute(
        sa.text("DELETE FROM metrics WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = metrics.run_id)")
    )
    with op.batch_alter_table("metrics") as batch:
        batch.create_foreign_key("fk_metrics_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE")
