"""Batch reads: indexes for the latest evaluation, drift run and history of each version, and
a trigger that clears an evaluation's digest whenever its results change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

* ``(version_id, created_at, id)`` on ``evaluation``, ``drift_run`` and ``decision``: a batch
  check finds each version's latest evaluation and drift run, and reads each history in
  order, from the index alone instead of sorting the tables.
* The trigger keeps a digest (``govern.policy.digest``) true to its document in the
  database itself, in the statement that changes the results: an evaluation edited in
  place loses its digest, and checks read the edited document. So a check need not hash
  every results document to tell whether its digest still holds.

The digests of the previous format are rewritten by the service that runs the upgrade
(``services.checks.refresh_digests``), as for 0003.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: (index, table): the latest row of a version, and a version's rows in order.
_INDEXES = (
    ("ix_evaluation_latest", "evaluation"),
    ("ix_drift_run_latest", "drift_run"),
    ("ix_decision_history", "decision"),
)


def upgrade() -> None:
    for name, table in _INDEXES:
        op.create_index(name, table, ["version_id", "created_at", "id"], unique=False)
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS evaluation_digest_stale")
    else:
        op.execute("DROP TRIGGER IF EXISTS evaluation_digest_stale ON evaluation")
        op.execute("DROP FUNCTION IF EXISTS govern_evaluation_digest_stale()")
    for name, table in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
