"""``govern users add|list|set-role``."""

from __future__ import annotations

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
) -> None:
    """Add a user with a role (admins only)."""
    from govern.services import users

    user = users.add_user(runtime.context(), name, role=role, display_name=display_name)
    output.line(f"Added {user.name} as {user.role}.")


@users_app.command("set-role")
def set_role(
    name: Annotated[str, typer.Argument(help="User name.", show_default=False)],
    role: Annotated[str, typer.Option("--role", help=ROLES_HELP, show_default=False)],
) -> None:
    """Change a user's role (admins only); past decisions keep the role held then."""
    from govern.services import users

    user = users.set_role(runtime.context(), name, role=role)
    output.line(f"{user.name} is now {user.role}.")


@users_app.command("list")
def list_(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List users and roles."""
    from govern.services import users

    rows = users.list_users(runtime.context())
    if json_out:
        output.emit_json([u.to_json() for u in rows])
        return
    output.table(
        ["user", "role", "name", "added", "by"],
        [(u.name, u.role, u.display_name, f"{u.created_at:%Y-%m-%d}", u.created_by) for u in rows],
    )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
