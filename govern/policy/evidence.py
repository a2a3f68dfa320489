"""Reading the stored evaluation results document (``govern.assess.results`` shape) as data.

The engine reads plain mappings rather than validating a pydantic model per subject: that
keeps a check over thousands of stored versions fast, and a document of an unexpected
shape becomes an ``error`` outcome for the rules that need it, not a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

MISSING_GROUP = "(missing)"


class GroupingView(NamedTuple):
    """One grouping (a sensitive feature or an intersection) of an evaluation.

    A named tuple: a batch check builds several per version, and a frozen dataclass's
    ``__init__`` measured twice as slow.
    """

    name: str
    features: tuple[str, ...]
    kind: str
    groups: tuple[Mapping[str, Any], ...] = ()
    summary: Mapping[str, Any] = MappingProxyType({})
    reference_group: str | None = None


def groupings(
    results: Mapping[str, Any], cache: dict[Any, Any] | None = None
) -> list[GroupingView]:
    """The fairness groupings of a results document (memoised in ``cache`` when given)."""
    if cache is not None:
        key = ("groupings", id(results))
        found = cache.get(key)
        if found is None:
            found = cache[key] = groupings(results)
        return found
    views = []
    for item in results.get("fairness") or []:
        name = str(item["name"])
        features = tuple(str(f) for f in (item.get("features") or name.split("*")))
        kind = str(item.get("kind") or ("intersection" if len(features) > 1 else "single"))
        reference = item.get("reference_group")
        views.append(
            GroupingView(
                name=name,
                features=features,
                kind=kind,
                groups=tuple(item.get("groups") or ()),
                summary=item.get("summary") or {},
                reference_group=None if reference is None else str(reference),
            )
        )
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
    if choice != "intersection":
        chosen += [g for g in singles if wanted is None or g.name in wanted]
    if choice != "single":
        allowed = None if wanted is None else set(wanted)
        chosen += [
            g
            for g in available
            if g.kind == "intersection" and (allowed is None or allowed.issuperset(g.features))
        ]
    if wanted is None:
        return chosen, ([] if available else ["any sensitive feature"])
    evaluated = {g.name for g in singles}
    return chosen, [f for f in wanted if f not in evaluated]


def value_of(raw: Any) -> float | None:
    """A figure that may be stored bare or as an Estimate ``{value, lower, upper, ...}``."""
    kind = type(raw)
    if kind is float:  # the common cases first: this runs for every group of every rule
        return raw  # type: ignore[no-any-return]
    if kind is dict:
        raw = raw.get("value")
        if type(raw) is float:
            return raw
    elif isinstance(raw, Mapping):
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


def group_sizes(
    results: Mapping[str, Any], cache: dict[Any, Any] | None = None
) -> dict[tuple[str, str], int]:
    """``(grouping, group) -> n`` from the fairness section (memoised in ``cache``)."""
    if cache is not None:
        key = ("sizes", id(results))
        found = cache.get(key)
        if found is None:
            found = cache[key] = _sizes(groupings(results, cache))
        return found
    return _sizes(groupings(results))


def _sizes(views: Sequence[GroupingView]) -> dict[tuple[str, str], int]:
    sizes: dict[tuple[str, str], int] = {}
    for grouping in views:
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
