"""Accountable decisions: personal keys, the organisation's certificates, governance settings
in the catalogue, signed audit events, and user names that cannot be confused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

* ``user_key``: each person's enrolled public keys (active or revoked).
* ``org_certificate``: every certificate of the organisation's card-signing key, kept after a
  rotation so cards signed before it still verify.
* ``governance_settings``: revisions of the rules that decide whether an action is allowed;
  append-only, like the audit log.
* ``audit_event``: ``format`` (1 for the hash-chained events before this revision, 2 for
  signed ones), the signer's key, the settings revision and the signature.
* ``decision.settings_revision``: the rules a decision was taken under.
* ``govern_user.name_key`` (unique) and ``kind``: ``Alice`` and ``alice`` are one user; a
  ``service`` account is a CI pipeline's.

The service that runs the upgrade writes settings revision 1 and enrols the upgrading admin's
key, in the migration's transaction (``services.catalogue.init_catalogue``).
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_APPEND_ONLY = "governance settings are append-only"


def _name_key(name: str) -> str:
    # govern.domain.people.name_key, frozen here: a migration must not change with the code.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def upgrade() -> None:
    op.create_table(
        "user_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolled_by", sa.String(length=100), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_name"], ["govern_user.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint"),
    )
    with op.batch_alter_table("user_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_key_user_name"), ["user_name"], unique=False)

    op.create_table(
        "org_certificate",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint"),
    )

    op.create_table(
        "governance_settings",
        sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("revision"),
    )

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("format", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("key_fingerprint", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("settings_revision", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("signature", sa.Text(), nullable=True))

    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings_revision", sa.Integer(), nullable=True))

    with op.batch_alter_table("govern_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="person", nullable=False)
        )
        batch_op.add_column(sa.Column("name_key", sa.String(length=400), nullable=True))
    _fill_name_keys()
    with op.batch_alter_table("govern_user", schema=None) as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.String(length=400), nullable=False)
        batch_op.create_unique_constraint("uq_govern_user_name_key", ["name_key"])

    _append_only_settings()
    if op.get_bind().dialect.name == "sqlite":
        # Batch mode rebuilt audit_event (to add columns), which drops its triggers.
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_event_no_{verb.lower()} BEFORE {verb} "
                "ON audit_event BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
            )


def _fill_name_keys() -> None:
    conn = op.get_bind()
    users = sa.table("govern_user", sa.column("name", sa.String), sa.column("name_key", sa.String))
    names = [row[0] for row in conn.execute(sa.select(users.c.name))]
    seen: dict[str, str] = {}
    clashes = []
    for name in names:
        key = _name_key(name)
        if key in seen:
            clashes.append(f"{seen[key]!r} and {name!r}")
        seen[key] = name
        conn.execute(users.update().where(users.c.name == name).values(name_key=key))
    if clashes:
        raise RuntimeError(
            "users "
            + "; ".join(clashes)
            + " are one name once case and width are ignored; this govern keeps user names "
            "unique that way. Deactivate or rename one of each pair with an older govern, then "
            "upgrade again"
        )


def _append_only_settings() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER governance_settings_no_{verb.lower()} BEFORE {verb} ON "
                f"governance_settings BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION govern_settings_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER governance_settings_append_only BEFORE UPDATE OR DELETE ON "
        "governance_settings FOR EACH ROW EXECUTE FUNCTION govern_settings_append_only()"
    )
    op.execute(
        "CREATE TRIGGER governance_settings_no_truncate BEFORE TRUNCATE ON governance_settings "
        "FOR EACH STATEMENT EXECUTE FUNCTION govern_settings_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS governance_settings_no_update")
        op.execute("DROP TRIGGER IF EXISTS governance_settings_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS governance_settings_append_only ON governance_settings")
        op.execute("DROP TRIGGER IF EXISTS governance_settings_no_truncate ON governance_settings")
        op.execute("DROP FUNCTION IF EXISTS govern_settings_append_only()")
    with op.batch_alter_table("govern_user", schema=None) as batch_op:
        batch_op.drop_constraint("uq_govern_user_name_key", type_="unique")
        batch_op.drop_column("name_key")
        batch_op.drop_column("kind")
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_column("settings_revision")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        for column in ("signature", "settings_revision", "key_fingerprint", "format"):
            batch_op.drop_column(column)
    op.drop_table("governance_settings")
    op.drop_table("org_certificate")
    with op.batch_alter_table("user_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_key_user_name"))
    op.drop_table("user_key")
