"""``govern db upgrade``."""

from __future__ import annotations

import typer

from govern.cli import output, runtime

db_app = typer.Typer(help="Catalogue database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade() -> None:
    """Upgrade an existing catalogue to this govern's schema (Alembic migrations)."""
    from govern.services import catalogue

    result = catalogue.upgrade_catalogue(runtime.context())
    if result.revision_before == result.revision_after:
        output.line(f"Catalogue {result.database} is up to date (schema {result.revision_after}).")
    else:
        output.line(
            f"Upgraded {result.database} from schema {result.revision_before} to "
            f"{result.revision_after}."
        )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
