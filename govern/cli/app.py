"""The ``govern`` command: global options, command registration and error handling.

Exit codes (docs/architecture.md §7): 0 success, 1 a finding, 2 usage/input/configuration error
(nothing written), 3 internal error. Errors are one line on stderr; a traceback appears
only with ``--debug``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Annotated

import typer

from govern import __version__
from govern.cli import runtime
from govern.errors import EXIT_INTERNAL, EXIT_USAGE, GovernError, InputError

HELP = """govern: governance and audit for machine-learning models.

Keep every model version in a catalogue, evaluate fairness and explanations, check policies
in CI, run approvals with separation of duties, and sign PDF model cards. With no command,
opens the terminal app when run in a terminal.
"""

app = typer.Typer(
    name="govern",
    help=HELP,
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

#: Modules under govern.cli that add commands; each has ``add_commands(app)``.
COMMAND_MODULES = (
    "demo",
    "catalogue",
    "users",
    "audit",
    "keys",
    "settings",
    "database",
    "workflow",
    "report",
    "policy",
    "tui",
    "assess",
    "monitor",
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"govern {__version__}\n")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _global_options(
    ctx: typer.Context,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Act as this user (env GOVERN_USER; default: OS login)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Catalogue URL or SQLite path (env GOVERN_DATABASE_URL; default ./govern.db).",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    if user is not None and not user.strip():
        # An empty name would silently fall back to the OS login: act as nobody instead.
        raise typer.BadParameter("a user name cannot be empty", param_hint="--user")
    runtime.options = runtime.GlobalOptions(user=user, db=db, debug=debug)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            lookup = getattr(ctx.command, "get_command", None)
            tui = lookup(ctx, "tui") if lookup is not None else None
            if tui is not None:
                ctx.invoke(tui)
                return
        sys.stdout.write(ctx.get_help() + "\n")


for _name in COMMAND_MODULES:
    importlib.import_module(f"govern.cli.{_name}").add_commands(app)


def _debugging(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("GOVERN_DEBUG", "").lower() in {"1", "true", "yes"}


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by ``main`` and by in-process tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="govern", standalone_mode=False)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:
        # Usage errors from the (vendored) click layer: bad option, missing argument, ...
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except GovernError as exc:
        _report(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:
        if _debugging(args):
            traceback.print_exc()
        # First line only: a database error's full text carries SQL and its parameters.
        text = str(exc).strip()
        summary = text.splitlines()[0] if text else ""
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {summary}\n"
            "This is a bug in govern; please report it with the command you ran "
            "(rerun with --debug for the traceback).\n"
        )
        return EXIT_INTERNAL
    return int(result) if isinstance(result, int) else 0


def _report(exc: GovernError) -> None:
    if isinstance(exc, InputError) and len(exc.problems) > 1:
        for problem in exc.problems:
            sys.stderr.write(f"error: {problem}\n")
        return
    sys.stderr.write(f"error: {exc.message}\n")


def main() -> None:
    sys.exit(run())
