"""Champion against challenger: performance and fairness deltas from two evaluations.

Works on stored evaluation result documents (``govern.assess.results`` shape) as plain
data, so comparing never needs the assessment stack. Deltas are challenger minus champion;
``worse_by`` is how much the challenger is worse in the metric's own direction (positive =
worse), which is what the promotion gate judges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

HIGHER_IS_BETTER = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "r2",
        "min_impact_ratio",
        "demographic_parity_ratio",
        "equalized_odds_ratio",
    }
)
LOWER_IS_BETTER = frozenset(
    {"brier", "mae", "rmse", "demographic_parity_difference", "equalized_odds_difference"}
)
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "accuracy")
#: Metrics the promotion gate can judge: those with a direction.
GATED_METRICS = HIGHER_IS_BETTER | LOWER_IS_BETTER


@dataclass(frozen=True, slots=True)
class MetricDelta:
    metric: str
    scope: str  # "overall" or a grouping name such as "sex" or "sex*age_group"
    champion: float | None
    challenger: float | None

    @property
    def delta(self) -> float | None:
        if self.champion is None or self.challenger is None:
            return None
        return self.challenger - self.champion

    @property
    def worse_by(self) -> float | None:
        delta = self.delta
        if delta is None:
            return None
        if self.metric in HIGHER_IS_BETTER:
            return -delta
        if self.metric in LOWER_IS_BETTER:
            return delta
        return None


@dataclass(frozen=True, slots=True)
class GroupDelta:
    grouping: str
    group: str
    metric: str
    champion: float | None
    challenger: float | None

    @property
    def delta(self) -> float | None:
        if self.champion is None or self.challenger is None:
            return None
        return self.challenger - self.champion


@dataclass
class Comparison:
    champion: str
    challenger: str
    same_data: bool
    overall: list[MetricDelta] = field(default_factory=list)
    fairness: list[MetricDelta] = field(default_factory=list)
    groups: list[GroupDelta] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def row(item: MetricDelta | GroupDelta) -> dict[str, Any]:
            data = asdict(item)
            data["delta"] = item.delta
            if isinstance(item, MetricDelta):
                data["worse_by"] = item.worse_by
            return data

        return {
            "champion": self.champion,
            "challenger": self.challenger,
            "same_data": self.same_data,
            "overall": [row(m) for m in self.overall],
            "fairness": [row(m) for m in self.fairness],
            "groups": [row(g) for g in self.groups],
            "warnings": list(self.warnings),
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _estimate(value: Any) -> float | None:
    """A metric stored either as a number or as an Estimate ``{"value": ...}``."""
    if isinstance(value, Mapping):
        return _number(value.get("value"))
    return _number(value)


def compare_results(
    champion_ref: str,
    champion: Mapping[str, Any],
    challenger_ref: str,
    challenger: Mapping[str, Any],
) -> Comparison:
    """Side-by-side figures of two evaluation result documents."""
    sha_a = (champion.get("dataset") or {}).get("sha256")
    sha_b = (challenger.get("dataset") or {}).get("sha256")
    result = Comparison(champion_ref, challenger_ref, same_data=bool(sha_a) and sha_a == sha_b)
    if not result.same_data:
        result.warnings.append(
            "the two evaluations used different data sets; deltas mix model and data effects"
        )
    perf_a = (champion.get("performance") or {}).get("overall") or {}
    perf_b = (challenger.get("performance") or {}).get("overall") or {}
    for metric in sorted(set(perf_a) | set(perf_b)):
        a, b = _number(perf_a.get(metric)), _number(perf_b.get(metric))
        if a is not None or b is not None:
            result.overall.append(MetricDelta(metric, "overall", a, b))

    groupings_a = {g.get("name"): g for g in champion.get("fairness") or []}
    groupings_b = {g.get("name"): g for g in challenger.get("fairness") or []}
    for name in [n for n in groupings_a if n in groupings_b]:
        ga, gb = groupings_a[name], groupings_b[name]
        summary_a, summary_b = ga.get("summary") or {}, gb.get("summary") or {}
        for metric in sorted(set(summary_a) | set(summary_b)):
            result.fairness.append(
                MetricDelta(
                    metric,
                    str(name),
                    _number(summary_a.get(metric)),
                    _number(summary_b.get(metric)),
                )
            )
        groups_a = {g.get("group"): g for g in ga.get("groups") or []}
        groups_b = {g.get("group"): g for g in gb.get("groups") or []}
        for label in [g for g in groups_a if g in groups_b]:
            metrics_a = groups_a[label].get("metrics") or {}
            metrics_b = groups_b[label].get("metrics") or {}
            for metric in GROUP_METRICS:
                result.groups.append(
                    GroupDelta(
                        str(name),
                        str(label),
                        metric,
                        _estimate(metrics_a.get(metric)),
                        _estimate(metrics_b.get(metric)),
                    )
                )
            result.groups.append(
                GroupDelta(
                    str(name),
                    str(label),
                    "impact_ratio",
                    _number(groups_a[label].get("impact_ratio")),
                    _number(groups_b[label].get("impact_ratio")),
                )
            )
    missing = sorted(set(groupings_a) ^ set(groupings_b), key=str)
    if missing:
        result.warnings.append(
            "fairness groupings evaluated for only one of the two versions: "
            + ", ".join(str(m) for m in missing)
        )
    return result


def regressions(comparison: Comparison, max_regression: Mapping[str, float]) -> list[str]:
    """Why the challenger may not replace the champion; empty when it may."""
    reasons = []
    for item in [*comparison.overall, *comparison.fairness]:
        if item.metric not in max_regression:
            continue
        worse = item.worse_by
        if worse is not None and worse > max_regression[item.metric] + 1e-12:
            scope = "" if item.scope == "overall" else f" for {item.scope}"
            reasons.append(
                f"{item.metric}{scope} is {item.challenger:.3f} against the champion's "
                f"{item.champion:.3f} (worse by {worse:.3f}, allowed "
                f"{max_regression[item.metric]:g})"
            )
    return reasons
