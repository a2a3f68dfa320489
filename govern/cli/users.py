"""``govern users add|list|set-role``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output, runtime

users_app = typer.Typer(help="Catalogue users and their roles.", no_args_is_help=True)
ROLES_HELP = "viewer, developer, validator, approver, compliance or admin."


@users_app.command("add")
def add(
    name: Annotated[
        str,
        typer.Argument(help="User name (as given to --user / GOVERN_USER).", show_default=False),
    ],
    role: Annotated[str, typer.Option("--role", help=ROLES_HELP, show_default=False)],
    display_name: Annotated[
        str, typer.Option("--display-name", help="Full name for reports.")
    ] = "",
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Their public key (from `govern keys export`), enrolled now."),
    ] = None,
    key_label: Annotated[str, typer.Option("--key-label", help="A note on the key.")] = "",
    service: Annotated[
        bool,
        typer.Option("--service", help="A CI pipeline's account: it can never judge a model."),
    ] = False,
) -> None:
    """Add a user with a role (admins only), and enrol their public key.

    Names are compared without case and width (Alice is alice); a name mixing scripts is
    refused. Without --key the user can act only once an admin enrols a key
    (`govern keys enrol`).
    """
    from govern.services import users

    user = users.add_user(
        runtime.context(),
        name,
        role=role,
        display_name=display_name,
        key=key,
        key_label=key_label,
        service=service,
    )
    kind = " (service account)" if user.kind == "service" else ""
    output.line(f"Added {user.name} as {user.role}{kind}.")


@users_app.command("set-role")
def set_role(
    name: Annotated[str, typer.Argument(help="User name.", show_default=False)],
    role: Annotated[str, typer.Option("--role", help=ROLES_HELP, show_default=False)],
) -> None:
    """Change a user's role (admins only); past decisions keep the role held then."""
    from govern.services import users

    user = users.set_role(runtime.context(), name, role=role)
    output.line(f"{user.name} is now {user.role}.")


@users_app.command("deactivate")
def deactivate(
    name: Annotated[str, typer.Argument(help="User name.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why (left the company...).")],
) -> None:
    """Deactivate a user who left (admins only): they can no longer act, and their keys are
    revoked. Their past decisions stay verifiable."""
    from govern.services import users

    user = users.deactivate(runtime.context(), name, reason=reason)
    output.line(f"{user.name} is deactivated; their keys are revoked.")


@users_app.command("list")
def list_(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List users and roles."""
    from govern.services import users

    rows = users.list_users(runtime.context())
    if json_out:
        output.emit_json([u.to_json() for u in rows])
        return
    output.table(
        ["user", "role", "name", "kind", "active", "added", "by"],
        [
            (
                u.name,
                u.role,
                u.display_name,
                u.kind,
                "yes" if u.active else "no",
                f"{u.created_at:%Y-%m-%d}",
                u.created_by,
            )
            for u in rows
        ],
    )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
