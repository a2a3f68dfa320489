"""Where things live: the user's govern home and the data shipped with the package.

In a wheel, ``policies/``, ``report_templates/`` and ``sample_data/`` are installed under
``govern/_data/``; in a source checkout they sit at the top of the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def default_home() -> Path:
    """``$GOVERN_HOME``, else ``$XDG_CONFIG_HOME/govern``, else ``~/.config/govern``."""
    explicit = os.environ.get("GOVERN_HOME")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "govern"


def bundled(name: str) -> Path:
    """A directory shipped with govern: ``policies``, ``report_templates`` or ``sample_data``."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def policies_dir() -> Path:
    return bundled("policies")


def report_templates_dir() -> Path:
    return bundled("report_templates")


def sample_data_dir() -> Path:
    return bundled("sample_data")
