"""Reading the stored evaluation results document (``govern.assess.results`` shape) as data.

The engine reads plain mappings rather than validating a pydantic model per subject: that
keeps a check over thousands of stored versions fast, and a document of an unexpected
shape becomes an ``error`` outcome for the rules that need it, not a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MISSING_GROUP = "(missing)"


@dataclass(frozen=True, slots=True)
class GroupingView:
    """One grouping (a sensitive feature or an intersection) of an evaluation."""

    name: str
    features: tuple[str, ...]
    kind: str
    data: Mapping[str, Any]

    @property
    def groups(self) -> list[Mapping[str, Any]]:
        return list(self.data.get("groups") or [])

    @property
    def summary(self) -> Mapping[str, Any]:
        return self.data.get("summary") or {}

    @property
    def reference_group(self) -> str | None:
        ref = self.data.get("reference_group")
        return str(ref) if ref is not None else None


def groupings(results: Mapping[str, Any]) -> list[GroupingView]:
    views = []
    for item in results.get("fairness") or []:
        name = str(item["name"])
        features = tuple(str(f) for f in (item.get("features") or name.split("*")))
        kind = str(item.get("kind") or ("intersection" if len(features) > 1 else "single"))
        views.append(GroupingView(name=name, features=features, kind=kind, data=item))
    return views


def select_groupings(
    available: Sequence[GroupingView], wanted: Sequence[str] | None, choice: str = "single"
) -> tuple[list[GroupingView], list[str]]:
    """The groupings a rule is about, and the wanted features that were not evaluated.

    ``wanted=None`` means every evaluated feature. ``choice`` is ``single`` (each feature on
    its own), ``intersection`` (intersections whose features are all wanted) or ``both``.
    """
    singles = [g for g in available if g.kind != "intersection"]
    chosen: list[GroupingView] = []
    if choice in {"single", "both"}:
        chosen += [g for g in singles if wanted is None or g.name in wanted]
    if choice in {"intersection", "both"}:
        chosen += [
            g
            for g in available
            if g.kind == "intersection" and (wanted is None or set(g.features) <= set(wanted))
        ]
    evaluated = {g.name for g in singles}
    if wanted is None:
        missing = [] if available else ["any sensitive feature"]
    else:
        missing = [f for f in wanted if f not in evaluated]
    return chosen, missing


def value_of(raw: Any) -> float | None:
    """A figure that may be stored bare or as an Estimate ``{value, lower, upper, ...}``."""
    if isinstance(raw, Mapping):
        raw = raw.get("value")
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    raise TypeError(f"expected a number, got {type(raw).__name__}")


def interval_of(raw: Any) -> tuple[float | None, float | None]:
    if isinstance(raw, Mapping):
        lower, upper = raw.get("lower"), raw.get("upper")
        return (
            float(lower) if isinstance(lower, int | float) else None,
            float(upper) if isinstance(upper, int | float) else None,
        )
    return None, None


def overall_metric(results: Mapping[str, Any], metric: str) -> tuple[bool, float | None]:
    """``(reported, value)`` of an overall performance metric."""
    overall = (results.get("performance") or {}).get("overall") or {}
    if metric not in overall:
        return False, None
    return True, value_of(overall[metric])


def group_sizes(results: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """``(grouping, group) -> n`` from the fairness section."""
    sizes: dict[tuple[str, str], int] = {}
    for grouping in groupings(results):
        for group in grouping.groups:
            sizes[(grouping.name, str(group.get("group")))] = int(group.get("n") or 0)
    return sizes


def fmt(value: float | None) -> str:
    """A figure for a message: three decimals without trailing zeros."""
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:.4g}"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in {"", "-0"} else "0"


__all__ = [
    "MISSING_GROUP",
    "GroupingView",
    "fmt",
    "group_sizes",
    "groupings",
    "interval_of",
    "overall_metric",
    "select_groupings",
    "value_of",
]
