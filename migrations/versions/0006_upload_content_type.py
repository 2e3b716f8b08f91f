"""uploads: keep the content type given when a direct/multipart upload starts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("content_type", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("content_type")
