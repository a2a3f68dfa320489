"""``artifact``: the registered artifact is in an allowed format (e.g. never a pickle)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from govern.policy.base import ArtifactFormat, RuleBase
from govern.policy.judging import Findings
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import FAIL, NOT_APPLICABLE, PASS


class ArtifactRule(RuleBase):
    """The registered artifact is in an allowed format (e.g. never a pickle)."""

    kind: Literal["artifact"]
    allowed_formats: Annotated[list[ArtifactFormat], Field(min_length=1)] = ["skops", "onnx"]  # noqa: RUF012 - pydantic copies defaults
    require_artifact: bool = False


Rule = ArtifactRule


def judge(rule: ArtifactRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    found = subject.artifact_format
    allowed = list(rule.allowed_formats)
    facts = {"format": found, "allowed": allowed, "sha256": subject.artifact_sha256}
    if found is None:
        return Findings(FAIL if rule.require_artifact else NOT_APPLICABLE, facts)
    return Findings(PASS if found in allowed else FAIL, facts)


def describe(rule: ArtifactRule, subject: SubjectSnapshot, findings: Findings) -> str:
    found, allowed = findings.facts["format"], findings.facts["allowed"]
    if found is None:
        if findings.status == FAIL:
            return "no model artifact is registered"
        return "no model artifact registered (predictions only)"
    if findings.status == FAIL:
        return f"artifact format {found} is not allowed (allowed: {', '.join(allowed)})"
    return f"artifact format {found} is allowed"
