"""The signed card's presentation defects of issue 22, read back from the real PDF."""

from __future__ import annotations

import math

from sqlmodel import col, select

from govern.report.charts import local_chart
from govern.report.view import local_explanation
from govern.services import reports
from govern.storage.tables import Evaluation, Explanation
from tests.report.conftest import REF, pdf_text, prepare
from tests.report.sample_rows import local_payloads

LOG_ODDS = {
    "row_id": "r-1",
    "method": "linear",
    "output": "log-odds of 1",
    "base_value": -1.516,
    "prediction": 0.048,
    "contributions": [
        {"feature": f"f{i}", "value": str(i), "shap": shap}
        for i, shap in enumerate([-0.9, 0.4, -0.3, 0.2, -0.1, 0.05, -0.04, 0.03, -0.02, 0.01])
    ],
}


def _add_locals(cat, payloads):
    with cat.ctx().db.write() as session:
        evaluation = session.exec(select(Evaluation).order_by(col(Evaluation.id).desc())).first()
        assert evaluation is not None
        for row_id, payload in payloads:
            session.add(
                Explanation(
                    evaluation_id=evaluation.id, kind="local", row_id=row_id, payload=payload
                )
            )


def test_the_card_counts_every_recorded_decision_explanation(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home")  # 3 decision explanations
    extra = [
        (f"x{i}", {**payload, "row_id": f"x{i}"})
        for i, (_, payload) in enumerate(local_payloads(1) * 7)
    ]
    _add_locals(cat, extra)
    view = reports.report_view(cat.ctx("carol"), REF)
    assert view.local_explanation_count == 10 and len(view.local_explanations) == 6
    out = tmp_path / "card.pdf"
    reports.build_report(cat.ctx("carol"), REF, output=out, sign=False)
    text = " ".join(pdf_text(out, layout=False).split())
    assert "7 more decision explanations are recorded in the catalogue" in text
    assert "3 more decision explanations" not in text
    cat.close()


def test_decision_charts_add_up_on_the_scale_they_state():
    explanation = local_explanation("r-1", LOG_ODDS)
    assert explanation is not None and explanation.output == "log-odds of 1"
    assert len(explanation.contributions) == 8 and explanation.rest_count == 2
    total = -1.516 + sum(c["shap"] for c in LOG_ODDS["contributions"])
    assert explanation.total is not None and math.isclose(explanation.total, total)
    chart = local_chart(explanation)
    assert chart is not None
    assert "SHAP contribution to the log-odds of 1" in chart.svg
    assert "probability of 1 = 0.048" in chart.svg  # the score, named for what it is
    assert "score 0.048 (base" not in chart.svg
    assert "2 other features" in chart.svg  # the rest drawn, so the bars add up
    assert (
        f"On the log-odds of 1: base -1.516 + contributions {total + 1.516:+.3f} = {total:.3f}."
        in chart.caption
    )


def test_the_pdf_states_the_scale_of_a_decision_chart(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home")
    with cat.ctx().db.write() as session:
        for row in session.exec(select(Explanation).where(Explanation.kind == "local")).all():
            session.delete(row)
    _add_locals(cat, [("r-1", LOG_ODDS)])
    out = tmp_path / "card.pdf"
    reports.build_report(cat.ctx("carol"), REF, output=out, sign=False)
    text = " ".join(pdf_text(out, layout=False).split())
    assert "Decision r-1: probability of 1 = 0.048" in text
    assert "SHAP contribution to the log-odds of 1" in text
    assert "On the log-odds of 1: base -1.516 + contributions" in text
    assert "SHAP contribution to the score" not in text
    cat.close()


def test_a_heading_is_kept_with_its_chart(sqlite_url, tmp_path):
    """WeasyPrint keeps a ``break-inside: avoid`` block on one page: the heading, its note
    and its chart are one such block, so no heading sits at a page's foot without them."""
    cat = prepare(sqlite_url, tmp_path / "home")
    out = tmp_path / "card.html"
    reports.build_report(cat.ctx("carol"), REF, format="html", output=out)
    page = out.read_text(encoding="utf-8")
    for heading in ("<h3>sex ∧ age_group (intersection)</h3>", "<h3>Individual decisions</h3>"):
        start = page.index(heading)
        block = page[page.rindex("<div", 0, start) : start]
        assert block.startswith('<div class="keep">'), heading
        assert page.index("<figure>", start) < page.index("</div>", start)
    css = (out.parent / "card.html").read_text(encoding="utf-8")
    assert ".keep { break-inside: avoid; }" in css
    cat.close()


def test_the_signed_card_lists_every_finding_not_and_n_more(sqlite_url, tmp_path):
    """The stored message names three violations and "and 1 more" (written for terminals);
    the card lists all four from the rule's evidence, intersections named with ∧."""
    from govern.report.render import render_card
    from govern.report.view import RuleView

    violations = [
        {"grouping": "age_group", "group": "under_25", "n": 55, "value": 0.749, "p_value": 0.0084},
        {"grouping": "sex", "group": "female", "n": 100, "value": 0.79, "p_value": 0.2},
        {"grouping": "sex*age_group", "group": "female, under_25", "n": 30, "value": 0.7},
        {"grouping": "sex*age_group", "group": "male, under_25", "n": 25, "value": 0.705},
    ]
    rule = RuleView(
        policy_id="eeoc-four-fifths",
        rule_id="impact-ratio-practical",
        status="fail",
        severity="warning",
        message="age_group=under_25: …; sex=female: …; sex*age_group=female, under_25: …; "
        "and 1 more",
        evidence={"kind": "fairness", "evidence": {"violations": violations}},
    )
    assert rule.truncated and len(rule.findings) == 4
    assert rule.findings[3] == "sex=male ∧ age_group=under_25: n 25, value 0.705"
    assert rule.findings[0] == "age_group=under_25: n 55, value 0.749, p value 0.008"

    cat = prepare(sqlite_url, tmp_path / "home")
    view = reports.report_view(cat.ctx("carol"), REF)
    assert view.policy is not None
    pack = view.policy.packs[0].model_copy(update={"rules": [rule]})
    view = view.model_copy(update={"policy": view.policy.model_copy(update={"packs": [pack]})})
    out = tmp_path / "card.pdf"
    out.write_bytes(render_card(view, "pdf").data)
    text = " ".join(pdf_text(out, layout=False).split())
    assert "and 1 more" not in text
    assert "4 findings:" in text
    assert "sex=male ∧ age_group=under_25: n 25, value 0.705" in text
    cat.close()


def test_exports_and_pdf_name_intersection_groups_by_their_features(sqlite_url, tmp_path):
    """ "female, under_25, male, under_25" reads as four groups: every output says
    sex=female ∧ age_group=under_25 instead."""
    cat = prepare(sqlite_url, tmp_path / "home")
    markdown = tmp_path / "card.md"
    reports.build_report(cat.ctx("carol"), REF, format="md", output=markdown)
    text = markdown.read_text(encoding="utf-8").replace("\\_", "_")  # Markdown escapes
    assert "### Fairness by sex ∧ age_group" in text
    assert "| sex=female ∧ age_group=under_25 | 30 |" in text
    assert "female, under_25" not in text
    pdf = tmp_path / "card.pdf"
    reports.build_report(cat.ctx("carol"), REF, output=pdf, sign=False)
    flowing = " ".join(pdf_text(pdf, layout=False).split())
    assert "sex=female ∧ age_group=under_25" in flowing
    assert "sex ∧ age_group (intersection)" in flowing and "Rates by sex ∧ age_group" in flowing
    cat.close()
