"""The model card schema (version 1).

Sections follow *Model Cards for Model Reporting* (Mitchell et al., 2019): model details,
intended use, factors, metrics, evaluation data, training data, quantitative analyses,
ethical considerations, caveats and recommendations; plus a ``governance`` section with what
a model-risk inventory needs. ``model_details``, ``intended_use`` and ``governance`` are
required to register a card; the other sections may be absent at registration, and the
``baseline`` policy pack reports them as missing rather than the loader refusing the card.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from govern.domain.refs import NAME_PATTERN, is_semver
from govern.domain.roles import RiskTier

CARD_SCHEMA_VERSION = 1

#: The nine sections of Mitchell et al. (2019), in the paper's order.
MODEL_CARD_SECTIONS = (
    "model_details",
    "intended_use",
    "factors",
    "metrics",
    "evaluation_data",
    "training_data",
    "quantitative_analyses",
    "ethical_considerations",
    "caveats_and_recommendations",
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
TextList = Annotated[list[Text], Field(max_length=200)]
LineList = Annotated[list[Line], Field(max_length=200)]


class _Section(BaseModel):
    # allow_inf_nan: "NaN" or "1e400" as text would otherwise become a float nobody can store.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelDetails(_Section):
    name: Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
    version: str
    description: Text = ""
    model_type: Line = ""
    developers: LineList = []
    date: dt.date | None = None
    license: Line = ""
    citation: Text = ""
    references: LineList = []
    contact: Line = ""

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not is_semver(value):
            raise ValueError(f"{value!r} is not a semantic version such as 1.2.0")
        if len(value) > 100:  # the catalogue's version column holds 128 characters
            raise ValueError("a version is at most 100 characters long")
        return value


class IntendedUse(_Section):
    primary_uses: TextList = []
    primary_users: LineList = []
    out_of_scope: TextList = []


class Factors(_Section):
    relevant: LineList = []
    evaluation: LineList = []
    #: Columns the owner declares sensitive; evaluation and explanations watch them.
    sensitive_features: LineList = []


class Metrics(_Section):
    performance_measures: LineList = []
    decision_threshold: float | None = None
    variation_approaches: Text = ""


class Dataset(_Section):
    name: Line
    description: Text = ""
    source: Line = ""
    license: Line = ""
    rows: Annotated[int, Field(ge=0)] | None = None
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    preprocessing: Text = ""


class DataSection(_Section):
    datasets: Annotated[list[Dataset], Field(max_length=50)] = []
    motivation: Text = ""
    preprocessing: Text = ""


class QuantitativeAnalyses(_Section):
    unitary: Text = ""
    intersectional: Text = ""


class Consideration(_Section):
    risk: Text
    mitigation: Text = ""


class Governance(_Section):
    owner: Line
    business_owner: Line = ""
    business_unit: Line = ""
    risk_tier: RiskTier
    regulatory_scope: LineList = []
    tags: LineList = []
    next_validation_due: dt.date | None = None


class Card(BaseModel):
    """A model card as written by the model's owner."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    schema_version: Literal[1] = Field(alias="schema")
    model_details: ModelDetails
    intended_use: IntendedUse
    factors: Factors | None = None
    metrics: Metrics | None = None
    evaluation_data: DataSection | None = None
    training_data: DataSection | None = None
    quantitative_analyses: QuantitativeAnalyses | None = None
    ethical_considerations: Annotated[list[Consideration], Field(max_length=200)] | None = None
    caveats_and_recommendations: TextList | None = None
    governance: Governance

    @field_validator("schema_version", mode="before")
    @classmethod
    def _schema_not_a_boolean(cls, value: Any) -> Any:
        # YAML's `true` is a bool, and True == 1 would otherwise pass as schema 1.
        if isinstance(value, bool):
            raise ValueError("schema must be a version number such as 1, not true/false")
        return value

    @property
    def name(self) -> str:
        return self.model_details.name

    @property
    def version(self) -> str:
        return self.model_details.version

    def to_json_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data, keys as in the YAML file."""
        return self.model_dump(mode="json", by_alias=True)

    def missing_sections(self) -> list[str]:
        """Model Card sections that are absent or empty."""
        data = self.model_dump()
        return [name for name in MODEL_CARD_SECTIONS if not _has_content(data.get(name))]


def _has_content(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return any(_has_content(v) for v in value.values())
    if isinstance(value, list | tuple | str):
        return len(value) > 0
    return True
