"""Charts for the model card: matplotlib (Agg, no pyplot) to vector SVG, embedded as data: URIs.

Text stays text (``svg.fonttype: none``), set by WeasyPrint in the card's embedded DejaVu
fonts, so chart titles and labels can be searched and read back from the PDF; mathtext is
off, so a group label such as ``$x$`` from the data is shown literally. The SVG carries no
date and a fixed id salt, so the same figures give the same bytes.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from govern import formatting
from govern.report.view import (
    FOUR_FIFTHS,
    Grouping,
    LocalExplanation,
    MonitoredGrouping,
    MonitoringView,
    ReportView,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Bars drawn per fairness chart; the table below it always lists every group.
MAX_GROUPS_CHARTED = 24
MAX_FEATURES_CHARTED = 15
MAX_LOCAL_CHARTS = 3

_INK = "#1f2933"
_MUTED = "#7b8794"
_GRID = "#e4e7eb"
_METRIC_COLOURS = {"selection_rate": "#2f6f9f", "tpr": "#4c9a6a", "fpr": "#c98a2b"}
_METRIC_LABELS = {
    "selection_rate": "Selection rate",
    "tpr": "True positive rate",
    "fpr": "False positive rate",
}
_ADVERSE = "#b3261e"
_OK = "#2f6f9f"
_POSITIVE = "#b3261e"
_NEGATIVE = "#2f6f9f"
_SENSITIVE = "#8e44ad"


@dataclass(frozen=True, slots=True)
class Chart:
    """One figure: a key, a caption, and the SVG (as text and as a data: URI)."""

    key: str
    title: str
    caption: str
    svg: str

    @property
    def data_uri(self) -> str:
        encoded = base64.b64encode(self.svg.encode("utf-8")).decode("ascii")
        return f"data:image/svg+xml;base64,{encoded}"


def _style() -> Any:
    return {
        "svg.fonttype": "none",
        "svg.hashsalt": "govern",
        "text.parse_math": False,
        "font.family": "DejaVu Sans",
        "font.size": 8,
        "axes.edgecolor": _MUTED,
        "axes.labelcolor": _INK,
        "axes.titlesize": 9,
        "axes.titleweight": "bold",
        "xtick.color": _INK,
        "ytick.color": _INK,
        "legend.frameon": False,
    }


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=72, layout="constrained")


def _to_svg(figure: Figure) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(figure)
    buffer = io.StringIO()
    # The saved area is the drawn one, measured: a long group or feature label widens the
    # image instead of being cut off at the figure's edge.
    figure.savefig(
        buffer, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.04
    )
    return buffer.getvalue()


def _tidy(axes: Axes) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="x", color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def fairness_chart(grouping: Grouping) -> Chart | None:
    """Selection rate, TPR and FPR per group with 95% intervals, and impact ratios vs 0.8."""
    groups = grouping.groups[:MAX_GROUPS_CHARTED]
    if not groups:
        return None
    import numpy as np

    metrics = [m for m in ("selection_rate", "tpr", "fpr") if any(m in g.metrics for g in groups)]
    height = 1.0 + 0.32 * len(groups) * max(1, len(metrics)) ** 0.5
    figure = _figure(7.0, min(max(height, 2.0), 8.5))
    left, right = figure.subplots(1, 2, width_ratios=[3, 2], sharey=True)
    positions = np.arange(len(groups))
    _rates_panel(left, grouping, metrics, positions)
    _impact_panel(right, grouping, positions)
    handles, labels = left.get_legend_handles_labels()
    more_handles, more_labels = right.get_legend_handles_labels()
    figure.legend(
        handles + more_handles,
        labels + more_labels,
        loc="outside lower center",
        ncols=len(handles) + len(more_handles),
        fontsize=7,
    )
    return Chart(
        key=f"fairness-{grouping.name}",
        title=f"Fairness by {formatting.grouping(grouping.name)}",
        caption=_fairness_caption(grouping),
        svg=_to_svg(figure),
    )


def _rates_panel(axes: Axes, grouping: Grouping, metrics: list[str], positions: Any) -> None:
    """One bar per group and metric, whiskers at the Wilson interval; small groups starred."""
    import numpy as np

    groups = grouping.groups[:MAX_GROUPS_CHARTED]
    bar = 0.8 / max(1, len(metrics))
    for index, metric in enumerate(metrics):
        values, low, high = [], [], []
        for group in groups:
            estimate = group.estimate(metric)
            value = estimate.value if estimate and estimate.value is not None else np.nan
            values.append(value)
            lower = estimate.lower if estimate and estimate.lower is not None else value
            upper = estimate.upper if estimate and estimate.upper is not None else value
            low.append(max(0.0, value - lower) if value == value else 0.0)
            high.append(max(0.0, upper - value) if value == value else 0.0)
        offset = (index - (len(metrics) - 1) / 2) * bar
        axes.barh(
            positions + offset,
            values,
            height=bar * 0.92,
            xerr=[low, high],
            color=_METRIC_COLOURS[metric],
            error_kw={"elinewidth": 0.7, "capsize": 1.5, "ecolor": _INK},
            label=_METRIC_LABELS[metric],
        )
    labels = [
        _short(formatting.group(grouping.name, g.group), 40) + (" *" if g.small else "")
        for g in groups
    ]
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("rate (whiskers: Wilson 95% interval)")
    axes.set_title(f"Rates by {formatting.grouping(grouping.name)}")
    _tidy(axes)


def _impact_panel(axes: Axes, grouping: Grouping, positions: Any) -> None:
    """Each group's impact ratio, red below the four-fifths line."""
    import numpy as np

    groups = grouping.groups[:MAX_GROUPS_CHARTED]
    ratios = [g.impact_ratio if g.impact_ratio is not None else np.nan for g in groups]
    colours = [_ADVERSE if g.adverse else _OK for g in groups]
    axes.barh(positions, ratios, height=0.6, color=colours)
    axes.axvline(
        FOUR_FIFTHS, color=_ADVERSE, linestyle="--", linewidth=1, label="four-fifths line (0.8)"
    )
    finite = [r for r in ratios if r == r]
    axes.set_xlim(0, max(1.05, *(finite or [1.0])) * 1.05)
    # The reference group is named in the caption: an intersection's name is too long for
    # the narrow panel, where it would run into the other panel's label.
    axes.set_xlabel("ratio to the reference")
    axes.set_title("Impact ratio")
    _tidy(axes)


def _fairness_caption(grouping: Grouping) -> str:
    small = " Groups marked * are below the minimum group size." if grouping.small_groups else ""
    reference = (
        f" ({formatting.group(grouping.name, grouping.reference_group)})"
        if grouping.reference_group is not None
        else ""
    )
    more = (
        f" The chart shows the first {MAX_GROUPS_CHARTED} of {len(grouping.groups)} groups."
        if len(grouping.groups) > MAX_GROUPS_CHARTED
        else ""
    )
    return (
        f"Per-group rates for {formatting.grouping(grouping.name)} and impact ratios against "
        f"the reference group{reference}; red bars fall below the four-fifths line."
        f"{small}{more}"
    )


def importance_chart(view: ReportView) -> Chart | None:
    """Global mean |SHAP| per feature with bootstrap intervals; sensitive features marked."""
    results = view.results
    explanations = results.explanations if results else None
    if explanations is None or not explanations.importances:
        return None
    rows = sorted(
        (i for i in explanations.importances if i.mean_abs_shap is not None),
        key=lambda i: i.mean_abs_shap or 0.0,
        reverse=True,
    )[:MAX_FEATURES_CHARTED]
    if not rows:
        return None
    flagged = {f.feature for f in explanations.sensitive_flags}
    sensitive = flagged | set(results.sensitive_features if results else [])
    figure = _figure(7.0, min(1.0 + 0.26 * len(rows), 5.5))
    axes = figure.subplots()
    values = [r.mean_abs_shap or 0.0 for r in rows]
    low = [
        max(0.0, v - (r.lower if r.lower is not None else v))
        for r, v in zip(rows, values, strict=True)
    ]
    high = [
        max(0.0, (r.upper if r.upper is not None else v) - v)
        for r, v in zip(rows, values, strict=True)
    ]
    colours = [_SENSITIVE if r.feature in sensitive else _OK for r in rows]
    positions = list(range(len(rows)))
    axes.barh(
        positions,
        values,
        xerr=[low, high],
        color=colours,
        height=0.65,
        error_kw={"elinewidth": 0.7, "capsize": 1.5, "ecolor": _INK},
    )
    axes.set_yticks(positions, [_short(r.feature, 36) for r in rows])
    axes.invert_yaxis()
    axes.set_xlabel("mean |SHAP value| (whiskers: bootstrap 95% interval)")
    axes.set_title(f"Global feature importance ({explanations.method or 'SHAP'})")
    _tidy(axes)
    return Chart(
        key="importance",
        title="Global feature importance",
        caption=(
            "Mean absolute SHAP value per feature on a seeded sample"
            + (f" of {explanations.sample_size} rows" if explanations.sample_size else "")
            + "; purple bars are sensitive features or features flagged as associated with one."
        ),
        svg=_to_svg(figure),
    )


def local_chart(explanation: LocalExplanation) -> Chart | None:
    """One decision: its largest feature contributions, pushing the output up or down.

    The axis is the explainer's own scale (``output``, e.g. the log-odds of the positive
    label), on which the base value and the contributions add up; the model's score (a
    probability for a classifier) is named separately in the title.
    """
    rows = explanation.contributions
    if not rows:
        return None
    scale = explanation.output or "model output (scale not recorded)"
    labels = [_short(f"{c.feature} = {c.value}" if c.value else c.feature, 40) for c in rows]
    values = [c.shap for c in rows]
    colours = [_POSITIVE if c.shap > 0 else _NEGATIVE for c in rows]
    if explanation.rest_count:
        labels.append(f"{formatting.count(explanation.rest_count, 'other feature')}")
        values.append(explanation.rest)
        colours.append(_MUTED)
    figure = _figure(7.0, min(0.9 + 0.24 * len(values), 3.8))
    axes = figure.subplots()
    positions = list(range(len(values)))
    axes.barh(positions, values, color=colours, height=0.6)
    axes.axvline(0, color=_MUTED, linewidth=0.8)
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.set_xlabel(f"SHAP contribution to the {scale}")
    axes.set_title(f"Decision {_short(explanation.row_id, 30)}{_prediction(explanation)}")
    _tidy(axes)
    total = explanation.total
    sum_line = (
        f" On the {scale}: base {formatting.number(explanation.base_value)} + contributions "
        f"{formatting.signed(total - explanation.base_value)} = {formatting.number(total)}."
        if total is not None and explanation.base_value is not None
        else ""
    )
    rest = " (grey: the other features together)" if explanation.rest_count else ""
    return Chart(
        key=f"local-{explanation.row_id}",
        title=f"Decision {explanation.row_id}",
        caption=(
            f"Largest contributions for this decision{rest}; red raises the {scale}, blue "
            f"lowers it.{sum_line}"
        ),
        svg=_to_svg(figure),
    )


def _prediction(explanation: LocalExplanation) -> str:
    """``: probability of 1 = 0.863`` — the model's score, named by what it is."""
    if explanation.prediction is None:
        return ""
    output = explanation.output
    if output.startswith("log-odds of "):
        name = "probability of " + output.removeprefix("log-odds of ")
    elif output.startswith("probability of ") or output == "prediction":
        name = output
    else:
        name = "model score"
    return f": {name} = {formatting.number(explanation.prediction)}"


#: Window starts named on a monitoring chart's x axis at most (every n-th beyond that).
MAX_WINDOW_TICKS = 10
#: Line colours of the groups of a monitoring chart, in the groups' order (colour-blind safe).
_SERIES_COLOURS = (
    "#2f6f9f",
    "#c98a2b",
    "#4c9a6a",
    "#8e44ad",
    "#b3261e",
    "#52606d",
    "#d4a5c9",
    "#7fb3d5",
)


def _window_axis(axes: Axes, monitoring: MonitoringView) -> None:
    """Window starts as the x axis' tick labels (thinned to :data:`MAX_WINDOW_TICKS`)."""
    count = len(monitoring.windows)
    step = max(1, -(-count // MAX_WINDOW_TICKS))
    ticks = list(range(0, count, step))
    axes.set_xticks(ticks, [formatting.day(monitoring.windows[i].start) for i in ticks])
    if len(ticks) > 6:  # ten dates side by side would touch
        axes.tick_params(axis="x", labelrotation=30)
    axes.set_xlim(-0.5, count - 0.5)
    axes.set_xlabel(f"{monitoring.window_name} window, by its first day (UTC)")
    axes.grid(axis="y", color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def monitoring_rate_chart(monitoring: MonitoringView, grouping: MonitoredGrouping) -> Chart | None:
    """One sensitive feature's selection rate per group over the monitoring windows."""
    groups = grouping.groups[:MAX_GROUPS_CHARTED]
    if not groups or not monitoring.windows:
        return None
    import numpy as np

    rows = -(-len(groups) // 4)
    figure = _figure(7.0, 2.6 + 0.18 * rows)
    axes = figure.subplots()
    positions = np.arange(len(monitoring.windows))
    for index, series in enumerate(groups):
        rates = [np.nan if r is None else r for r in series.rates]
        axes.plot(
            positions,
            rates,
            marker="o",
            markersize=3,
            linewidth=1.2,
            color=_SERIES_COLOURS[index % len(_SERIES_COLOURS)],
            label=_short(formatting.group(grouping.name, series.group), 40),
        )
    axes.set_ylim(0, 1)
    axes.set_ylabel("selection rate")
    axes.set_title(f"Selection rate by {formatting.grouping(grouping.name)} over time")
    _window_axis(axes, monitoring)
    # Below the plot, as the fairness charts': it never hides a line, and every chart's
    # plot keeps the page's width whatever the length of the group names.
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="outside lower center", ncols=min(4, len(handles)), fontsize=7
    )
    more = (
        f" The chart shows the first {MAX_GROUPS_CHARTED} of {len(grouping.groups)} groups."
        if len(grouping.groups) > MAX_GROUPS_CHARTED
        else ""
    )
    return Chart(
        key=f"monitoring-rate-{grouping.name}",
        title=f"Selection rate by {formatting.grouping(grouping.name)} over time",
        caption=(
            f"Share of each {formatting.grouping(grouping.name)} group given the positive "
            f"decision in each {monitoring.window_name} window of production logs; a gap is "
            f"a window without rows of that group.{more}"
        ),
        svg=_to_svg(figure),
    )


def monitoring_psi_chart(monitoring: MonitoringView) -> Chart | None:
    """Score PSI per window against the first window, with the alarm line."""
    values = [w.score_psi for w in monitoring.windows]
    if not any(v is not None for v in values):
        return None
    import numpy as np

    figure = _figure(7.0, 2.4)
    axes = figure.subplots()
    positions = np.arange(len(values))
    shown = [np.nan if v is None else v for v in values]
    alarm = monitoring.score_psi_line  # the score-drift rule's threshold, if there is one
    colours = [
        _ADVERSE if v is not None and alarm is not None and v > alarm else _OK for v in values
    ]
    axes.bar(positions, shown, width=0.6, color=colours)
    if alarm is not None:
        line = formatting.compact(alarm)
        axes.axhline(
            alarm, color=_ADVERSE, linestyle="--", linewidth=1, label=f"rule's line ({line})"
        )
    finite = [v for v in values if v is not None]
    axes.set_ylim(0, max((alarm or 0.0) * 1.5, *finite) * 1.1)
    axes.set_ylabel("PSI")
    axes.set_title("Score distribution shift (PSI against the first window)")
    _window_axis(axes, monitoring)
    if alarm is not None:
        axes.legend(loc="upper left", fontsize=7)
    return Chart(
        key="monitoring-psi",
        title="Score PSI over time",
        caption=(
            "Population stability index of each window's 20-bin score histogram against the "
            f"first window's; red bars are above the alarm line ({line})."
        ),
        svg=_to_svg(figure),
    )


def render_charts(view: ReportView) -> dict[str, Chart]:
    """Every chart the card shows, keyed by name (fairness-<grouping>, importance, local-<id>,
    monitoring-rate-<grouping>, monitoring-psi)."""
    import matplotlib

    charts: dict[str, Chart] = {}
    with matplotlib.rc_context(_style()):
        results = view.results
        for grouping in results.fairness if results else []:
            chart = fairness_chart(grouping)
            if chart is not None:
                charts[chart.key] = chart
        importance = importance_chart(view)
        if importance is not None:
            charts[importance.key] = importance
        for explanation in view.local_explanations[:MAX_LOCAL_CHARTS]:
            chart = local_chart(explanation)
            if chart is not None:
                charts[chart.key] = chart
        monitoring = view.monitoring
        if monitoring is not None:
            for monitored in monitoring.single_groupings:
                chart = monitoring_rate_chart(monitoring, monitored)
                if chart is not None:
                    charts[chart.key] = chart
            psi = monitoring_psi_chart(monitoring)
            if psi is not None:
                charts[psi.key] = psi
    return charts


__all__ = [
    "Chart",
    "fairness_chart",
    "importance_chart",
    "local_chart",
    "monitoring_psi_chart",
    "monitoring_rate_chart",
    "render_charts",
]
