"""The corrections table.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.SmallInteger, nullable=False),
        sa.Column("predicted", sa.SmallInteger),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("position", sa.SmallInteger),
        sa.Column("digit_png", sa.LargeBinary, nullable=False),
        sa.Column("original", sa.LargeBinary, nullable=False),
        sa.Column("original_content_type", sa.String(32), nullable=False),
        sa.Column("model_name", sa.String(64)),
        sa.Column("model_version", sa.String(32)),
        sa.CheckConstraint("label BETWEEN 0 AND 9", name="label_is_a_digit"),
        sa.CheckConstraint(
            "predicted IS NULL OR predicted BETWEEN 0 AND 9", name="predicted_is_a_digit"
        ),
        sa.CheckConstraint("mode IN ('digit', 'number')", name="mode_is_known"),
        sa.CheckConstraint("position IS NULL OR position >= 0", name="position_not_negative"),
    )


def downgrade() -> None:
    # Never run by the UI (it only upgrades); kept so a revision can be stepped back by hand.
    op.drop_table("corrections")
