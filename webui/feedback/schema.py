"""The corrections table, as the latest migration leaves it (migrations/versions/ create it).

One row per corrected digit. Nothing about the person is a column: no address, no cookie, no
user agent; only what they drew and what they say it is.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

metadata = MetaData()

corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),  # UTC
    Column("label", SmallInteger, nullable=False),  # the digit the person says it is
    Column("predicted", SmallInteger),  # what the model answered, when the page says
    Column("mode", String(8), nullable=False),  # "digit" or "number"
    Column("position", SmallInteger),  # mode number: index of the digit, left to right
    Column("digit_png", LargeBinary, nullable=False),  # the handler's 28×28, as a PNG
    Column("original", LargeBinary, nullable=False),  # the image as sent
    Column("original_content_type", String(32), nullable=False),
    Column("model_name", String(64)),
    Column("model_version", String(32)),
    CheckConstraint("label BETWEEN 0 AND 9", name="label_is_a_digit"),
    CheckConstraint("predicted IS NULL OR predicted BETWEEN 0 AND 9", name="predicted_is_a_digit"),
    CheckConstraint("mode IN ('digit', 'number')", name="mode_is_known"),
    CheckConstraint("position IS NULL OR position >= 0", name="position_not_negative"),
)
