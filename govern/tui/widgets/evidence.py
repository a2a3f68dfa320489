"""Widgets that draw a version's evidence: fairness tables with interval bars, importance and
contribution charts, policy results per pack, drift, and the decision history.

Each widget holds plain data (the service's result objects) and draws it in ``render`` at
the width it has, so bars grow with the terminal and a resize redraws them. Colours come
from the theme, so light and dark both read well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from govern.report.view import (
    COUNT_METRICS,
    FOUR_FIFTHS,
    DecisionView,
    DriftView,
    EvaluationResults,
    EvaluationView,
    Explanations,
    Grouping,
    GroupStats,
    LocalExplanation,
    PolicyPack,
    PolicyView,
    WaiverView,
)
from govern.tui import formatting as fmt

if TYPE_CHECKING:
    from govern.services.workflow import HistoryEntry

GROUP_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy")
METRIC_NAMES = {
    "selection_rate": "selection rate",
    "tpr": "true positive rate",
    "fpr": "false positive rate",
    "fnr": "false negative rate",
    "precision": "precision",
    "accuracy": "accuracy",
}
#: Column headings for the rates (the selector and the legend use the long names).
SHORT_METRIC_NAMES = {
    "selection_rate": "rate",
    "tpr": "TPR",
    "fpr": "FPR",
    "fnr": "FNR",
    "precision": "prec.",
    "accuracy": "acc.",
    "scoring_rate": "scoring",
}
PERFORMANCE_NAMES = {
    "accuracy": "accuracy",
    "brier": "Brier score",
    "f1": "F1",
    "n": "rows",
    "precision": "precision",
    "recall": "recall",
    "roc_auc": "ROC AUC",
    "selection_rate": "selection rate",
    "log_loss": "log loss",
    "mae": "mean abs. error",
    "rmse": "RMSE",
    "r2": "R²",
}
SUMMARY_NAMES = {
    "min_impact_ratio": "lowest impact ratio",
    "demographic_parity_difference": "demographic parity diff.",
    "demographic_parity_ratio": "demographic parity ratio",
    "equalized_odds_difference": "equalized odds diff.",
    "equalized_odds_ratio": "equalized odds ratio",
    "min_scoring_impact_ratio": "lowest scoring impact",
}
#: The rate the impact ratio, its four-fifths flag and the significance test are about.
IMPACT_METRIC = "selection_rate"
#: Rule results in reading order: what blocks, what needs a person, then the rest.
STATUS_ORDER = {"fail": 0, "error": 0, "waived": 1, "manual": 1, "warn": 1, "pass": 2}
#: The policy engine's statuses and what they call for, for the header's counts.
STATUS_READING = ("fail", "error", "waived", "manual", "warn", "pass", "not-applicable")


class Evidence(Widget):
    """Base: a block of rendered evidence that sizes to its content."""

    DEFAULT_CSS = """
    Evidence {
        height: auto;
        width: 1fr;
        padding: 0 1;
    }
    """

    def render(self) -> RenderableType:
        # Evidence comes from stored documents of many versions of govern: a figure this
        # build cannot draw shows as a note in its place instead of closing the console.
        try:
            return self.draw()
        except Exception as error:
            return Text(
                f"This evidence could not be drawn ({type(error).__name__}: {error}). "
                "This is a bug in govern; please report it.",
                style="italic " + self.colours()["bad"],
            )

    def draw(self) -> RenderableType:
        """What to show; subclasses draw their evidence here."""
        return Text("")

    def colours(self) -> dict[str, str]:
        """Rich colours for the tones, from the current theme."""
        variables = self.app.theme_variables
        return {
            "good": variables.get("text-success", "green"),
            "bad": variables.get("text-error", "red"),
            "warn": variables.get("text-warning", "yellow"),
            "accent": variables.get("text-primary", "blue"),
            "muted": "dim",
            "plain": "",
            "bar": variables.get("primary", "blue"),
            "title": f"bold {variables.get('text-primary', 'blue')}",
        }

    def text_width(self) -> int:
        return max(self.size.width - 2, 40)


def note(text: str) -> Text:
    return Text(text, style="dim italic")


def ratio_to_reference(grouping: Grouping, group: GroupStats, metric: str) -> float | None:
    """``group``'s rate of ``metric`` over the reference group's: what the impact ratio is
    for the selection rate, for any rate (None when either rate is unknown or the reference's
    is zero)."""
    reference = next((g for g in grouping.groups if g.group == grouping.reference_group), None)
    mine = group.estimate(metric)
    theirs = reference.estimate(metric) if reference is not None else None
    if mine is None or theirs is None or mine.value is None or not theirs.value:
        return None
    return mine.value / theirs.value


class FairnessView(Evidence):
    """Overall performance, the grouping's summary, and one metric per group with intervals.

    Shows the report view's evaluation (``ReportView.evaluation``), the one typed shape the
    signed card reads too.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.evaluation: EvaluationView | None = None
        self.grouping = ""
        self.metric = "selection_rate"
        self.problem: str | None = None

    @property
    def results(self) -> EvaluationResults | None:
        return self.evaluation.results if self.evaluation is not None else None

    def show(self, evaluation: EvaluationView | None, problem: str | None = None) -> None:
        self.evaluation = evaluation
        self.problem = problem or (evaluation.problem if evaluation is not None else None)
        names = self.grouping_names()
        if self.grouping not in names:
            self.grouping = names[0] if names else ""
        self.refresh(layout=True)

    def grouping_names(self) -> list[str]:
        return [g.name for g in self.results.fairness] if self.results is not None else []

    def select(self, *, grouping: str | None = None, metric: str | None = None) -> None:
        if grouping is not None:
            self.grouping = grouping
        if metric is not None:
            self.metric = metric
        self.refresh(layout=True)

    def draw(self) -> RenderableType:
        c = self.colours()
        r = self.results
        if r is None or self.evaluation is None:
            return note(
                self.problem
                or "No evaluation yet. Run `govern evaluate REF --data FILE --target COL "
                "--sensitive COL ...` to measure performance and fairness."
            )
        # e.g. an ONNX model without probabilities, or data the card does not declare
        parts: list[RenderableType] = [Text(f"⚠ {w}", style=c["warn"]) for w in r.warnings]
        grouping = next((g for g in r.fairness if g.name == self.grouping), None)
        if grouping is None:
            parts.append(note("This evaluation has no fairness groupings."))
        else:
            parts += self._grouping(grouping, c)
        overall = r.performance.overall
        if overall:
            parts.append(Text("\nOverall performance", style=c["title"]))
            pairs = []
            for name, value in sorted(overall.items()):
                shown = fmt.count(value) if name in COUNT_METRICS else fmt.number(value)
                pairs.append((PERFORMANCE_NAMES.get(name, name.replace("_", " ")), shown, ""))
            parts.append(self._pairs(pairs))
        ev = self.evaluation
        data = Text("\n")
        data.append("Data ", style="dim")
        data.append(ev.dataset_name or fmt.MISSING)
        data.append(f" · {fmt.count(ev.rows, 'row')} · target {ev.target}")
        data.append(f" · evaluated {fmt.day(ev.created_at)} by {ev.created_by}")
        parts.append(data)
        return Group(*parts)

    def _grouping(self, grouping: Grouping, c: dict[str, str]) -> list[RenderableType]:
        reference = (
            fmt.group(grouping.name, grouping.reference_group)
            if grouping.reference_group is not None
            else fmt.MISSING
        )
        head = Text()
        head.append(fmt.grouping(grouping.name), style=c["title"])
        kind = "intersection" if grouping.kind == "intersection" else "one feature"
        head.append(f"  {kind}; reference group {reference}", style="dim")
        short = SHORT_METRIC_NAMES.get(self.metric, self.metric)
        if self.metric == IMPACT_METRIC:
            legend = f"█ {short}  ▓░ 95% interval  ⚑ impact < 0.8  ◌ small group  * p < 0.05"
        else:
            # The impact ratio, its four-fifths flag and the significance test are measured
            # on selection rates; for another rate the column is that rate's own ratio.
            legend = (
                f"█ {short}  ▓░ 95% interval  ◌ small group  ÷ ref: {short} over the "
                f"reference group's; impact ratios and p-values are for selection rates only"
            )
        parts: list[RenderableType] = [
            head,
            Text(f"impact-ratio reference: {reference} — {grouping.reference_why}", style="dim"),
            self._group_table(grouping, c),
            Text(legend, style="dim"),
            Text(""),
            self._summary(grouping),
            *(
                Text(f"ⓘ {note}", style="dim")
                for note in [*grouping.notes, *grouping.undefined.values()]
            ),
            Text(""),
            self._all_metrics(grouping, c),
        ]
        return parts

    def _pairs(self, pairs: list[tuple[str, str, str]]) -> Table:
        """Label, value and flag triples, as many to a line as the width allows."""
        label_width = max(len(label) for label, _value, _flag in pairs)
        per_row = max(1, min(4, (self.text_width() + 3) // (label_width + 14)))
        grid = Table.grid(padding=(0, 1))
        for _ in range(per_row):
            grid.add_column(style="dim", no_wrap=True, min_width=label_width)
            grid.add_column(justify="right", no_wrap=True, min_width=7)
            grid.add_column(width=2, no_wrap=True)
        for start in range(0, len(pairs), per_row):
            cells: list[RenderableType] = []
            for label, value, flag in pairs[start : start + per_row]:
                style = "bold " + (self.colours()["bad"] if flag else "")
                cells += [label, Text(value, style=style.strip()), Text(flag, style=style.strip())]
            grid.add_row(*cells)
        return grid

    def _summary(self, grouping: Grouping) -> RenderableType:
        pairs = []
        for key, label in SUMMARY_NAMES.items():
            value = grouping.summary.get(key)
            if value is None:
                continue
            adverse = "impact_ratio" in key and value < FOUR_FIFTHS
            pairs.append((label, fmt.number(value), "⚑" if adverse else ""))
        return self._pairs(pairs) if pairs else note("No summary figures for this grouping.")

    def _all_metrics(self, grouping: Grouping, c: dict[str, str]) -> Table:
        """Every rate of every group; the metric drawn above is underlined."""
        metrics = list(GROUP_METRICS)
        if any(g.estimate("scoring_rate") is not None for g in grouping.groups):
            metrics.append("scoring_rate")
        table = Table(
            title="Every rate by group",
            title_justify="left",
            title_style=c["title"],
            box=box.SIMPLE_HEAD,
            expand=False,
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )
        table.add_column(
            fmt.grouping(grouping.name), no_wrap=True, overflow="ellipsis", max_width=28
        )
        table.add_column("n", justify="right")
        for metric in metrics:
            chosen = metric == self.metric
            table.add_column(
                Text(
                    SHORT_METRIC_NAMES.get(metric, metric),
                    style=f"bold underline {c['accent']}" if chosen else "bold",
                ),
                justify="right",
            )
        for group in grouping.groups:
            cells: list[RenderableType] = [
                Text(group_label(grouping, group), style="dim" if group.small else ""),
                fmt.count(group.n),
            ]
            for metric in metrics:
                estimate = group.estimate(metric)
                cells.append(fmt.number(estimate.value if estimate else None))
            table.add_row(*cells)
        return table

    def _group_table(self, grouping: Grouping, c: dict[str, str]) -> Table:
        width = self.text_width()
        impact = self.metric == IMPACT_METRIC
        # Narrow terminals leave out the p-value column (the * flag still marks significance);
        # the interval is always written out, and the bar takes the width that is left.
        with_p = impact and width >= 96
        labels = [group_label(grouping, g) for g in grouping.groups]
        longest = max([5, len(fmt.grouping(grouping.name)), *(len(label) for label in labels)])
        label_width = min(longest, 28 if width >= 96 else 18)
        fixed = label_width + 5 + 6 + 12 + 6 + 5 + (6 if with_p else 0)
        gaps = 3 * (7 if with_p else 6)  # each gap: a cell of padding either side and a rule
        bar_width = max(6, min(48, width - fixed - gaps))
        estimates = [g.estimate(self.metric) for g in grouping.groups]
        scale = fmt.bar_scale(
            [e.upper if e.upper is not None else e.value for e in estimates if e is not None]
        )
        table = Table(
            box=box.SIMPLE_HEAD, expand=False, pad_edge=False, show_edge=False, header_style="bold"
        )
        table.add_column(
            fmt.grouping(grouping.name), width=label_width, no_wrap=True, overflow="ellipsis"
        )
        table.add_column("n", justify="right", width=5)
        table.add_column(SHORT_METRIC_NAMES.get(self.metric, self.metric), justify="right", width=6)
        table.add_column("95% interval", no_wrap=True, width=12)
        table.add_column(fmt.scale_label(scale, bar_width), width=bar_width, no_wrap=True)
        table.add_column("impact" if impact else "÷ ref", justify="right", width=6)
        if with_p:
            table.add_column("p", justify="right", width=6)
        table.add_column("flags", no_wrap=True, width=5)
        for group, label, estimate in zip(grouping.groups, labels, estimates, strict=True):
            value = estimate.value if estimate else None
            lower = estimate.lower if estimate else None
            upper = estimate.upper if estimate else None
            ratio = (
                group.impact_ratio if impact else ratio_to_reference(grouping, group, self.metric)
            )
            adverse = impact and group.adverse
            flags = []
            if adverse:
                flags.append("⚑")
            if group.small:
                flags.append("◌")
            if impact and group.p_value is not None and group.p_value < 0.05:
                flags.append("*")
            if group.group == grouping.reference_group:
                flags.append("ref")
            cells: list[RenderableType] = [
                Text(label, style="dim" if group.small else ""),
                fmt.count(group.n),
                fmt.number(value),
                fmt.interval(lower, upper),
                Text(
                    fmt.bar(value, width=bar_width, lower=lower, upper=upper, scale=scale),
                    style=c["bar"],
                ),
                Text(fmt.number(ratio, 2), style=c["bad" if adverse else "plain"]),
            ]
            if with_p:
                cells.append(fmt.p_value(group.p_value))
            cells.append(Text(" ".join(flags), style=c["bad"] if adverse else c["warn"]))
            table.add_row(*cells)
        return table


def group_label(grouping: Grouping, group: GroupStats) -> str:
    """A group in a table whose Group column is headed by its features (``sex ∧ age_group``):
    its values, ``female ∧ under_25``; the features too (``sex=female ∧ age_group=under_25``)
    when the document does not give one value per feature."""
    values = [group.values.get(feature) for feature in grouping.features]
    if grouping.features and all(values):
        return fmt.AND.join(str(v) for v in values)
    return fmt.group(grouping.name, group.group)


class ImportanceChart(Evidence):
    """Global feature importance (mean |SHAP|) with bootstrap intervals and sensitive flags."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.explanations: Explanations | None = None

    def show(self, explanations: Explanations | None) -> None:
        self.explanations = explanations
        self.refresh(layout=True)

    def draw(self) -> RenderableType:
        c = self.colours()
        e = self.explanations
        if e is None or not e.importances:
            return note(
                "No explanations yet. `govern evaluate ... --model PATH` computes SHAP "
                "importances when the model artifact is available."
            )
        importances = e.importances
        flagged = {f.feature: f.reason for f in e.sensitive_flags}
        top = max((i.upper or i.mean_abs_shap or 0.0) for i in importances) or 1.0
        width = self.text_width()
        bar_width = max(10, width - 46)
        table = Table(box=None, expand=False, pad_edge=False, show_header=True)
        table.add_column("#", justify="right", style="dim")
        table.add_column("Feature", max_width=26, no_wrap=True, overflow="ellipsis")
        table.add_column("mean |SHAP|", justify="right")
        table.add_column("", width=bar_width, no_wrap=True)
        for item in importances[:20]:
            mark = "⚑" if item.feature in flagged else ""
            table.add_row(
                str(item.rank or ""),
                Text(f"{item.feature} ⚑" if mark else item.feature, style=c["bad"] if mark else ""),
                fmt.number(item.mean_abs_shap, 4),
                Text(
                    fmt.bar(
                        item.mean_abs_shap,
                        width=bar_width,
                        lower=item.lower,
                        upper=item.upper,
                        scale=top,
                    ),
                    style=c["bar"],
                ),
            )
        head = Text()
        head.append("Global importance", style=c["title"])
        head.append(
            f"  {e.method or 'SHAP'} explainer on {fmt.count(e.sample_size, 'row')} "
            f"(seed {e.seed if e.seed is not None else fmt.MISSING})"
            + (f"; SHAP values in {e.output}" if e.output else ""),
            style="dim",
        )
        parts: list[RenderableType] = [head, table]
        if len(importances) > 20:
            parts.append(note(f"{len(importances) - 20} less important features not shown."))
        parts.append(
            note("█ mean |SHAP|  ▓░ bootstrap 95% interval  ⚑ may stand in for a sensitive feature")
        )
        for feature, reason in flagged.items():
            parts.append(Text(f"⚑ {feature}: {reason}", style=c["bad"]))
        return Group(*parts)


class ContributionChart(Evidence):
    """One decision's explanation: signed SHAP contributions, largest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.explanation: LocalExplanation | None = None
        self.message = "Type a row id and press Enter to explain that decision."

    def show(self, explanation: LocalExplanation | None, message: str = "") -> None:
        self.explanation = explanation
        if message:
            self.message = message
        self.refresh(layout=True)

    def draw(self) -> RenderableType:
        c = self.colours()
        x = self.explanation
        if x is None:
            return note(self.message)
        contributions = x.contributions[:12]
        head = Text()
        head.append(f"Decision {x.row_id}", style=c["title"])
        if x.prediction is not None:
            head.append(f"  prediction {fmt.number(x.prediction)}")
        if x.predicted_label is not None:
            head.append(f" (label {x.predicted_label})")
        if x.base_value is not None:
            # SHAP adds up on the explainer's own scale, which may not be the prediction's.
            scale = f" ({x.output})" if x.output else ""
            head.append(f"  base value {fmt.number(x.base_value)}{scale}", style="dim")
            if x.total is not None:
                head.append(f" + contributions = {fmt.number(x.total)}", style="dim")
        if not contributions:
            return Group(head, note("No contributions were stored for this decision."))
        top = max(abs(item.shap) for item in contributions) or 1.0
        half = max(6, (self.text_width() - 44) // 2)
        table = Table(box=None, expand=False, pad_edge=False, show_header=True)
        table.add_column("Feature", max_width=22, no_wrap=True, overflow="ellipsis")
        table.add_column("Value", max_width=14, no_wrap=True, overflow="ellipsis")
        table.add_column("SHAP", justify="right")
        table.add_column("lowers ◀ │ ▶ raises", width=2 * half + 1, no_wrap=True)
        # Neutral colours: whether raising the output is good depends on what it means.
        for item in contributions:
            cells = round(abs(item.shap) / top * half)
            if item.shap < 0:
                chart = Text(" " * (half - cells) + "█" * cells, style=c["warn"])
                chart.append("│" + " " * half, style="dim")
            else:
                chart = Text(" " * half + "│", style="dim")
                chart.append("█" * cells + " " * (half - cells), style=c["accent"])
            table.add_row(item.feature, item.value, fmt.signed(item.shap, 4), chart)
        parts: list[RenderableType] = [head, table]
        if x.rest_count:
            parts.append(
                note(
                    f"{fmt.count(x.rest_count, 'other feature')} together: {fmt.signed(x.rest, 4)}"
                )
            )
        return Group(*parts)


class PolicyResults(Evidence):
    """The latest policy run: each pack with its source, and every rule's result."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.policy: PolicyView | None = None
        self.waivers: list[WaiverView] = []
        self.ref = ""

    def show(self, policy: PolicyView | None, waivers: list[WaiverView], ref: str = "") -> None:
        self.policy, self.waivers, self.ref = policy, waivers, ref
        self.refresh(layout=True)

    def draw(self) -> RenderableType:
        c = self.colours()
        p = self.policy
        parts: list[RenderableType] = []
        if p is None:
            parts.append(note("No policy run yet. Press k to run this version's policies now."))
        else:
            parts.append(self._run_head(p, c))
            parts += self._attention(p, c)
            for pack in p.packs:
                parts += self._pack(pack, c)
        if self.waivers:
            parts += self._waivers(c)
        return Group(*parts)

    def _run_head(self, p: PolicyView, c: dict[str, str]) -> Text:
        """The run's outcome, when and by whom, and how many rules ended in each status."""
        head = Text()
        head.append(
            f"Policy run #{p.id}: {p.outcome.upper()}",
            style=f"bold {c[fmt.outcome_tone(p.outcome)]}",
        )
        head.append(f"  {fmt.moment(p.created_at)} by {p.created_by}", style="dim")
        counts = p.counts
        if counts:
            ordered = sorted(
                counts.items(),
                key=lambda item: STATUS_READING.index(item[0]) if item[0] in STATUS_READING else 99,
            )
            head.append("  " + ", ".join(f"{n} {status}" for status, n in ordered))
        head.append("\nk runs the checks again · W waives a failing rule", style="dim")
        return head

    def _attention(self, p: PolicyView, c: dict[str, str]) -> list[RenderableType]:
        """What an officer must act on, from every pack, before the full lists: each
        failure in full, then the rules only a person can check, by name."""
        attention = [
            (pack, rule)
            for pack in p.packs
            for rule in pack.rules
            if STATUS_ORDER.get(rule.status, 3) < 2
        ]
        if not attention:
            return []
        table = Table(box=None, expand=True, pad_edge=False, show_header=False)
        table.add_column("Result", no_wrap=True, width=7)
        table.add_column("Rule and finding", ratio=1)
        attention.sort(key=lambda pair: STATUS_ORDER.get(pair[1].status, 3))
        manual = [
            f"{pack.id}/{rule.rule_id}" for pack, rule in attention if rule.status == "manual"
        ]
        for pack, rule in attention:
            if rule.status == "manual":
                continue
            finding = Text()
            finding.append(f"{pack.id}/{rule.rule_id}", style="bold")
            finding.append(f" [{rule.severity}]", style="dim")
            finding.append(f"\n{rule.message or rule.title}")
            table.add_row(
                Text(rule.status, style=f"bold {c[fmt.outcome_tone(rule.status)]}"),
                finding,
            )
        if manual:
            table.add_row(
                Text("manual", style="bold dim"),
                Text(
                    f"{len(manual)} rule{'s' if len(manual) != 1 else ''} a person "
                    f"must review: {', '.join(manual)}"
                ),
            )
        return [Text("\nNeeds attention", style=c["title"]), table]

    def _pack(self, pack: PolicyPack, c: dict[str, str]) -> list[RenderableType]:
        """One pack's title and provenance, and every rule's result, failures first."""
        title = Text()
        title.append(f"\n{pack.title or pack.id}", style=c["title"])
        if pack.version:
            title.append(f" v{pack.version}", style="dim")
        if pack.source:
            title.append(f"  {pack.source}", style="dim")
        if pack.sha256:
            title.append(f"  sha256 {pack.sha256[:12]}…", style="dim")
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
        table.add_column("Result", no_wrap=True)
        table.add_column("Rule", ratio=1, overflow="fold")
        table.add_column("Severity", no_wrap=True)
        table.add_column("Finding", ratio=2, overflow="fold")
        # Failures first: they are what an officer must read.
        for rule in sorted(pack.rules, key=lambda r: STATUS_ORDER.get(r.status, 3)):
            tone = fmt.outcome_tone(rule.status)
            said = rule.message or rule.title
            if rule.source:
                said += f"\n↳ {rule.source}"
            about = rule.subject if rule.subject and rule.subject != self.ref else ""
            label = rule.rule_id + (f" ({about})" if about else "")
            table.add_row(
                Text(rule.status, style=f"bold {c[tone]}"),
                label,
                rule.severity,
                Text(said),
            )
        return [title, table]

    def _waivers(self, c: dict[str, str]) -> list[RenderableType]:
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
        table.add_column("Rule")
        table.add_column("Expires")
        table.add_column("By")
        table.add_column("Reason", ratio=1, overflow="fold")
        for w in self.waivers:
            table.add_row(
                w.rule_id,
                Text(fmt.day(w.expires_on), style="" if w.active else c["bad"]),
                f"{w.granted_by} ({w.granted_role})",
                w.reason,
            )
        return [Text("\nWaivers", style=c["title"]), table]


class DriftTable(Evidence):
    """Population stability and a test per feature, worst first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.drift: DriftView | None = None

    def show(self, drift: DriftView | None) -> None:
        self.drift = drift
        self.refresh(layout=True)

    def draw(self) -> RenderableType:
        c = self.colours()
        d = self.drift
        if d is None:
            return note(
                "No drift run yet. `govern drift REF --reference FILE --current FILE` "
                "compares production inputs with the evaluation data."
            )
        head = Text()
        head.append("Drift", style=c["title"])
        head.append(
            f"  {d.reference_name} → {d.current_name}  {fmt.moment(d.created_at)} by "
            f"{d.created_by}",
            style="dim",
        )
        rows = list(d.features)
        if d.prediction is not None:
            rows.insert(0, d.prediction)
        rows.sort(key=lambda f: -(f.psi or 0.0))
        top = max([0.3, *(f.psi or 0.0 for f in rows)])
        width = self.text_width()
        # In 80 columns the kind goes (the test names it: KS for numbers, chi-square for
        # categories) so the feature names keep their room.
        wide = width >= 96
        name_width = min(max([7, *(len(f.feature) for f in rows)]), 30 if wide else 22)
        fixed = name_width + 6 + 11 + 10 + 6 + (11 if wide else 0)
        gaps = 3 * (6 if wide else 5)
        bar_width = max(6, min(30, width - fixed - gaps))
        table = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, show_edge=False)
        table.add_column("Feature", width=name_width, no_wrap=True, overflow="ellipsis")
        if wide:
            table.add_column("Kind", width=11, no_wrap=True)
        table.add_column("PSI", justify="right", width=6)
        table.add_column("", width=bar_width, no_wrap=True)
        table.add_column("Band", width=11, no_wrap=True)
        table.add_column("Test", width=10, no_wrap=True)
        table.add_column("p", justify="right", width=6)
        for f in rows:
            tone = {"significant": "bad", "moderate": "warn", "stable": "good"}.get(f.band, "muted")
            cells: list[RenderableType] = [f.feature]
            if wide:
                cells.append(f.kind)
            cells += [
                fmt.number(f.psi, 3),
                Text(fmt.bar(f.psi, width=bar_width, scale=top), style=c[tone]),
                Text(f.band or fmt.MISSING, style=c[tone]),
                f.test or fmt.MISSING,
                fmt.p_value(f.p_value),
            ]
            table.add_row(*cells)
        legend = note("PSI < 0.1 stable · 0.1–0.25 moderate · ≥ 0.25 significant")
        return Group(head, table, legend)


class HistoryTable(Evidence):
    """The version's lifecycle decisions, oldest first, with comments and signatures.

    Each decision shows the key that signed it (the first hex digits of its fingerprint)
    and whether the signature verifies against the key enrolled to the person who took it:
    ``✔`` it does, ``✘`` it does not (the reason is listed under the table). Wide terminals
    give the signature a column; in 80 columns it sits under the person's name.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[HistoryEntry] = []
        #: The report view's DecisionView of each decision entry, by the entry's event number.
        self.signatures: dict[int, DecisionView] = {}

    def show(
        self, entries: list[HistoryEntry], signatures: dict[int, DecisionView] | None = None
    ) -> None:
        self.entries = entries
        self.signatures = dict(signatures or {})
        self.refresh(layout=True)

    def _mark(self, decision: DecisionView, c: dict[str, str]) -> Text:
        tone = fmt.signature_tone(decision.verification)
        if decision.key is None:
            return Text("unsigned", style=c["muted"])
        sign = {"good": "✔", "muted": "·"}.get(tone, "✘")
        return Text(f"{sign} {fmt.short_key(decision.key)}", style=c[tone])

    def draw(self) -> RenderableType:
        c = self.colours()
        if not self.entries:
            return note("No decisions yet.")
        wide = self.text_width() >= 100
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
        table.add_column("When (UTC)", no_wrap=True)
        table.add_column("Who" if wide else "Who, key", no_wrap=True)
        table.add_column("Action", no_wrap=True)
        table.add_column("State", no_wrap=True)
        if wide:
            table.add_column("Signed with key", no_wrap=True)
        table.add_column("Comment", ratio=1, overflow="fold")
        #: Why decisions did not verify, each reason once with the decisions it concerns.
        problems: dict[str, list[str]] = {}
        for e in self.entries:
            to_state = e.to_state or ""
            moved = f"{fmt.state_label(e.from_state)} → " if e.from_state else ""
            decision = self.signatures.get(e.seq)
            mark = self._mark(decision, c) if decision is not None else Text("")
            if decision is not None and fmt.signature_tone(decision.verification) == "bad":
                problems.setdefault(decision.verification, []).append(
                    f"{e.action.replace('_', ' ')} by {e.actor}"
                )
            who: Text = Text(e.actor)
            if not wide and mark.plain:
                who = Text.assemble(e.actor, "\n", mark)
            cells: list[RenderableType] = [
                fmt.stamp(e.ts),
                who,
                e.action.replace("_", " "),
                Text(moved + fmt.state_label(to_state), style=c[fmt.state_tone(to_state)]),
            ]
            if wide:
                cells.append(mark)
            cells.append(e.comment)
            table.add_row(*cells)
        parts: list[RenderableType] = [table]
        if any(fmt.signature_tone(d.verification) == "good" for d in self.signatures.values()):
            parts.append(
                note("✔ signed with that person's enrolled key (fingerprint shown) and verified")
            )
        parts += [
            Text(f"✘ {', '.join(which)}: {reason}", style=c["bad"])
            for reason, which in problems.items()
        ]
        return Group(*parts)
