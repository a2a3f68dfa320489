"""The organisation's governance settings: what decides whether an action is allowed.

These are catalogue data, not personal configuration (docs/architecture.md §6): they change
only by a signed, audited ``govern settings apply`` and every decision records the revision
it was taken under. A person's ``GOVERN_HOME`` or environment can no longer change how many
approvals a version needs or which policies gate it.

The document is strict (``extra="forbid"``): a misspelt key would otherwise silently fall
back to a default. Partial tables (``approvals_by_tier: {high: 3}``) change only what they
name; the other entries keep their defaults.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from govern.domain.comparison import GATED_METRICS
from govern.domain.lifecycle import add_months
from govern.domain.roles import RiskTier, Role

SETTINGS_SCHEMA = "govern-settings/1"

DEFAULT_APPROVALS_BY_TIER = {"low": 1, "medium": 1, "high": 2, "critical": 2}
DEFAULT_REVALIDATION_MONTHS_BY_TIER = {"low": 36, "medium": 24, "high": 12, "critical": 12}
#: Who may take each action. Roles are enforced in services, for every front end.
DEFAULT_WORKFLOW_ROLES: dict[str, list[str]] = {
    "register": ["developer", "admin"],
    "evaluate": ["developer", "validator", "admin"],
    "check": [str(role) for role in Role],
    "report": [str(role) for role in Role],
    "submit": ["developer", "admin"],
    "request_changes": ["validator", "approver", "compliance"],
    "reject": ["validator", "approver", "compliance"],
    "approve": ["approver", "compliance"],
    "deploy": ["approver", "admin"],
    "retire": ["approver", "admin"],
    "waive": ["approver", "compliance", "admin"],
}
#: Actions a service account (a CI pipeline's key) may never take, whatever its role:
#: a machine never judges a model, never accepts a failure and never ships one.
JUDGEMENT_ACTIONS = frozenset({"approve", "reject", "request_changes", "waive", "deploy", "retire"})
ARTIFACT_FORMATS = ("skops", "onnx", "pickle", "joblib")

#: Types a skops artifact may contain beyond skops' own defaults. Taken from the
#: organisation's settings, never from the artifact itself (docs/architecture.md §10).
DEFAULT_SKOPS_TRUSTED_TYPES = [
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.ensemble._gb_losses.BinomialDeviance",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.dummy.DummyClassifier",
    # skops does not trust the fitted tree structures by default; every tree ensemble needs them
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "numpy.dtype",
    "builtins.slice",
]
DEFAULT_POLICY_BINDINGS = {
    "*": ["baseline"],
    "scope:eu-ai-act-high-risk": ["eu-ai-act-high-risk"],
    "scope:sr-26-2": ["model-risk"],
    "scope:nyc-ll144": ["nyc-ll144"],
    "scope:eeoc": ["eeoc-four-fifths"],
    "scope:nist-ai-rmf": ["nist-ai-rmf"],
}
DEFAULT_PROMOTION_MAX_REGRESSION = {
    "accuracy": 0.02,
    "roc_auc": 0.02,
    "min_impact_ratio": 0.05,
    "demographic_parity_difference": 0.05,
    "equalized_odds_difference": 0.05,
}
_TIERS = [str(t) for t in RiskTier]
_ROLES = [str(r) for r in Role]

#: How approval sets a version's next validation date (docs/architecture.md §3):
#: ``earliest`` the earlier of the card's date and the tier's cadence from the approval,
#: ``tier`` the cadence alone, ``card`` the card's date. A card without a date, or whose
#: date has passed (the approval is that validation), gets the cadence.
DueRule = Literal["earliest", "tier", "card"]
#: ``signature``: the actor is whoever holds the enrolled key that signs the action.
#: ``database-login`` (PostgreSQL): also, the session's database login must be the actor.
IdentityRule = Literal["signature", "database-login"]


def _known(kind: str, names: list[str], allowed: list[str]) -> None:
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(
            f"unknown {kind} {', '.join(map(repr, unknown))}; use {', '.join(allowed)}"
        )


#: A category or column name in a binding's ``categories`` (as a policy's feature names).
_CATEGORY = re.compile(r"^[^*\s=][^*=]{0,199}$")


class PolicyBinding(BaseModel):
    """A bound policy whose category names are mapped onto the data's columns, e.g.
    ``{policy: nyc-ll144, categories: {race_ethnicity: race}}``: the pack's rules about
    ``race_ethnicity`` then read the evaluation's ``race`` grouping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str = Field(min_length=1, max_length=1000)
    categories: dict[str, str] = Field(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for category, column in value.items():
            if not _CATEGORY.match(category) or not _CATEGORY.match(column):
                raise ValueError(
                    f"{category!r}: {column!r} is not CATEGORY: COLUMN with two column names "
                    "(e.g. race_ethnicity: race)"
                )
        return value


def _binding_kind(value: Any) -> str:
    return "binding" if isinstance(value, dict | PolicyBinding) else "name"


#: One entry of a binding: a policy name, or a policy with its category mapping.
BindingEntry = Annotated[
    Annotated[str, Tag("name")] | Annotated[PolicyBinding, Tag("binding")],
    Discriminator(_binding_kind),
]


class GovernanceSettings(BaseModel):
    """One revision of the organisation's rules (``govern settings apply``)."""

    # allow_inf_nan: a non-finite threshold cannot be stored, hashed or compared sensibly.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    schema_: Literal["govern-settings/1"] = Field(default="govern-settings/1", alias="schema")
    #: Approvals a version needs by risk tier.
    approvals_by_tier: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_APPROVALS_BY_TIER)
    )
    #: Tiers whose approval must include at least one user with the compliance role.
    compliance_approval_tiers: list[str] = Field(default_factory=lambda: ["critical"])
    #: Months from approval to the next validation, by risk tier.
    revalidation_months_by_tier: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_REVALIDATION_MONTHS_BY_TIER)
    )
    validation_due: DueRule = "earliest"
    #: Who may take each action.
    workflow_roles: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_WORKFLOW_ROLES.items()}
    )
    #: Promotion gate: how much worse than the champion a challenger may be, per metric.
    promotion_max_regression: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_PROMOTION_MAX_REGRESSION)
    )
    #: Promotion gate: the days of live evidence a shadow needs before it replaces the
    #: champion: days of its monitoring record counted beside the champion's decisions on
    #: the same requests (``govern monitor run --champion-prediction``). 0: none required.
    promotion_live_days: int = Field(default=0, ge=0, le=3660)
    #: ``govern due`` lists versions due for re-validation within this many days.
    due_soon_days: int = Field(default=30, ge=0, le=3660)
    #: Longest a waiver may last, in days from the day it is granted.
    max_waiver_days: int = Field(default=365, ge=1, le=3660)
    #: Policies bound to a version: what ``govern check REF`` runs without --policy and what
    #: approval and deployment re-check. Keys: ``*``, ``tier:NAME``, ``tag:NAME`` or
    #: ``scope:NAME``; values: shipped pack names, policy files or directories, each possibly
    #: with the columns its categories are called in the data (:class:`PolicyBinding`).
    policy_bindings: dict[str, list[BindingEntry]] = Field(
        default_factory=lambda: {
            k: list[BindingEntry](v) for k, v in DEFAULT_POLICY_BINDINGS.items()
        }
    )
    #: Artifact formats a version may be registered or evaluated with.
    allowed_artifact_formats: list[str] = Field(default_factory=lambda: list(ARTIFACT_FORMATS))
    skops_trusted_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SKOPS_TRUSTED_TYPES)
    )
    #: Evaluation standards (a single evaluation may override them; the override is recorded).
    min_group_size: int = Field(default=30, ge=1)
    max_groups: int = Field(default=1_000, ge=2)
    #: What one evaluation may add to the catalogue: the longest group label, in characters,
    #: and the stored results (document and per-decision explanations), in bytes.
    max_group_label_chars: int = Field(default=200, ge=1)
    max_evaluation_bytes: int = Field(default=20_000_000, ge=1_000)
    explain_sample: int = Field(default=1_000, ge=1)
    explain_background: int = Field(default=100, ge=1)
    explain_top_k: int = Field(default=10, ge=1)
    association_threshold: float = Field(default=0.5, ge=0, le=1)
    drift_bins: int = Field(default=10, ge=2, le=1_000)
    identity: IdentityRule = "signature"

    @field_validator("approvals_by_tier", "revalidation_months_by_tier")
    @classmethod
    def _tier_table(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        # A typo would silently fall back to a default; a zero would waive approvals or make
        # every approval due at once.
        _known("risk tier", list(value), _TIERS)
        low = [f"{tier}={count}" for tier, count in value.items() if count < 1]
        if low:
            raise ValueError(f"every tier needs at least 1, not {', '.join(low)}")
        defaults = (
            DEFAULT_APPROVALS_BY_TIER
            if info.field_name == "approvals_by_tier"
            else DEFAULT_REVALIDATION_MONTHS_BY_TIER
        )
        return {**defaults, **value}

    @field_validator("compliance_approval_tiers")
    @classmethod
    def _compliance_tiers(cls, value: list[str]) -> list[str]:
        _known("risk tier", value, _TIERS)
        return value

    @field_validator("workflow_roles")
    @classmethod
    def _workflow_roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _known("action", list(value), list(DEFAULT_WORKFLOW_ROLES))
        for action, roles in value.items():
            if not roles:
                raise ValueError(f"{action}: name at least one role that may take this action")
            _known(f"role for {action}:", roles, _ROLES)
        return {**{k: list(v) for k, v in DEFAULT_WORKFLOW_ROLES.items()}, **value}

    @field_validator("promotion_max_regression")
    @classmethod
    def _promotion_gate(cls, value: dict[str, float]) -> dict[str, float]:
        # A misspelt metric would silently drop out of the gate and let a worse model through.
        _known("metric", list(value), sorted(GATED_METRICS))
        negative = [f"{metric}={delta}" for metric, delta in value.items() if delta < 0]
        if negative:
            raise ValueError(f"a regression allowance cannot be negative: {', '.join(negative)}")
        return value

    @field_validator("policy_bindings")
    @classmethod
    def _bindings(cls, value: dict[str, list[BindingEntry]]) -> dict[str, list[BindingEntry]]:
        for key in value:
            kind, _, name = key.partition(":")
            if key != "*" and (kind not in {"tier", "tag", "scope"} or not name):
                raise ValueError(
                    f"unknown key {key!r}; use '*', 'tier:NAME', 'tag:NAME' or 'scope:NAME'"
                )
        return value

    @field_validator("allowed_artifact_formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        _known("artifact format", value, list(ARTIFACT_FORMATS))
        return value

    # --- what the rules say ---------------------------------------------------------------

    def roles_for(self, action: str) -> list[Role]:
        """The roles that may take ``action`` (a key of ``workflow_roles``)."""
        return [Role(name) for name in self.workflow_roles.get(action, [])]

    def next_validation_due(
        self, approved_on: dt.date, tier: str, card_date: dt.date | None
    ) -> dt.date:
        """The next validation date an approval on ``approved_on`` sets, by ``validation_due``."""
        cadence = add_months(approved_on, int(self.revalidation_months_by_tier.get(tier, 12)))
        # A card date that has passed is the validation this approval is: it renews it.
        if self.validation_due == "tier" or card_date is None or card_date <= approved_on:
            return cadence
        if self.validation_due == "card":
            return card_date
        return min(card_date, cadence)

    def describe_due_rule(self, tier: str) -> str:
        months = self.revalidation_months_by_tier.get(tier, 12)
        return {
            "earliest": f"the earlier of the card's date and {months} months for {tier} tier",
            "tier": f"{months} months for {tier} tier",
            "card": f"the card's date (else {months} months for {tier} tier)",
        }[self.validation_due]

    def document(self) -> dict[str, Any]:
        """The full document as JSON data (what a revision stores and hashes)."""
        return self.model_dump(mode="json", by_alias=True)


def _bound(
    bindings: Mapping[str, Sequence[str | PolicyBinding]],
    *,
    risk_tier: str,
    tags: Sequence[str],
    regulatory_scope: Sequence[str],
) -> list[tuple[str, PolicyBinding]]:
    wanted = {"*", f"tier:{risk_tier}"}
    wanted.update(f"tag:{tag}" for tag in tags)
    wanted.update(f"scope:{scope}" for scope in regulatory_scope)
    return [
        (key, value if isinstance(value, PolicyBinding) else PolicyBinding(policy=value))
        for key, values in bindings.items()
        if key in wanted
        for value in values
    ]


def bound_policy_names(
    bindings: Mapping[str, Sequence[str | PolicyBinding]],
    *,
    risk_tier: str,
    tags: Sequence[str],
    regulatory_scope: Sequence[str],
) -> list[str]:
    """The ``--policy`` arguments that ``bindings`` attach to a version, in binding order."""
    names: list[str] = []
    for _key, binding in _bound(
        bindings, risk_tier=risk_tier, tags=tags, regulatory_scope=regulatory_scope
    ):
        if binding.policy not in names:
            names.append(binding.policy)
    return names


def bound_categories(
    bindings: Mapping[str, Sequence[str | PolicyBinding]],
    *,
    risk_tier: str,
    tags: Sequence[str],
    regulatory_scope: Sequence[str],
) -> dict[str, str]:
    """The category mapping of the bindings that attach to a version (all of them merged).

    Raises:
        ValueError: two bindings map the same category onto different columns.
    """
    merged: dict[str, str] = {}
    source: dict[str, str] = {}
    for key, binding in _bound(
        bindings, risk_tier=risk_tier, tags=tags, regulatory_scope=regulatory_scope
    ):
        for category, column in binding.categories.items():
            if merged.get(category, column) != column:
                raise ValueError(
                    f"policy bindings {source[category]!r} and {key!r} map category "
                    f"{category} onto different columns ({merged[category]} and {column})"
                )
            merged[category], source[category] = column, key
    return merged


__all__ = [
    "ARTIFACT_FORMATS",
    "DEFAULT_WORKFLOW_ROLES",
    "JUDGEMENT_ACTIONS",
    "SETTINGS_SCHEMA",
    "GovernanceSettings",
    "PolicyBinding",
    "bound_categories",
    "bound_policy_names",
]
