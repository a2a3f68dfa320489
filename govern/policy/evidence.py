"""The stored evaluation results document (``govern.assess.results`` shape), checked once.

:data:`Results` declares the parts of a document that rules read, once, as types; msgspec
checks a document against them as it decodes the stored JSON (:func:`read_stored`, what a
check of the catalogue pays), or converts one held in memory (:func:`results_view`). A
document of another shape raises :class:`NotInShape`, which the engine turns into one
``error`` outcome per rule that reads results ("results not in govern's shape: ...").
:class:`ResultsView` then gives rules the checked figures without guarding each access. The
document stays plain dicts (no model object per subject), which keeps a check over thousands
of stored versions fast; what rules do not read is left out as it is decoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple, Required, TypedDict

import msgspec

MISSING_GROUP = "(missing)"
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class NotInShape(ValueError):
    """A results document that is not in the shape govern writes."""


class Estimate(TypedDict, total=False):
    """A figure with its interval, as ``govern evaluate`` writes rates."""

    value: float | None
    lower: float | None
    upper: float | None


#: A figure: a number, ``null`` or an estimate.
Figure = float | Estimate | None


class Group(TypedDict, total=False):
    group: Required[str]
    n: int | None
    share: Figure
    p_value: Figure
    impact_ratio: Figure
    scoring_impact_ratio: Figure
    metrics: dict[str, Figure] | None
    #: metric -> why it could not be computed for this group.
    undefined: dict[str, Any] | None


class Grouping(TypedDict, total=False):
    name: Required[str]
    features: list[str] | None
    kind: str | None
    reference_group: str | None
    groups: list[Group] | None
    summary: dict[str, Figure] | None


class Performance(TypedDict, total=False):
    overall: dict[str, Figure] | None
    by_group: dict[str, dict[str, dict[str, Figure]]] | None


class SensitiveFlag(TypedDict, total=False):
    feature: Any
    reason: Any
    sensitive: Any


class Explanations(TypedDict, total=False):
    method: Any
    top_features: list[Any] | None
    sensitive_flags: list[SensitiveFlag] | None


class Results(TypedDict, total=False):
    """What rules read of a results document; the rest of it is not read, nor kept."""

    performance: Performance | None
    fairness: list[Grouping] | None
    explanations: Explanations | None
    sensitive_features: list[str] | None
    min_group_size: int | None


_DECODER = msgspec.json.Decoder(Results)
#: Marks an evaluation's cache when its document was checked as it was decoded.
CHECKED = "checked"


def read_stored(text: str | bytes, cache: dict[Any, Any]) -> Any:
    """Decode a stored results document, checking its shape in the same pass.

    A document not in shape is decoded as it stands: :func:`results_view` words the
    problem when a rule reads it, so loading a catalogue never fails on one evaluation.
    Python's ``json`` writes ``NaN`` for an undefined figure, which msgspec refuses; such a
    document is read with ``json`` and checked when it is first viewed.
    """
    try:
        document = _DECODER.decode(text)
    except msgspec.MsgspecError:
        try:
            return json.loads(text)
        except ValueError:
            return None  # not JSON at all: "the document is null, not an object"
    cache[CHECKED] = True
    return document


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
        return _view(checked(document))
    found = cache.get("view")
    if found is None:
        try:
            found = _view(document if cache.get(CHECKED) else checked(document))
        except NotInShape as problem:
            found = problem
        cache["view"] = found
    if isinstance(found, NotInShape):
        raise found
    return found


def checked(document: Any) -> Results:
    """``document`` as :data:`Results` (what rules read of it, checked).

    Raises:
        NotInShape: the document is not in govern's shape; the message says where.
    """
    try:
        return msgspec.convert(document, Results)
    except msgspec.ValidationError as problem:
        raise _worded(str(problem), document) from None


def _view(results: Results) -> ResultsView:
    performance = results.get("performance") or _EMPTY
    by_group = performance.get("by_group") or _EMPTY
    views = tuple(_grouping(entry) for entry in results.get("fairness") or ())
    return ResultsView(
        document=results,
        overall=performance.get("overall") or _EMPTY,
        by_group=by_group,
        groupings=views,
        sizes={(view.name, row[0]): row[1] for view in views for row in view.rows},
        explanations=results.get("explanations") or None,
        sensitive_features=tuple(results.get("sensitive_features") or ()),
        min_group_size=results.get("min_group_size") or 0,
        performance_groupings=tuple(
            GroupingView(name, tuple(name.split("*")), _kind_of(name)) for name in by_group
        ),
    )


def _kind_of(name: str) -> str:
    return "intersection" if "*" in name else "single"


def _grouping(entry: Grouping) -> GroupingView:
    name = entry["name"]
    features = tuple(entry.get("features") or ()) or tuple(name.split("*"))
    groups = tuple(entry.get("groups") or ())
    reference = entry.get("reference_group")
    return GroupingView(
        name,
        features,
        entry.get("kind") or ("intersection" if len(features) > 1 else "single"),
        groups,
        entry.get("summary") or _EMPTY,
        reference,
        tuple(
            (group["group"], group.get("n") or 0, group.get("metrics") or _EMPTY, group)
            for group in groups
        ),
    )


# msgspec says where a document departs from :data:`Results` as a path (``$.fairness[0].n``,
# ``$.performance.overall[...]`` for a value of a mapping) and what it expected; the
# problem is worded in govern's terms, with the mapping's key found in the document.
_JSON_KINDS = {
    "str": "text",
    "int": "an integer",
    "float": "a number",
    "bool": "true/false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}
_PROBLEM = re.compile(r"(?P<what>.*?)(?: - at `(?P<where>[^`]*)`)?")
_EXPECTED = re.compile(r"Expected `(?P<expected>[^`]*)`, got `(?P<got>\w+)`")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]*)`")
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")


def _worded(problem: str, document: Any) -> NotInShape:
    found = _PROBLEM.fullmatch(problem)
    what, where = (found["what"], found["where"] or "$") if found else (problem, "$")
    if where.startswith("`key` in "):
        where, what = where.removeprefix("`key` in ").strip("`"), "has a key that is not text"
    if expected := _EXPECTED.fullmatch(what):
        wanted = [t for t in expected["expected"].split(" | ") if t != "null"]
        wanted = ["float"] if wanted == ["float", "object"] else wanted  # a figure
        got = expected["got"]
        where = _locate(document, where, _JSON_KINDS.get(got, got))
        kinds = " or ".join(_JSON_KINDS.get(t, t) for t in wanted)
        return NotInShape(f"{where} is {_JSON_KINDS.get(got, got)}, not {kinds}")
    where = _locate(document, where, None)
    if missing := _MISSING.fullmatch(what):
        return NotInShape(f"{where} has no {missing['field']}")
    return NotInShape(f"{where} {what[:1].lower()}{what[1:]}")


def _locate(document: Any, path: str, got: str | None) -> str:
    """``path`` with each ``[...]`` replaced by the key whose value is the one refused."""
    steps = [m.group(1) or m.group(2) or "" for m in _STEP.finditer(path.removeprefix("$"))]

    def walk(value: Any, at: int, named: str) -> str | None:
        if at == len(steps):
            return named if got is None or _kind(value) == got else None
        step = steps[at]
        if step == "":  # a value of a mapping: the first key under which the rest leads
            items = value.items() if isinstance(value, Mapping) else ()
            for key, inner in items:
                if (found := walk(inner, at + 1, f"{named}.{key}")) is not None:
                    return found
            return None
        if step.isdigit():
            ok = isinstance(value, list | tuple) and int(step) < len(value)
            return walk(value[int(step)], at + 1, f"{named}[{step}]") if ok else None
        ok = isinstance(value, Mapping) and step in value
        return walk(value[step], at + 1, f"{named}.{step}") if ok else None

    named = walk(document, 0, "")
    if named is None:
        named = path.removeprefix("$")
    return named.lstrip(".") or "the document"


def check_figure(value: Any, where: str) -> None:
    """A figure of a document msgspec does not check (a drift run's): a number, ``null`` or
    an estimate ``{"value": ...}``."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return
    raise NotInShape(f"{where} is {_kind(value)}, not a number")


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return names.get(type(value), f"a {type(value).__name__}")


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
    "CHECKED",
    "MISSING_GROUP",
    "GroupingView",
    "NotInShape",
    "Results",
    "ResultsView",
    "check_figure",
    "checked",
    "interval_of",
    "read_stored",
    "results_view",
    "select_groupings",
    "value_of",
]
