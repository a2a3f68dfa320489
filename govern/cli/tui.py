"""``govern tui``: the compliance officer's console in the terminal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from govern.cli import runtime


def tui(
    light: Annotated[bool, typer.Option("--light", help="Start with the light theme.")] = False,
) -> None:
    """Open the terminal app on the catalogue: versions, review queue, evidence, audit log.

    Everything is reachable by keyboard (the footer shows the keys, Ctrl+P finds every
    action, F1 lists them) and by mouse. `govern` with no command opens it too.
    """
    from govern.errors import InputError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError(
            "govern tui needs an interactive terminal; use the other commands in scripts"
        )
    from govern.tui.app import DARK, LIGHT, make_app, run_and_exit

    app = make_app(runtime.settings(), theme=LIGHT if light else DARK)
    app.backend.check()  # a missing or foreign catalogue is one line on stderr, exit 2
    run_and_exit(app)  # quitting skips the interpreter's teardown of the scientific stack


def add_commands(app: typer.Typer) -> None:
    app.command("tui")(tui)
