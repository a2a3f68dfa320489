"""``govern db upgrade``."""

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


def add_commands(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
