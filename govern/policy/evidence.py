"""The stored evaluation results document (``govern.assess.results`` shape), checked once.

:func:`results_view` checks the parts of a document that rules read, once per evaluation,
and gives a :class:`ResultsView` of it; a document of another shape raises
:class:`NotInShape`, which the engine turns into one ``error`` outcome per rule that reads
results ("results not in govern's shape: ..."). Rules then read the view without guarding
each access. The document stays plain mappings (no pydantic model per subject), which keeps
a check over thousands of stored versions fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

MISSING_GROUP = "(missing)"
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class NotInShape(ValueError):
    """A results document that is not in the shape govern writes."""


class GroupingView(NamedTuple):
    """One grouping (a sensitive feature or an intersection) of an evaluation.

    A named tuple: a batch check builds several per version, and a frozen dataclass's
    ``__init__`` is slower to build.
    """

    name: str
    features: tuple[str, ...]
    kind: str
    groups: tuple[Mapping[str, Any], ...] = ()
    summary: Mapping[str, Any] = _EMPTY
    reference_group: str | None = None
    #: Per group, ``(label, n, metrics, group)``: what every rule reads of it, read once.
    rows: tuple[tuple[str, int, Mapping[str, Any], Mapping[str, Any]], ...] = ()


class ResultsView(NamedTuple):
    """What rules read of a results document, its shape checked (see :func:`results_view`)."""

    document: Mapping[str, Any]
    #: Overall performance: metric -> stored figure (a number, an estimate or ``None``).
    overall: Mapping[str, Any]
    #: Per-group performance: grouping -> group -> metric -> figure.
    by_group: Mapping[str, Mapping[str, Mapping[str, Any]]]
    groupings: tuple[GroupingView, ...]
    #: ``(grouping, group label) -> rows``, from the fairness section.
    sizes: Mapping[tuple[str, str], int]
    #: The explanations section, ``None`` when there is none.
    explanations: Mapping[str, Any] | None
    sensitive_features: tuple[str, ...]
    min_group_size: int
    #: The groupings of ``by_group``, as :func:`select_groupings` chooses among them.
    performance_groupings: tuple[GroupingView, ...] = ()


def results_view(document: Any, cache: dict[Any, Any] | None = None) -> ResultsView:
    """The checked view of ``document`` (memoised in ``cache``, the evaluation's).

    Raises:
        NotInShape: the document is not in govern's shape; the message says where.
    """
    if cache is None:
        return _view(document)
    found = cache.get("view")
    if found is None:
        try:
            found = cache["view"] = _view(document)
        except NotInShape as problem:
            found = cache["view"] = problem
    if isinstance(found, NotInShape):
        raise found
    return found


def _mapping(value: Any, where: str, *, optional: bool = True) -> Mapping[str, Any]:
    if value is None and optional:
        return _EMPTY
    if type(value) is dict or isinstance(value, Mapping):
        return value
    raise NotInShape(f"{where} is {_kind(value)}, not an object")


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if type(value) is list or isinstance(value, list | tuple):
        return value
    raise NotInShape(f"{where} is {_kind(value)}, not a list")


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")


def check_figure(value: Any, where: str) -> None:
    """A figure: a number, ``null`` or an estimate ``{"value": ...}``."""
    kind = type(value)
    if kind is float or value is None:
        return
    if kind is dict:
        value = value.get("value")
        if type(value) is float or value is None:
            return
    elif isinstance(value, Mapping):
        value = value.get("value")
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return
    raise NotInShape(f"{where} is {_kind(value)}, not a number")


def _count(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    raise NotInShape(f"{where} is {_kind(value)}, not a count")


def _view(document: Any) -> ResultsView:
    """Check ``document`` and build its view, in one pass over what rules read.

    This runs once per evaluation a check reads, over every figure of it: each value's type is
    tested first, and only a value of another type pays for its wording (``check_figure``).
    """
    results = _mapping(document, "the document", optional=False)
    performance = _mapping(results.get("performance"), "performance")
    overall = _mapping(performance.get("overall"), "performance.overall")
    for metric, value in overall.items():
        if type(value) is not float and value is not None:
            check_figure(value, f"performance.overall.{metric}")
    by_group = _mapping(performance.get("by_group"), "performance.by_group")
    for name, groups in by_group.items():
        if type(groups) is not dict:
            groups = _mapping(groups, f"performance.by_group.{name}")
        for label, metrics in groups.items():
            if type(metrics) is not dict:
                metrics = _mapping(metrics, f"performance.by_group.{name}.{label}")
            for metric, value in metrics.items():
                if type(value) is not float and value is not None:
                    check_figure(value, f"performance.by_group.{name}.{label}.{metric}")
    views = tuple(
        _grouping(item, at) for at, item in enumerate(_list(results.get("fairness"), "fairness"))
    )
    sizes = {(view.name, row[0]): row[1] for view in views for row in view.rows}
    explanations = results.get("explanations") or None
    if explanations is not None:
        explanations = _mapping(explanations, "explanations")
        _list(explanations.get("top_features"), "explanations.top_features")
        for at, flag in enumerate(
            _list(explanations.get("sensitive_flags"), "explanations.sensitive_flags")
        ):
            _mapping(flag, f"explanations.sensitive_flags[{at}]", optional=False)
    sensitive = _list(results.get("sensitive_features"), "sensitive_features")
    return ResultsView(
        document=results,
        overall=overall,
        by_group=by_group,
        groupings=views,
        sizes=sizes,
        explanations=explanations,
        sensitive_features=tuple(str(f) for f in sensitive),
        min_group_size=_count(results.get("min_group_size"), "min_group_size"),
        performance_groupings=tuple(
            GroupingView(name, tuple(name.split("*")), _kind_of(name)) for name in by_group
        ),
    )


def _kind_of(name: str) -> str:
    return "intersection" if "*" in name else "single"


def _grouping(item: Any, at: int) -> GroupingView:
    """The view of ``fairness[at]``; the wording of a problem is built only on the slow path."""
    entry = item if type(item) is dict else _mapping(item, f"fairness[{at}]", optional=False)
    if "name" not in entry:
        raise NotInShape(f"fairness[{at}] has no name")
    name = str(entry["name"])
    features = entry.get("features")
    if type(features) is not list:
        features = _list(features, f"fairness grouping {name}")
    features = tuple(str(f) for f in features) if features else tuple(name.split("*"))
    groups = entry.get("groups")
    if type(groups) is not list:
        groups = _list(groups, f"fairness grouping {name} groups")
    rows = []
    for group in groups:
        # One pass: a group as govern evaluate writes it is recognised by its types alone;
        # only a group of another shape pays for the wording.
        if not _plain_group(group):
            _check_group(group, f"fairness grouping {name}")
        metrics = group.get("metrics")
        rows.append((str(group["group"]), int(group.get("n") or 0), metrics or _EMPTY, group))
    summary = entry.get("summary")
    if type(summary) is not dict:
        summary = _mapping(summary, f"fairness grouping {name} summary")
    for metric, value in summary.items():
        if type(value) is not float and value is not None:
            check_figure(value, f"fairness grouping {name} summary {metric}")
    reference = entry.get("reference_group")
    return GroupingView(
        name,
        features,
        str(entry.get("kind") or ("intersection" if len(features) > 1 else "single")),
        tuple(groups),
        summary,
        None if reference is None else str(reference),
        tuple(rows),
    )


_GROUP_FIGURES = ("share", "p_value", "impact_ratio", "scoring_impact_ratio")


def _plain_group(group: Any) -> bool:
    """Whether a group is as ``govern evaluate`` writes it: plain figures, nothing to word.

    This runs for every group of every evaluation a check reads, so it tests types directly.
    """
    if type(group) is not dict or "group" not in group:
        return False
    get = group.get
    if type(get("n")) is not int:
        return False
    for key in _GROUP_FIGURES:
        value = get(key)
        if value is not None and type(value) is not float:
            return False
    metrics = get("metrics")
    if metrics is not None:
        if type(metrics) is not dict:
            return False
        for value in metrics.values():
            if type(value) is dict:
                value = value.get("value")
            if value is not None and type(value) is not float:
                return False
    undefined = get("undefined")
    return undefined is None or type(undefined) is dict


def _check_group(group: Any, where: str) -> None:
    """:func:`_plain_group`'s slow path: accept what else is in shape, word what is not."""
    _mapping(group, f"a group of {where}", optional=False)
    if "group" not in group:
        raise NotInShape(f"a group of {where} has no label")
    here = f"{where} group {group['group']}"
    _count(group.get("n"), f"{here} n")
    for key in _GROUP_FIGURES:
        check_figure(group.get(key), f"{here} {key}")
    for metric, value in _mapping(group.get("metrics"), f"{here} metrics").items():
        check_figure(value, f"{here} {metric}")
    _mapping(group.get("undefined"), f"{here} undefined")


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
    """A figure of a checked document, stored bare or as an estimate ``{value, lower, ...}``."""
    kind = type(raw)
    if kind is float:  # the common cases first: this runs for every group of every rule
        return raw  # type: ignore[no-any-return]
    if kind is dict:
        raw = raw.get("value")
        if type(raw) is float:
            return raw
    elif isinstance(raw, Mapping):
        raw = raw.get("value")
    if raw is None or isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def interval_of(raw: Any) -> tuple[float | None, float | None]:
    if isinstance(raw, Mapping):
        lower, upper = raw.get("lower"), raw.get("upper")
        return (
            float(lower) if isinstance(lower, int | float) else None,
            float(upper) if isinstance(upper, int | float) else None,
        )
    return None, None


__all__ = [
    "MISSING_GROUP",
    "GroupingView",
    "NotInShape",
    "ResultsView",
    "check_figure",
    "interval_of",
    "results_view",
    "select_groupings",
    "value_of",
]
