"""Use cases shared by the CLI, the TUI and Python callers.

Each function takes a :class:`Context` first and runs one transaction. Import the modules
you need (``from govern.services import catalogue, users, audit``); none imports Textual.
"""

from govern.services.context import Context

__all__ = ["Context"]
