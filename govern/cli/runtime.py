"""Global options shared by every command, and the objects built from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from govern.config import Settings
    from govern.services import Context


@dataclass
class GlobalOptions:
    user: str | None = None
    db: str | None = None
    debug: bool = False


options = GlobalOptions()


def settings() -> Settings:
    from govern.config import load_settings

    return load_settings(user=options.user, database_url=options.db)


def context() -> Context:
    from govern.services import Context

    return Context(settings(), ask_passphrase=ask_passphrase)


def ask_passphrase(prompt: str) -> str | None:
    """Ask on the terminal (stderr, not echoed); None when there is no terminal to ask on."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        return None
    return getpass.getpass(prompt)
