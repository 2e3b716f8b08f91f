"""monitor_window_results.cells: the compact per-column drift cells (status, psi, n) the monitor
page's heatmap reads, stored by the evaluator next to the full drift

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: windows evaluated before this revision have no cells; reads derive them from the
    # stored drift until the evaluator next writes the window.
    with op.batch_alter_table("monitor_window_results") as batch:
        batch.add_column(sa.Column("cells", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitor_window_results") as batch:
        batch.drop_column("cells")
