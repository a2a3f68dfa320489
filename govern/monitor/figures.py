"""Windows of a monitoring record, and the figures ``govern evaluate`` computes, from counts.

A window (a day, an ISO week from Monday, a calendar month; UTC) is the sum of its days'
counts. Its figures come from the same function as an evaluation's:
:func:`govern.assess.fairness.build_grouping` over each grouping's confusion counts. When
every row of a window has its outcome, the window's groupings are what ``govern evaluate``
stores for the same rows. Outcomes often arrive weeks later: until they all have, selection
rates, impact ratios and their tests come from every row, and the rates that need an
outcome (TPR, FPR...) from the rows whose outcome is known, which the window reports.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govern.errors import InputError
from govern.monitor.aggregate import SCORE_BINS, DayCounts

#: ``--window`` values.
WINDOWS = {"1d": "day", "1w": "week", "1mo": "month"}
#: Rates that need the actual outcome.
OUTCOME_METRICS = ("tpr", "fpr", "fnr", "precision", "accuracy")


def window_start(day: dt.date, width: str) -> dt.date:
    """The first day of the window of ``width`` (a :data:`WINDOWS` value) holding ``day``."""
    if width == "1d":
        return day
    if width == "1w":
        return day - dt.timedelta(days=day.weekday())
    if width == "1mo":
        return day.replace(day=1)
    raise InputError(f"--window {width}: choose one of {', '.join(WINDOWS)}")


def window_end(start: dt.date, width: str) -> dt.date:
    """The first day after the window starting ``start``."""
    if width == "1d":
        return start + dt.timedelta(days=1)
    if width == "1w":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@dataclass
class Window:
    start: dt.date
    end: dt.date
    counts: DayCounts

    @property
    def rows(self) -> int:
        return self.counts.rows

    @property
    def outcomes_known(self) -> int:
        return sum(n for (_g, _d, actual), n in self.counts.cells.items() if actual is not None)


def windows(days: Iterable[DayCounts], width: str) -> list[Window]:
    """``days`` summed into windows of ``width``, oldest first."""
    found: dict[dt.date, Window] = {}
    for counts in sorted(days, key=lambda c: c.day):
        start = window_start(counts.day, width)
        window = found.get(start)
        if window is None:
            window = found[start] = Window(start, window_end(start, width), DayCounts(start))
        window.counts.add(counts)
    return list(found.values())


def groupings(
    counts: DayCounts,
    features: Sequence[str],
    *,
    min_group_size: int,
    reference: Mapping[str, str] | None = None,
) -> list[Any]:
    """Each sensitive feature's and intersection's :class:`~govern.assess.results.Grouping`
    of one window, as ``govern evaluate`` builds it (see the module's docstring)."""
    from govern.assess.fairness import build_grouping

    if not counts.cells or not features:
        return []
    complete = all(actual is not None for (_g, _d, actual) in counts.cells)
    if complete:
        table = dict(counts.cells)
        return [
            build_grouping(c, total=counts.rows, min_group_size=min_group_size, reference=reference)
            for c in _group_counts(table, features)
        ]
    decisions = {(g, d, False): 0 for (g, d, _a) in counts.cells}
    for (group, decided, _actual), n in counts.cells.items():
        decisions[(group, decided, False)] += n
    known = {cell: n for cell, n in counts.cells.items() if cell[2] is not None}
    by_decision = [
        build_grouping(c, total=counts.rows, min_group_size=min_group_size, reference=reference)
        for c in _group_counts(decisions, features)
    ]
    if not known:
        return [_without_outcomes(g) for g in by_decision]
    by_outcome = {
        c.name: build_grouping(
            c, total=sum(known.values()), min_group_size=min_group_size, reference=reference
        )
        for c in _group_counts(known, features)
    }
    return [_with_outcomes(g, by_outcome.get(g.name)) for g in by_decision]


def shadow_comparison(
    counts: DayCounts, features: Sequence[str], *, min_group_size: int
) -> dict[str, Any] | None:
    """A shadow's window against its champion's decisions on the same requests: the share
    of requests both decided alike, overall and per group, and per group the shadow's
    selection rate and impact ratio minus the champion's (each side's groupings built as
    ``govern evaluate`` builds them). ``None`` when the window holds no paired requests."""
    if not counts.paired:
        return None
    mine: dict[Any, int] = {}
    theirs: dict[Any, int] = {}
    alike: dict[Any, int] = {}
    for (group, own, champion, actual), n in counts.paired.items():
        for table, key in (
            (mine, (group, own, actual)),
            (theirs, (group, champion, actual)),
            (alike, (group, own == champion, False)),
        ):
            table[key] = table.get(key, 0) + n
    shadow_side = groupings(DayCounts(counts.day, mine), features, min_group_size=min_group_size)
    champion_side = {
        g.name: g
        for g in groupings(DayCounts(counts.day, theirs), features, min_group_size=min_group_size)
    }
    agreement = {c.name: c for c in _group_counts(alike, features)} if features else {}
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for grouping in shadow_side:
        other = {g.group: g for g in champion_side[grouping.name].groups}
        agreed = agreement[grouping.name]
        rates = {
            agreed.label(i): float(agreed.counts[i, 1] / agreed.counts[i].sum())
            for i in range(len(agreed.labels))
        }
        groups[grouping.name] = {
            stats.group: {
                "agreement": rates.get(stats.group),
                "selection_rate_delta": _delta(
                    stats.metrics.selection_rate.value,
                    other[stats.group].metrics.selection_rate.value,
                ),
                "impact_ratio_delta": _delta(stats.impact_ratio, other[stats.group].impact_ratio),
                "small": stats.small,
            }
            for stats in grouping.groups
            if stats.group in other
        }
    total = sum(counts.paired.values())
    same = sum(n for (_g, own, champion, _a), n in counts.paired.items() if own == champion)
    return {"rows": total, "agreement": same / total if total else None, "groups": groups}


def feature_psi(
    references: Mapping[str, Mapping[str, int]], current: DayCounts
) -> dict[str, float | None]:
    """Each drift feature's PSI in ``current`` against its histogram in ``references`` (the
    same fixed bins: deciles of the feature's first run, or its categories)."""
    found: dict[str, float | None] = {}
    for feature, bins in sorted(current.drift.items()):
        reference = references.get(feature)
        if not reference or not sum(bins.values()):
            found[feature] = None
            continue
        labels = sorted(set(reference) | set(bins))
        found[feature] = score_psi(
            [reference.get(label, 0) for label in labels], [bins.get(label, 0) for label in labels]
        )
    return found


def _delta(shadow: float | None, champion: float | None) -> float | None:
    if shadow is None or champion is None:
        return None
    return shadow - champion


def _group_counts(cells: Mapping[Any, int], features: Sequence[str]) -> list[Any]:
    """The confusion counts of every grouping, labelled and ordered as ``govern evaluate``
    labels and orders them (:func:`~govern.assess.data.encode_labels`, missing last)."""
    import numpy as np
    import pandas as pd

    from govern.assess.data import encode_labels
    from govern.assess.fairness import GroupCounts, grouping_specs
    from govern.assess.results import MISSING_GROUP, NAME_SEPARATOR

    ordered: list[list[str]] = []
    for index in range(len(features)):
        present = {group[index] for (group, _d, _a) in cells}
        _codes, texts = encode_labels(pd.Series(sorted(p for p in present if p is not None)))
        ordered.append([*texts, MISSING_GROUP] if None in present else texts)
    found = []
    for spec in grouping_specs(list(features)):
        at = [features.index(f) for f in spec]
        table: dict[tuple[str, ...], Any] = {}
        for (group, decided, actual), n in cells.items():
            key = tuple(MISSING_GROUP if group[i] is None else group[i] for i in at)
            row = table.get(key)
            if row is None:
                row = table[key] = np.zeros(4, dtype=np.int64)
            row[2 * bool(actual) + decided] += n  # TN, FP, FN, TP
        combos = itertools.product(*(ordered[i] for i in at))
        labels = [c for c in combos if c in table and table[c].sum() > 0]
        found.append(
            GroupCounts(
                name=NAME_SEPARATOR.join(spec),
                features=list(spec),
                labels=labels,
                counts=np.array([table[c] for c in labels], dtype=np.int64).reshape(-1, 4),
            )
        )
    return found


def _without_outcomes(grouping: Any) -> Any:
    groups = []
    for group in grouping.groups:
        metrics = group.metrics.model_copy(
            update={m: _unknown(getattr(group.metrics, m)) for m in OUTCOME_METRICS}
        )
        undefined = dict.fromkeys(OUTCOME_METRICS, "no outcomes known yet")
        groups.append(group.model_copy(update={"metrics": metrics, "undefined": undefined}))
    summary = grouping.summary.model_copy(
        update={"equalized_odds_difference": None, "equalized_odds_ratio": None}
    )
    return grouping.model_copy(update={"groups": groups, "summary": summary})


def _with_outcomes(grouping: Any, outcomes: Any) -> Any:
    if outcomes is None:
        return _without_outcomes(grouping)
    known = {g.group: g for g in outcomes.groups}
    groups = []
    for group in grouping.groups:
        other = known.get(group.group)
        if other is None:
            groups.append(
                _without_outcomes(grouping.model_copy(update={"groups": [group]})).groups[0]
            )
            continue
        metrics = group.metrics.model_copy(
            update={m: getattr(other.metrics, m) for m in OUTCOME_METRICS}
        )
        undefined = {k: v for k, v in other.undefined.items() if k in OUTCOME_METRICS}
        groups.append(group.model_copy(update={"metrics": metrics, "undefined": undefined}))
    summary = grouping.summary.model_copy(
        update={
            "equalized_odds_difference": outcomes.summary.equalized_odds_difference,
            "equalized_odds_ratio": outcomes.summary.equalized_odds_ratio,
        }
    )
    return grouping.model_copy(update={"groups": groups, "summary": summary})


def _unknown(estimate: Any) -> Any:
    return estimate.model_copy(
        update={"value": None, "lower": None, "upper": None, "successes": 0, "trials": 0}
    )


def score_psi(reference: Sequence[int], current: Sequence[int]) -> float | None:
    """PSI between two score histograms on the same fixed edges (:data:`SCORE_BINS`)."""
    import numpy as np

    from govern.assess.drift import psi

    if sum(reference) == 0 or sum(current) == 0:
        return None
    value = psi(np.asarray(reference, dtype=float), np.asarray(current, dtype=float))
    return value if math.isfinite(value) else None


__all__ = [
    "OUTCOME_METRICS",
    "SCORE_BINS",
    "WINDOWS",
    "Window",
    "groupings",
    "score_psi",
    "shadow_comparison",
    "window_end",
    "window_start",
    "windows",
]
