"""What every policy rule shares: the base model, the selector, thresholds and vocabularies.

The rule kinds' own models live in their modules (:mod:`govern.policy.kinds`) and import this
one; :mod:`govern.policy.schema` assembles them into the policy file's model.
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
    model_validator,
)

from govern.domain.lifecycle import State
from govern.domain.roles import RiskTier

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


class Strict(BaseModel):
    # allow_inf_nan: "NaN" or "1e400" as text would otherwise become a non-finite threshold.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Selector(Strict):
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


class RuleBase(Strict):
    """What every rule has: identity, severity and the clause it implements."""

    id: Identifier
    title: Line
    severity: Severity
    source: Line
    description: Text = ""
    when: Selector | None = None


class Bounds(Strict):
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


#: Metrics whose stored p-value tests them: the evaluation compares each group's selection
#: rate with the reference group's (two-proportion z-test, Fisher's exact test when small).
SIGNIFICANCE_METRICS: frozenset[str] = frozenset({"impact_ratio", "selection_rate"})

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


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
