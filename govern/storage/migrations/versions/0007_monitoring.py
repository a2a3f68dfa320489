"""Production monitoring: a version's days of prediction-log counts and the files counted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

``monitoring_day`` holds one UTC day of a version's logs as sufficient statistics (counts
per group, decision and outcome; a score histogram), never rows; ``monitoring_file`` each
log file counted into it (prediction logs, and outcome files joined to them later), by hash,
so no file is counted twice, with what its columns meant.
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
        "monitoring_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["model_version.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "day"),
    )
    op.create_index(
        op.f("ix_monitoring_day_version_id"), "monitoring_day", ["version_id"], unique=False
    )
    op.create_table(
        "monitoring_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["model_version.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "sha256"),
    )
    op.create_index(
        op.f("ix_monitoring_file_version_id"), "monitoring_file", ["version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_monitoring_file_version_id"), table_name="monitoring_file")
    op.drop_table("monitoring_file")
    op.drop_index(op.f("ix_monitoring_day_version_id"), table_name="monitoring_day")
    op.drop_table("monitoring_day")
