"""No evaluation digest: a batch check decides from the results documents themselves.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

The digest (revision 0003) held figures precomputed from each evaluation's results, and the
trigger of revision 0004 cleared it whenever the results changed. The policy engine now
decides every rule once, from the document, so both go; the indexes of 0004 stay.

On SQLite the column is dropped in place (``ALTER TABLE ... DROP COLUMN``, SQLite 3.35 and
later) rather than by alembic's batch mode, which rebuilds the table: dropping the old
``evaluation`` table fails the foreign keys of the explanations, metrics and reports that
point at it.

The downgrade restores the column (empty: a check of that revision reads the documents of
evaluations without a digest) and the trigger.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS evaluation_digest_stale")
    else:
        op.execute("DROP TRIGGER IF EXISTS evaluation_digest_stale ON evaluation")
        op.execute("DROP FUNCTION IF EXISTS govern_evaluation_digest_stale()")
    op.drop_column("evaluation", "digest")


def downgrade() -> None:
    op.add_column("evaluation", sa.Column("digest", sa.LargeBinary(), nullable=True))
    # As revision 0004 made it: a digest never outlives a change of its document.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER evaluation_digest_stale AFTER UPDATE OF results ON evaluation "
            "FOR EACH ROW BEGIN UPDATE evaluation SET digest = NULL WHERE id = NEW.id; END"
        )
        return
    op.execute(
        "CREATE FUNCTION govern_evaluation_digest_stale() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN NEW.digest := NULL; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER evaluation_digest_stale BEFORE UPDATE OF results ON evaluation "
        "FOR EACH ROW EXECUTE FUNCTION govern_evaluation_digest_stale()"
    )
