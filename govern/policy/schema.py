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

Each rule kind is its own model, chosen by ``kind``; the engine's registry
(:mod:`govern.policy.rules`) maps every kind to the function that evaluates it.
"""

from __future__ import annotations

import re
import types
import typing
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from govern.domain.lifecycle import State
from govern.domain.roles import RiskTier, Role

POLICY_SCHEMA_VERSION = 1

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = typing.get_args(Severity)

IDENTIFIER = r"[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?"
_IDENTIFIER_RE = re.compile(rf"^{IDENTIFIER}$")
Identifier = Annotated[str, StringConstraints(pattern=f"^{IDENTIFIER}$")]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Alpha = Annotated[float, Field(gt=0.0, lt=1.0)]

# --- metric vocabularies (names as in the stored evaluation results document) ------------

PerformanceMetric = Literal[
    "accuracy", "precision", "recall", "f1", "roc_auc", "brier", "mae", "rmse", "r2"
]
#: Figures reported for each group of a grouping (GroupStats.metrics, plus impact ratios).
GroupMetric = Literal[
    "impact_ratio",
    "scoring_impact_ratio",
    "selection_rate",
    "scoring_rate",
    "tpr",
    "fpr",
    "fnr",
    "precision",
    "accuracy",
]
#: One figure per grouping (Grouping.summary).
SummaryMetric = Literal[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "min_impact_ratio",
    "min_scoring_impact_ratio",
]
FairnessMetric = Literal[GroupMetric, SummaryMetric]
ComparableMetric = Literal[PerformanceMetric, SummaryMetric]

PERFORMANCE_METRICS: frozenset[str] = frozenset(typing.get_args(PerformanceMetric))
GROUP_METRICS: frozenset[str] = frozenset(typing.get_args(GroupMetric))
SUMMARY_METRICS: frozenset[str] = frozenset(typing.get_args(SummaryMetric))

#: Direction of each comparable metric, for champion/challenger deltas.
HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        "accuracy", "precision", "recall", "f1", "roc_auc", "r2",
        "demographic_parity_ratio", "equalized_odds_ratio", "min_impact_ratio",
        "min_scoring_impact_ratio",
    }
)  # fmt: skip

ArtifactFormat = Literal["skops", "onnx", "pickle", "joblib", "unknown"]
IfMissing = Literal["error", "fail", "not-applicable"]
#: Which groupings of the named features a rule looks at: each feature on its own, their
#: intersections (``sex*race``), or both.
GroupingChoice = Literal["single", "intersection", "both"]


class _Strict(BaseModel):
    # allow_inf_nan: "NaN" or "1e400" as text would otherwise become a non-finite threshold.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Selector(_Strict):
    """Which subjects a policy or rule is about. Every criterion given must match.

    Within one criterion any listed value matches (``tags: [a, b]`` means a or b).
    """

    risk_tiers: list[RiskTier] = []
    tags: list[Name] = []
    regulatory_scope: list[Name] = []
    states: list[State] = []

    def mismatch(
        self,
        *,
        risk_tier: str | None,
        tags: typing.Collection[str],
        regulatory_scope: typing.Collection[str],
        state: str | None,
    ) -> str | None:
        """Why a subject is outside this selector, or ``None`` when it matches."""
        if self.risk_tiers and risk_tier not in {str(t) for t in self.risk_tiers}:
            wanted = ", ".join(str(t) for t in self.risk_tiers)
            return f"applies to risk tier {wanted}; this one is {risk_tier or 'unknown'}"
        if self.tags and not set(self.tags) & set(tags):
            return f"applies to tags {', '.join(self.tags)}; this one has {_list(tags)}"
        if self.regulatory_scope and not set(self.regulatory_scope) & set(regulatory_scope):
            return (
                f"applies to regulatory scope {', '.join(self.regulatory_scope)}; this one is in "
                f"{_list(regulatory_scope)}"
            )
        if self.states and state not in {str(s) for s in self.states}:
            wanted = ", ".join(str(s) for s in self.states)
            return f"applies in state {wanted}; this one is {state or 'not catalogued'}"
        return None


def _list(items: typing.Collection[str]) -> str:
    return ", ".join(sorted(items)) if items else "none"


class RuleBase(_Strict):
    """What every rule has: identity, severity and the clause it implements."""

    id: Identifier
    title: Line
    severity: Severity
    source: Line
    description: Text = ""
    when: Selector | None = None


class _Bounds(_Strict):
    """``min`` and/or ``max`` thresholds; at least one is required."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> typing.Self:
        if self.min is None and self.max is None:
            raise ValueError("give a threshold: min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def violated_by(self, value: float) -> bool:
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        )

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " and ".join(parts)


FeatureName = Annotated[str, StringConstraints(pattern=r"^[^*\s][^*]{0,199}$")]


def _all_means_none(value: Any) -> Any:
    return None if value == "all" else value


#: ``all`` (stored as ``None``) or a list of sensitive feature names.
Features = Annotated[list[FeatureName] | None, BeforeValidator(_all_means_none)]


class CardRule(RuleBase):
    """Card fields are present and have at least a minimum content."""

    kind: Literal["card"]
    fields: Annotated[list[str], Field(min_length=1, max_length=200)]
    min_chars: Annotated[int, Field(ge=1)] = 1
    min_items: Annotated[int, Field(ge=1)] = 1

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        known = card_field_paths()
        unknown = [path for path in value if path not in known]
        if unknown:
            raise ValueError(
                f"unknown card field {', '.join(repr(u) for u in unknown)}; fields look like "
                "'intended_use.primary_uses' or 'training_data.datasets[].source'"
            )
        return value


class PerformanceRule(RuleBase, _Bounds):
    """A performance metric within bounds, overall and/or in every group."""

    kind: Literal["performance"]
    metric: PerformanceMetric
    scope: Literal["overall", "groups", "both"] = "overall"
    features: Features = None
    groupings: GroupingChoice = "single"
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    if_missing: IfMissing = "error"


#: Metrics whose stored p-value tests them: the evaluation compares each group's selection
#: rate with the reference group's (two-proportion z-test, Fisher's exact test when small).
SIGNIFICANCE_METRICS: frozenset[str] = frozenset({"impact_ratio", "selection_rate"})


class FairnessRule(RuleBase, _Bounds):
    """A fairness metric within bounds for every group (or grouping) of the named features.

    ``min_share`` leaves out categories under that share of the data and ``exclude_unknown``
    the category of rows with no value (``(missing)``); impact ratios are then recomputed
    against the most selected remaining group (6 RCNY §5-301). ``significance`` counts a
    group below the threshold only when its selection rate differs significantly.

    ``reference`` (``{race: Caucasian}``, impact_ratio only) sets the reference group: the
    impact ratios of a grouping whose every feature it names are recomputed from the stored
    selection rates against that group (an intersection's reference is the combination), and
    stored p-values count only where the evaluation tested against the same group.
    """

    kind: Literal["fairness"]
    metric: FairnessMetric
    features: Features = None
    groupings: GroupingChoice = "single"
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    min_share: Fraction | None = None
    exclude_unknown: bool = False
    significance: Alpha | None = None
    reference: dict[FeatureName, Name] | None = None
    if_missing: IfMissing = "error"

    @model_validator(mode="after")
    def _options_fit_the_metric(self) -> typing.Self:
        if self.reference is not None:
            if self.metric != "impact_ratio":
                raise ValueError(
                    f"reference cannot apply to {self.metric}: it sets the group impact "
                    "ratios compare with, so use it with impact_ratio"
                )
            if not self.reference:
                raise ValueError("reference names no feature; give {feature: value}")
            if self.features is not None:
                stray = sorted(set(self.reference) - set(self.features))
                if stray:
                    raise ValueError(
                        f"reference names {', '.join(stray)}, which is not among the rule's "
                        f"features ({', '.join(self.features)})"
                    )
        if self.metric not in GROUP_METRICS:
            given = [
                name
                for name, value in (
                    ("min_share", self.min_share),
                    ("exclude_unknown", self.exclude_unknown or None),
                    ("significance", self.significance),
                )
                if value is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} cannot apply to {self.metric}, one figure per "
                    "grouping; use a per-group metric such as impact_ratio"
                )
        elif self.significance is not None and self.metric not in SIGNIFICANCE_METRICS:
            raise ValueError(
                f"significance cannot apply to {self.metric}: the stored test compares "
                "selection rates, so use it with impact_ratio or selection_rate"
            )
        return self


class ExplanationRule(RuleBase):
    """Explanations exist and no sensitive feature (or flagged proxy) is among the top k."""

    kind: Literal["explanation"]
    require: bool = True
    top_k: Annotated[int, Field(ge=1, le=1000)] | None = None
    sensitive: list[FeatureName] | None = None
    use_flags: bool = True
    if_missing: IfMissing = "fail"


class DriftRule(RuleBase):
    """A recent drift run shows no feature drifting beyond the thresholds."""

    kind: Literal["drift"]
    max_psi: Annotated[float, Field(ge=0.0)] | None = None
    min_p_value: Alpha | None = None
    features: Features = None
    max_age_days: Annotated[int, Field(ge=0)] | None = None
    if_missing: IfMissing = "fail"

    @model_validator(mode="after")
    def _one_threshold(self) -> typing.Self:
        if self.max_psi is None and self.min_p_value is None and self.max_age_days is None:
            raise ValueError("give a threshold: max_psi, min_p_value or max_age_days")
        return self


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class FreshnessRule(RuleBase):
    """The latest evaluation is recent, of this artifact, and on pinned data if pinned.

    ``card_dataset`` requires the evaluated data to be one the card declares with its
    SHA-256 (``evaluation_data.datasets[].sha256``); a card that declares none fails it.
    """

    kind: Literal["freshness"]
    max_age_days: Annotated[int, Field(ge=0)]
    dataset_sha256: Sha256 | None = None
    same_artifact: bool = True
    card_dataset: bool = False


class ApprovalsRule(RuleBase):
    """Enough distinct approvals from the right roles, none by the submitter or creator."""

    kind: Literal["approvals"]
    min_approvals: Annotated[int, Field(ge=0)] = 1
    min_approvals_by_tier: dict[RiskTier, Annotated[int, Field(ge=0)]] | None = None
    roles: Annotated[list[Role], Field(min_length=1)] = [Role.APPROVER, Role.COMPLIANCE]
    required_roles: list[Role] = []
    separation_of_duties: bool = True


class ValidationDueRule(RuleBase):
    """The next validation date is set, not passed, and within the cadence for the tier."""

    kind: Literal["validation_due"]
    require_date: bool = True
    max_months_by_tier: dict[RiskTier, Annotated[int, Field(ge=1)]] | None = None


class ArtifactRule(RuleBase):
    """The registered artifact is in an allowed format (e.g. never a pickle)."""

    kind: Literal["artifact"]
    allowed_formats: Annotated[list[ArtifactFormat], Field(min_length=1)] = ["skops", "onnx"]
    require_artifact: bool = False


class ChampionMetric(_Strict):
    metric: ComparableMetric
    grouping: FeatureName | None = None
    max_regression: Annotated[float, Field(ge=0.0)]


class ChampionRule(RuleBase):
    """Not worse than the deployed champion by more than a delta on named metrics."""

    kind: Literal["champion"]
    metrics: Annotated[list[ChampionMetric], Field(min_length=1)]
    require_same_data: bool = False


class DisclosureRule(RuleBase):
    """The evaluation reports each category's count, unknowns, and categories under a share."""

    kind: Literal["disclosure"]
    features: Features = None
    groupings: GroupingChoice = "single"
    small_share: Fraction = 0.02
    if_missing: IfMissing = "fail"


Rule = Annotated[
    CardRule
    | PerformanceRule
    | FairnessRule
    | ExplanationRule
    | DriftRule
    | FreshnessRule
    | ApprovalsRule
    | ValidationDueRule
    | ArtifactRule
    | ChampionRule
    | DisclosureRule,
    Field(discriminator="kind"),
]

RULE_MODELS: dict[str, type[RuleBase]] = {
    typing.get_args(model.model_fields["kind"].annotation)[0]: model
    for model in typing.get_args(typing.get_args(Rule)[0])
}
RULE_KINDS: tuple[str, ...] = tuple(RULE_MODELS)


class ManualItem(_Strict):
    """A requirement no machine can decide: reported as ``manual``, never as a pass."""

    id: Identifier
    title: Line
    source: Line
    description: Text = ""
    severity: Severity = "info"


class PolicyFile(_Strict):
    """One policy file."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    schema_version: Literal[1] = Field(alias="schema")
    id: Identifier
    title: Line
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    description: Text = ""
    references: list[Line] = []
    selector: Selector | None = None
    rules: Annotated[list[Rule], Field(max_length=1000)] = []
    manual: Annotated[list[ManualItem], Field(max_length=1000)] = []

    @model_validator(mode="after")
    def _not_empty(self) -> typing.Self:
        if not self.rules and not self.manual:
            raise ValueError("a policy needs at least one rule or manual item")
        return self


def is_identifier(text: str) -> bool:
    return bool(_IDENTIFIER_RE.match(text))


@cache
def card_field_paths() -> frozenset[str]:
    """Every field path a card rule may name, from the card schema itself.

    ``section``, ``section.field`` and, through lists of objects, ``section.items[].field``.
    """
    from govern.domain.card import Card

    paths: set[str] = set()
    _collect(Card, "", paths)
    return frozenset(paths)


def _collect(model: type[BaseModel], prefix: str, out: set[str]) -> None:
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key == "schema":
            continue
        path = f"{prefix}{key}"
        out.add(path)
        inner, is_list = _unwrap(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            _collect(inner, f"{path}[]." if is_list else f"{path}.", out)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The model inside ``X | None``, ``Annotated[...]`` and ``list[...]``, and whether listed."""
    is_list = False
    current = annotation
    for _ in range(8):
        origin = typing.get_origin(current)
        if origin is Annotated:
            current = typing.get_args(current)[0]
        elif origin in {typing.Union, types.UnionType}:
            options = [a for a in typing.get_args(current) if a is not type(None)]
            current = options[0] if len(options) == 1 else current
            if len(options) != 1:
                break
        elif origin is list:
            is_list = True
            current = typing.get_args(current)[0]
        else:
            break
    return current, is_list


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
    "ValidationDueRule",
    "card_field_paths",
    "is_identifier",
]
