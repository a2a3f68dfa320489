"""Model names, semantic versions and ``NAME@VERSION`` references."""

from __future__ import annotations

import re
from dataclasses import dataclass

from govern.errors import InputError

NAME_PATTERN = r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?"
_NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
# semver.org 2.0.0, the official regular expression.
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_model_name(text: str) -> bool:
    return bool(_NAME_RE.match(text))


def is_semver(text: str) -> bool:
    return bool(_SEMVER_RE.match(text))


def semver_key(version: str) -> tuple[object, ...]:
    """A sort key giving semver precedence (build metadata ignored, pre-releases first)."""
    match = _SEMVER_RE.match(version)
    if match is None:
        return (-1, -1, -1, 0, ())
    major, minor, patch, pre, _build = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0, parts)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """``NAME@VERSION``; a bare ``NAME`` (version ``None``) means its latest version."""

    name: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        raw = text.strip()
        name, _, version = raw.partition("@")
        if not is_model_name(name):
            raise InputError(
                f"{text!r} is not a model reference: expected NAME or NAME@VERSION, where NAME "
                "is lower-case letters, digits, '.', '_' or '-'"
            )
        if "@" in raw and not is_semver(version):
            raise InputError(
                f"{text!r}: version {version!r} is not a semantic version such as 1.2.0"
            )
        return cls(name=name, version=version or None)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"
