"""The console driven with Pilot on real catalogues; assertions on the database and audit log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from govern.services import audit, catalogue, evaluation, workflow
from govern.services.views import AuditEventPublic
from govern.tui.app import LIGHT, GovernApp, make_app
from govern.tui.messages import VersionLoaded
from govern.tui.screens.audit import AuditScreen
from govern.tui.screens.catalogue import CatalogueScreen
from govern.tui.screens.compare import CompareScreen, ComparisonView
from govern.tui.screens.queue import QueueScreen
from govern.tui.screens.version import TABS, VersionScreen
from govern.tui.widgets.dialogs import FormDialog, MessageModal
from govern.tui.widgets.evidence import (
    ContributionChart,
    FairnessView,
    HistoryTable,
    ImportanceChart,
    PolicyResults,
)
from govern.tui.widgets.table import VirtualTable
from tests.conftest import SAMPLE, Catalogue
from tests.tui.conftest import ConsoleCatalogue, console_app, settle, synchronous

SIZE = (120, 40)


def refs(app: GovernApp) -> list[str]:
    screen = app.screen
    assert isinstance(screen, CatalogueScreen)
    return [v.ref for v in screen.shown]


def events(made: ConsoleCatalogue, **filters: Any) -> list[AuditEventPublic]:
    return audit.audit_log(made.ctx("admin"), limit=1000, **filters)


def modal_text(app: GovernApp) -> str:
    screen = app.screen
    assert isinstance(screen, MessageModal), f"expected a message, got {screen!r}"
    return f"{screen.title_text}: {screen.message}"


async def open_version(pilot: Any, ref: str, tab: str | None = None) -> VersionScreen:
    app: GovernApp = pilot.app
    app.open_version(ref, tab=tab)
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, VersionScreen)
    return screen


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


# --- catalogue ------------------------------------------------------------------------------


@synchronous
async def test_catalogue_lists_filters_and_sorts(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert refs(app) == ["credit-risk@1.1.0", "credit-risk@1.0.0"]
        assert "(approver)" in app.sub_title

        await pilot.press("slash")
        await type_text(pilot, "deployed")
        assert refs(app) == ["credit-risk@1.0.0"]
        await pilot.press("escape")  # clears the filter, back to the table
        assert len(refs(app)) == 2

        await pilot.press("s")  # state filter cycles: draft first
        assert refs(app) == []
        table = app.screen.query_one("#versions", VirtualTable)
        assert table.empty_text == "No version matches the filter."
        await pilot.press("s")  # submitted
        assert refs(app) == ["credit-risk@1.1.0"]
        for _ in range(7):  # round the cycle back to "any state"
            await pilot.press("s")
        assert len(refs(app)) == 2
        await pilot.press("t", "t", "t")  # low, medium, high
        assert len(refs(app)) == 2

        # A click on the Version header sorts by it; a second click reverses.
        x = next(
            sum(w + 1 for _c, w in table._layout[:i])
            for i, (c, _w) in enumerate(table._layout)
            if c.key == "version"
        )
        await pilot.click("#versions", offset=(x + 1, 0))
        assert refs(app) == ["credit-risk@1.0.0", "credit-risk@1.1.0"]
        await pilot.click("#versions", offset=(x + 1, 0))
        assert refs(app) == ["credit-risk@1.1.0", "credit-risk@1.0.0"]

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, VersionScreen)
        assert app.screen.ref == "credit-risk@1.1.0"


# --- version: evidence tabs -----------------------------------------------------------------


@synchronous
async def test_version_tabs_show_real_evidence(console: ConsoleCatalogue) -> None:
    app = console_app(console, "victor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0")
        assert "credit-risk 1.1.0" in str(screen.query_one("#card-text").source)  # type: ignore[attr-defined]

        fairness = screen.query_one("#fairness", FairnessView)
        assert fairness.grouping_names() == ["sex", "age_group", "sex*age_group"]
        await pilot.press("f", "f")  # feature x intersection selector
        assert fairness.grouping == "sex*age_group"
        await pilot.press("n")
        assert fairness.metric == "tpr"
        intersection = next(g for g in fairness.results.fairness if g.name == "sex*age_group")
        assert any(g.small for g in intersection.groups)  # small groups reported, not dropped

        importance = screen.query_one("#importance", ImportanceChart)
        assert importance.explanations is not None
        assert importance.explanations.importances[0].mean_abs_shap > 0

        policies = screen.query_one("#policy-results", PolicyResults)
        assert policies.policy is not None
        assert {p.id for p in policies.policy.packs} >= {"baseline"}
        assert all(r.source for p in policies.policy.packs for r in p.rules)

        history = screen.query_one("#history", HistoryTable)
        assert [e.action for e in history.entries] == ["register", "submit"]


@synchronous
async def test_fairness_view_says_which_group_is_the_reference_and_why(
    console: ConsoleCatalogue,
) -> None:
    import io

    from rich.console import Console

    app = console_app(console, "victor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0", tab="evaluation")
        fairness = screen.query_one("#fairness", FairnessView)
        assert fairness.grouping == "sex"
        sex = next(g for g in fairness.results.fairness if g.name == "sex")
        assert sex.reference_reason == "most-selected group with at least 30 rows and not missing"
        drawn = Console(width=120, file=io.StringIO())
        drawn.print(fairness.draw())
        text = drawn.file.getvalue()  # type: ignore[attr-defined]
        reference = f"sex={sex.reference_group} — {sex.reference_reason}"
        assert f"impact-ratio reference: {reference}" in text
        for warning in fairness.results.warnings:  # e.g. groups too small to be sure of
            assert f"⚠ {warning[:40]}" in text
        unavailable = "ROC AUC and the Brier score are unavailable: the model gives labels only"
        results = fairness.results.model_copy(update={"warnings": [unavailable]})
        fairness.evaluation = fairness.evaluation.model_copy(update={"results": results})
        drawn = Console(width=200, file=io.StringIO())
        drawn.print(fairness.draw())
        assert f"⚠ {unavailable}" in drawn.file.getvalue()  # type: ignore[attr-defined]


@synchronous
async def test_explain_one_decision_by_row_id(console: ConsoleCatalogue) -> None:
    app = console_app(console, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0")
        stored = screen.view.local_explanations
        assert stored, "the evaluation stored per-decision explanations"
        await pilot.press("e")
        await type_text(pilot, stored[0].row_id)
        await pilot.press("enter")
        await settle(pilot)
        chart = screen.query_one("#contributions", ContributionChart)
        assert chart.explanation is not None
        assert chart.explanation.row_id == stored[0].row_id
        assert chart.explanation.contributions

        assert not isinstance(app.focused, Input)  # Enter left the box
        assert isinstance(app.screen, VersionScreen)
        await pilot.press("e", "ctrl+a", "ctrl+k")
        await type_text(pilot, "no-such-row")
        await pilot.press("enter")
        await settle(pilot)
        assert "no-such-row" in modal_text(app)
        await pilot.press("escape")
        assert "No explanation for row no-such-row" in chart.message


# --- workflow -------------------------------------------------------------------------------


@synchronous
async def test_approve_with_a_comment_is_recorded(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("A")
        assert isinstance(app.screen, FormDialog)
        await type_text(pilot, "fairness within tolerance")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, VersionScreen)
        history = app.screen.query_one("#history", HistoryTable)
        assert history.entries[-1].action == "approve"

    detail = catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0")
    last = detail.decisions[-1]
    assert (last.action, last.actor, last.comment) == (
        "approve",
        "carol",
        "fairness within tolerance",
    )
    assert detail.state == "submitted"  # high risk needs a second approval
    event = events(console, action="version.approve", subject="credit-risk@1.1.0")[0]
    assert event.actor == "carol"
    assert event.payload["comment"] == "fairness within tolerance"


@synchronous
async def test_separation_of_duties_refusal_is_shown_and_audited(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_version(pilot, "credit-risk@1.1.0")
        for _ in range(2):  # the second approval by the same person is refused
            await pilot.press("A")
            await type_text(pilot, "ok")
            await pilot.press("enter")
            await settle(pilot)
        text = modal_text(app)
        assert "carol already approved credit-risk@1.1.0" in text
        await pilot.press("enter")
        assert isinstance(app.screen, VersionScreen)

    refused = events(console, action="version.approve.refused")
    assert refused and refused[0].actor == "carol"
    assert "already approved" in refused[0].payload["reason"]
    detail = catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0")
    assert [d.actor for d in detail.decisions if d.action == "approve"] == ["carol"]


@synchronous
async def test_a_role_refusal_and_a_missing_comment(console: ConsoleCatalogue) -> None:
    app = console_app(console, "alice")  # the developer who registered and submitted it
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("A", "enter")
        await settle(pilot)
        shown = modal_text(app)
        assert "alice" in shown and "cannot" in shown and "approve" in shown
        await pilot.press("escape")

        await pilot.press("X")  # reject needs a comment: the dialog says so, nothing runs
        await pilot.press("enter")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        assert "Required" in str(dialog.query_one("#form-error").render())
        await pilot.press("escape")

    refused = events(console, action="version.approve.refused")[0]
    assert refused.actor == "alice"
    assert shown.endswith(refused.payload["reason"])  # the modal says what the log records
    assert catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0").state == "submitted"


@synchronous
async def test_approve_on_each_backend(cat: Catalogue) -> None:
    """The same flow on SQLite and PostgreSQL: a low-risk draft submitted, then approved."""
    card = SAMPLE / "credit-risk-1.0.0.card.yaml"
    catalogue.register_version(cat.ctx("alice"), card)
    evaluation.evaluate_version(
        cat.ctx("alice"),
        "credit-risk@1.0.0",
        data=SAMPLE / "credit_holdout_scored.csv",
        target="credit",
        positive="1",
        sensitive=["sex", "age_group"],
        predictions="pred",
    )
    workflow.submit(cat.ctx("alice"), "credit-risk@1.0.0", comment="ready")
    app = make_app(cat.ctx("erin").settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")  # the review queue: what awaits erin
        await settle(pilot)
        queue = app.screen
        assert isinstance(queue, QueueScreen)
        table = queue.query_one("#queue", VirtualTable)
        assert [q.ref for q in table.rows] == ["credit-risk@1.0.0"]
        assert "awaiting approval" in table.rows[0].reason
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("A")
        await type_text(pilot, "looks right")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, VersionScreen), app.screen
    detail = catalogue.show_version(cat.ctx("admin"), "credit-risk@1.0.0")
    assert detail.decisions[-1].actor == "erin"
    assert detail.decisions[-1].comment == "looks right"
    logged = audit.audit_log(cat.ctx("admin"), action="version.approve")
    assert logged[0].actor == "erin"


# --- reports --------------------------------------------------------------------------------


@synchronous
async def test_build_and_verify_a_signed_card(console: ConsoleCatalogue, tmp_path: Path) -> None:
    out = tmp_path / "card.pdf"
    app = console_app(console, "dave")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("b")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        dialog.query_one("#field-path").value = str(out)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert out.is_file() and out.read_bytes().startswith(b"%PDF")
        verdict = screen.query_one("#report-verdict")
        assert "Built" in str(verdict.render())

        await pilot.press("v")  # proposes the PDF just built
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        assert dialog.values()["path"] == str(out)
        await pilot.press("enter")
        await settle(pilot)
        assert "✔ Verified" in str(verdict.render())

        with out.open("ab") as tampered:  # an incremental change after signing
            tampered.write(b"\n%changed after signing\n")
        await pilot.press("v", "enter")
        await settle(pilot)
        assert "Verification failed" in str(verdict.render())

    detail = catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0")
    assert [r["path"] for r in detail.reports] == [str(out)]
    built = events(console, action="report.build")
    assert built[0].actor == "dave" and built[0].payload["signed"] is True


@synchronous
async def test_build_offers_a_free_name_and_never_overwrites_a_card(
    console: ConsoleCatalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "credit-risk-1.1.0.pdf"
    earlier.write_bytes(b"%PDF an earlier card")
    app = console_app(console, "dave")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("b")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        assert dialog.values()["path"] == str(tmp_path / "credit-risk-1.1.0-2.pdf")
        dialog.query_one("#field-path").value = str(earlier)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        shown = modal_text(app)
        assert "exists" in shown and "--force" in shown, shown
    assert earlier.read_bytes() == b"%PDF an earlier card"
    assert catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0").reports == []


# --- audit log ------------------------------------------------------------------------------


@synchronous
async def test_audit_log_pages_filters_and_verifies(console: ConsoleCatalogue) -> None:
    admin = console.ctx("admin")
    for index in range(450):  # more than two pages
        with admin.write("test.event", f"bulk@{index}") as tx:
            tx.audit(index=index)
    total = audit.count_events(admin)
    app = console_app(console, "dave")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        table = screen.query_one("#events", VirtualTable)
        assert len(table.rows) == 200
        assert table.rows[0].seq == total
        await pilot.press("end")
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        assert len(table.rows) == total  # every page reached, newest first, no gaps
        assert [e.seq for e in table.rows] == list(range(total, 0, -1))

        await pilot.press("slash")
        await type_text(pilot, "carol")
        await pilot.press("enter")
        await settle(pilot)
        assert {e.actor for e in table.rows} == {"carol"}
        assert len(table.rows) == len(events(console, actor="carol"))

        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert "Chain intact" in str(screen.query_one("#verdict").render())

        await pilot.press("enter")  # the newest event in full
        assert "Audit event" in modal_text(app)


# --- compare, queue, palette, theme, errors -------------------------------------------------


@synchronous
async def test_compare_champion_and_challenger(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")  # from the catalogue: the highlighted 1.1.0 vs the champion
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        view = screen.query_one("#comparison", ComparisonView)
        assert view.comparison.champion == "credit-risk@1.0.0"
        assert view.comparison.challenger == "credit-risk@1.1.0"
        accuracy = next(m for m in view.comparison.overall if m.metric == "accuracy")
        assert accuracy.delta == pytest.approx(accuracy.challenger - accuracy.champion)
        await pilot.press("s")
        await settle(pilot)
        assert view.comparison.champion == "credit-risk@1.1.0"


@synchronous
async def test_command_palette_finds_every_action(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Filter", "State", "Tier", "Sort", "Compare", "Review queue", "Audit log"} <= titles
        await open_version(pilot, "credit-risk@1.1.0")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {
            "Approve",
            "Reject",
            "Changes",
            "Submit",
            "Deploy",
            "Retire",
            "Waive a rule",
            "Run checks",
            "Build PDF",
            "Verify PDF",
            "Explain a decision",
            "Show Drift",
        } <= titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Show Drift")
        command.callback()
        await pilot.pause()
        assert app.screen.query_one("#tabs").active == "drift"  # type: ignore[attr-defined]


@synchronous
async def test_run_checks_and_waive_from_the_console(console: ConsoleCatalogue) -> None:
    app = console_app(console, "dave")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0")
        runs_before = len(screen.detail.policy_runs)
        await pilot.press("k")
        await settle(pilot)
        assert len(screen.detail.policy_runs) == runs_before + 1
        failing = [
            f"{pack.id}/{rule.rule_id}"
            for pack in screen.view.policy.packs
            for rule in pack.rules
            if rule.status == "fail"
        ]
        assert failing, "the challenger fails a rule in the sample policies"
        await pilot.press("W")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        dialog.query_one("#field-rule").value = failing[0]  # type: ignore[attr-defined]
        dialog.query_one("#field-reason").value = "accepted for the pilot"  # type: ignore[attr-defined]
        expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        dialog.query_one("#field-expires").value = expires  # type: ignore[attr-defined]
        await pilot.press("enter")  # moves through the fields, then submits
        await pilot.press("enter")
        await pilot.press("enter")
        await settle(pilot)
        assert [w.rule_id for w in screen.view.waivers][-1] in failing[0]
    assert events(console, action="policy.check")[0].actor == "dave"
    assert events(console, action="waiver")[0].actor == "dave"


@synchronous
async def test_theme_toggles_and_errors_do_not_crash(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        assert app.theme == LIGHT
        app.open_version("no-such-model@9.9.9")
        await settle(pilot)
        assert "no model named 'no-such-model'" in modal_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, CatalogueScreen)
        assert app.is_running


@synchronous
async def test_a_user_unknown_to_the_catalogue_sees_why(console: ConsoleCatalogue) -> None:
    app = console_app(console, "mallory")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "(not a user)" in app.sub_title
        await pilot.press("2")
        await settle(pilot)
        assert app.screen.query_one("#queue", VirtualTable).rows == []


# --- what the footer shows, and what each key does where it is not shown --------------------


def footer_keys(app: GovernApp) -> dict[str, str]:
    """The keys the footer shows now, with their descriptions."""
    return {
        key: active.binding.description
        for key, active in app.screen.active_bindings.items()
        if active.binding.show
    }


@synchronous
async def test_footer_follows_the_tab_and_every_key_works_everywhere(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "dave")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "1" not in footer_keys(app)  # you are on the catalogue already
        assert {"2", "3", "m", "slash"} <= set(footer_keys(app))
        screen = await open_version(pilot, "credit-risk@1.1.0")
        shown = footer_keys(app)
        # The card of a submitted version: the decisions it allows, not deploy or retire.
        assert {"A", "C", "X", "b"} <= set(shown) and not {"D", "R", "S", "k"} & set(shown)
        assert not {"1", "2", "3"} & set(shown)  # the screen's own keys have the room

        screen.show_tab("policies")
        await pilot.pause()
        assert {"k", "W"} <= set(footer_keys(app)) and "A" not in footer_keys(app)
        screen.show_tab("evaluation")
        await pilot.pause()
        assert {"f", "n", "m"} <= set(footer_keys(app))

        # k is not shown on the evaluation tab, yet it runs the checks (and says so).
        runs = len(screen.detail.policy_runs)
        await pilot.press("k")
        await settle(pilot)
        assert len(screen.detail.policy_runs) == runs + 1
        assert screen.query_one("#tabs").active == "policies"  # type: ignore[attr-defined]
        assert not screen.query_one("#policy-results").loading

        for tab in TABS:
            screen.show_tab(tab)
            await pilot.pause()
            footer_fits(app)
        for mode in ("catalogue", "queue", "audit"):
            await app.switch_mode(mode)
            await settle(pilot)
            footer_fits(app)
        app.open_compare("", "credit-risk@1.1.0")
        await settle(pilot)
        footer_fits(app)
    assert events(console, action="policy.check")[0].actor == "dave"


def footer_fits(app: GovernApp) -> None:
    """No key of the footer is pushed off its right edge (or under the palette key)."""
    footer = app.screen.query_one("Footer")
    keys = [k for k in footer.query("FooterKey") if "-command-palette" not in k.classes]
    palette = [k for k in footer.query("FooterKey") if "-command-palette" in k.classes]
    edge = palette[0].region.x if palette else footer.region.right
    assert keys, app.screen
    for key in keys:
        assert key.region.right <= edge, f"{key.key} overflows the footer of {app.screen}"


@synchronous
async def test_escape_leaves_the_row_id_box_so_keys_work_again(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(
            pilot,
            "credit-risk@1.1.0",
        )
        await pilot.press("e")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        assert not isinstance(app.focused, Input)
        await pilot.press("right_square_bracket")  # a key again, not a character in the box
        assert screen.query_one("#row-id", Input).value == ""
        assert screen.query_one("#tabs").active == "policies"  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert isinstance(app.screen, CatalogueScreen)


@synchronous
async def test_workflow_offers_what_the_state_allows_and_counts_approvals(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0")
        screen.show_tab("workflow")
        await pilot.pause()
        shown = {b.id for b in screen.query("#workflow-buttons Button") if b.display}
        assert shown == {"do-approve", "do-request_changes", "do-reject", "do-waive"}
        state = str(screen.query_one("#workflow-state").render())
        assert "next steps: approve, changes, reject" in state
        assert "Approvals: 0 of 2 approvals (none yet)" in state
        for button in screen.query("#workflow-buttons Button"):  # all on screen at 80x24
            if button.display:
                assert button.region.right <= 80 and button.region.height > 0

        await pilot.click("#do-approve")  # the mouse works as the key does
        assert isinstance(app.screen, FormDialog)
        await type_text(pilot, "clicked through")
        await pilot.press("enter")
        await settle(pilot)
        assert "Approvals: 1 of 2 approvals (carol)" in str(
            screen.query_one("#workflow-state").render()
        )
    detail = catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0")
    assert (detail.decisions[-1].actor, detail.decisions[-1].comment) == (
        "carol",
        "clicked through",
    )


@synchronous
async def test_deployed_version_offers_retire_only(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.0.0")
        screen.show_tab("workflow")
        await pilot.pause()
        shown = {b.id for b in screen.query("#workflow-buttons Button") if b.display}
        assert shown == {"do-retire", "do-waive"}
        assert {"R", "W"} <= set(footer_keys(app)) and "A" not in footer_keys(app)
        await pilot.press("A")  # not offered, still bound: the service says why not
        await type_text(pilot, "again")
        await pilot.press("enter")
        await settle(pilot)
        assert "cannot approve credit-risk@1.0.0" in modal_text(app)
    refused = events(console, action="version.approve.refused")
    assert refused and "it is deployed" in refused[0].payload["reason"]


# --- layout at 80 and 120 columns ---------------------------------------------------------


def layout_keys(table: VirtualTable) -> list[str]:
    return [column.key for column, _width in table._layout]


@synchronous
async def test_catalogue_shows_every_column_at_80_and_beside_the_panel_at_120(
    console: ConsoleCatalogue,
) -> None:
    every = ["name", "version", "state", "tier", "owner", "policy", "evaluated", "due"]
    for size in ((80, 24), (120, 40)):
        app = console_app(console, "carol")
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#versions", VirtualTable)
            assert layout_keys(table) == every, size
            peek = app.screen.query_one("#peek")
            assert peek.display == (size[0] >= 118)
            line = table.render_line(1).text
            assert "2026-11-20" in line and "credit-risk" in line  # evaluated, in the row


@synchronous
async def test_audit_view_at_80_keeps_the_time_and_says_what_happened(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "dave")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one("#events", VirtualTable)
        assert layout_keys(table) == ["seq", "ts", "actor", "action", "subject"]
        newest = table.rows[0]
        line = str(app.screen.query_one("#event-line").render())
        assert f"#{newest.seq}" in line and newest.action in line
        assert "gradient boosting challenger" in line  # the submit comment, in full

        await pilot.press("enter")
        modal = app.screen
        assert isinstance(modal, MessageModal)
        assert newest.hash in modal.message and "comment: gradient boosting" in modal.message
        await pilot.press("escape")

        # A millionth event keeps its number whole in the narrow column.
        assert table.columns[0].value(newest.model_copy(update={"seq": 1_000_000})) == "1000000"
    app = console_app(console, "dave")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one("#events", VirtualTable)
        assert layout_keys(table)[-1] == "detail"
        widths = {c.key: w for c, w in table._layout}
        assert widths["action"] >= len("version.approve.refused")
        assert not app.screen.query_one("#event-line").display


@synchronous
async def test_waiver_dialog_fits_80x24(console: ConsoleCatalogue) -> None:
    app = console_app(console, "dave")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_version(pilot, "credit-risk@1.1.0", tab="policies")
        await pilot.press("W")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        rule = dialog.values()["rule"]
        assert "/" in rule  # POLICY/RULE, the precise form
        for button in dialog.query("Button"):
            assert button.region.bottom <= 24 and button.region.height == 1, button
        await pilot.press("escape")


# --- the command palette, and errors that must not close the console ----------------------


@synchronous
async def test_palette_opens_a_version_by_name_and_lists_hidden_keys(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), "each command once"
        command = next(
            c for c in app.get_system_commands(app.screen) if c.title.startswith("Open a")
        )
        command.callback()
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)
        await type_text(pilot, "credit-risk@1.0.0")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, VersionScreen) and app.screen.ref == "credit-risk@1.0.0"
        titles = {c.title for c in app.get_system_commands(app.screen)}
        # On the card tab, keys that the footer leaves out are still in the palette.
        assert {"Run checks", "Verify PDF", "Grouping", "Explain a decision"} <= titles


@synchronous
async def test_evidence_that_cannot_be_drawn_is_a_note_not_a_crash(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0", tab="evaluation")
        fairness = screen.query_one("#fairness", FairnessView)
        # A document this build does not understand (a typed view built without checks).
        fairness.evaluation = fairness.evaluation.model_construct(results=object())
        fairness.refresh()
        await pilot.pause()
        assert "could not be drawn" in str(fairness.render())
        assert app.is_running

        screen.post_message(VersionLoaded(object()))  # a result the screen cannot show
        await settle(pilot)
        assert modal_text(app).startswith("Internal error: AttributeError")
        await pilot.press("escape")
        assert app.screen is screen and app.is_running


@synchronous
async def test_report_build_reports_each_step(
    console: ConsoleCatalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, int]] = []
    original = VersionScreen.on_report_progressed

    def spy(self: VersionScreen, message: Any) -> None:
        seen.append((message.step, message.done, message.total))
        original(self, message)

    monkeypatch.setattr(VersionScreen, "on_report_progressed", spy)
    out = tmp_path / "steps.pdf"
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("b")
        app.screen.query_one("#field-path", Input).value = str(out)
        await pilot.press("enter")
        assert screen.query_one("#report-progress").display  # at once, before any step
        await pilot.press("v")  # one PDF at a time: the verify waits for the build
        assert isinstance(app.screen, VersionScreen)
        assert any("being built" in n.message for n in app._notifications)
        await settle(pilot)
        assert not screen.query_one("#report-progress").display  # gone when done
        assert "Built" in str(screen.query_one("#report-verdict").render())
    assert [step for step, _d, _t in seen] == [
        "collecting the evidence",
        "rendering the HTML and charts",
        "laying out the PDF",
        "signing",
        "recording the report",
    ]
    assert [(d, t) for _s, d, t in seen] == [(i, 5) for i in range(5)]
    assert out.read_bytes().startswith(b"%PDF")


@synchronous
async def test_queue_panel_shows_the_highlighted_version_when_wide(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        peek = app.screen.query_one("#queue-peek")
        assert peek.display
        text = str(peek.render())
        assert "credit-risk@1.1.0" in text and "Last evaluated" in text and "warn" in text


@synchronous
async def test_audit_log_goes_to_an_event_by_number(console: ConsoleCatalogue) -> None:
    admin = console.ctx("admin")
    for index in range(300):
        with admin.write("test.event", f"bulk@{index}") as tx:
            tx.audit(index=index)
    app = console_app(console, "dave")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await pilot.press("g")
        await type_text(pilot, "250")
        await pilot.press("enter")
        await settle(pilot)
        table = screen.query_one("#events", VirtualTable)
        assert [e.seq for e in table.rows[:3]] == [250, 249, 248]
        assert "from #250" in str(screen.query_one("#audit-count").render())
        await pilot.press("end")
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        assert [e.seq for e in table.rows] == list(range(250, 0, -1))  # paged on down

        await pilot.press("g")
        await type_text(pilot, "twelve")
        await pilot.press("enter")
        await settle(pilot)
        assert any("not an event number" in n.message for n in app._notifications)
        assert table.rows[0].seq == 250  # nothing changed

        await pilot.press("f5")  # back to the newest
        await settle(pilot)
        assert table.rows[0].seq == audit.count_events(admin)
