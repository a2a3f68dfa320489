"""Roles a catalogue user can hold (DESIGN.md section 4)."""

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
