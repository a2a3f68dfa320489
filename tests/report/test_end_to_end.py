"""The card built from real evidence: the assessment, policy and drift services on the sample.

Unlike the other report tests (which insert rows of the stored shapes directly), this one
registers the sample gradient-boosting model, evaluates it with SHAP explanations, checks
drift and runs policy packs through their services, then renders, signs and verifies.
"""

from __future__ import annotations

import json

import pytest

from govern import formatting
from govern.services import catalogue, checks, evaluation, keys, reports
from tests.conftest import SAMPLE, make_catalogue
from tests.report.conftest import embedded_files, pdf_text, pdfsig

REF = "credit-risk@1.1.0"


@pytest.mark.slow
def test_card_from_real_services(sqlite_url, tmp_path, sample_artifacts):
    cat = make_catalogue(sqlite_url)
    artifact = sample_artifacts / "credit-risk-1.1.0.skops"
    catalogue.register_version(
        cat.ctx("alice"), SAMPLE / "credit-risk-1.1.0.card.yaml", artifact=artifact
    )
    record = evaluation.evaluate_version(
        cat.ctx("bob"),
        REF,
        data=SAMPLE / "credit_holdout.csv",
        target="credit",
        positive="1",
        sensitive=["sex", "age_group"],
        model=artifact,
        id_column="applicant_id",
        explain=3,
        seed=0,
    )
    evaluation.drift(
        cat.ctx("bob"),
        REF,
        reference=SAMPLE / "credit_train.csv",
        current=SAMPLE / "credit_holdout.csv",
        model=artifact,
        exclude=["applicant_id", "credit"],
    )
    run = checks.check_version(cat.ctx("bob"), REF, ["baseline", "eeoc-four-fifths"])
    keys.org_init(cat.ctx("admin"), common_name="govern e2e")

    out = tmp_path / "card.pdf"
    result = reports.build_report(cat.ctx("carol"), REF, output=out)
    assert result.evaluation_id == record.id

    text = pdf_text(out)
    flowing = " ".join(pdf_text(out, layout=False).split())
    results = record.results
    assert f"{results.performance.overall['accuracy']:.3f}" in text
    for grouping in results.fairness:
        assert f"Rates by {formatting.grouping(grouping.name)}" in text
        for group in grouping.groups:
            assert formatting.group(grouping.name, group.group) in flowing
            if group.impact_ratio is not None:
                assert f"{group.impact_ratio:.3f}" in text
    assert results.explanations is not None
    assert results.explanations.top_features[0] in text
    assert "Decision " in text  # per-decision explanation charts
    assert "Not evaluated" not in flowing and "No drift analysis yet" not in flowing
    assert "No policy run yet" not in flowing
    for pack in ("baseline", "eeoc-four-fifths"):
        assert pack in flowing
    assert run is not None
    # local directory layouts stay out of a card that leaves the building
    assert str(SAMPLE) not in flowing and str(sample_artifacts) not in flowing

    document = json.loads(embedded_files(out)["govern-card.json"])
    stored = document["governance"]["evaluation"]["results"]
    assert stored["performance"]["overall"]["accuracy"] == pytest.approx(
        results.performance.overall["accuracy"]
    )
    verdict = reports.verify_pdf(cat.ctx("victor"), out)
    assert verdict.ok and verdict.catalogue == "match", verdict.problems
    assert "Signature is Valid." in pdfsig(out)
    cat.close()
