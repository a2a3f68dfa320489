"""Roles a catalogue user can hold (docs/architecture.md §5)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    VALIDATOR = "validator"
    APPROVER = "approver"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


_AS_NOUN = {
    Role.VIEWER: "a viewer",
    Role.DEVELOPER: "a developer",
    Role.VALIDATOR: "a validator",
    Role.APPROVER: "an approver",
    Role.COMPLIANCE: "a compliance officer",
    Role.ADMIN: "an admin",
}


def as_noun(role: str) -> str:
    """How a role reads after "is": "carol is an approver", "dave is a compliance officer"."""
    try:
        return _AS_NOUN[Role(role)]
    except ValueError:
        return f"a {role}"
