"""Printing: data to stdout (plain or JSON), diagnostics to stderr, colour only on a terminal."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from govern.errors import InputError


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def info(message: str) -> None:
    """A diagnostic for humans: stderr, so stdout stays clean for data."""
    sys.stderr.write(message + "\n")


def line(message: str = "") -> None:
    sys.stdout.write(message + "\n")


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """A plain aligned table; readable in a terminal, a log file and a CI job alike."""
    body = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    if title:
        line(title)
    line("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in body:
        line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    items = [(k, "" if v is None else str(v)) for k, v in pairs]
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        line(f"{key + ':':<{width + 1}} {value}")


def check_writable(path: Path) -> None:
    """Refuse an output file that cannot be written, before any work is done or recorded."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name with --output")
    if path.exists() and not path.is_file():
        return  # a device or a pipe (``-o /dev/stdout``): written as it is
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{path}: cannot write there (permission denied)")


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` without ever leaving a partial file.

    A regular file (or a new one) is written under a temporary name and moved into place; a
    symbolic link is followed. Anything else (``/dev/stdout``, a named pipe) is written as it
    is, since replacing it would replace the device.
    """
    if path.exists() and not path.is_file():
        try:
            with path.open("w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise InputError(f"{path}: cannot write: {exc.strerror}") from None
        return
    target = path.resolve() if path.is_symlink() else path
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.chmod(0o644)
        tmp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None


def write_new_text(path: Path, text: str) -> None:
    """Write ``text`` to a new file; an existing one (or a link) is never replaced."""
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise InputError(f"{path}: already exists; choose a new file name") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
