"""Lifecycle states of a model version (DESIGN.md section 5)."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SHADOW = "shadow"
    DEPLOYED = "deployed"
    RETIRED = "retired"
