"""``govern db upgrade|grant``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output, runtime

db_app = typer.Typer(help="Catalogue database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="Governance settings (YAML) for a catalogue that has none yet (schema 0005).",
        ),
    ] = None,
) -> None:
    """Upgrade an existing catalogue to this govern's schema (Alembic migrations).

    The upgrade to signed decisions (schema 0005) must be run by an admin with a personal key
    (`govern keys init`): it enrols that key and the first governance settings revision.
    """
    from govern.services import catalogue, governance

    rules = governance.read_settings_file(settings) if settings is not None else None
    result = catalogue.upgrade_catalogue(runtime.context(), settings=rules)
    if result.revision_before == result.revision_after:
        output.line(f"Catalogue {result.database} is up to date (schema {result.revision_after}).")
    else:
        output.line(
            f"Upgraded {result.database} from schema {result.revision_before} to "
            f"{result.revision_after}."
        )


@db_app.command("grant")
def grant(
    logins: Annotated[
        list[str] | None,
        typer.Option(
            "--login",
            metavar="LOGIN",
            help="A person's own database login to make a writer (repeatable).",
            show_default=False,
        ),
    ] = None,
    admins: Annotated[
        list[str] | None,
        typer.Option(
            "--admin",
            metavar="LOGIN",
            help="An admin's login: a writer that may also write users, keys and settings "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    readers: Annotated[
        list[str] | None,
        typer.Option(
            "--reader",
            metavar="LOGIN",
            help="A login to make a reader, read-only (repeatable).",
            show_default=False,
        ),
    ] = None,
    role_prefix: Annotated[
        str | None,
        typer.Option(
            "--role-prefix",
            metavar="PREFIX",
            help="Names the group roles PREFIX_reader, PREFIX_writer and PREFIX_admin "
            "[default: govern]; give each catalogue its own when a server holds several.",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Give person logins what govern needs on a PostgreSQL catalogue, and nothing more.

    Run by an admin connected as the catalogue's owner (the role that ran `govern init`).
    Creates the group roles if needed: readers read; writers also append rows and change
    only the columns govern changes; admins also write users, keys and settings. None can
    delete, truncate, alter or drop anything. Signed and audited; run it again after
    `govern db upgrade`. See docs/postgresql.md.
    """
    from govern.services import database

    result = database.grant_access(
        runtime.context(),
        writers=logins or [],
        readers=readers or [],
        admins=admins or [],
        role_prefix=role_prefix,
    )
    if json_out:
        output.emit_json(result.to_json())
    else:
        created = f" (created {', '.join(result.created_roles)})" if result.created_roles else ""
        output.line(
            f"Set the privileges of {', '.join(result.roles.values())} on {result.database} "
            f"(owner {result.owner}){created}."
        )
        for group, members in result.members.items():
            if members:
                output.line(f"{result.roles[group]}: {', '.join(members)}.")
    for note in result.notes:
        output.info(f"note: {note}")


def add_commands(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
