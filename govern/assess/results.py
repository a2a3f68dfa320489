"""The stored evaluation and drift documents (``Evaluation.results``, ``DriftRun.results``).

This module is the contract between the assessment engine (which writes these documents),
the policy engine and the report (which read them). It imports only pydantic, so reading
stored results never loads numpy, pandas, scikit-learn or shap::

    results = EvaluationResults.model_validate(evaluation.results)
    for grouping in results.fairness:
        print(grouping.name, grouping.summary.min_impact_ratio)

Schema 1. New fields are only ever added with defaults, so documents written by an older
govern still validate. ``model_dump()`` writes field aliases (``global``), so the stored JSON
has exactly the names of ``docs/architecture.md`` §9.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1

Task = Literal["binary_classification", "regression"]
PredictionSource = Literal["model", "predictions"]
GroupingKind = Literal["single", "intersection"]
SignificanceTest = Literal["z-test", "fisher-exact"]

#: Label of the group formed by rows whose sensitive value is missing.
MISSING_GROUP = "(missing)"
#: Separator of intersection labels ("female, under_25") and grouping names ("sex*age_group").
LABEL_SEPARATOR = ", "
NAME_SEPARATOR = "*"

#: Per-group rates, in the order reports show them.
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy")

#: Flags a group or grouping can carry.
FLAG_SMALL_GROUP = "small_group"
FLAG_ADVERSE_IMPACT = "adverse_impact"  # impact ratio below the four-fifths threshold
FLAG_SIGNIFICANT = "significant_disparity"  # p < 0.05 against the reference group
FLAG_REFERENCE = "reference"
FLAG_UNDEFINED = "undefined_metrics"

#: How a grouping's impact-ratio reference group was chosen (``Grouping.reference_choice``):
#: set explicitly (``--reference`` or a policy), the most selected group that is neither small
#: nor missing (the default), or the largest group when every group is small or missing.
REFERENCE_EXPLICIT = "explicit"
REFERENCE_MOST_SELECTED = "most_selected"
REFERENCE_LARGEST = "largest"
ReferenceChoice = Literal["explicit", "most_selected", "largest"]

#: EEOC four-fifths rule: an impact ratio below this is adverse impact.
FOUR_FIFTHS = 0.8
SIGNIFICANCE_LEVEL = 0.05


class _Document(BaseModel):
    """Common configuration: aliases on output, names or aliases on input, unknown keys kept out."""

    model_config = ConfigDict(
        serialize_by_alias=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
    )

    def __getitem__(self, key: str) -> Any:
        """Mapping-style access (``stats.metrics["tpr"]``) for readers of the JSON shape."""
        name = key if key in type(self).model_fields else _by_alias(type(self), key)
        if name is None:
            raise KeyError(key)
        return getattr(self, name)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the contract's field names (what is stored)."""
        return self.model_dump(mode="json", by_alias=True)


def _by_alias(cls: type[BaseModel], alias: str) -> str | None:
    for name, info in cls.model_fields.items():
        if info.alias == alias:
            return name
    return None


class Estimate(_Document):
    """A rate with its Wilson 95% interval; ``value`` is None when ``trials`` is 0."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    successes: int
    trials: int


class GroupMetrics(_Document):
    selection_rate: Estimate
    tpr: Estimate
    fpr: Estimate
    fnr: Estimate
    precision: Estimate
    accuracy: Estimate
    #: NYC LL144: share of the group scoring above the median score of the full sample.
    scoring_rate: Estimate | None = None


class GroupStats(_Document):
    group: str
    values: dict[str, str]
    n: int
    share: float
    small: bool
    metrics: GroupMetrics
    impact_ratio: float | None = None
    #: LL144 impact ratio of the scoring rate (scoring rate / highest group scoring rate).
    scoring_impact_ratio: float | None = None
    p_value: float | None = None
    test: SignificanceTest | None = None
    undefined: dict[str, str] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)


class GroupingSummary(_Document):
    demographic_parity_difference: float | None = None
    demographic_parity_ratio: float | None = None
    equalized_odds_difference: float | None = None
    equalized_odds_ratio: float | None = None
    min_impact_ratio: float | None = None
    #: Smallest LL144 scoring-rate impact ratio (only when a score column was given).
    min_scoring_impact_ratio: float | None = None


class Grouping(_Document):
    name: str
    features: list[str]
    kind: GroupingKind
    #: The group impact ratios and p-values compare with (see ``reference_reason``).
    reference_group: str
    groups: list[GroupStats]
    summary: GroupingSummary
    #: Why a summary figure is missing, e.g. {"equalized_odds_difference": "..."}.
    undefined: dict[str, str] = Field(default_factory=dict)
    #: What a reader should know about the summary, e.g. groups left out of equalized odds.
    notes: list[str] = Field(default_factory=list)
    #: How the reference group was chosen, and why, in words ("most-selected group with at
    #: least 30 rows and not missing", "set by --reference race=Caucasian"). None in
    #: documents written before the choice was recorded (then: the most selected group).
    reference_choice: ReferenceChoice | None = None
    reference_reason: str | None = None

    def reference_explained(self) -> str:
        """The reference group and why it is the reference, for readers."""
        why = self.reference_reason or "most-selected group (chosen before reasons were recorded)"
        return f"{self.reference_group} ({why})"

    def group(self, label: str) -> GroupStats:
        for stats in self.groups:
            if stats.group == label:
                return stats
        raise KeyError(label)


class DatasetInfo(_Document):
    name: str
    sha256: str
    rows: int
    columns: list[str]


class Confusion(_Document):
    tp: int
    fp: int
    tn: int
    fn: int


class Performance(_Document):
    overall: dict[str, float | None]
    confusion: Confusion | None = None
    by_group: dict[str, dict[str, dict[str, float | None]]] = Field(default_factory=dict)
    #: Classification: each group's confusion matrix, keyed like ``by_group``.
    confusion_by_group: dict[str, dict[str, Confusion]] = Field(default_factory=dict)


class GlobalImportance(_Document):
    feature: str
    mean_abs_shap: float
    lower: float | None = None
    upper: float | None = None
    rank: int
    #: Bootstrap 95% interval of the feature's rank (1 = most important).
    rank_lower: int | None = None
    rank_upper: int | None = None


class SensitiveFlag(_Document):
    feature: str
    reason: str
    #: The sensitive feature this one stands in for (None when it is itself sensitive).
    associated_with: str | None = None
    #: Strength of that association (Cramér's V or correlation ratio, 0..1).
    association: float | None = None


class Explanations(_Document):
    method: str
    sample_size: int
    seed: int
    model_sha256: str | None = None
    base_value: float | None = None
    global_: list[GlobalImportance] = Field(alias="global")
    top_features: list[str]
    sensitive_flags: list[SensitiveFlag] = Field(default_factory=list)
    #: How many per-decision explanations were stored (``explanation`` rows, kind "local").
    local_count: int = 0
    #: What the SHAP values add up to, e.g. "log-odds of 1" or "probability of 1".
    output: str = ""
    #: Rows of background data (linear and permutation explainers; 0 for trees).
    background_size: int = 0


class EvaluationResults(_Document):
    """The whole evaluation document, as stored in ``Evaluation.results``."""

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    task: Task
    dataset: DatasetInfo
    target: str
    positive_label: str | None = None
    sensitive_features: list[str]
    prediction_source: PredictionSource
    score_column: str | None = None
    min_group_size: int
    seed: int
    packages: dict[str, str | None]
    artifact_sha256: str | None = None
    performance: Performance
    fairness: list[Grouping] = Field(default_factory=list)
    explanations: Explanations | None = None
    warnings: list[str] = Field(default_factory=list)
    #: Column of predictions (prediction_source "predictions"), else None.
    prediction_column: str | None = None
    id_column: str | None = None
    artifact_format: str | None = None

    def grouping(self, name: str) -> Grouping:
        """The grouping called ``name`` ("sex" or "sex*age_group")."""
        for grouping in self.fairness:
            if grouping.name == name:
                return grouping
        raise KeyError(name)


class LocalContribution(_Document):
    feature: str
    value: str | None
    shap: float


class LocalExplanation(_Document):
    """One decision's explanation (``Explanation.payload`` for kind "local")."""

    row_id: str
    method: str
    base_value: float | None
    prediction: float | None
    predicted_label: str | None = None
    #: Contributions to the explained output, largest |SHAP| first (all features).
    contributions: list[LocalContribution]
    #: What the SHAP values add up to, e.g. "log-odds of 1" or "probability of 1".
    output: str = "probability of the positive label"


class FeatureDrift(_Document):
    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float | None
    band: Literal["stable", "moderate", "significant"] | None
    test: Literal["ks", "chi-square"] | None
    statistic: float | None = None
    p_value: float | None = None
    #: KS: Wasserstein distance in reference standard deviations; chi-square: Cramér's V.
    effect_size: float | None = None
    n_reference: int
    n_current: int
    missing_reference: int = 0
    missing_current: int = 0
    note: str | None = None


class DriftDataset(_Document):
    name: str
    sha256: str
    rows: int


class DriftResults(_Document):
    """The drift document, as stored in ``DriftRun.results``."""

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    reference: DriftDataset
    current: DriftDataset
    bins: int
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {"moderate": 0.1, "significant": 0.25}
    )
    features: list[FeatureDrift]
    prediction: FeatureDrift | None = None
    prediction_source: str | None = None
    packages: dict[str, str | None] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    #: Columns not measured, each with why (the target, an identifier, ``--exclude``).
    left_out: dict[str, str] = Field(default_factory=dict)

    @property
    def drifted(self) -> list[FeatureDrift]:
        """Features whose PSI is at least moderate (0.1)."""
        return [f for f in self.features if f.band in {"moderate", "significant"}]


__all__ = [
    "FLAG_ADVERSE_IMPACT",
    "FLAG_REFERENCE",
    "FLAG_SIGNIFICANT",
    "FLAG_SMALL_GROUP",
    "FLAG_UNDEFINED",
    "FOUR_FIFTHS",
    "GROUP_METRICS",
    "LABEL_SEPARATOR",
    "MISSING_GROUP",
    "NAME_SEPARATOR",
    "REFERENCE_EXPLICIT",
    "REFERENCE_LARGEST",
    "REFERENCE_MOST_SELECTED",
    "SCHEMA_VERSION",
    "SIGNIFICANCE_LEVEL",
    "Confusion",
    "DatasetInfo",
    "DriftDataset",
    "DriftResults",
    "Estimate",
    "EvaluationResults",
    "Explanations",
    "FeatureDrift",
    "GlobalImportance",
    "GroupMetrics",
    "GroupStats",
    "Grouping",
    "GroupingSummary",
    "LocalContribution",
    "LocalExplanation",
    "Performance",
    "SensitiveFlag",
]
