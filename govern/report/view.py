"""The report view: everything a model card shows, as plain data detached from the catalogue.

Services assemble a :class:`ReportView` from the catalogue; templates, charts and exports
read only this view (``govern.report`` never touches the database). Every part that may not
exist yet (an evaluation, a policy run, decisions, drift, monitoring) is optional, and the
templates say so explicitly when it is absent instead of rendering a blank section.

The evaluation results are read from the stored document (``Evaluation.results``, schema 1,
see the assessment layer) through *lenient* models: unknown keys are ignored and missing
ones take defaults, so a card still renders when the document grows new fields, and a
document that cannot be read at all is reported as such in the card.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from govern import formatting
from govern.domain.card import Card

VIEW_SCHEMA = "govern-report/1"

#: The main path through the lifecycle, drawn in the card's lifecycle section.
LIFECYCLE_PATH = ("draft", "submitted", "approved", "deployed", "retired")
#: The path of a version deployed in shadow (approved -> shadow -> deployed).
SHADOW_PATH = ("draft", "submitted", "approved", "shadow", "deployed", "retired")
#: Impact ratios below this are adverse impact under the EEOC four-fifths rule.
FOUR_FIFTHS = 0.8
#: Metric names that are counts (rows evaluated, confusion cells): whole numbers, not rates.
COUNT_METRICS = frozenset({"n", "count", "support", "rows", "tp", "fp", "tn", "fn"})


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _finite(value: Any) -> float | None:
    """A float, or None for missing, non-numeric, NaN or infinite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Estimate(_Lenient):
    """A rate with its Wilson 95% interval."""

    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    successes: int | None = None
    trials: int | None = None

    @field_validator("value", "lower", "upper", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _finite(value)


class GroupStats(_Lenient):
    group: str
    values: dict[str, str] = {}
    n: int = 0
    share: float | None = None
    small: bool = False
    metrics: dict[str, Estimate] = {}
    impact_ratio: float | None = None
    p_value: float | None = None
    test: str | None = None
    undefined: dict[str, str] = {}
    flags: list[str] = []

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @field_validator("metrics", mode="before")
    @classmethod
    def _estimates(cls, value: Any) -> Any:
        # A bare number is accepted as an estimate without an interval.
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, dict) else {"value": v} for k, v in value.items()}
        return value

    @field_validator("share", "impact_ratio", "p_value", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _finite(value)

    @property
    def adverse(self) -> bool:
        return self.impact_ratio is not None and self.impact_ratio < FOUR_FIFTHS

    def estimate(self, name: str) -> Estimate | None:
        return self.metrics.get(name)


class Grouping(_Lenient):
    name: str
    features: list[str] = []
    kind: str = "single"
    reference_group: str | None = None
    #: Why ``reference_group`` is the reference (None in documents older than the reason).
    reference_reason: str | None = None
    groups: list[GroupStats] = []
    summary: dict[str, float | None] = {}
    #: Why a summary figure is missing, e.g. {"equalized_odds_difference": "..."}.
    undefined: dict[str, str] = {}
    #: What a reader should know about the summary, e.g. groups left out of equalized odds.
    notes: list[str] = []

    @field_validator("summary", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _finite(v) for k, v in value.items()}
        return value

    @property
    def reference_why(self) -> str:
        """Why the reference group is the reference, in words."""
        return (
            self.reference_reason or "the most-selected group; chosen before reasons were recorded"
        )

    @property
    def adverse_groups(self) -> list[str]:
        return [g.group for g in self.groups if g.adverse]

    @property
    def small_groups(self) -> list[str]:
        return [g.group for g in self.groups if g.small]


class Importance(_Lenient):
    feature: str
    mean_abs_shap: float | None = None
    lower: float | None = None
    upper: float | None = None
    rank: int | None = None

    @field_validator("mean_abs_shap", "lower", "upper", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _finite(value)


class SensitiveFlag(_Lenient):
    feature: str
    reason: str = ""


class Explanations(_Lenient):
    method: str = ""
    sample_size: int | None = None
    seed: int | None = None
    model_sha256: str | None = None
    base_value: float | None = None
    importances: list[Importance] = Field(default=[], alias="global")
    top_features: list[str] = []
    sensitive_flags: list[SensitiveFlag] = []
    #: What the SHAP values add up to, e.g. "log-odds of 1"; "" in older documents.
    output: str = ""

    @field_validator("base_value", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _finite(value)


class Performance(_Lenient):
    overall: dict[str, float | None] = {}
    confusion: dict[str, int] | None = None
    by_group: dict[str, dict[str, dict[str, float | None]]] = {}

    @field_validator("overall", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _finite(v) for k, v in value.items()}
        return value

    @field_validator("by_group", mode="before")
    @classmethod
    def _nested(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                str(grouping): {
                    str(group): {str(m): _finite(v) for m, v in metrics.items()}
                    for group, metrics in groups.items()
                    if isinstance(metrics, dict)
                }
                for grouping, groups in value.items()
                if isinstance(groups, dict)
            }
        return value


class DatasetInfo(_Lenient):
    name: str = ""
    sha256: str = ""
    rows: int | None = None
    columns: list[str] = []


class EvaluationResults(_Lenient):
    """The parts of the stored evaluation document that a card shows."""

    schema_version: int | None = Field(default=None, alias="schema")
    task: str = ""
    dataset: DatasetInfo | None = None
    target: str = ""
    positive_label: str | None = None
    sensitive_features: list[str] = []
    prediction_source: str = ""
    score_column: str | None = None
    min_group_size: int | None = None
    seed: int | None = None
    packages: dict[str, str] = {}
    artifact_sha256: str | None = None
    performance: Performance = Performance()
    fairness: list[Grouping] = []
    explanations: Explanations | None = None
    warnings: list[str] = []

    @field_validator("packages", mode="before")
    @classmethod
    def _versions(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value

    @field_validator("positive_label", mode="before")
    @classmethod
    def _label(cls, value: Any) -> Any:
        return None if value is None else str(value)


def read_results(document: Any) -> tuple[EvaluationResults | None, str | None]:
    """Parse a stored results document; returns (results, problem)."""
    if not isinstance(document, dict) or not document:
        return None, "the evaluation stored no results document"
    try:
        return EvaluationResults.model_validate(document), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return None, f"the stored results document cannot be read ({where}: {first['msg']})"


class EvaluationView(_Lenient):
    id: int
    created_at: dt.datetime
    created_by: str
    dataset_name: str
    dataset_sha256: str
    rows: int
    columns: list[str] = []
    target: str
    positive_label: str | None = None
    sensitive_features: list[str] = []
    prediction_source: str
    artifact_sha256: str | None = None
    packages: dict[str, str] = {}
    seed: int = 0
    results: EvaluationResults | None = None
    problem: str | None = None


class Contribution(_Lenient):
    feature: str
    shap: float
    value: str = ""


class LocalExplanation(_Lenient):
    """Why one decision came out as it did: the top feature contributions.

    SHAP contributions add up on the explainer's own scale (``output``, e.g. "log-odds of 1"
    for a linear model of a classifier): ``base_value`` + every contribution = :attr:`total`.
    ``prediction`` is the model's score as the evaluation reports it (a probability for a
    classifier), which may be on another scale.
    """

    row_id: str
    prediction: float | None = None
    base_value: float | None = None
    #: The label the model gave this decision, when the explanation recorded it.
    predicted_label: str | None = None
    #: What the contributions add up to ("log-odds of 1", "probability of 1"); "" if unknown.
    output: str = ""
    contributions: list[Contribution] = []
    #: The sum of the contributions not listed (the smaller ones), and how many there are.
    rest: float = 0.0
    rest_count: int = 0

    @property
    def total(self) -> float | None:
        """Base value plus every contribution: the explained output on its own scale."""
        if self.base_value is None:
            return None
        return self.base_value + sum(c.shap for c in self.contributions) + self.rest


def local_explanation(row_id: str, payload: Any, *, limit: int = 8) -> LocalExplanation | None:
    """Read one stored per-decision explanation; None when the payload holds no contributions.

    Accepts contributions as a list of ``{feature, shap|contribution, value}`` items or as a
    ``{feature: shap}`` mapping, under ``contributions``, ``top_contributions`` or ``shap``.
    """
    if not isinstance(payload, dict):
        return None
    raw = next(
        (payload[k] for k in ("contributions", "top_contributions", "shap") if k in payload), None
    )
    items: list[Contribution] = []
    if isinstance(raw, dict):
        raw = [{"feature": k, "shap": v} for k, v in raw.items()]
    if isinstance(raw, list):
        for item in raw:
            if not isinstance(item, dict) or "feature" not in item:
                continue
            number = next(
                (
                    _finite(item[k])
                    for k in ("shap", "contribution", "shap_value")
                    if k in item and _finite(item[k]) is not None
                ),
                None,
            )
            if number is None:
                continue
            shown = item.get("feature_value", item.get("value") if "shap" in item else None)
            items.append(
                Contribution(
                    feature=str(item["feature"]),
                    shap=number,
                    value="" if shown is None else str(shown),
                )
            )
    if not items:
        return None
    items.sort(key=lambda c: abs(c.shap), reverse=True)
    shown, rest = items[:limit], items[limit:]
    prediction = next(
        (_finite(payload[k]) for k in ("prediction", "score", "probability") if k in payload),
        None,
    )
    return LocalExplanation(
        row_id=row_id,
        prediction=prediction,
        base_value=_finite(payload.get("base_value")),
        predicted_label=(
            None if payload.get("predicted_label") is None else str(payload["predicted_label"])
        ),
        output=str(payload.get("output") or ""),
        contributions=shown,
        rest=sum(c.shap for c in rest),
        rest_count=len(rest),
    )


class DriftFeature(_Lenient):
    feature: str
    kind: str = ""
    psi: float | None = None
    band: str = ""
    test: str = ""
    statistic: float | None = None
    p_value: float | None = None
    effect_size: float | None = None

    @field_validator("psi", "statistic", "p_value", "effect_size", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _finite(value)


class DriftView(_Lenient):
    id: int
    created_at: dt.datetime
    created_by: str
    reference_name: str
    reference_sha256: str
    current_name: str
    current_sha256: str
    features: list[DriftFeature] = []
    prediction: DriftFeature | None = None


def drift_features(results: Any) -> tuple[list[DriftFeature], DriftFeature | None]:
    """Per-feature drift rows and the prediction's, from a stored drift results document.

    Features may be a list of ``{feature, ...}`` items or a ``{feature: {...}}`` mapping.
    """
    if not isinstance(results, dict):
        return [], None
    raw = results.get("features", [])
    if isinstance(raw, dict):
        raw = [{"feature": name, **row} for name, row in raw.items() if isinstance(row, dict)]
    features = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and "feature" in item:
            try:
                features.append(DriftFeature.model_validate(_drift_item(item)))
            except ValidationError:
                continue
    prediction = None
    raw_prediction = results.get("prediction")
    if isinstance(raw_prediction, dict):
        try:
            prediction = DriftFeature.model_validate(
                _drift_item({"feature": "(prediction)", **raw_prediction})
            )
        except ValidationError:
            prediction = None
    return features, prediction


def _drift_item(item: dict[str, Any]) -> dict[str, Any]:
    fixed = dict(item)
    fixed["feature"] = str(fixed["feature"])
    for key in ("kind", "band", "test"):
        if key in fixed:
            fixed[key] = "" if fixed[key] is None else str(fixed[key])
    return fixed


class WaiverView(_Lenient):
    rule_id: str
    reason: str
    granted_by: str
    granted_role: str
    expires_on: dt.date
    created_at: dt.datetime
    active: bool


class RuleView(_Lenient):
    policy_id: str
    rule_id: str
    subject: str = ""
    status: str
    severity: str
    title: str = ""
    message: str = ""
    source: str = ""
    evidence: dict[str, Any] = {}

    @property
    def truncated(self) -> bool:
        """Whether the stored message names only the first findings ("…; and 4 more")."""
        return _MORE.search(self.message) is not None

    @property
    def findings(self) -> list[str]:
        """Every finding the rule's evidence records, one line each (a signed card lists
        them all; the stored message, written for terminals, names the first few)."""
        inner = self.evidence.get("evidence", self.evidence)
        if not isinstance(inner, dict):
            return []
        lines: list[str] = []
        for key in _FINDING_LISTS:
            items = inner.get(key)
            for item in items if isinstance(items, list) else []:
                lines.append(_finding(key, item))
        return lines


_MORE = re.compile(r"\band \d[\d,]* more\b")
#: The evidence lists that hold a rule's findings, by the rule kinds that record them.
_FINDING_LISTS = ("violations", "hits", "drifted", "missing", "short")


def _finding(key: str, item: Any) -> str:
    """One recorded finding as a line: the group or feature first, then its figures."""
    if not isinstance(item, dict):
        return f"{item} is missing" if key == "missing" else str(item)
    rest = dict(item)
    where = ""
    grouping = rest.pop("grouping", None) or rest.pop("scope", None)
    if grouping is not None and "group" in rest:
        where = formatting.group(str(grouping), rest.pop("group"))
    elif grouping is not None:
        where = str(grouping)
    elif "feature" in rest:
        where = str(rest.pop("feature"))
    elif "field" in rest:
        where = str(rest.pop("field"))
    figures = []
    for name, value in rest.items():
        if value is None:
            continue
        if isinstance(value, float):
            text = formatting.p_value(value) if name == "p_value" else formatting.compact(value)
        else:
            text = formatting.number(value) if isinstance(value, int) else str(value)
        figures.append(f"{name.replace('_', ' ')} {text}")
    return f"{where}: {', '.join(figures)}" if where and figures else where or ", ".join(figures)


#: Rule statuses that mean "not met" (as in the policy engine).
UNMET_STATUSES = frozenset({"fail", "error"})


class PolicyPack(_Lenient):
    """One policy file (pack) of a run, with its rules' results and the run it came from."""

    id: str
    title: str = ""
    version: str = ""
    source: str = ""
    sha256: str = ""
    rules: list[RuleView] = []
    run_id: int | None = None
    checked_at: dt.datetime | None = None
    checked_by: str = ""
    stage: str = ""
    #: Whether the governance settings' ``policy_bindings`` attach the pack to the version
    #: (the workflow's gates check those); a pack checked only with an explicit ``--policy``
    #: is shown for the record but does not count towards the card's outcome.
    bound: bool = True

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rule in self.rules:
            counts[rule.status] = counts.get(rule.status, 0) + 1
        return counts

    @property
    def outcome(self) -> str:
        """``fail`` if a rule of severity error is unmet, ``warn`` if another is, else ``pass``."""
        unmet = [r for r in self.rules if r.status in UNMET_STATUSES]
        if any(r.severity == "error" for r in unmet):
            return "fail"
        return "warn" if unmet else "pass"


class PolicyView(_Lenient):
    id: int
    created_at: dt.datetime
    created_by: str
    outcome: str
    summary: dict[str, Any] = {}
    packs: list[PolicyPack] = []

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for pack in self.packs:
            for status, count in pack.counts.items():
                counts[status] = counts.get(status, 0) + count
        return counts


class SignedDecision(_Lenient):
    """The signed audit event of a decision: what ``govern verify`` re-checks offline.

    ``body`` is the exact text that was signed (``docs/audit-log-format.md``), ``signature``
    its base64 signature, ``public_key`` the PEM key it verifies under, whose SHA-256
    fingerprint the body names.
    """

    seq: int
    body: str
    signature: str
    public_key: str


class DecisionView(_Lenient):
    action: str
    from_state: str
    to_state: str
    actor: str
    role: str
    comment: str = ""
    created_at: dt.datetime
    #: The person's full name, as their catalogue user record has it.
    display_name: str = ""
    #: Fingerprint of the key that signed the decision (None before signing began).
    key: str | None = None
    #: ``verified`` (its signature checks against the key enrolled to the actor), or why not.
    verification: str = ""
    settings_revision: int | None = None
    signed_event: SignedDecision | None = None

    @property
    def who(self) -> str:
        """``Display Name (user)``, or the user name alone when no display name is known."""
        name = self.display_name.strip()
        return f"{name} ({self.actor})" if name and name != self.actor else self.actor

    @property
    def status(self) -> str:
        """``verified``, ``before signing`` or ``not verified`` (from :attr:`verification`)."""
        if self.verification == "verified":
            return "verified"
        if self.verification.startswith("recorded before signing began"):
            return "before signing"
        return "not verified"


class DecisionSignatures(_Lenient):
    """Whether every decision of a card was signed by its maker and verified."""

    total: int = 0
    verified: int = 0
    before_signing: int = 0
    not_verified: int = 0

    @classmethod
    def of(cls, decisions: list[DecisionView]) -> DecisionSignatures:
        statuses = [d.status for d in decisions]
        return cls(
            total=len(statuses),
            verified=statuses.count("verified"),
            before_signing=statuses.count("before signing"),
            not_verified=statuses.count("not verified"),
        )

    @property
    def status(self) -> str:
        """``none`` (no decisions), ``verified`` or ``not verified``."""
        if not self.total:
            return "none"
        return "not verified" if self.not_verified else "verified"

    @property
    def summary(self) -> str:
        if not self.total:
            return "No decisions yet, so there is no signature to check."
        if self.not_verified:
            noun = "decision" if self.not_verified == 1 else "decisions"
            return (
                f"{self.not_verified} of {self.total} {noun} could NOT be verified: the record "
                "of who decided what cannot be relied on (see the verification of each)."
            )
        text = ""
        if self.verified:
            one = self.verified == 1
            if self.verified == self.total:
                lead = "The decision was" if one else f"All {self.total} decisions were"
            else:
                lead = f"{self.verified} of {self.total} decisions {'was' if one else 'were'}"
            text = (
                f"{lead} signed by the person who took {'it' if one else 'them'}, with the "
                "personal key enrolled to them, and "
                f"{'its signature' if one else 'every signature'} verified."
            )
        if self.before_signing:
            one = self.before_signing == 1
            text += (
                f" {self.before_signing} {'decision was' if one else 'decisions were'} recorded "
                f"before signing began and {'is' if one else 'are'} protected by the audit log's "
                "hash chain only."
            )
        return text.strip()


#: ``govern monitor show --window`` values, as the card names their windows.
WINDOW_NAMES = {"1d": "daily", "1w": "weekly", "1mo": "monthly"}


class MonitoringWindow(_Lenient):
    """One window of production monitoring: what it counted and its headline figures."""

    start: dt.date
    #: The first day after the window.
    end: dt.date
    rows: int = 0
    outcomes_known: int = 0
    #: PSI of the window's score histogram against the first window's (None without scores).
    score_psi: float | None = None
    #: The lowest impact ratio of any group of any grouping in the window, and its group.
    lowest_impact_ratio: float | None = None
    lowest_grouping: str | None = None
    lowest_group: str | None = None
    #: Whether that group is below the minimum group size (its ratio is less reliable).
    lowest_small: bool = False

    @field_validator("score_psi", "lowest_impact_ratio", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _finite(value)

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)


class GroupSeries(_Lenient):
    """One group's selection rate in each window (None where the group had no rows)."""

    group: str
    rates: list[float | None] = []

    @field_validator("rates", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return [_finite(v) for v in value] if isinstance(value, list) else value


class MonitoredGrouping(_Lenient):
    """A sensitive feature (or intersection) over the windows: one series per group."""

    name: str
    kind: str = "single"
    groups: list[GroupSeries] = []


class MonitoredFile(_Lenient):
    """A prediction log counted into the record: its name (never its directory), hash, rows."""

    name: str
    sha256: str
    rows: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    counted_at: dt.datetime
    counted_by: str


class MonitoringAlert(_Lenient):
    """A window in which a monitoring rule was broken: where, which figure, what it was in
    words, and the rule (``govern.services.monitoring.alerts``)."""

    start: dt.date
    end: dt.date
    #: The group (``sex=female``) or ``scores`` for the score distribution.
    subject: str
    figure: str
    value: float | None = None
    threshold: float | None = None
    #: The figure against its rule, e.g. ``impact ratio 0.085, outside >= 0.8 (...)``.
    detail: str
    #: The rule broken, ``policy/rule``.
    rule: str = ""

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def message(self) -> str:
        return f"{self.subject}: {self.detail}"


class MonitoringView(_Lenient):
    """The version's production monitoring, from ``govern monitor show``: its windows, the
    selection rate of each group over them, the logs counted, and the alerts.

    ``alerts`` are the windows in which a rule of the production-monitoring pack was broken,
    as the rules judge them; the two lines are those rules' thresholds (None: no such rule).
    """

    #: ``1d``, ``1w`` or ``1mo``.
    window: str
    features: list[str] = []
    windows: list[MonitoringWindow] = []
    groupings: list[MonitoredGrouping] = []
    files: list[MonitoredFile] = []
    alerts: list[MonitoringAlert] = []
    impact_ratio_line: float | None = None
    score_psi_line: float | None = None

    @property
    def window_name(self) -> str:
        return WINDOW_NAMES.get(self.window, self.window)

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.windows)

    @property
    def outcomes_known(self) -> int:
        return sum(w.outcomes_known for w in self.windows)

    @property
    def single_groupings(self) -> list[MonitoredGrouping]:
        return [g for g in self.groupings if g.kind == "single"]

    @property
    def alert_starts(self) -> set[dt.date]:
        """The first days of the windows that hold an alert (the card highlights them): a
        rule's window may be a day inside a weekly window shown."""
        return {
            w.start
            for w in self.windows
            if any(a.start < w.end and a.end > w.start for a in self.alerts)
        }

    def alerts_in(self, window: MonitoringWindow) -> list[MonitoringAlert]:
        return [a for a in self.alerts if a.start < window.end and a.end > window.start]


def monitoring_view(
    shown: Any,
    alerts: Sequence[Mapping[str, Any]] = (),
    *,
    impact_ratio_line: float | None = None,
    score_psi_line: float | None = None,
) -> MonitoringView | None:
    """The card's view of a ``govern.services.monitoring.show`` result and the alerts of
    ``govern.services.monitoring.alerts``; None when nothing was ever counted."""
    if not isinstance(shown, dict) or not (shown.get("windows") or shown.get("files")):
        return None
    windows: list[MonitoringWindow] = []
    series: dict[str, tuple[str, dict[str, list[float | None]]]] = {}
    raw_windows = [w for w in shown.get("windows") or [] if isinstance(w, dict)]
    for index, raw in enumerate(raw_windows):
        groupings = [Grouping.model_validate(g) for g in raw.get("groupings") or []]
        windows.append(_window(raw, groupings))
        for grouping in groupings:
            _, rates = series.setdefault(grouping.name, (grouping.kind, {}))
            for stats in grouping.groups:
                estimate = stats.estimate("selection_rate")
                line = rates.setdefault(stats.group, [None] * len(raw_windows))
                line[index] = estimate.value if estimate else None
    files = [
        MonitoredFile(
            name=Path(str(f["path"])).name,
            sha256=str(f["sha256"]),
            rows=int(f.get("rows") or 0),
            first=f.get("first"),
            last=f.get("last"),
            counted_at=f["counted_at"],
            counted_by=str(f["counted_by"]),
        )
        for f in shown.get("files") or []
        if isinstance(f, dict)
    ]
    return MonitoringView(
        window=str(shown.get("window") or ""),
        features=[str(f) for f in shown.get("features") or []],
        windows=windows,
        groupings=[
            MonitoredGrouping(
                name=name,
                kind=kind,
                groups=[GroupSeries(group=g, rates=r) for g, r in rates.items()],
            )
            for name, (kind, rates) in series.items()
        ],
        files=files,
        alerts=[MonitoringAlert.model_validate(dict(a)) for a in alerts],
        impact_ratio_line=impact_ratio_line,
        score_psi_line=score_psi_line,
    )


def _window(raw: dict[str, Any], groupings: list[Grouping]) -> MonitoringWindow:
    lowest: tuple[float, Grouping, GroupStats] | None = None
    for grouping in groupings:
        for stats in grouping.groups:
            if stats.impact_ratio is not None and (
                lowest is None or stats.impact_ratio < lowest[0]
            ):
                lowest = (stats.impact_ratio, grouping, stats)
    return MonitoringWindow(
        start=raw["start"],
        end=raw["end"],
        rows=int(raw.get("rows") or 0),
        outcomes_known=int(raw.get("outcomes_known") or 0),
        score_psi=raw.get("score_psi"),
        lowest_impact_ratio=None if lowest is None else lowest[0],
        lowest_grouping=None if lowest is None else lowest[1].name,
        lowest_group=None if lowest is None else lowest[2].group,
        lowest_small=lowest is not None and lowest[2].small,
    )


class ArtifactView(_Lenient):
    file_name: str | None = None
    sha256: str | None = None
    size: int | None = None
    format: str | None = None


class ModelInfo(_Lenient):
    name: str
    version: str
    state: str
    risk_tier: str
    owner: str
    business_owner: str = ""
    business_unit: str = ""
    description: str = ""
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    next_validation_due: dt.date | None = None
    card_sha256: str
    artifact: ArtifactView = ArtifactView()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class ReportView(_Lenient):
    """Everything one model card shows."""

    schema_id: str = VIEW_SCHEMA
    #: The id of the catalogue the card comes from: every signed decision names it.
    catalogue_id: str = ""
    generated_at: dt.datetime
    generated_by: str
    govern_version: str
    model: ModelInfo
    card: Card
    evaluation: EvaluationView | None = None
    local_explanations: list[LocalExplanation] = []
    #: How many per-decision explanations the evaluation has recorded in all (the card
    #: carries only the first few of them).
    local_explanation_count: int = 0
    policy: PolicyView | None = None
    waivers: list[WaiverView] = []
    decisions: list[DecisionView] = []
    drift: DriftView | None = None
    #: Versions of the packages that rendered this card (jinja2, matplotlib, weasyprint...).
    packages: dict[str, str] = {}
    #: Other versions of the model, newest first, for context.
    other_versions: list[str] = []
    #: Packs checked against this version in earlier runs but not in the latest one (each
    #: with its own latest result), so a card never hides a pack's failure behind a later
    #: run of other packs.
    earlier_packs: list[PolicyPack] = []
    #: Production monitoring (``govern monitor run``); None when no log was ever counted.
    monitoring: MonitoringView | None = None

    @property
    def results(self) -> EvaluationResults | None:
        return self.evaluation.results if self.evaluation else None

    @property
    def decision_signatures(self) -> DecisionSignatures:
        return DecisionSignatures.of(self.decisions)

    @property
    def lifecycle_path(self) -> tuple[str, ...]:
        if self.model.state == "shadow":
            return SHADOW_PATH
        return LIFECYCLE_PATH

    @property
    def policy_packs(self) -> list[PolicyPack]:
        """The latest result of every pack ever checked against this version."""
        return [*(self.policy.packs if self.policy else []), *self.earlier_packs]

    @property
    def counted_packs(self) -> list[PolicyPack]:
        """The packs the card's outcome counts: those bound to the version.

        When none of the checked packs is bound (a catalogue without ``policy_bindings``,
        or a version checked only with explicit policies), every pack counts.
        """
        bound = [p for p in self.policy_packs if p.bound]
        return bound or self.policy_packs

    @property
    def unbound_packs(self) -> list[PolicyPack]:
        """Packs shown for the record that the outcome does not count."""
        counted = {id(p) for p in self.counted_packs}
        return [p for p in self.policy_packs if id(p) not in counted]

    @property
    def policy_outcome(self) -> str | None:
        """The worst outcome over :attr:`counted_packs` (None when nothing was checked)."""
        if self.policy is None:
            return None
        if not self.counted_packs:
            return self.policy.outcome
        outcomes = {p.outcome for p in self.counted_packs}
        return next((o for o in ("fail", "warn") if o in outcomes), "pass")

    @property
    def policy_counts(self) -> dict[str, int]:
        """Rule results by status over :attr:`counted_packs`."""
        counts: dict[str, int] = {}
        for pack in self.counted_packs:
            for status, count in pack.counts.items():
                counts[status] = counts.get(status, 0) + count
        return counts


__all__ = [
    "COUNT_METRICS",
    "FOUR_FIFTHS",
    "LIFECYCLE_PATH",
    "SHADOW_PATH",
    "VIEW_SCHEMA",
    "ArtifactView",
    "Contribution",
    "DecisionSignatures",
    "DecisionView",
    "DriftFeature",
    "DriftView",
    "Estimate",
    "EvaluationResults",
    "EvaluationView",
    "Explanations",
    "GroupSeries",
    "GroupStats",
    "Grouping",
    "Importance",
    "LocalExplanation",
    "ModelInfo",
    "MonitoredFile",
    "MonitoredGrouping",
    "MonitoringAlert",
    "MonitoringView",
    "MonitoringWindow",
    "PolicyPack",
    "PolicyView",
    "ReportView",
    "RuleView",
    "SensitiveFlag",
    "SignedDecision",
    "WaiverView",
    "drift_features",
    "local_explanation",
    "monitoring_view",
    "read_results",
]
