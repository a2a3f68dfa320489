"""Evaluation digests: the columnar figures a batch policy check reads (govern.policy.digest).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

The schema change only: the digests of evaluations stored before it are written by the
service that runs the upgrade (``services.checks.refresh_digests``), because they are made
by the policy code of the running govern. Until then a check reads their documents.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.drop_column("digest")
