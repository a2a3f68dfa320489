"""Group fairness for binary decisions (docs/architecture.md §9), vectorised.

One pass encodes each sensitive feature as integer codes (:func:`~govern.assess.data.
encode_feature`); one ``np.bincount`` over (joint group code x confusion cell) counts every
intersection at once, and each single feature or smaller intersection is a sum over the other
axes of that array. Every rate then comes from the counts:

=============== =========================
selection rate  (TP + FP) / n
TPR / FNR       TP / (TP + FN), FN / (TP + FN)
FPR             FP / (FP + TN)
precision       TP / (TP + FP)
accuracy        (TP + TN) / n
=============== =========================

A rate whose denominator is zero is *undefined* (value None, with a reason), never a silent 0.
fairlearn is the test oracle: on the same inputs its MetricFrame and ``demographic_parity_*`` /
``equalized_odds_*`` give the same figures wherever both are defined.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govern import formatting
from govern.assess.results import (
    FLAG_ADVERSE_IMPACT,
    FLAG_REFERENCE,
    FLAG_SIGNIFICANT,
    FLAG_SMALL_GROUP,
    FLAG_UNDEFINED,
    FOUR_FIFTHS,
    LABEL_SEPARATOR,
    MISSING_GROUP,
    NAME_SEPARATOR,
    REFERENCE_EXPLICIT,
    REFERENCE_LARGEST,
    REFERENCE_MOST_SELECTED,
    SIGNIFICANCE_LEVEL,
    Estimate,
    Grouping,
    GroupingSummary,
    GroupMetrics,
    GroupStats,
)

if TYPE_CHECKING:
    import numpy as np

    from govern.assess.data import EncodedFeature

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054
#: Largest joint table counted in one bincount; beyond it each grouping is counted on its own.
MAX_JOINT_CELLS = 1 << 22
#: Fisher's exact test replaces the z-test when an expected 2x2 count is below this.
MIN_EXPECTED_FOR_Z = 5.0

# Confusion cells: index = 2 * actual + predicted (+ 4 when the score is above the median).
TN, FP, FN, TP = 0, 1, 2, 3

UNDEFINED_REASONS = {
    "tpr": "no actual positives in group",
    "fnr": "no actual positives in group",
    "fpr": "no actual negatives in group",
    "precision": "no predicted positives in group",
}


@dataclass
class GroupCounts:
    """Confusion counts of every observed group of one grouping."""

    name: str
    features: list[str]
    labels: list[tuple[str, ...]]
    #: (groups, 4): TN, FP, FN, TP per group.
    counts: np.ndarray
    #: (groups,): rows scoring above the full sample's median (when a score was given).
    above: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return "single" if len(self.features) == 1 else "intersection"

    @property
    def n(self) -> np.ndarray:
        totals: np.ndarray = self.counts.sum(axis=1)
        return totals

    def label(self, index: int) -> str:
        return LABEL_SEPARATOR.join(self.labels[index])


@dataclass
class FairnessAssessment:
    groupings: list[Grouping]
    counts: list[GroupCounts]
    warnings: list[str] = field(default_factory=list)


def grouping_specs(features: Sequence[str], *, intersections: bool = True) -> list[list[str]]:
    """Each feature alone, then every intersection of two or more (in the order given)."""
    specs = [[f] for f in features]
    if intersections:
        for size in range(2, len(features) + 1):
            specs.extend(list(combo) for combo in itertools.combinations(features, size))
    return specs


def count_groups(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    encoded: Sequence[EncodedFeature],
    *,
    above: np.ndarray | None = None,
    intersections: bool = True,
) -> list[GroupCounts]:
    """Confusion counts per group for each feature and each intersection.

    Args:
        y_true: actual outcomes, True where positive.
        y_pred: decisions, True where positive (selected).
        encoded: the sensitive features as codes.
        above: True where the row's score is above the median (LL144 scoring rate).
        intersections: also count intersections of the features.
    """
    import numpy as np

    cells = 8 if above is not None else 4
    cell = y_true.astype(np.intp) * 2 + y_pred
    if above is not None:
        cell += above.astype(np.intp) * 4
    sizes = [len(e.labels) for e in encoded]
    specs = grouping_specs([e.feature for e in encoded], intersections=intersections)
    joint_size = math.prod(sizes)
    results: list[GroupCounts] = []
    if joint_size * cells <= MAX_JOINT_CELLS:
        joint = np.zeros(len(cell), dtype=np.intp) if not encoded else encoded[0].codes
        for feature in encoded[1:]:
            joint = joint * len(feature.labels) + feature.codes
        table = np.bincount(joint * cells + cell, minlength=joint_size * cells)
        table = table.reshape((*sizes, cells))
        axis_of = {e.feature: i for i, e in enumerate(encoded)}
        for spec in specs:
            keep = [axis_of[f] for f in spec]
            drop = tuple(i for i in range(len(encoded)) if i not in keep)
            marginal = table.sum(axis=drop) if drop else table
            flat = marginal.reshape(-1, cells)
            label_lists = [encoded[i].labels for i in keep]
            results.append(_observed(spec, flat, list(itertools.product(*label_lists)), cells))
        return results
    by_name = {e.feature: e for e in encoded}
    for spec in specs:
        parts = [by_name[f] for f in spec]
        joint = parts[0].codes
        for part in parts[1:]:
            joint = joint * len(part.labels) + part.codes
        observed, inverse = np.unique(joint, return_inverse=True)
        flat = np.bincount(inverse * cells + cell, minlength=len(observed) * cells)
        labels = []
        for code in observed.tolist():
            combo = []
            for part in reversed(parts):
                code, index = divmod(code, len(part.labels))
                combo.append(part.labels[index])
            labels.append(tuple(reversed(combo)))
        results.append(_observed(spec, flat.reshape(-1, cells), labels, cells))
    return results


def _observed(
    spec: list[str], flat: np.ndarray, labels: list[tuple[str, ...]], cells: int
) -> GroupCounts:
    import numpy as np

    counts = flat[:, :4] + flat[:, 4:] if cells == 8 else flat
    present = np.flatnonzero(counts.sum(axis=1) > 0)
    above = flat[present, 4:].sum(axis=1) if cells == 8 else None
    return GroupCounts(
        name=NAME_SEPARATOR.join(spec),
        features=list(spec),
        labels=[labels[i] for i in present.tolist()],
        counts=np.ascontiguousarray(counts[present]),
        above=above,
    )


def wilson(successes: np.ndarray, trials: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rates and Wilson 95% score intervals; NaN where ``trials`` is zero."""
    import numpy as np

    k = successes.astype(np.float64)
    n = trials.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2 = Z95 * Z95
        denominator = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denominator
        half = Z95 * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    lower = np.clip(centre - half, 0.0, 1.0)
    upper = np.clip(centre + half, 0.0, 1.0)
    return p, lower, upper


def proportion_tests(
    successes: np.ndarray, trials: np.ndarray, reference: int
) -> tuple[list[float | None], list[str | None]]:
    """p-values of each group's rate against the reference group's.

    Two-proportion z-test with a pooled variance; Fisher's exact test when any expected
    count of the 2x2 table is below five.
    """
    import numpy as np
    from scipy import stats

    k = successes.astype(np.float64)
    n = trials.astype(np.float64)
    kr, nr = k[reference], n[reference]
    pooled = (k + kr) / (n + nr)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / nr))
        z = (k / n - kr / nr) / se
    p_z = 2.0 * stats.norm.sf(np.abs(z))
    total = n + nr
    expected = np.stack(
        [
            n * (k + kr) / total,
            n * (total - k - kr) / total,
            nr * (k + kr) / total,
            nr * (total - k - kr) / total,
        ]
    ).min(axis=0)
    p_values: list[float | None] = []
    tests: list[str | None] = []
    for index in range(len(k)):
        if index == reference:
            p_values.append(None)
            tests.append(None)
        elif expected[index] < MIN_EXPECTED_FOR_Z:
            table = [
                [int(k[index]), int(n[index] - k[index])],
                [int(kr), int(nr - kr)],
            ]
            p_values.append(float(stats.fisher_exact(table).pvalue))
            tests.append("fisher-exact")
        else:
            # se is 0 when both groups are all-selected or all-rejected: no disparity.
            value = p_z[index]
            p_values.append(1.0 if not np.isfinite(value) else float(value))
            tests.append("z-test")
    return p_values, tests


def _estimate(p: float, lower: float, upper: float, k: int, n: int) -> Estimate:
    if n == 0:
        return Estimate(value=None, lower=None, upper=None, successes=k, trials=n)
    return Estimate(value=p, lower=lower, upper=upper, successes=k, trials=n)


def _range(values: np.ndarray, defined: np.ndarray) -> tuple[float | None, float | None]:
    """(max - min, min / max) over the defined entries; ratio None when max is zero."""
    chosen = values[defined]
    if chosen.size == 0:
        return None, None
    high, low = float(chosen.max()), float(chosen.min())
    return high - low, (low / high if high > 0 else None)


@dataclass(frozen=True)
class ReferenceChoice:
    """The impact-ratio reference group of one grouping and why it was chosen."""

    index: int
    choice: str
    reason: str


def choose_reference(
    counts: GroupCounts,
    rates: np.ndarray,
    *,
    min_group_size: int,
    explicit: Mapping[str, str] | None = None,
    source: str = "--reference",
) -> ReferenceChoice:
    """The group impact ratios and significance tests compare every group with.

    By default the most selected group among those that are neither small (fewer than
    ``min_group_size`` rows, the threshold that flags ``small_group``) nor the missing-value
    group: a handful of rows must not set the bar every other group is measured against.
    When every group is small or missing, the largest group (not missing, if one exists; of
    equally large groups the most selected).
    ``explicit`` (feature -> value) sets it instead: for a single feature when the feature is
    named, for an intersection when each of its features is, and that combination has rows.
    """
    import numpy as np

    n = counts.n
    if explicit and all(f in explicit for f in counts.features):
        wanted = tuple(explicit[f] for f in counts.features)
        named = ", ".join(f"{f}={explicit[f]}" for f in counts.features)
        if wanted in counts.labels:
            index = counts.labels.index(wanted)
            reason = f"set by {source} {named}"
            if int(n[index]) < min_group_size:
                reason += f" (a small group of {int(n[index])} rows: its rate is uncertain)"
            return ReferenceChoice(index, REFERENCE_EXPLICIT, reason)
        fallback = f"{source} {named} has no rows in this intersection; "
    else:
        fallback = ""
    missing = np.array([MISSING_GROUP in labels for labels in counts.labels], dtype=bool)
    eligible = ~missing & (n >= min_group_size)
    if eligible.any():
        index = int(np.argmax(np.where(eligible, rates, -np.inf)))
        enough = f" with at least {min_group_size} rows and" if min_group_size > 1 else " that is"
        return ReferenceChoice(
            index,
            REFERENCE_MOST_SELECTED,
            f"{fallback}most-selected group{enough} not missing",
        )
    present = ~missing if (~missing).any() else np.ones(len(n), dtype=bool)
    # The largest group; of groups equally large, the most selected (then the first).
    size = np.where(present, n, -1)
    index = int(np.argmax(np.where(size == size.max(), rates, -np.inf)))
    what = "is missing" if not (~missing).any() else f"has fewer than {min_group_size} rows"
    if missing.any() and (~missing).any():
        what = f"has fewer than {min_group_size} rows or is missing"
    tied = int((size == size.max()).sum())
    largest = "the largest group" if tied == 1 else "the most selected of the largest groups"
    return ReferenceChoice(
        index,
        REFERENCE_LARGEST,
        f"{fallback}every group {what}: {largest} was used",
    )


def build_grouping(
    counts: GroupCounts,
    *,
    total: int,
    min_group_size: int,
    reference: Mapping[str, str] | None = None,
    reference_source: str = "--reference",
) -> Grouping:
    """Turn one grouping's counts into the stored :class:`Grouping` with flags and tests.

    Args:
        reference: explicit reference values (feature -> value); see :func:`choose_reference`.
        reference_source: what set them, shown in the stored reason ("--reference").
    """
    fractions = _fractions(counts)
    selected, n = fractions["selection_rate"]
    intervals = {name: wilson(k, d) for name, (k, d) in fractions.items()}
    rates = intervals["selection_rate"][0]
    chosen = choose_reference(
        counts,
        rates,
        min_group_size=min_group_size,
        explicit=reference,
        source=reference_source,
    )
    index_of_reference = chosen.index
    top = float(rates[index_of_reference])
    impact = rates / top if top > 0 else None
    p_values, tests = proportion_tests(selected, n, index_of_reference)

    # The LL144 scoring impact ratio keeps the rule's own definition (6 RCNY 5-300): against
    # the highest scoring rate.
    scoring_impact = None
    if counts.above is not None:
        scoring = intervals["scoring_rate"][0]
        best = float(scoring.max())
        scoring_impact = scoring / best if best > 0 else None

    groups = [
        _group_stats(
            counts,
            index,
            fractions=fractions,
            intervals=intervals,
            impact=impact,
            scoring_impact=scoring_impact,
            p_value=p_values[index],
            test=tests[index],
            is_reference=index == index_of_reference,
            total=total,
            min_group_size=min_group_size,
        )
        for index in range(len(counts.labels))
    ]

    summary, undefined_summary, notes = _summary(counts, intervals, impact, scoring_impact)
    reference_label = counts.label(index_of_reference)
    if impact is None and "min_impact_ratio" not in undefined_summary:
        undefined_summary["min_impact_ratio"] = (
            f"the reference group {reference_label!r} has no selected rows"
        )
    return Grouping(
        name=counts.name,
        features=counts.features,
        kind="single" if len(counts.features) == 1 else "intersection",
        reference_group=reference_label,
        reference_choice=chosen.choice,
        reference_reason=chosen.reason,
        groups=groups,
        summary=summary,
        undefined=undefined_summary,
        notes=notes,
    )


def _fractions(counts: GroupCounts) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each rate's numerator and denominator per group, from the confusion counts."""
    c = counts.counts
    tn, fp, fn, tp = c[:, TN], c[:, FP], c[:, FN], c[:, TP]
    n = c.sum(axis=1)
    selected, positives, negatives = fp + tp, tp + fn, fp + tn
    fractions = {
        "selection_rate": (selected, n),
        "tpr": (tp, positives),
        "fpr": (fp, negatives),
        "fnr": (fn, positives),
        "precision": (tp, selected),
        "accuracy": (tp + tn, n),
    }
    if counts.above is not None:
        fractions["scoring_rate"] = (counts.above, n)
    return fractions


def _group_stats(
    counts: GroupCounts,
    index: int,
    *,
    fractions: Mapping[str, tuple[np.ndarray, np.ndarray]],
    intervals: Mapping[str, tuple[np.ndarray, ...]],
    impact: np.ndarray | None,
    scoring_impact: np.ndarray | None,
    p_value: float | None,
    test: str | None,
    is_reference: bool,
    total: int,
    min_group_size: int,
) -> GroupStats:
    """One group's stored figures, with the flags a reader looks for first."""
    undefined = {
        metric: reason
        for metric, reason in UNDEFINED_REASONS.items()
        if int(fractions[metric][1][index]) == 0
    }
    estimates = {
        name: _estimate(
            float(p[index]),
            float(lo[index]),
            float(hi[index]),
            int(fractions[name][0][index]),
            int(fractions[name][1][index]),
        )
        for name, (p, lo, hi) in intervals.items()
    }
    ratio = float(impact[index]) if impact is not None else None
    size = int(fractions["selection_rate"][1][index])
    flags: list[str] = []
    if is_reference:
        flags.append(FLAG_REFERENCE)
    if size < min_group_size:
        flags.append(FLAG_SMALL_GROUP)
    if ratio is not None and ratio < FOUR_FIFTHS:
        flags.append(FLAG_ADVERSE_IMPACT)
    if p_value is not None and p_value < SIGNIFICANCE_LEVEL:
        flags.append(FLAG_SIGNIFICANT)
    if undefined:
        flags.append(FLAG_UNDEFINED)
    return GroupStats(
        group=counts.label(index),
        values=dict(zip(counts.features, counts.labels[index], strict=True)),
        n=size,
        share=size / total if total else 0.0,
        small=size < min_group_size,
        metrics=GroupMetrics(**estimates),
        impact_ratio=ratio,
        scoring_impact_ratio=float(scoring_impact[index]) if scoring_impact is not None else None,
        p_value=p_value,
        test=test,
        undefined=undefined,
        flags=flags,
    )


def _summary(
    counts: GroupCounts,
    intervals: dict[str, tuple[np.ndarray, ...]],
    impact: np.ndarray | None,
    scoring_impact: np.ndarray | None,
) -> tuple[GroupingSummary, dict[str, str], list[str]]:
    import numpy as np

    c = counts.counts
    everyone = np.ones(len(c), dtype=bool)
    has_pos = (c[:, FN] + c[:, TP]) > 0
    has_neg = (c[:, FP] + c[:, TN]) > 0
    dpd, dpr = _range(intervals["selection_rate"][0], everyone)
    tpr_diff, tpr_ratio = _range(intervals["tpr"][0], has_pos)
    fpr_diff, fpr_ratio = _range(intervals["fpr"][0], has_neg)
    undefined: dict[str, str] = {}
    notes: list[str] = []
    if dpr is None:
        undefined["demographic_parity_ratio"] = "no group has any selected rows"
        undefined["min_impact_ratio"] = "no group has any selected rows"
    for mask, what in ((has_pos, "actual positives"), (has_neg, "actual negatives")):
        if not mask.all() and mask.any():
            missing = [counts.label(i) for i in np.flatnonzero(~mask).tolist()]
            shown = ", ".join(repr(m) for m in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            notes.append(f"equalized odds leaves out {shown}{more}: no {what}")
    diffs = [d for d in (tpr_diff, fpr_diff) if d is not None]
    eod = max(diffs) if diffs else None
    if eod is None:
        undefined["equalized_odds_difference"] = "no group has both actual outcomes"
    eor: float | None
    if tpr_ratio is None or fpr_ratio is None:
        eor = None
        undefined["equalized_odds_ratio"] = (
            "a group rate is zero for every group (true or false positive rate)"
            if tpr_diff is not None and fpr_diff is not None
            else "no group has both actual outcomes"
        )
    else:
        eor = min(tpr_ratio, fpr_ratio)
    min_scoring = float(np.min(scoring_impact)) if scoring_impact is not None else None
    summary = GroupingSummary(
        demographic_parity_difference=dpd,
        demographic_parity_ratio=dpr,
        equalized_odds_difference=eod,
        equalized_odds_ratio=eor,
        min_impact_ratio=float(np.min(impact)) if impact is not None else None,
        min_scoring_impact_ratio=min_scoring,
    )
    return summary, undefined, notes


def assess_fairness(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    encoded: Sequence[EncodedFeature],
    *,
    score: np.ndarray | None = None,
    min_group_size: int = 30,
    intersections: bool = True,
    reference: Mapping[str, str] | None = None,
    reference_source: str = "--reference",
) -> FairnessAssessment:
    """Fairness of binary decisions for each sensitive feature and their intersections.

    Args:
        y_true: actual outcomes, True where positive (favourable).
        y_pred: decisions, True where positive.
        encoded: sensitive features from :func:`~govern.assess.data.encode_feature`.
        score: continuous scores; adds the NYC LL144 scoring rate (share of the group scoring
            above the median of the full sample) and its impact ratio.
        min_group_size: groups smaller than this are flagged ``small_group`` (never dropped).
        intersections: also assess intersections of the features.
        reference: the impact-ratio reference value of some features (feature -> value, a
            label of that feature); the others get the default (:func:`choose_reference`).
        reference_source: what set ``reference``, recorded in each grouping's reason.

    Returns:
        The groupings in the stored format, the raw counts (for per-group performance) and
        warnings about groups or figures that need a reader's attention.
    """
    import numpy as np

    above = score > np.median(score) if score is not None else None
    counts = count_groups(y_true, y_pred, encoded, above=above, intersections=intersections)
    total = len(y_true)
    groupings = [
        build_grouping(
            c,
            total=total,
            min_group_size=min_group_size,
            reference=reference,
            reference_source=reference_source,
        )
        for c in counts
    ]
    warnings: list[str] = []
    for grouping in groupings:
        small = [formatting.group(grouping.name, g.group) for g in grouping.groups if g.small]
        shown = formatting.grouping(grouping.name)
        if small:
            more = f"; and {len(small) - 5} more" if len(small) > 5 else ""
            warnings.append(
                f"{shown}: {formatting.count(len(small), 'group')} below {min_group_size} rows "
                f"({'; '.join(small[:5])}{more}); their rates are uncertain"
            )
        warnings.extend(f"{shown}: {note}" for note in grouping.notes)
    return FairnessAssessment(groupings=groupings, counts=counts, warnings=warnings)


__all__ = [
    "MAX_JOINT_CELLS",
    "FairnessAssessment",
    "GroupCounts",
    "ReferenceChoice",
    "assess_fairness",
    "build_grouping",
    "choose_reference",
    "count_groups",
    "grouping_specs",
    "proportion_tests",
    "wilson",
]
