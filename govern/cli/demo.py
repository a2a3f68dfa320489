"""``govern demo``: a sample catalogue to explore, built from the bundled data."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to build it (catalogue, keys, artifacts, reports).")
    ] = Path("demo"),
) -> None:
    """Build a sample catalogue: register, evaluate, check, approve, deploy, sign a card."""
    from govern.services import catalogue
    from govern.services.context import Context
    from govern.services.demo import build_demo

    result = build_demo(directory, output.line)
    output.line()
    from govern.config import load_settings

    viewer = Context(
        load_settings(database_url=result.database_url, user="victor", home=result.home)
    )
    rows = catalogue.list_versions(viewer)
    output.table(
        ["model", "version", "state", "tier", "owner", "validation due"],
        [
            (r.name, r.version, r.state, r.risk_tier, r.owner, r.next_validation_due or "-")
            for r in rows
        ],
        title="The sample catalogue",
    )
    output.line()
    from govern.services import workflow

    carol = Context(load_settings(database_url=result.database_url, user="carol", home=result.home))
    for item in workflow.queue(carol):
        output.line(f"Waiting for carol: {item.ref}, {item.reason}; she may approve it.")
    output.line("Explore it as carol (each demo person's home holds their config and demo key):")
    env = f"GOVERN_HOME={result.home} GOVERN_USER=carol"
    command = _command_name()
    output.line(f"  {env} {command} tui")
    output.line(f"  {env} {command} queue")
    output.line(f"  {env} {command} show credit-risk@1.0.0")
    output.line(f"  {env} {command} audit verify")


def _command_name() -> str:
    """``govern`` when that is the one on PATH, else the path of this one (e.g. .venv/bin)."""
    ours = Path(sys.executable).parent / "govern"
    found = shutil.which("govern")
    if found is not None and Path(found).resolve() == ours.resolve():
        return "govern"
    return str(ours) if ours.exists() else f"{sys.executable} -m govern"


def add_commands(app: typer.Typer) -> None:
    app.command("demo")(demo)
