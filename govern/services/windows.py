"""A monitoring record's windows and their figures: one function for ``govern monitor show``
(:mod:`govern.services.monitoring`) and for the records policy checks load
(:mod:`govern.services.subjects`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from govern.monitor.aggregate import DayCounts
from govern.monitor.figures import (
    Window,
    feature_psi,
    groupings,
    score_psi,
    shadow_comparison,
    windows,
)
from govern.policy.snapshot import WindowFigures


def window_figures(
    days: Sequence[DayCounts], features: Sequence[str], width: str, min_group_size: int
) -> list[tuple[Window, list[Any], WindowFigures, dict[str, Any] | None]]:
    """Each window of ``width``: its counts, its groupings (as ``govern evaluate`` stores
    them), the figures monitoring rules read, and for a shadow the comparison with its
    champion on the same requests. A window's score PSI is against the first window with
    scores."""
    found = windows(days, width)
    reference = next((w.counts.scores for w in found if sum(w.counts.scores)), None)
    first_bins: dict[str, dict[str, int]] = {}
    for window in found:
        for feature, bins in window.counts.drift.items():
            if sum(bins.values()):
                first_bins.setdefault(feature, bins)
    result = []
    for window in found:
        groups = groupings(window.counts, features, min_group_size=min_group_size)
        psi = None if reference is None else score_psi(reference, window.counts.scores)
        paired = shadow_comparison(window.counts, features, min_group_size=min_group_size)
        drifted = feature_psi(first_bins, window.counts)
        figures = WindowFigures(
            feature_psi=drifted,
            start=window.start,
            end=window.end,
            rows=window.rows,
            outcomes_known=window.outcomes_known,
            score_psi=psi,
            groups={
                g.name: {
                    s.group: {
                        "selection_rate": s.metrics.selection_rate.value,
                        "impact_ratio": s.impact_ratio,
                        "tpr": s.metrics.tpr.value,
                        "fpr": s.metrics.fpr.value,
                    }
                    for s in g.groups
                    if not s.small
                }
                for g in groups
            },
            features={g.name: tuple(g.features) for g in groups},
            shadow={}
            if paired is None
            else {
                name: {
                    label: {k: v for k, v in values.items() if k != "small"}
                    for label, values in found.items()
                    if not values["small"]
                }
                for name, found in paired["groups"].items()
            },
        )
        result.append((window, groups, figures, paired))
    return result


__all__ = ["window_figures"]
