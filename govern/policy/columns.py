"""Column-wise statuses: the rules that walk every group, for many subjects at once.

In a batch check of thousands of versions most of the time goes to the rules that read
every group of every grouping: fairness, disclosure and per-group performance. Here the
groups of every subject are read once into arrays (:class:`Columns`), and each such rule
decides every subject's status with a few numpy operations over them, instead of a Python
loop over the groups of each subject for each rule.

Only documents of the shape ``govern evaluate`` writes are read into the arrays: strings,
sizes, shares and p-values of the expected types, finite figures, distinct group labels.
Anything else (a string where a number belongs, NaN, a missing key, a list where a mapping
belongs) leaves that subject's status to the per-subject functions of
:mod:`govern.policy.statuses` and :mod:`govern.policy.rules`, which give it the reference
answer, ``error`` included. So a column function returns, per subject, either exactly the
status the reference returns or ``None`` ("ask the per-subject path"); the contract is
tested by ``tests/policy/test_statuses.py`` on random and hostile documents.

Figures a rule reads (``selection_rate``, a stored ``impact_ratio``, a summary metric) are
read into a column the first time a rule asks for them and shared by the other rules of
the check.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from govern.policy.digest import (
    METRIC_KEYS,
    PERF_KEYS,
    SEGMENTS,
    STORED_KEYS,
    SUMMARY_KEYS,
    Digest,
    Layout,
    Shape,
    itemsize,
)
from govern.policy.evidence import MISSING_GROUP, GroupingView, select_groupings
from govern.policy.outcomes import ERROR, FAIL, NOT_APPLICABLE, PASS
from govern.policy.rules import _IMPACT, EVIDENCE_ERRORS, IF_MISSING, comparable_value
from govern.policy.schema import (
    GROUP_METRICS,
    HIGHER_IS_BETTER,
    PERFORMANCE_METRICS,
    SIGNIFICANCE_METRICS,
    ChampionRule,
    DisclosureRule,
    FairnessRule,
    PerformanceRule,
    RuleBase,
)
from govern.policy.snapshot import StoredResults, SubjectSnapshot

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
#: ``(values, has a value, would not convert)``: a figure per row, as ``value_of`` reads it.
Figure = tuple[Floats, Bools, Bools]
#: A grouping as read: name, kind, features, reference group, summary, groups.
_Read = tuple[str, str, tuple[str, ...], str | None, Mapping[str, Any], list[Any]]
ColumnStatus = Callable[["Columns", dt.datetime], list[str | None]]

#: kind -> compiler of a column function. Kinds without one are decided per subject.
COLUMN_REGISTRY: dict[str, Callable[[Any], ColumnStatus | None]] = {}

_BIG = 2**62
_T = TypeVar("_T")


class _Irregular(Exception):
    """A document not of the shape ``govern evaluate`` writes: decide it per subject."""


def _registers(
    kind: str,
) -> Callable[[Callable[[Any], ColumnStatus | None]], Callable[..., Any]]:
    def register(compiler: Callable[[Any], ColumnStatus | None]) -> Callable[..., Any]:
        COLUMN_REGISTRY[kind] = compiler
        return compiler

    return register


def compile_columns(rule: RuleBase) -> ColumnStatus | None:
    """The column function for ``rule``, or ``None`` if its kind is decided per subject."""
    compiler = COLUMN_REGISTRY.get(getattr(rule, "kind"))  # noqa: B009 - every rule has one
    return None if compiler is None else compiler(rule)


def _number(raw: Any) -> bool:
    """An int or a finite float, not a bool: what sizes, shares and p-values must be."""
    kind = type(raw)
    if kind is float:
        return math.isfinite(raw)
    return kind is int and -_BIG < raw < _BIG


def _figures(items: Sequence[Mapping[str, Any] | None], key: str) -> Figure:
    """``value_of(item.get(key))`` per item (``None`` items have no value), as arrays."""
    return _convert([None if item is None else _unwrap(item.get(key)) for item in items])


def _unwrap(raw: Any) -> Any:
    return raw.get("value") if type(raw) is dict else raw


def _convert(raws: Sequence[Any]) -> Figure:
    """Figures as ``value_of`` reads them (after unwrapping an Estimate's ``value``).

    Values that ``value_of`` would refuse, or read as something other than a finite float
    (a bool, NaN, a huge int, a non-dict mapping), are marked so that their subjects are
    decided per subject.
    """
    count = len(raws)
    values = [0.0] * count
    has = [False] * count
    bad = [False] * count
    for index, raw in enumerate(raws):
        kind = type(raw)
        if kind is float:
            if raw - raw == 0.0:  # finite: inf - inf and nan - nan are nan
                values[index] = raw
                has[index] = True
            else:
                bad[index] = True
        elif raw is None:
            continue
        elif kind is int and -_BIG < raw < _BIG:
            values[index] = raw
            has[index] = True
        else:
            bad[index] = True
    return np.array(values, np.float64), np.array(has, bool), np.array(bad, bool)


def needs(rules: Sequence[RuleBase]) -> dict[str, set[str]]:
    """The figures the column functions of ``rules`` read, by where they are stored, so that
    :class:`Columns` reads them in the one pass over each group that checks its shape."""
    wanted: dict[str, set[str]] = {"metric": set(), "stored": set(), "summary": set()}
    wanted["performance"] = set()
    for rule in rules:
        if isinstance(rule, FairnessRule):
            if rule.metric not in GROUP_METRICS:
                wanted["summary"].add(rule.metric)
            elif rule.metric in _IMPACT:
                wanted["metric"].add(_IMPACT[rule.metric])
                wanted["stored"].add(rule.metric)
            else:
                wanted["metric"].add(rule.metric)
        elif isinstance(rule, PerformanceRule) and rule.scope != "overall":
            wanted["performance"].add(rule.metric)
        elif isinstance(rule, ChampionRule):
            wanted["summary"] |= {
                m.metric for m in rule.metrics if m.metric not in PERFORMANCE_METRICS
            }
    return wanted


def _joined(parts: Sequence[Ints]) -> Ints:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _any_by(index: Ints, mask: Bools, size: int) -> Bools:
    """Per owner (subject or grouping): does any of its rows hold ``mask``?"""
    out = np.zeros(size, bool)
    out[index[mask]] = True
    return out


def _outside(values: Floats, low: float | None, high: float | None) -> Bools:
    out = np.zeros(len(values), bool)
    if low is not None:
        out |= values < low
    if high is not None:
        out |= values > high
    return out


class Columns:
    """The fairness groups and per-group performance of every subject of a check, as arrays.

    Subject ``i`` is ``snapshots[i]``. ``fair_ok[i]`` says its fairness section was read
    into the grouping (``g_*``) and row (``r_*``) arrays; ``perf_ok[i]`` the same for its
    per-group performance rows (``q_*``). A subject without them is decided per subject.
    """

    def __init__(
        self,
        snapshots: Sequence[SubjectSnapshot],
        wanted: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        wanted = wanted or {}
        # Figures read in the same pass (key, raw values), one list per key and place.
        metric_raws: list[tuple[str, list[Any]]]
        metric_raws = [(key, []) for key in sorted(wanted.get("metric", ()))]
        stored_raws: list[tuple[str, list[Any]]]
        stored_raws = [(key, []) for key in sorted(wanted.get("stored", ()))]
        summary_raws: list[tuple[str, list[Any]]]
        summary_raws = [(key, []) for key in sorted(wanted.get("summary", ()))]
        perf_raws: list[tuple[str, list[Any]]]
        perf_raws = [(key, []) for key in sorted(wanted.get("performance", ()))]
        group_raws: list[tuple[str, list[Any]]] = metric_raws + stored_raws
        size = self.size = len(snapshots)
        self.snapshots = snapshots
        self.evaluated = np.zeros(size, bool)
        self.fair_ok = np.zeros(size, bool)
        self.perf_ok = np.zeros(size, bool)
        floors = np.zeros(size, np.int64)
        signature_of = np.zeros(size, np.int64)
        perf_signature_of = np.zeros(size, np.int64)
        self._signatures: dict[tuple[tuple[str, str, tuple[str, ...]], ...], int] = {}
        self._perf_signatures: dict[tuple[str, ...], int] = {}
        self._results: list[Mapping[str, Any] | None] = [None] * size
        g_subject: list[int] = []
        g_position: list[int] = []
        g_reference: list[str | None] = []
        self.summaries: list[Mapping[str, Any]] = []
        # One tuple per group: (grouping, label, n, share, p-value or None, group, metrics).
        read: list[tuple[int, str, int, float, float | None, dict[str, Any], dict[str, Any]]]
        read = []
        q_subject: list[int] = []
        q_position: list[int] = []
        q_size: list[int] = []
        q_has_size: list[bool] = []
        self.perf_metrics: list[Mapping[str, Any] | None] = []
        for index, snapshot in enumerate(snapshots):
            evaluation = snapshot.evaluation
            if evaluation is None:
                continue
            self.evaluated[index] = True
            results = evaluation.results
            if type(results) is StoredResults:
                results = results.document()
            if type(results) is not dict:
                continue
            self._results[index] = results
            first = len(g_subject)
            mine: list[tuple[int, str, int, float, float | None, dict[str, Any], dict[str, Any]]]
            mine = []
            layout: list[tuple[str, str, tuple[str, ...]]] = []
            references: list[str | None] = []
            summaries: list[Mapping[str, Any]] = []
            known: dict[tuple[str, str], int] = {}
            marks = [len(raws) for _key, raws in group_raws + summary_raws]
            try:
                floor = results.get("min_group_size") or 0
                if type(floor) is not int or not -_BIG < floor < _BIG:
                    raise _Irregular
                fairness = results.get("fairness") or []
                if type(fairness) is not list:
                    raise _Irregular
                for position, item in enumerate(fairness):
                    if type(item) is not dict:
                        raise _Irregular
                    name = item["name"]
                    features = item.get("features") or name.split("*")
                    kind = item.get("kind") or ("intersection" if len(features) > 1 else "single")
                    groups = item.get("groups") or []
                    summary = item.get("summary") or {}
                    reference = item.get("reference_group")
                    if (
                        type(name) is not str
                        or type(features) is not list
                        or any(type(f) is not str for f in features)
                        or type(kind) is not str
                        or type(groups) is not list
                        or type(summary) is not dict
                        or not (reference is None or type(reference) is str)
                    ):
                        raise _Irregular
                    grouping = first + position
                    for group in groups:  # the hot loop: every group of every subject
                        if type(group) is not dict:
                            raise _Irregular
                        get = group.get
                        label = group["group"]
                        n = get("n") or 0
                        share = get("share") or 0.0
                        p_value = get("p_value")
                        metrics = get("metrics") or {}
                        if (
                            type(label) is not str
                            or type(n) is not int
                            or not -_BIG < n < _BIG
                            or type(metrics) is not dict
                            or (share - share if type(share) is float else not _number(share))
                            or (
                                p_value is not None
                                and (
                                    p_value - p_value != 0.0
                                    if type(p_value) is float
                                    else not _number(p_value)
                                )
                            )
                        ):
                            raise _Irregular
                        known[(name, label)] = n
                        mine.append((grouping, label, n, share, p_value, group, metrics))
                        for key, raws in metric_raws:
                            raw = metrics.get(key)
                            raws.append(raw.get("value") if type(raw) is dict else raw)
                        for key, raws in stored_raws:
                            raw = get(key)
                            raws.append(raw.get("value") if type(raw) is dict else raw)
                    if len({row[1] for row in mine[len(mine) - len(groups) :]}) != len(groups):
                        raise _Irregular  # a label twice: the reference excludes by label
                    layout.append((name, kind, tuple(features)))
                    references.append(reference)
                    summaries.append(summary)
                    for key, raws in summary_raws:
                        raws.append(_unwrap(summary.get(key)))
            except (_Irregular, KeyError, AttributeError, TypeError):
                for (_key, raws), mark in zip(group_raws + summary_raws, marks, strict=True):
                    del raws[mark:]
                continue
            self.fair_ok[index] = True
            floors[index] = floor
            signature = tuple(layout)
            signature_of[index] = self._signatures.setdefault(signature, len(self._signatures))
            g_subject += [index] * len(layout)
            g_position += range(len(layout))
            g_reference += references
            self.summaries += summaries
            read += mine
            # Per-group performance, with sizes from the fairness groups read above.
            performance = results.get("performance") or {}
            if type(performance) is not dict:
                continue
            by_group = performance.get("by_group") or {}
            if type(by_group) is not dict:
                continue
            rows: list[tuple[int, int, bool, Mapping[str, Any] | None]] = []
            figures: list[list[Any]] = [[] for _ in perf_raws]
            try:
                for position, (name, table) in enumerate(by_group.items()):
                    if type(name) is not str or not (not table or type(table) is dict):
                        raise _Irregular
                    for label, metrics in (table or {}).items():
                        if type(label) is not str or not (not metrics or type(metrics) is dict):
                            raise _Irregular
                        n = known.get((name, label))
                        rows.append((position, n or 0, n is not None, metrics or None))
                        for (key, _raws), found in zip(perf_raws, figures, strict=True):
                            found.append(_unwrap(metrics.get(key)) if metrics else None)
            except _Irregular:
                continue
            for (_key, raws), found in zip(perf_raws, figures, strict=True):
                raws += found
            self.perf_ok[index] = True
            names = tuple(by_group)
            perf_signature_of[index] = self._perf_signatures.setdefault(
                names, len(self._perf_signatures)
            )
            for position, n, has_n, metrics in rows:
                q_subject.append(index)
                q_position.append(position)
                q_size.append(n)
                q_has_size.append(has_n)
                self.perf_metrics.append(metrics)
        self.floors = floors
        self.signature_of = signature_of
        self.perf_signature_of = perf_signature_of
        self.g_subject = np.array(g_subject, np.int64)
        self.g_position = np.array(g_position, np.int64)
        self.g_reference = np.array(g_reference, object)
        columns: list[Any] = list(zip(*read, strict=True)) if read else [()] * 7
        r_grouping, labels, sizes, shares, p_values, groups_, metrics_ = columns
        self.r_grouping = np.array(r_grouping, np.int64)
        self.r_subject = self.g_subject[self.r_grouping]
        self.labels = np.array(labels, object)
        self.sizes = np.array(sizes, np.int64)
        self.shares = np.array(shares, np.float64)
        self.p_has = np.array([p is not None for p in p_values], bool)
        self.p_values = np.array([0.0 if p is None else p for p in p_values], np.float64)
        self.groups: list[dict[str, Any]] = list(groups_)
        self.metrics: list[dict[str, Any]] = list(metrics_)
        self.q_subject = np.array(q_subject, np.int64)
        self.q_position = np.array(q_position, np.int64)
        self.q_size = np.array(q_size, np.int64)
        self.q_has_size = np.array(q_has_size, bool)
        self._cache: dict[Any, Any] = {}
        #: Per group row, whether its ``undefined`` is unreadable (set when read from digests).
        self._odd: Bools | None = None
        self._read: dict[tuple[str, str], list[Any]] = {
            (where, key): raws
            for where, lists in (
                ("metric", metric_raws),
                ("stored", stored_raws),
                ("summary", summary_raws),
                ("performance", perf_raws),
            )
            for key, raws in lists
        }

    @classmethod
    def from_digests(
        cls, snapshots: Sequence[SubjectSnapshot], digests: Sequence[Digest | None]
    ) -> Columns:
        """The arrays ``Columns(snapshots)`` reads, from each subject's digest instead.

        ``digests[i]`` is ``None`` where subject ``i`` has no evaluation. A digest of an
        irregular document leaves its subject to the per-subject path, as the walk does.
        The blocks of all digests of one shape are read as one array; with several shapes
        the rows are then put in subject order, as the walk reads them. Every figure a rule
        can ask for is in the digests; one that is not (no rule can name it) would be read
        as "would not convert", so its subjects go per subject.
        """
        self = cls.__new__(cls)
        size = self.size = len(snapshots)
        self.snapshots = snapshots
        self.evaluated = np.array([d is not None for d in digests], bool)
        # Per shape, in order of first use: (shape, its subjects, their blocks, references).
        by_shape: dict[int, tuple[Shape, list[int], list[memoryview], list[str | None]]] = {}
        for index, digest in enumerate(digests):
            if digest is None or not digest.shape.regular:
                continue
            entry = by_shape.get(id(digest.shape))
            if entry is None:
                entry = by_shape[id(digest.shape)] = (digest.shape, [], [], [])
            entry[1].append(index)
            entry[2].append(memoryview(digest.blob)[digest.start :])
            entry[3].extend(digest.refs)
        fair_ok = np.zeros(size, bool)
        floors = np.zeros(size, np.int64)
        signature_of = np.zeros(size, np.int64)
        perf_signature_of = np.zeros(size, np.int64)
        signatures: dict[Layout, int] = {}
        perf_signatures: dict[tuple[str, ...], int] = {}
        parts: list[list[Any]] = [[] for _ in SEGMENTS]
        g_subject, g_position, labels, r_first, q_subject, owners = [], [], [], [], [], []
        references: list[str | None] = []
        groupings = 0  # so far
        for shape, subjects, bodies, refs in by_shape.values():
            count = len(subjects)
            owned = np.array(subjects, np.int64)
            body = np.frombuffer(b"".join(bodies), np.uint8).reshape(count, shape.size)
            at = 0
            for found, (of, dtype, width) in zip(parts, SEGMENTS, strict=True):
                rows = shape.count(of)
                end = at + rows * width * itemsize(dtype)
                block = np.ascontiguousarray(body[:, at:end]).view(dtype)
                found.append(block.reshape(count * rows, width))
                at = end
            row_ints, perf_ints = parts[0][-1], parts[1][-1]
            # Each row must belong to one of its own subject's groupings (or tables).
            if (
                (row_ints[:, 0] < 0).any()
                or (row_ints[:, 0] >= shape.groupings).any()
                or (perf_ints[:, 0] < 0).any()
                or (perf_ints[:, 0] >= len(shape.perf)).any()
            ):
                raise ValueError("a digest's rows name groupings it does not have")
            fair_ok[owned] = True
            floors[owned] = shape.floor
            signature_of[owned] = signatures.setdefault(shape.layout, len(signatures))
            perf_signature_of[owned] = perf_signatures.setdefault(shape.perf, len(perf_signatures))
            g_subject.append(np.repeat(owned, shape.groupings))
            g_position.append(np.tile(np.arange(shape.groupings, dtype=np.int64), count))
            labels.append(np.tile(np.array(shape.labels, object), count))
            r_first.append(
                np.repeat(
                    groupings + np.arange(count, dtype=np.int64) * shape.groupings, shape.rows
                )
            )
            q_subject.append(np.repeat(owned, shape.tables))
            owners.append(owned)
            references += refs
            groupings += count * shape.groupings
        blocks = [
            np.concatenate(found) if found else np.zeros((0, width), dtype)
            for found, (_of, dtype, width) in zip(parts, SEGMENTS, strict=True)
        ]
        row_ints, perf_ints, row_values, grouping_values, perf_values, overall_values = blocks[:6]
        row_flags, grouping_flags, perf_flags, overall_flags = (b != 0 for b in blocks[6:])
        self.g_subject = _joined(g_subject)
        self.g_position = _joined(g_position)
        self.g_reference = np.array(references, object)
        self.labels = np.concatenate(labels) if labels else np.array([], object)
        self.r_grouping = _joined(r_first) + row_ints[:, 0]
        self.q_subject = _joined(q_subject)
        if len(by_shape) > 1:  # put every row in subject order, as the walk reads them
            order = np.lexsort((self.g_position, self.g_subject))
            renumber = np.empty_like(order)
            renumber[order] = np.arange(len(order))
            self.g_subject, self.g_position = self.g_subject[order], self.g_position[order]
            self.g_reference = self.g_reference[order]
            grouping_values, grouping_flags = grouping_values[order], grouping_flags[order]
            moved = renumber[self.r_grouping]
            rows_order = np.argsort(moved, kind="stable")
            self.r_grouping, self.labels = moved[rows_order], self.labels[rows_order]
            row_ints, row_values = row_ints[rows_order], row_values[rows_order]
            row_flags = row_flags[rows_order]
            tables_order = np.argsort(self.q_subject, kind="stable")
            self.q_subject = self.q_subject[tables_order]
            perf_ints, perf_values = perf_ints[tables_order], perf_values[tables_order]
            perf_flags = perf_flags[tables_order]
        self.fair_ok = fair_ok
        self.perf_ok = fair_ok.copy()
        self.floors = floors
        self.signature_of = signature_of
        self.perf_signature_of = perf_signature_of
        self._signatures, self._perf_signatures = signatures, perf_signatures
        self._results = [None] * size
        self.summaries = []
        self.r_subject = self.g_subject[self.r_grouping]
        self.sizes = row_ints[:, 1].astype(np.int64)
        self.shares = row_values[:, 0]
        self.p_values = row_values[:, 1]
        self.p_has = row_flags[:, 0]
        self._odd = row_flags[:, 1]
        self.groups, self.metrics, self.perf_metrics = [], [], []
        self.q_position = perf_ints[:, 0].astype(np.int64)
        self.q_size = perf_ints[:, 1].astype(np.int64)
        self.q_has_size = perf_flags[:, 0]
        self._read = {}
        cache: dict[Any, Any] = {}
        self._cache = cache

        def figure(values: Any, flags: Any, value: int, flag: int) -> Figure:
            return values[:, value], flags[:, flag], flags[:, flag + 1]

        keys = [("metric", key) for key in METRIC_KEYS] + [("stored", key) for key in STORED_KEYS]
        for position, key in enumerate(keys):
            cache[key] = figure(row_values, row_flags, 2 + position, 2 + 2 * position)
        for position, name in enumerate(SUMMARY_KEYS):
            cache[("summary", name)] = figure(
                grouping_values, grouping_flags, position, 2 * position
            )
        owned = _joined(owners)
        for position, name in enumerate(PERF_KEYS):
            cache[("performance", name)] = figure(
                perf_values, perf_flags, position, 1 + 2 * position
            )
            reported, values = np.zeros(size, bool), np.zeros(size)
            has, bad = np.zeros(size, bool), np.zeros(size, bool)
            reported[owned] = overall_flags[:, 3 * position]
            values[owned] = overall_values[:, position]
            has[owned] = overall_flags[:, 3 * position + 1]
            bad[owned] = overall_flags[:, 3 * position + 2]
            cache[("overall", name)] = (reported, values, has, bad)
        return self

    # --- read on first use -----------------------------------------------------------------

    @property
    def unknown(self) -> Bools:
        """Per group: is its label (or part of it, in an intersection) the missing group?"""
        return self._memo(
            "unknown", lambda: np.array([MISSING_GROUP in x for x in self.labels], bool)
        )

    def odd_reasons(self, rows: Bools) -> Bools:
        """Per group in ``rows``: is its ``undefined`` something the reference cannot read?"""
        if self._odd is not None:
            return rows & self._odd
        out = np.zeros(len(rows), bool)
        for index in np.flatnonzero(rows).tolist():
            reasons = self.groups[index].get("undefined")
            out[index] = bool(reasons) and type(reasons) is not dict
        return out

    def metric(self, key: str) -> Figure:
        """A figure from each group's ``metrics`` (``selection_rate``, ``tpr``...)."""
        return self._figure("metric", key, self.metrics)

    def stored(self, key: str) -> Figure:
        """A figure stored on each group itself (``impact_ratio``, ``scoring_impact_ratio``)."""
        return self._figure("stored", key, self.groups)

    def summary(self, key: str) -> Figure:
        """A figure from each grouping's ``summary``."""
        return self._figure("summary", key, self.summaries)

    def performance(self, key: str) -> Figure:
        """A figure from each per-group performance row."""
        return self._figure("performance", key, self.perf_metrics)

    def _figure(self, where: str, key: str, items: Sequence[Mapping[str, Any] | None]) -> Figure:
        """Converted from what the first pass read, or read now if it was not asked for."""
        raws = self._read.get((where, key))
        if raws is None and self._odd is not None:  # from digests: not a figure rules name
            count = {"summary": len(self.g_subject), "performance": len(self.q_subject)}
            rows = count.get(where, len(self.labels))
            return self._memo(
                (where, key), lambda: (np.zeros(rows), np.zeros(rows, bool), np.ones(rows, bool))
            )
        return self._memo(
            (where, key), lambda: _figures(items, key) if raws is None else _convert(raws)
        )

    def overall(self, key: str) -> tuple[Bools, Floats, Bools, Bools]:
        """``(reported, value, has a value, would not convert)`` of an overall metric."""

        def read() -> tuple[Bools, Floats, Bools, Bools]:
            if self._odd is not None:  # from digests: not a figure rules name
                none = np.zeros(self.size, bool)
                return none, np.zeros(self.size), none, self.perf_ok.copy()
            reported = np.zeros(self.size, bool)
            refused = np.zeros(self.size, bool)
            tables: list[Mapping[str, Any] | None] = [None] * self.size
            for index, results in enumerate(self._results):
                if results is None or not self.perf_ok[index]:
                    continue
                table = (results.get("performance") or {}).get("overall") or {}
                if type(table) is not dict:
                    refused[index] = True
                elif key in table:
                    reported[index] = True
                    tables[index] = table
            values, has, bad = _figures(tables, key)
            return reported, values, has, bad | refused

        return self._memo(("overall", key), read)

    def _memo(self, key: Any, build: Callable[[], _T]) -> _T:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = build()
        return cast(_T, found)

    # --- which groupings a rule is about --------------------------------------------------

    def chosen(self, features: tuple[str, ...] | None, choice: str) -> tuple[Bools, Bools]:
        """``(chosen, absent)``: per grouping, does the rule judge it; per subject, did it
        name features that were not evaluated (``select_groupings``, once per layout)."""

        def build() -> tuple[Bools, Bools]:
            width = max((len(s) for s in self._signatures), default=0)
            table = np.zeros((max(len(self._signatures), 1), max(width, 1)), bool)
            absent = np.zeros(max(len(self._signatures), 1), bool)
            for signature, number in self._signatures.items():
                views = [GroupingView(n, f, k) for n, k, f in signature]
                picked, missing = select_groupings(views, features, choice)
                ids = {id(v) for v in picked}
                for position, view in enumerate(views):
                    table[number, position] = id(view) in ids
                absent[number] = bool(missing)
            return (
                table[self.signature_of[self.g_subject], self.g_position],
                absent[self.signature_of],
            )

        return self._memo(("chosen", features, choice), build)

    def perf_chosen(self, features: tuple[str, ...] | None, choice: str) -> tuple[Bools, Bools]:
        """``chosen``'s counterpart for the per-group performance rows."""

        def build() -> tuple[Bools, Bools]:
            width = max((len(s) for s in self._perf_signatures), default=0)
            table = np.zeros((max(len(self._perf_signatures), 1), max(width, 1)), bool)
            absent = np.zeros(max(len(self._perf_signatures), 1), bool)
            for names, number in self._perf_signatures.items():
                kinds = ["intersection" if "*" in name else "single" for name in names]
                views = [
                    GroupingView(name, tuple(name.split("*")), kind)
                    for name, kind in zip(names, kinds, strict=True)
                ]
                picked, missing = select_groupings(views, features, choice)
                ids = {id(v) for v in picked}
                for position, view in enumerate(views):
                    table[number, position] = id(view) in ids
                absent[number] = bool(missing)
            return (
                table[self.perf_signature_of[self.q_subject], self.q_position],
                absent[self.perf_signature_of],
            )

        return self._memo(("perf_chosen", features, choice), build)

    def comparable(self, metric: str, grouping: str | None) -> tuple[Floats, Bools, Bools]:
        """``(value, has a value, read)`` per subject of ``rules.comparable_value``.

        ``read`` is false where the figure was not read into the arrays, or would not
        convert: those subjects are decided per subject.
        """

        def build() -> tuple[Floats, Bools, Bools]:
            if metric in PERFORMANCE_METRICS:
                _reported, values, has, bad = self.overall(metric)
                return values, has, self.perf_ok & ~bad
            table = np.zeros((max(len(self._signatures), 1), self._width()), bool)
            for signature, number in self._signatures.items():
                for position, (name, kind, _features) in enumerate(signature):
                    table[number, position] = (
                        name == grouping if grouping else kind != "intersection"
                    )
            wanted = table[self.signature_of[self.g_subject], self.g_position]
            figures, defined, bad = self.summary(metric)
            owner = self.g_subject
            usable = wanted & defined
            worst = np.full(self.size, np.inf if metric in HIGHER_IS_BETTER else -np.inf)
            (np.minimum if metric in HIGHER_IS_BETTER else np.maximum).at(
                worst, owner[usable], figures[usable]
            )
            has = _any_by(owner, usable, self.size)
            return worst, has, self.fair_ok & ~_any_by(owner, wanted & bad, self.size)

        return self._memo(("comparable", metric, grouping), build)

    def _width(self) -> int:
        return max(1, max((len(s) for s in self._signatures), default=0))

    def floor(self, min_size: int | None) -> Ints:
        """Each subject's minimum group size: the rule's, else the evaluation's."""
        return np.full(self.size, min_size, np.int64) if min_size else self.floors


_NAMES = np.array([None, PASS, FAIL, ERROR, NOT_APPLICABLE], object)
_CODE = {PASS: 1, FAIL: 2, ERROR: 3, NOT_APPLICABLE: 4}


def _decide(
    columns: Columns,
    ok: Bools,
    missing: str,
    failed: Bools,
    gap: Bools,
    error: Bools | None = None,
) -> list[str | None]:
    """Statuses: fail, else ``missing`` where ``gap``, else error where ``error``, else pass;
    ``missing`` without an evaluation, and ``None`` (decide per subject) where not ``ok``."""
    codes = np.full(columns.size, _CODE[PASS], np.int8)
    if error is not None:
        codes[error] = _CODE[ERROR]
    codes[gap] = _CODE[missing]
    codes[failed] = _CODE[FAIL]
    codes[~ok] = 0
    codes[~columns.evaluated] = _CODE[missing]
    return _NAMES[codes].tolist()  # type: ignore[no-any-return]


def _features(features: list[str] | None) -> tuple[str, ...] | None:
    return None if features is None else tuple(features)


@_registers("fairness")
def _fairness(rule: FairnessRule) -> ColumnStatus | None:
    if rule.reference is not None:
        return None  # decided per subject (statuses leaves it to rules.check_fairness)
    missing = IF_MISSING[rule.if_missing]
    low, high, alpha, metric = rule.min, rule.max, rule.significance, rule.metric
    features, choice = _features(rule.features), rule.groupings
    per_group = metric in GROUP_METRICS
    rate_key = _IMPACT.get(metric)
    tested = metric in SIGNIFICANCE_METRICS

    def statuses(columns: Columns, now: dt.datetime) -> list[str | None]:
        size, chosen_g = columns.size, columns.chosen(features, choice)
        chosen, absent = chosen_g
        ok = columns.fair_ok.copy()
        owner = columns.g_subject
        if not per_group:
            values, has, bad = columns.summary(metric)
            judged_g = chosen & has
            ok &= ~_any_by(owner, chosen & bad, size)
            failed = _any_by(owner, judged_g & _outside(values, low, high), size)
            judged = _any_by(owner, judged_g, size)
            return _decide(columns, ok, missing, failed, absent | ~judged)
        grouping, subject = columns.r_grouping, columns.r_subject
        groupings = len(owner)
        in_scope = chosen[grouping]
        excluded = np.zeros(len(grouping), bool)
        if rule.min_share is not None:
            excluded |= columns.shares < rule.min_share
        if rule.exclude_unknown:
            excluded |= columns.unknown
        any_excluded = _any_by(grouping, excluded, groupings)
        not_reference: Bools | bool = True
        same_reference: Bools | bool = True
        if rate_key is None:
            values, has, bad = columns.metric(metric)
        else:
            # The reference rate: the most selected group left in (the first of equals), or
            # the stored ratios when nothing was left out (see rules._reference_rate).
            rates, rate_has, rate_bad = columns.metric(rate_key)
            ok &= ~_any_by(subject, in_scope & rate_bad, size)
            candidates = np.where(rate_has & ~excluded, rates, -np.inf)
            best = np.full(groupings, -np.inf)
            np.maximum.at(best, grouping, candidates)
            at_best = np.flatnonzero((candidates == best[grouping]) & (candidates > -np.inf))
            holders, first = np.unique(grouping[at_best], return_index=True)
            best_label = np.full(groupings, None, object)
            best_label[holders] = columns.labels[at_best[first]]
            reference_label = best_label
            if metric == "impact_ratio":
                reference_label = np.where(any_excluded, best_label, columns.g_reference)
            use_stored = (~any_excluded | (best == -np.inf))[grouping]
            reference = best[grouping]
            stored, stored_has, stored_bad = columns.stored(metric)
            positive = reference > 0
            with np.errstate(over="ignore"):  # inf, as Python's float division gives
                recomputed = rates / np.where(positive, reference, 1.0)
            values = np.where(use_stored, stored, recomputed)
            has = np.where(use_stored, stored_has, rate_has & positive)
            bad = use_stored & stored_bad
            not_reference = columns.labels != reference_label[grouping]
            # Stored p-values test against the stored reference: they hold for impact ratios
            # taken against that group only (rules.p_values_test).
            same_reference = (reference_label == columns.g_reference)[grouping]
        considered = in_scope & ~excluded
        small = considered & (columns.sizes < columns.floor(rule.min_group_size)[subject])
        judgeable = considered & ~small
        ok &= ~_any_by(subject, (judgeable & bad) | columns.odd_reasons(judgeable & ~has), size)
        judged_r = judgeable & has
        violations = judged_r & _outside(values, low, high) & not_reference
        if tested and alpha is not None:
            # Stored p-values test against the stored reference group; once it is left out
            # they test nothing this rule asks (rules.check_fairness: p_values_hold).
            reference_out = _any_by(
                grouping, excluded & (columns.labels == columns.g_reference[grouping]), groupings
            )
            holds = ~(any_excluded & reference_out)[grouping] & columns.p_has & same_reference
            violations &= ~(holds & (columns.p_values >= alpha))
        failed = _any_by(subject, violations, size)
        judged = _any_by(subject, judged_r, size)
        any_small = _any_by(subject, small, size)
        return _decide(columns, ok, missing, failed, absent | (~judged & ~any_small), error=~judged)

    return statuses


@_registers("disclosure")
def _disclosure(rule: DisclosureRule) -> ColumnStatus:
    missing = IF_MISSING[rule.if_missing]
    features, choice = _features(rule.features), rule.groupings

    def statuses(columns: Columns, now: dt.datetime) -> list[str | None]:
        _chosen, absent = columns.chosen(features, choice)
        return _decide(columns, columns.fair_ok, missing, np.zeros(columns.size, bool), absent)

    return statuses


@_registers("performance")
def _performance(rule: PerformanceRule) -> ColumnStatus:
    missing = IF_MISSING[rule.if_missing]
    overall = rule.scope in {"overall", "both"}
    by_groups = rule.scope in {"groups", "both"}
    low, high, metric = rule.min, rule.max, rule.metric
    features, choice = _features(rule.features), rule.groupings

    def statuses(columns: Columns, now: dt.datetime) -> list[str | None]:
        size = columns.size
        ok = columns.perf_ok & columns.fair_ok
        failed = np.zeros(size, bool)
        gap = np.zeros(size, bool)
        if overall:
            reported, values, has, bad = columns.overall(metric)
            ok &= ~bad
            failed |= has & _outside(values, low, high)
            gap |= ~reported | ~has
        if by_groups:
            chosen, absent = columns.perf_chosen(features, choice)
            subject = columns.q_subject
            floor = columns.floor(rule.min_group_size)[subject]
            judgeable = chosen & ~(columns.q_has_size & (columns.q_size < floor))
            values, has, bad = columns.performance(metric)
            ok &= ~_any_by(subject, judgeable & bad, size)
            grouped = _any_by(subject, judgeable & has & _outside(values, low, high), size)
            # A missing overall figure decides before the groups are read.
            failed |= grouped & ~gap
            gap |= absent & ~failed
        return _decide(columns, ok, missing, failed, gap)

    return statuses


@_registers("champion")
def _champion(rule: ChampionRule) -> ColumnStatus:
    specs = [
        (spec.metric, spec.grouping, spec.max_regression + 1e-12, spec.metric in HIGHER_IS_BETTER)
        for spec in rule.metrics
    ]
    same_data = rule.require_same_data

    def statuses(columns: Columns, now: dt.datetime) -> list[str | None]:
        read = np.ones(columns.size, bool)
        ours: list[list[float | None]] = [[] for _ in range(columns.size)]
        for metric, grouping, _limit, _higher in specs:
            values, has, usable = columns.comparable(metric, grouping)
            read &= usable
            for figures, value, defined in zip(ours, values.tolist(), has.tolist(), strict=True):
                figures.append(value if defined else None)
        readable = read.tolist()
        theirs_by: dict[int, list[float | None] | None] = {}
        out: list[str | None] = []
        for index, snapshot in enumerate(columns.snapshots):
            champion = snapshot.champion
            if champion is None or snapshot.state == "deployed":
                out.append(NOT_APPLICABLE)
                continue
            mine, theirs = snapshot.evaluation, champion.evaluation
            if mine is None or theirs is None:
                out.append(ERROR)
                continue
            if same_data and mine.dataset_sha256 != theirs.dataset_sha256:
                out.append(ERROR)
                continue
            key = id(theirs)
            if key not in theirs_by:
                try:
                    theirs_by[key] = [
                        comparable_value(theirs.results, metric, grouping, theirs.cache)[0]
                        for metric, grouping, _limit, _higher in specs
                    ]
                except EVIDENCE_ERRORS:
                    theirs_by[key] = None  # the reference reports it
            others = theirs_by[key]
            if not readable[index] or others is None:
                out.append(None)
                continue
            worse = unknown = False
            pairs = zip(ours[index], others, specs, strict=True)
            for value, other, (_metric, _grouping, limit, higher) in pairs:
                if value is None or other is None:
                    unknown = True
                elif (other - value if higher else value - other) > limit:
                    worse = True
            out.append(FAIL if worse else ERROR if unknown else PASS)
        return out

    return statuses


__all__ = ["COLUMN_REGISTRY", "Columns", "compile_columns", "needs"]
