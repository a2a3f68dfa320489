"""The report view reads what the other layers store, and says so when it cannot."""

from __future__ import annotations

import datetime as dt

import pytest

from govern.assess.results import EvaluationResults as ContractResults
from govern.assess.results import LocalExplanation as ContractLocal
from govern.report.render import render_html
from govern.report.templates import format_interval, make_environment
from govern.report.view import Estimate, drift_features, local_explanation, read_results
from govern.services import reports
from tests.report.conftest import REF, prepare
from tests.report.sample_rows import drift_document, evaluation_document, local_payloads


def test_fixture_documents_follow_the_assessment_contract():
    """The rows the report tests insert validate against the assessment layer's own models."""
    contract = ContractResults.model_validate(evaluation_document())
    for _, payload in local_payloads():
        ContractLocal.model_validate(payload)
    view, problem = read_results(contract.to_json())
    assert problem is None and view is not None
    assert [g.name for g in view.fairness] == ["sex", "age_group", "sex*age_group"]
    assert view.explanations is not None and view.explanations.importances[0].feature == "status"


def test_the_view_keeps_what_the_console_shows_of_the_contract():
    """The one typed view carries the grouping notes, why summary figures are undefined, the
    scale SHAP values are on and a decision's predicted label (the console shows them)."""
    document = evaluation_document()
    document["fairness"][0]["notes"] = ["1 group left out of equalized odds"]
    document["fairness"][0]["undefined"] = {"equalized_odds_ratio": "a group has no positives"}
    document["explanations"]["output"] = "log-odds of 1"
    view, problem = read_results(ContractResults.model_validate(document).to_json())
    assert problem is None and view is not None
    assert view.fairness[0].notes == ["1 group left out of equalized odds"]
    assert view.fairness[0].undefined == {"equalized_odds_ratio": "a group has no positives"}
    assert view.explanations is not None and view.explanations.output == "log-odds of 1"
    _, payload = local_payloads()[0]
    labelled = local_explanation("7", {**payload, "predicted_label": 1})
    assert labelled is not None and labelled.predicted_label == "1"


def test_unreadable_results_are_reported_not_crashed():
    assert read_results({})[1] == "the evaluation stored no results document"
    results, problem = read_results({"fairness": "not a list"})
    assert results is None and problem is not None and "fairness" in problem


def test_local_explanations_and_drift_accept_both_shapes():
    parsed = local_explanation("7", {"shap": {"a": 0.1, "b": -0.3}, "prediction": 0.4})
    assert parsed is not None and [c.feature for c in parsed.contributions] == ["b", "a"]
    assert local_explanation("7", {"contributions": []}) is None
    assert local_explanation("7", "garbage") is None
    features, prediction = drift_features(drift_document())
    assert [f.feature for f in features][:2] == ["status", "credit_amount"]
    assert prediction is not None and prediction.psi == pytest.approx(0.05)
    as_mapping, _ = drift_features({"features": {"age": {"psi": 0.2, "band": None}}})
    assert as_mapping[0].feature == "age" and as_mapping[0].band == ""


def test_filters_are_the_formatting_functions():
    """The card writes a figure as the CLI and the TUI do: "–", "<0.001", "1,234"."""
    filters = make_environment().filters
    assert filters["num"](None) == "–" and filters["num"](float("nan")) == "–"
    assert filters["num"](0.12345) == "0.123" and filters["num"](1234) == "1,234"
    assert format_interval(Estimate(value=0.5, lower=0.41, upper=0.58)) == "[0.41, 0.58]"
    assert format_interval(Estimate(value=None)) == ""
    assert filters["pvalue"](0.0004) == "<0.001" and filters["pvalue"](0.25) == "0.250"
    assert filters["group"]("sex*age_band", "female, under_25") == "sex=female ∧ age_band=under_25"
    assert filters["count"](7, "more decision explanation") == "7 more decision explanations"


def test_broken_results_document_renders_with_an_explanation(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    from tests.report.sample_rows import Evidence, insert_evidence

    insert_evidence(
        cat,
        REF,
        Evidence(policy=False, decisions=False, drift=False),
        results={"fairness": [{"groups": "oops"}], "dataset": {"name": "x.csv"}},
    )
    view = reports.report_view(cat.ctx("victor"), REF)
    assert view.evaluation is not None and view.results is None
    html, _ = render_html(view)
    assert f"Evaluation {view.evaluation.id} cannot be shown: the stored results document" in html
    assert view.generated_at.tzinfo == dt.UTC
    cat.close()
