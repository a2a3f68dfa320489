"""One model version: card, evaluation, explanations, policies, workflow, reports, drift and
production monitoring.

Everything shown comes from services in one worker (``show_version``, the model's history,
and the report view that assembles evaluation, policy, waiver, drift and weekly monitoring
evidence); monitoring in windows of another width is read by a worker of its own. Every
action (a decision, a policy run, a waiver, a signed PDF) runs in its own named worker and
reports back with a message; refusals from the services appear as a modal with their reason.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import (
    Button,
    Footer,
    Header,
    Input,
    Label,
    Markdown,
    ProgressBar,
    Select,
    Static,
    TabbedContent,
    TabPane,
    Tabs,
)

from govern.domain.card import Card
from govern.domain.lifecycle import Action, Approval, State, allowed_actions, quorum, verb
from govern.errors import GovernError
from govern.report.exports import md
from govern.report.view import WINDOW_NAMES
from govern.tui import formatting as fmt
from govern.tui.messages import (
    DecisionExplained,
    DecisionRecorded,
    MonitoringLoaded,
    PolicyRunCompleted,
    ReportBuilt,
    ReportProgressed,
    ReportVerified,
    VersionLoaded,
    WaiverGranted,
)
from govern.tui.screens.base import GovernScreen, internal_error
from govern.tui.widgets.dialogs import FormDialog, FormField
from govern.tui.widgets.evidence import (
    GROUP_METRICS,
    METRIC_NAMES,
    ContributionChart,
    DriftTable,
    FairnessView,
    HistoryTable,
    ImportanceChart,
    PolicyResults,
)
from govern.tui.widgets.monitoring import DEFAULT_WINDOW, WINDOW_WIDTHS, MonitoringPanel
from govern.tui.widgets.table import Tone

if TYPE_CHECKING:
    from textual.app import SystemCommand

    from govern.report.view import DecisionView, ReportView
    from govern.services.views import VersionDetail
    from govern.services.workflow import HistoryEntry

TABS = (
    "card",
    "evaluation",
    "explanations",
    "policies",
    "workflow",
    "reports",
    "drift",
    "monitoring",
)
TAB_TITLES = {
    "card": "Card",
    "evaluation": "Evaluation",
    "explanations": "Explanations",
    "policies": "Policies",
    "workflow": "Workflow",
    "reports": "Reports",
    "drift": "Drift",
    "monitoring": "Monitoring",
}
#: Workflow buttons: (action, label, key).
WORKFLOW_BUTTONS = (
    (Action.SUBMIT, "Submit", "S"),
    (Action.APPROVE, "Approve", "A"),
    (Action.REQUEST_CHANGES, "Changes", "C"),
    (Action.REJECT, "Reject", "X"),
    (Action.DEPLOY, "Deploy", "D"),
    (Action.SHADOW, "Shadow", "H"),
    (Action.RETIRE, "Retire", "R"),
)


DECISION_TABS = ("card", "workflow")
GROUPING_TABS = ("evaluation", "monitoring")
#: Every key of the version screen: (key, action, title, help, tabs whose footer shows it).
#: Each key works on every tab; the footer shows the ones that belong where you are (a
#: decision only when the version's state allows it) and the command palette lists them all.
VERSION_KEYS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("f", "next_grouping", "Grouping", "Next feature or intersection", GROUPING_TABS),
    ("n", "next_metric", "Metric", "Next per-group metric", ("evaluation",)),
    ("e", "explain", "Explain a decision", "Look up one decision by row id", ("explanations",)),
    ("k", "run_checks", "Run checks", "Check the bound policies now", ("policies",)),
    ("S", "decide('submit')", "Submit", "Submit for validation and approval", DECISION_TABS),
    ("A", "decide('approve')", "Approve", "Approve, with a comment", DECISION_TABS),
    ("C", "decide('request_changes')", "Changes", "Request changes, with a comment", DECISION_TABS),
    ("X", "decide('reject')", "Reject", "Reject, with a comment", DECISION_TABS),
    ("D", "decide('deploy')", "Deploy", "Deploy as the champion", DECISION_TABS),
    ("H", "decide('shadow')", "Shadow", "Deploy in shadow beside the champion", DECISION_TABS),
    ("R", "decide('retire')", "Retire", "Retire (read-only afterwards)", DECISION_TABS),
    ("W", "waive", "Waive a rule", "Accept a failing rule until a date", ("policies", "workflow")),
    ("b", "build_report", "Build PDF", "Render and sign the PDF model card", ("card", "reports")),
    ("v", "verify_report", "Verify PDF", "Check a signed PDF card", ("reports",)),
    ("m", "compare", "Compare", "Champion and challenger side by side", ("evaluation",)),
    ("w", "next_window", "Window", "Monitoring windows: day, week, month", ("monitoring",)),
)
_FEATURED = {action: tabs for _key, action, _title, _help, tabs in VERSION_KEYS}


def card_markdown(card: Card) -> str:
    """The card's sections as Markdown (the Markdown widget renders it; links never open).

    Walks the typed :class:`~govern.domain.card.Card`, as the report's exports do; card
    text is escaped with theirs (``md``), so it is shown, never interpreted.
    """
    out = _card_details(card)
    out += _card_factors_and_metrics(card)
    out += _card_data(card)
    out += _card_considerations(card)
    out += _card_governance(card)
    return "\n".join(out) + "\n"


def _card_items(values: list[str]) -> list[str]:
    return [f"- {md(v, starts_line=True)}" for v in values] or [fmt.MISSING]


def _card_joined(values: list[str]) -> str:
    return md(", ".join(values)) or fmt.MISSING


def _card_details(card: Card) -> list[str]:
    details, use = card.model_details, card.intended_use
    out = [f"# {md(details.name)} {md(details.version)}", ""]
    if details.description:
        out += [md(details.description, starts_line=True), ""]
    facts = [
        ("Model type", md(details.model_type)),
        ("Developers", md(", ".join(details.developers))),
        ("Date", fmt.day(details.date) if details.date else ""),
        ("License", md(details.license)),
        ("Contact", md(details.contact)),
    ]
    out += [f"- **{k}:** {v}" for k, v in facts if v]
    out += ["", "## Intended use", "", "**Primary uses**", "", *_card_items(use.primary_uses)]
    out += ["", f"**Primary users:** {_card_joined(use.primary_users)}"]
    out += ["", "**Out of scope**", "", *_card_items(use.out_of_scope)]
    return out


def _card_factors_and_metrics(card: Card) -> list[str]:
    out: list[str] = []
    if card.factors is not None:
        out += ["", "## Factors", ""]
        out += [f"- **Relevant:** {_card_joined(card.factors.relevant)}"]
        out += [f"- **Evaluated:** {_card_joined(card.factors.evaluation)}"]
        out += [f"- **Sensitive:** {_card_joined(card.factors.sensitive_features)}"]
    if card.metrics is not None:
        out += ["", "## Metrics", ""]
        out += [f"- **Measures:** {_card_joined(card.metrics.performance_measures)}"]
        if card.metrics.decision_threshold is not None:
            out += [f"- **Decision threshold:** {fmt.compact(card.metrics.decision_threshold)}"]
        if card.metrics.variation_approaches:
            out += [f"- **Variation:** {md(card.metrics.variation_approaches)}"]
    return out


def _card_data(card: Card) -> list[str]:
    out: list[str] = []
    for title, section in (
        ("Evaluation data", card.evaluation_data),
        ("Training data", card.training_data),
    ):
        if section is None:
            continue
        out += ["", f"## {title}", ""]
        for data in section.datasets:
            rows = f", {fmt.count(data.rows, 'row')}" if data.rows else ""
            out += [f"- **{md(data.name)}**{rows}: {md(data.description)}"]
        for label, text in (
            ("Motivation", section.motivation),
            ("Preprocessing", section.preprocessing),
        ):
            if text:
                out += [f"- *{label}:* {md(text)}"]
    return out


def _card_considerations(card: Card) -> list[str]:
    """The card's own quantitative analyses, ethical considerations and caveats."""
    out: list[str] = []
    quant = card.quantitative_analyses
    if quant is not None and (quant.unitary or quant.intersectional):
        out += ["", "## Quantitative analyses", ""]
        for label, text in (("Unitary", quant.unitary), ("Intersectional", quant.intersectional)):
            if text:
                out += [f"- **{label}:** {md(text)}"]
    if card.ethical_considerations:
        out += ["", "## Ethical considerations", ""]
        for item in card.ethical_considerations:
            mitigation = f" *Mitigation:* {md(item.mitigation)}" if item.mitigation else ""
            out += [f"- {md(item.risk, starts_line=True)}{mitigation}"]
    if card.caveats_and_recommendations:
        caveats = _card_items(card.caveats_and_recommendations)
        out += ["", "## Caveats and recommendations", "", *caveats]
    return out


def _card_governance(card: Card) -> list[str]:
    g = card.governance
    out = ["", "## Governance", ""]
    for label, value in (
        ("Owner", md(g.owner)),
        ("Business owner", md(g.business_owner)),
        ("Business unit", md(g.business_unit)),
        ("Risk tier", md(g.risk_tier)),
        ("Regulatory scope", md(", ".join(g.regulatory_scope))),
        ("Tags", md(", ".join(g.tags))),
        ("Next validation due", fmt.day(g.next_validation_due) if g.next_validation_due else ""),
    ):
        out += [f"- **{label}:** {value or fmt.MISSING}"]
    return out


def decision_signatures(
    entries: list[HistoryEntry], decisions: list[DecisionView]
) -> dict[int, DecisionView]:
    """Each decision entry of the history (by event number) with its report-view decision.

    A signed decision names its event; one recorded before signing began is paired in order
    (the n-th decision of a version is its n-th decision event, which ``audit verify`` checks).
    """
    by_seq = {d.signed_event.seq: d for d in decisions if d.signed_event is not None}
    taken = [e for e in entries if e.action not in {"register", "waive"}]
    paired: dict[int, DecisionView] = {}
    for index, entry in enumerate(taken):
        found = by_seq.get(entry.seq)
        if found is None and index < len(decisions) and decisions[index].signed_event is None:
            found = decisions[index]
        if found is not None:
            paired[entry.seq] = found
    return paired


class VersionScreen(GovernScreen):
    """Tabs of evidence and the workflow for one ``NAME@VERSION``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("right_square_bracket", "next_tab(1)", "Next tab", key_display="]"),
        Binding("left_square_bracket", "next_tab(-1)", "Previous tab", show=False, key_display="["),
        # Shown in the footer where they matter (see check_action), first for each key...
        *(
            Binding(key, f"featured({action!r})", title, tooltip=help_text)
            for key, action, title, help_text, _tabs in VERSION_KEYS
        ),
        # ...and always bound, so each key works on every tab and the palette lists it.
        *(
            Binding(key, action, title, tooltip=help_text, show=False)
            for key, action, title, help_text, _tabs in VERSION_KEYS
        ),
        Binding("f5", "refresh", "Refresh", show=False),
        # The mode keys still work here; hiding them leaves the footer to this screen's keys.
        Binding("1", "app.go('catalogue')", "Catalogue", show=False),
        Binding("2", "app.go('queue')", "Queue", show=False),
        Binding("3", "app.go('audit')", "Audit", show=False),
        Binding("4", "app.go('settings')", "Settings", show=False),
    ]

    def __init__(self, ref: str, *, tab: str | None = None) -> None:
        super().__init__()
        self.ref = ref
        self.first_tab = tab if tab in TABS else "card"
        self.detail: VersionDetail | None = None
        #: The report view of the version's evidence: the one typed shape the signed card
        #: reads too (None, with ``view_problem`` saying why, when it cannot be built).
        self.view: ReportView | None = None
        self.view_problem: str | None = None
        self.entries: list[HistoryEntry] = []
        #: A PDF is being built or verified (one at a time: both show in the same place).
        self.report_busy = False
        #: The monitoring tab's window width (``govern monitor show --window``).
        self.window = DEFAULT_WINDOW

    # --- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="⚖")
        yield Static(Content(self.ref), id="version-banner")
        with TabbedContent(initial=self.first_tab, id="tabs"):
            with TabPane(TAB_TITLES["card"], id="card"), VerticalScroll():
                yield Static("", id="card-facts")
                yield Markdown("", id="card-text", open_links=False)
            with TabPane(TAB_TITLES["evaluation"], id="evaluation"):
                with Horizontal(classes="filter-bar"):
                    yield Label("Grouping", classes="bar-label")
                    yield Select([], prompt="—", id="grouping", compact=True, allow_blank=True)
                    yield Label("Metric", classes="bar-label")
                    yield Select(
                        [(METRIC_NAMES[m], m) for m in GROUP_METRICS],
                        value="selection_rate",
                        id="metric",
                        compact=True,
                        allow_blank=False,
                    )
                with VerticalScroll():
                    yield FairnessView(id="fairness")
            with TabPane(TAB_TITLES["explanations"], id="explanations"):
                with Horizontal(classes="filter-bar"):
                    yield Label("Row id", classes="bar-label")
                    yield Input(
                        placeholder="explain one decision: row id, Enter", id="row-id", compact=True
                    )
                with VerticalScroll():
                    yield ContributionChart(id="contributions")
                    yield ImportanceChart(id="importance")
            with TabPane(TAB_TITLES["policies"], id="policies"), VerticalScroll():
                yield PolicyResults(id="policy-results")
            with TabPane(TAB_TITLES["workflow"], id="workflow"), VerticalScroll():
                yield Static("", id="workflow-state")
                with Horizontal(id="workflow-buttons"):
                    for action, label, key in WORKFLOW_BUTTONS:
                        yield Button(
                            f"{label} ({key})",
                            id=f"do-{action.value}",
                            compact=True,
                            variant="error" if action == Action.REJECT else "default",
                        )
                    yield Button("Waive (W)", id="do-waive", compact=True)
                yield HistoryTable(id="history")
            with TabPane(TAB_TITLES["reports"], id="reports"), VerticalScroll():
                with Horizontal(id="report-buttons"):
                    yield Button(
                        "Build signed PDF (b)", id="build-pdf", compact=True, variant="primary"
                    )
                    yield Button("Verify a PDF (v)", id="verify-pdf", compact=True)
                with Vertical(id="report-progress"):
                    yield Label("", id="report-step")
                    yield ProgressBar(total=None, show_eta=False, id="report-bar")
                yield Static("", id="report-verdict")
                yield Static("", id="report-list")
            with TabPane(TAB_TITLES["drift"], id="drift"), VerticalScroll():
                yield DriftTable(id="drift-table")
            with TabPane(TAB_TITLES["monitoring"], id="monitoring"):
                with Horizontal(classes="filter-bar"):
                    yield Label("Window", classes="bar-label")
                    yield Select(
                        [(f"{WINDOW_NAMES[w]} ({w})", w) for w in WINDOW_WIDTHS],
                        value=self.window,
                        id="monitor-window",
                        compact=True,
                        allow_blank=False,
                    )
                    yield Label("Grouping", classes="bar-label")
                    yield Select(
                        [], prompt="—", id="monitor-grouping", compact=True, allow_blank=True
                    )
                with VerticalScroll():
                    yield MonitoringPanel(id="monitoring-panel")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#report-progress").display = False
        self.query_one("#report-verdict").display = False
        self.query_one("#tabs").loading = True  # until the first load arrives
        self.load()

    def action_refresh(self) -> None:
        self.load()

    def action_back(self) -> None:
        # Escape in a text box leaves the box; a second Escape leaves the screen.
        if isinstance(self.focused, Input):
            self.query_one("#tabs", TabbedContent).query_one(Tabs).focus()
            return
        self.dismiss(None)

    def action_next_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        index = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(index + step) % len(TABS)]

    def show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    # --- which keys the footer shows ----------------------------------------------------

    def _active_tab(self) -> str:
        try:
            return self.query_one("#tabs", TabbedContent).active or self.first_tab
        except NoMatches:  # before the tabs are mounted
            return self.first_tab

    def _possible(self) -> set[str]:
        """Lifecycle actions the version's state allows (roles are the service's to check)."""
        if self.detail is None or self.detail.state not in {s.value for s in State}:
            return set()
        return {a.value for a in allowed_actions(State(self.detail.state))}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "featured":
            return True
        inner = str(parameters[0]) if parameters else ""
        if self._active_tab() not in _FEATURED.get(inner, ()):
            return False  # hidden here; the always-bound twin still runs it
        if inner.startswith("decide("):
            return inner.removeprefix("decide('").removesuffix("')") in self._possible()
        return True

    async def action_featured(self, action: str) -> None:
        await self.run_action(action)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def palette_commands(self) -> Iterator[SystemCommand]:
        from functools import partial

        from textual.app import SystemCommand

        for tab in TABS:
            yield SystemCommand(
                f"Show {TAB_TITLES[tab]}", f"Tab of {self.ref}", partial(self.show_tab, tab)
            )

    # --- loading ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="version")
    def load(self) -> None:
        if self.detail is None:  # the first load: if the version cannot be shown, go back
            try:
                detail = self.backend.show_version(self.ref)
            except Exception as error:
                self.app.call_from_thread(self._could_not_open, error)
                return
        else:
            again = self.guarded(self.backend.show_version, self.ref)
            if again is None:
                return
            detail = again
        self.ref = detail.ref
        history = self.guarded(self.backend.history, detail.name)
        entries = [e for e in history.entries if e.ref == detail.ref] if history else []
        view, problem = self.guarded(self.backend.evidence, detail.ref) or (
            None,
            "The evidence could not be read.",
        )
        self.post_message(VersionLoaded(detail, entries, view, problem))

    def _could_not_open(self, error: Exception) -> None:
        """Leave the screen, then say why beneath it (the order keeps the message on top)."""
        self.dismiss(None)
        if isinstance(error, GovernError):
            title, text = error.title, error.message
        else:
            failure = internal_error(error)
            title, text = failure.title, failure.message
        self.app.call_later(self.govern.show_error, title, text)

    def on_version_loaded(self, message: VersionLoaded) -> None:
        try:
            self._show_loaded(message)
        except Exception as error:  # a bug must not take the whole console down
            self.post_message(internal_error(error))

    def _show_loaded(self, message: VersionLoaded) -> None:
        self.query_one("#tabs").loading = False
        self.detail = message.detail
        self.entries = message.entries
        self.view = message.view
        self.view_problem = message.problem
        self._show_banner()
        self._show_card()
        self._show_evaluation()
        self._show_explanations()
        self._show_policies()
        self._show_workflow()
        self._show_reports()
        self.query_one("#drift-table", DriftTable).show(self.view.drift if self.view else None)
        self._show_monitoring()
        self.refresh_bindings()  # the footer's decisions follow the state

    def _detail(self) -> VersionDetail:
        """The version as last loaded (the tabs show only once it has been)."""
        if self.detail is None:
            raise RuntimeError(f"{self.ref} has not been loaded yet")
        return self.detail

    def _show_banner(self) -> None:
        d = self._detail()
        state = fmt.markup(fmt.state_label(d.state), fmt.state_tone(d.state))
        tier = fmt.markup(f"{d.risk_tier} risk", fmt.tier_tone(d.risk_tier))
        policy = "no policy run"
        if self.view is not None and self.view.policy is not None:
            outcome = self.view.policy.outcome
            policy = "policy " + fmt.markup(outcome, fmt.outcome_tone(outcome))
        due = f"due {fmt.day(d.next_validation_due)}"
        self.query_one("#version-banner", Static).update(
            Content.from_markup(
                f"[b]{fmt.escape(d.ref)}[/b] {state} · {tier} · {fmt.escape(d.owner)}"
                f" · {policy} · {due}"
            )
        )

    def _show_card(self) -> None:
        d = self._detail()
        artifact = d.artifact
        facts = [
            ("Registered", f"{fmt.day(d.created_at)} by {d.created_by}"),
            ("Business", f"{d.business_owner or fmt.MISSING}, {d.business_unit or fmt.MISSING}"),
            ("Card SHA-256", d.card_sha256),
        ]
        if artifact.sha256:
            facts += [
                ("Artifact", f"{artifact.format}, {fmt.size(artifact.size)}"),
                ("Artifact SHA-256", artifact.sha256),
            ]
        if d.other_versions:
            facts.append(("Other versions", ", ".join(d.other_versions)))
        # A grid, so a hash too long for the line wraps under itself, not under the label.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in facts:
            grid.add_row(label, Text(value))
        self.query_one("#card-facts", Static).update(grid)
        card = self.view.card if self.view is not None else _card(d.card)
        self.query_one("#card-text", Markdown).update(
            card_markdown(card) if card is not None else "The card could not be read."
        )

    def _show_evaluation(self) -> None:
        fairness = self.query_one("#fairness", FairnessView)
        evaluation = self.view.evaluation if self.view is not None else None
        fairness.show(evaluation, None if evaluation is not None else self.view_problem)
        grouping: Select[str] = self.query_one("#grouping", Select)
        names = fairness.grouping_names()
        grouping.set_options([(fmt.grouping(n), n) for n in names])
        if names:
            grouping.value = fairness.grouping

    def _show_explanations(self) -> None:
        results = self.view.results if self.view is not None else None
        self.query_one("#importance", ImportanceChart).show(
            results.explanations if results is not None else None
        )
        stored = self.view.local_explanations if self.view is not None else []
        chart = self.query_one("#contributions", ContributionChart)
        if stored and chart.explanation is None:
            ids = ", ".join(x.row_id for x in stored[:5])
            chart.message = f"Type a row id and press Enter to explain that decision (e.g. {ids})."
            chart.refresh(layout=True)

    def _show_policies(self) -> None:
        view = self.view
        self.query_one("#policy-results", PolicyResults).show(
            view.policy if view else None, list(view.waivers) if view else [], self.ref
        )

    def _show_workflow(self) -> None:
        d = self._detail()
        possible = self._possible()
        # Only the steps the state allows get a button; roles are checked when you act.
        for action, _label, _key in WORKFLOW_BUTTONS:
            self.query_one(f"#do-{action.value}", Button).display = action.value in possible
        self.query_one("#do-waive", Button).display = d.state != State.RETIRED
        you = self.govern.role or "?"
        moves = [label.lower() for a, label, _k in WORKFLOW_BUTTONS if a.value in possible]
        if d.state == State.RETIRED:
            moves_text = "none: retired versions are read-only"
        elif d.state == State.REJECTED:
            moves_text = "none: rejected is final for this version"
        else:
            moves_text = ", ".join(moves) or "none"
        lines = [
            f"State [b]{fmt.markup(fmt.state_label(d.state), fmt.state_tone(d.state))}[/b]"
            f" · next steps: {fmt.escape(moves_text)}"
        ]
        if d.state == State.SUBMITTED:
            lines.append(self._approvals_line())
        lines.append(
            f"[$text-muted]You are {fmt.escape(self.backend.actor)} ({fmt.escape(you)}); "
            "roles and separation of duties are checked when you act.[/]"
        )
        self.query_one("#workflow-state", Static).update(Content.from_markup("\n".join(lines)))
        decisions = list(self.view.decisions) if self.view is not None else []
        self.query_one("#history", HistoryTable).show(
            self.entries, decision_signatures(self.entries, decisions)
        )

    def _approvals_line(self) -> str:
        """Who approved in the current round (since the latest submission), against the need."""
        detail = self._detail()
        decisions = list(detail.decisions)
        start = max((i for i, x in enumerate(decisions) if x.action == "submit"), default=0)
        current = [x for x in decisions[start:] if x.action == "approve"]
        # The catalogue's rules, read with the version (never the person's own config).
        rules = self.backend.governance
        count = quorum(
            detail.risk_tier,
            [Approval(x.actor, x.role) for x in current],
            required_by_tier=rules.approvals_by_tier,
            compliance_tiers=rules.compliance_approval_tiers,
        )
        names = ", ".join(sorted({x.actor for x in current})) or "none yet"
        return f"Approvals: {fmt.escape(count.describe())} ({fmt.escape(names)})"

    def _show_reports(self) -> None:
        reports = self._detail().reports
        if not reports:
            text = "[$text-muted]No reports yet. Press b to build a signed PDF model card.[/]"
        else:
            lines = ["[b]Reports of this version[/b]"]
            for r in reports:
                signer = f"signed by {fmt.escape(r['signer'])}" if r.get("signer") else "unsigned"
                lines.append(
                    f"{fmt.moment(r['created_at'])}  {r['format'].upper()}  {signer}\n"
                    f"  [$text-muted]{fmt.escape(r['path'])}  sha256 {r['sha256'][:16]}…[/]"
                )
            text = "\n".join(lines)
        self.query_one("#report-list", Static).update(Content.from_markup(text))

    # --- monitoring ---------------------------------------------------------------------

    def _show_monitoring(self) -> None:
        """The weekly windows come with the report view; another width is read again."""
        found = self.view.monitoring if self.view is not None else None
        if self.view is not None and (found is None or found.window == self.window):
            self.post_message(MonitoringLoaded(self.ref, self.window, found))
        else:
            self.load_monitoring(self.window)

    @work(thread=True, exclusive=True, group="monitoring")
    def load_monitoring(self, width: str) -> None:
        self.app.call_from_thread(self._busy, "#monitoring-panel", True)
        try:
            found = self.guarded(lambda: (self.backend.monitoring(self.ref, width),))
        finally:
            self.app.call_from_thread(self._busy, "#monitoring-panel", False)
        if found is None:  # the failure has been shown; the tab says so too
            panel = self.query_one("#monitoring-panel", MonitoringPanel)
            problem = "The monitoring record could not be read (F5 tries again)."
            self.app.call_from_thread(panel.show, None, self.ref, problem)
        else:
            self.post_message(MonitoringLoaded(self.ref, width, found[0]))

    def on_monitoring_loaded(self, message: MonitoringLoaded) -> None:
        if message.width != self.window:
            return  # a width chosen since: its own read is on the way
        panel = self.query_one("#monitoring-panel", MonitoringPanel)
        panel.show(message.monitoring, message.ref)
        grouping: Select[str] = self.query_one("#monitor-grouping", Select)
        names = panel.grouping_names()
        grouping.set_options([(fmt.grouping(n), n) for n in names])
        if names:
            grouping.value = panel.grouping

    @on(Select.Changed, "#monitor-window")
    def _window_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.window:
            self.window = event.value
            self.load_monitoring(event.value)

    @on(Select.Changed, "#monitor-grouping")
    def _monitor_grouping_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#monitoring-panel", MonitoringPanel).select(event.value)

    def action_next_window(self) -> None:
        self.show_tab("monitoring")
        select: Select[str] = self.query_one("#monitor-window", Select)
        current = WINDOW_WIDTHS.index(self.window) if self.window in WINDOW_WIDTHS else -1
        select.value = WINDOW_WIDTHS[(current + 1) % len(WINDOW_WIDTHS)]

    # --- evaluation selectors -----------------------------------------------------------

    @on(Select.Changed, "#grouping")
    def _grouping_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#fairness", FairnessView).select(grouping=event.value)

    @on(Select.Changed, "#metric")
    def _metric_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#fairness", FairnessView).select(metric=event.value)

    def action_next_grouping(self) -> None:
        """The next grouping of the monitoring tab when it is shown, else of the evaluation."""
        if self._active_tab() == "monitoring":
            names = self.query_one("#monitoring-panel", MonitoringPanel).grouping_names()
            selector = "#monitor-grouping"
        else:
            self.show_tab("evaluation")
            names = self.query_one("#fairness", FairnessView).grouping_names()
            selector = "#grouping"
        if names:
            select: Select[str] = self.query_one(selector, Select)
            current = names.index(select.value) if select.value in names else -1
            select.value = names[(current + 1) % len(names)]

    def action_next_metric(self) -> None:
        self.show_tab("evaluation")
        select: Select[str] = self.query_one("#metric", Select)
        current = GROUP_METRICS.index(select.value) if select.value in GROUP_METRICS else -1
        select.value = GROUP_METRICS[(current + 1) % len(GROUP_METRICS)]

    # --- workflow -----------------------------------------------------------------------

    @on(Button.Pressed, "#workflow-buttons Button")
    def _workflow_button(self, event: Button.Pressed) -> None:
        name = (event.button.id or "").removeprefix("do-")
        if name == "waive":
            self.action_waive()
        else:
            self.action_decide(name)

    def action_decide(self, action_name: str) -> None:
        action = Action(action_name)
        required = action in {Action.REJECT, Action.REQUEST_CHANGES}
        self.show_tab("workflow")

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                comment = values["comment"]
                self.govern.signed(
                    lambda: self.decide(action, comment), doing=f"{verb(action)} {self.ref}"
                )

        self.app.push_screen(
            FormDialog(
                f"{verb(action).capitalize()} {self.ref}",
                [
                    FormField(
                        "comment",
                        "Comment (required)" if required else "Comment",
                        "why: kept with the decision and in the audit log",
                        required=required,
                    )
                ],
                note=f"Acting as {self.backend.actor}. The decision is audited.",
                submit=verb(action).split()[0].capitalize(),
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="decision")
    def decide(self, action: Action, comment: str) -> None:
        result = self.guarded(self.backend.transition, self.ref, action, comment)
        if result is not None:
            self.post_message(DecisionRecorded(result))
        self.load()

    def on_decision_recorded(self, message: DecisionRecorded) -> None:
        r = message.result
        moved = (
            f"{fmt.state_label(r.from_state)} → {fmt.state_label(r.to_state)}"
            if r.from_state != r.to_state
            else f"still {fmt.state_label(r.to_state)}"
        )
        lines = [f"{r.action.replace('_', ' ')} by {r.actor}: {moved}"]
        if r.approvals:
            lines.append(f"Approvals: {r.approvals}")
        if r.superseded:
            lines.append(f"Previous champion {r.superseded} superseded")
        lines += list(r.notes)
        self.notify("\n".join(lines), title=f"Decision recorded on {r.ref}", timeout=6)

    def action_waive(self) -> None:
        expires = (dt.date.today() + dt.timedelta(days=90)).isoformat()
        failing = []
        if self.view is not None and self.view.policy is not None:
            failing = [
                f"{pack.id}/{r.rule_id}"
                for pack in self.view.policy.packs
                for r in pack.rules
                if r.status in {"fail", "failed", "error"}
            ]

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                rule, reason = values["rule"].strip(), values["reason"].strip()
                self.govern.signed(
                    lambda: self.waive(rule, reason, values["expires"]),
                    doing=f"waive {rule} for {self.ref}",
                )

        self.app.push_screen(
            FormDialog(
                f"Waive a policy rule for {self.ref}",
                [
                    FormField(
                        "rule",
                        "Rule id",
                        "e.g. eeoc.four-fifths",
                        failing[0] if failing else "",
                        required=True,
                    ),
                    FormField(
                        "reason",
                        "Reason (10 characters or more)",
                        "why the risk is accepted",
                        required=True,
                    ),
                    FormField(
                        "expires", "Expires on (YYYY-MM-DD)", expires, expires, required=True
                    ),
                ],
                note="Failing rules: " + (", ".join(failing) or "none in the latest run"),
                submit="Waive",
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="waiver")
    def waive(self, rule: str, reason: str, expires: str) -> None:
        try:
            day = dt.date.fromisoformat(expires.strip())
        except ValueError:
            self.app.call_from_thread(
                self.govern.show_error, "Invalid date", f"{expires!r} is not a date (YYYY-MM-DD)"
            )
            return
        waiver = self.guarded(self.backend.waive, self.ref, rule, reason, day)
        if waiver is not None:
            self.post_message(WaiverGranted(waiver))
            self.load()

    def on_waiver_granted(self, message: WaiverGranted) -> None:
        w = message.waiver
        self.notify(
            f"{w.rule} waived until {fmt.day(w.expires_on)} by {w.granted_by}", title=self.ref
        )
        self.show_tab("policies")

    # --- policies -----------------------------------------------------------------------

    def action_run_checks(self) -> None:
        self.show_tab("policies")
        self.govern.signed(self._start_checks, doing=f"run the policy checks of {self.ref}")

    def _start_checks(self) -> None:
        self.notify("Running this version's policies…", title=self.ref, timeout=2)
        self._busy("#policy-results", True)
        self.run_checks()

    def _busy(self, selector: str, busy: bool) -> None:
        """Show (or stop) a widget's loading indicator while a worker runs for it."""
        self.query_one(selector).loading = busy

    @work(thread=True, exclusive=True, group="checks")
    def run_checks(self) -> None:
        try:
            outcome = self.guarded(self.backend.run_checks, self.ref)
        finally:
            self.app.call_from_thread(self._busy, "#policy-results", False)
        if outcome is not None:
            self.post_message(PolicyRunCompleted(outcome))
            self.load()

    def on_policy_run_completed(self, message: PolicyRunCompleted) -> None:
        self.notify(f"Policy run finished: {message.report.outcome}", title=self.ref)

    # --- explanations -------------------------------------------------------------------

    def action_explain(self) -> None:
        self.show_tab("explanations")
        self.query_one("#row-id", Input).focus()

    @on(Input.Submitted, "#row-id")
    def _explain(self, event: Input.Submitted) -> None:
        row_id = event.value.strip()
        # Enter leaves the box (e comes back to it), so the screen's keys work again whether
        # the explanation comes or an error does: ] changes tab, it is not typed into the box.
        self.query_one("#tabs", TabbedContent).query_one(Tabs).focus()
        if row_id:
            self.query_one("#contributions", ContributionChart).show(
                None, f"Explaining decision {row_id}…"
            )
            self.explain(row_id)

    @work(thread=True, exclusive=True, group="explain")
    def explain(self, row_id: str) -> None:
        stored = list(self.view.local_explanations) if self.view is not None else []
        explanation = next((x for x in stored if x.row_id == row_id), None)
        if explanation is None:  # not stored: SHAP computes it, which takes a moment
            self.app.call_from_thread(self._busy, "#contributions", True)
            try:
                explanation = self.guarded(self.backend.explain, self.ref, row_id)
            finally:
                self.app.call_from_thread(self._busy, "#contributions", False)
        if explanation is not None:
            self.post_message(DecisionExplained(explanation))
        else:
            self.app.call_from_thread(
                self.query_one("#contributions", ContributionChart).show,
                None,
                f"No explanation for row {row_id}.",
            )

    def on_decision_explained(self, message: DecisionExplained) -> None:
        self.query_one("#contributions", ContributionChart).show(message.explanation)

    # --- reports ------------------------------------------------------------------------

    @on(Button.Pressed, "#build-pdf")
    def action_build_report(self) -> None:
        self.show_tab("reports")
        if self._report_running():
            return
        if self.detail is None:
            return
        default = _unused_path(Path.cwd(), f"{self.detail.name}-{self.detail.version}", ".pdf")

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                path = Path(values["path"]).expanduser()
                self.govern.signed(
                    lambda: self._start_build(path), doing=f"build the signed card of {self.ref}"
                )

        self.app.push_screen(
            FormDialog(
                f"Build the signed PDF model card of {self.ref}",
                [FormField("path", "Write it to", str(default), str(default), required=True)],
                note="Signed with the organisation's key (govern keys org init); the build is "
                "audited under your own signature.",
                submit="Build",
            ),
            chosen,
        )

    def _start_build(self, path: Path) -> None:
        if self._report_running():
            return
        self._progress(f"Building {path.name}…")
        self.build_report(path)

    @work(thread=True, exclusive=True, group="report")
    def build_report(self, path: Path) -> None:
        started = time.perf_counter()

        def progressed(step: str, done: int, total: int) -> None:
            self.post_message(ReportProgressed(step, done, total))

        try:
            result = self.guarded(self.backend.build_report, self.ref, path, progressed)
        finally:
            self.app.call_from_thread(self._progress, None)
        if result is not None:
            self.post_message(ReportBuilt(result, time.perf_counter() - started))
            self.load()

    def on_report_progressed(self, message: ReportProgressed) -> None:
        if not self.query_one("#report-progress").display:
            return  # the build has finished; a late step must not bring the bar back
        bar = self.query_one("#report-bar", ProgressBar)
        bar.update(total=message.total, progress=message.done)
        self.query_one("#report-step", Label).update(
            f"Step {message.done + 1} of {message.total}: {message.step}…"
        )

    def _report_running(self) -> bool:
        if self.report_busy:
            self.notify(
                "A PDF is being built or verified; this waits until it is done.",
                title=self.ref,
                severity="warning",
            )
        return self.report_busy

    def _progress(self, step: str | None) -> None:
        self.report_busy = step is not None
        verdict = self.query_one("#report-verdict", Static)
        verdict.display = step is None and verdict.has_class("-filled")
        box = self.query_one("#report-progress")
        box.display = step is not None
        if step is not None:
            self.query_one("#report-step", Label).update(step)
            self.query_one("#report-bar", ProgressBar).update(total=None, progress=0)

    def _verdict(self, content: Content) -> None:
        verdict = self.query_one("#report-verdict", Static)
        verdict.update(content)
        verdict.add_class("-filled")
        verdict.display = True

    def on_report_built(self, message: ReportBuilt) -> None:
        result, seconds = message.result, message.seconds
        signed = f"signed by {result.signer}" if result.signed else "not signed"
        self._verdict(
            Content.from_markup(
                f"[b $text-success]✔ Built[/] {fmt.escape(result.path)}\n"
                f"  {fmt.size(result.bytes)} · {signed} · sha256 {result.sha256[:16]}… "
                f"· {fmt.seconds(seconds)}"
                + "".join(f"\n  [$text-warning]⚠ {fmt.escape(w)}[/]" for w in result.warnings)
            )
        )
        self.notify(f"Signed card written to {result.path}", title="Report built")

    @on(Button.Pressed, "#verify-pdf")
    def action_verify_report(self) -> None:
        self.show_tab("reports")
        if self._report_running():
            return
        reports = self.detail.reports if self.detail else []
        latest = next((r["path"] for r in reports if r.get("format") == "pdf"), "")

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                path = Path(values["path"]).expanduser()
                self._progress(f"Verifying {path.name}…")
                self.verify_report(path)

        self.app.push_screen(
            FormDialog(
                "Verify a signed PDF model card",
                [FormField("path", "PDF file", "path/to/card.pdf", latest, required=True)],
                note="Checks the signature, the signer's trust and the catalogue's record.",
                submit="Verify",
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="report-verify")
    def verify_report(self, path: Path) -> None:
        try:
            verdict = self.guarded(self.backend.verify_report, path)
        finally:
            self.app.call_from_thread(self._progress, None)
        if verdict is not None:
            self.post_message(ReportVerified(verdict))

    def on_report_verified(self, message: ReportVerified) -> None:
        v = message.verdict
        head = (
            "[b $text-success]✔ Verified[/]" if v.ok else "[b $text-error]✘ Verification failed[/]"
        )

        def yes(flag: bool, good: bool = True) -> str:
            return fmt.markup("yes" if flag else "no", "good" if flag == good else "bad")

        signer = dict(v.signer or {})
        lines = [
            f"{head} {fmt.escape(v.path)}",
            f"  [$text-muted]signed[/] {yes(v.signed)} · [$text-muted]intact[/] {yes(v.intact)}"
            f" · [$text-muted]trusted[/] {yes(v.trusted)} · [$text-muted]changed after "
            f"signing[/] {yes(v.modified_after_signing, good=False)}",
        ]
        if signer:
            fingerprint = str(signer.get("fingerprint_sha256", ""))

            def said(key: str) -> str:
                return fmt.escape(str(signer.get(key, fmt.MISSING)))

            lines += [
                f"  [$text-muted]signer[/]      {said('subject')}",
                f"  [$text-muted]issuer[/]      {said('issuer')}"
                + (" (self-signed)" if str(signer.get("self_signed")).lower() == "true" else ""),
                f"  [$text-muted]key[/]         {said('algorithm')}"
                + (f" · fingerprint {fmt.escape(fingerprint[:16])}…" if fingerprint else ""),
                f"  [$text-muted]valid[/]       {fmt.day(signer.get('not_before'))} to "
                f"{fmt.day(signer.get('not_after'))}",
            ]
        if v.signed_at is not None:
            lines.append(f"  [$text-muted]signed at[/]   {fmt.moment(v.signed_at)}")
        tones: dict[str, Tone] = {"match": "good", "mismatch": "bad"}
        tone = tones.get(v.catalogue, "warn")
        lines.append(
            f"  [$text-muted]catalogue[/]   {fmt.markup(str(v.catalogue), tone)}"
            f" {fmt.escape(v.catalogue_detail)}"
        )
        lines += [f"  [$text-error]• {fmt.escape(p)}[/]" for p in v.problems]
        self._verdict(Content.from_markup("\n".join(lines)))
        self.notify(
            "Signature and card verified" if v.ok else "The PDF did NOT verify",
            severity="information" if v.ok else "error",
        )

    # --- compare ------------------------------------------------------------------------

    def action_compare(self) -> None:
        if self.detail is None:
            return
        self.govern.open_compare("", self.detail.ref)


def _card(document: dict[str, object]) -> Card | None:
    """The stored card, typed (None if it no longer reads as a card of this build)."""
    from pydantic import ValidationError

    try:
        return Card.model_validate(document)
    except ValidationError:
        return None


def _unused_path(directory: Path, stem: str, suffix: str) -> Path:
    """``STEM.pdf``, or ``STEM-2.pdf``, ``STEM-3.pdf``... : govern never overwrites an earlier
    card without --force, so the dialog offers a name that is free (the person may still type
    an existing one, and is then told it exists)."""
    candidate, number = directory / f"{stem}{suffix}", 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = directory / f"{stem}-{number}{suffix}"
    return candidate
