"""The policy file schema (version 1): pydantic models with ``extra="forbid"``.

A policy file is YAML::

    schema: 1
    id: eeoc-four-fifths
    title: EEOC four-fifths rule
    version: 1.0.0
    selector: {risk_tiers: [high], tags: [...], regulatory_scope: [...]}   # optional
    rules:
      - id: impact-ratio-sex
        kind: fairness                # one of RULE_KINDS
        title: Impact ratio of every sex group is at least 0.8
        severity: error               # error blocks, warning, info
        source: 29 CFR 1607.4(D)
        metric: impact_ratio
        features: [sex]
        min: 0.8
    manual:                           # what no machine can check: listed, never passed
      - id: job-relatedness
        title: ...
        source: ...

Each rule kind is its own model, chosen by ``kind``, defined in the kind's module
(:mod:`govern.policy.kinds`) beside the functions that decide and describe it; this module
assembles them, with what every rule shares (:mod:`govern.policy.base`), into the model of a
policy file.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from govern.policy.base import (
    GROUP_METRICS,
    HIGHER_IS_BETTER,
    PERFORMANCE_METRICS,
    POLICY_SCHEMA_VERSION,
    SEVERITIES,
    SIGNIFICANCE_METRICS,
    SUMMARY_METRICS,
    Identifier,
    Line,
    RuleBase,
    Selector,
    Severity,
    Strict,
    Text,
    card_field_paths,
    is_identifier,
)
from govern.policy.kinds import KINDS
from govern.policy.kinds.approvals import ApprovalsRule
from govern.policy.kinds.artifact import ArtifactRule
from govern.policy.kinds.card import CardRule
from govern.policy.kinds.champion import ChampionMetric, ChampionRule
from govern.policy.kinds.disclosure import DisclosureRule
from govern.policy.kinds.drift import DriftRule
from govern.policy.kinds.explanation import ExplanationRule
from govern.policy.kinds.fairness import FairnessRule
from govern.policy.kinds.freshness import FreshnessRule
from govern.policy.kinds.performance import PerformanceRule
from govern.policy.kinds.validation_due import ValidationDueRule

#: kind -> its rule model, for every registered kind (:data:`govern.policy.kinds.KINDS`).
RULE_MODELS: dict[str, type[RuleBase]] = {name: kind.Rule for name, kind in KINDS.items()}
RULE_KINDS: tuple[str, ...] = tuple(RULE_MODELS)

if TYPE_CHECKING:
    Rule = RuleBase
else:
    # One model per registered kind, chosen by ``kind``: built from the registry, so a new
    # kind's module is all the schema needs.
    Rule = Annotated[Union[tuple(RULE_MODELS.values())], Field(discriminator="kind")]  # noqa: UP007


class ManualItem(Strict):
    """A requirement no machine can decide: reported as ``manual``, never as a pass."""

    id: Identifier
    title: Line
    source: Line
    description: Text = ""
    severity: Severity = "info"


class PolicyFile(Strict):
    """One policy file."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    schema_version: Literal[1] = Field(alias="schema")
    id: Identifier
    title: Line
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    description: Text = ""
    references: list[Line] = []  # noqa: RUF012 - pydantic copies defaults
    selector: Selector | None = None
    rules: Annotated[list[Rule], Field(max_length=1000)] = []  # noqa: RUF012 - pydantic copies defaults
    manual: Annotated[list[ManualItem], Field(max_length=1000)] = []  # noqa: RUF012 - pydantic copies defaults

    @model_validator(mode="after")
    def _not_empty(self) -> typing.Self:
        if not self.rules and not self.manual:
            raise ValueError("a policy needs at least one rule or manual item")
        return self


__all__ = [
    "GROUP_METRICS",
    "HIGHER_IS_BETTER",
    "PERFORMANCE_METRICS",
    "POLICY_SCHEMA_VERSION",
    "RULE_KINDS",
    "RULE_MODELS",
    "SEVERITIES",
    "SIGNIFICANCE_METRICS",
    "SUMMARY_METRICS",
    "ApprovalsRule",
    "ArtifactRule",
    "CardRule",
    "ChampionMetric",
    "ChampionRule",
    "DisclosureRule",
    "DriftRule",
    "ExplanationRule",
    "FairnessRule",
    "FreshnessRule",
    "ManualItem",
    "PerformanceRule",
    "PolicyFile",
    "Rule",
    "RuleBase",
    "Selector",
    "Severity",
    "ValidationDueRule",
    "card_field_paths",
    "is_identifier",
]
