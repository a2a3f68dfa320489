"""The Markdown and JSON exports, read by other tools' own parsers.

Markdown: the Hugging Face Hub client (``huggingface_hub``) parses the front matter and its
``model-index`` into evaluation results, as the Hub does; markdown-it (CommonMark) renders
the body. JSON: validated against the parts of Model Card Toolkit's v0.0.2 schema that the
export fills, written out below (MCT itself needs TensorFlow, so it is not a test dependency).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from markdown_it import MarkdownIt

from govern import __version__
from govern.services import reports
from tests.report.conftest import REF, prepare
from tests.report.sample_rows import evaluation_document

_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}


def _objects(properties: dict[str, object], **extra: object) -> dict[str, object]:
    return {"type": "array", "items": {"type": "object", "properties": properties, **extra}}


#: Model Card Toolkit schema v0.0.2 (model_card_toolkit/schema/v0.0.2/model_card.schema.json):
#: its top-level keys (no others allowed there, so govern's ``governance`` extension is the one
#: addition), and the types of the fields govern writes.
MCT_V002 = {
    "type": "object",
    "properties": {
        "schema_version": _STRING,
        "model_details": {
            "type": "object",
            "properties": {
                "name": _STRING,
                "overview": _STRING,
                "documentation": _STRING,
                "owners": _objects({"name": _STRING, "contact": _STRING}),
                "version": {
                    "type": "object",
                    "properties": {
                        "name": _STRING,
                        "date": {"type": "string", "format": "date"},
                        "diff": _STRING,
                    },
                },
                "licenses": _objects(
                    {"identifier": _STRING, "custom_text": _STRING},
                    oneOf=[{"required": ["identifier"]}, {"required": ["custom_text"]}],
                ),
                "references": _objects({"reference": _STRING}),
                "citations": _objects({"style": _STRING, "citation": _STRING}),
                "path": _STRING,
                "regulatory_requirements": _STRING,
            },
        },
        "model_parameters": {
            "type": "object",
            "properties": {
                "model_architecture": _STRING,
                "data": _objects(
                    {
                        "name": _STRING,
                        "link": _STRING,
                        "description": _STRING,
                        "sensitive": {
                            "type": "object",
                            "properties": {"sensitive_data": _STRINGS},
                        },
                    }
                ),
                "input_format": _STRING,
                "output_format": _STRING,
            },
        },
        "quantitative_analysis": {
            "type": "object",
            "properties": {
                "performance_metrics": _objects(
                    {
                        "type": _STRING,
                        "value": _STRING,
                        "slice": _STRING,
                        "confidence_interval": {
                            "type": "object",
                            "properties": {"lower_bound": _STRING, "upper_bound": _STRING},
                        },
                        "threshold": _STRING,
                    },
                    required=["type", "value"],
                ),
                "graphics": {"type": "object", "properties": {"description": _STRING}},
            },
        },
        "considerations": {
            "type": "object",
            "properties": {
                name: _objects({"description": _STRING})
                for name in ("users", "use_cases", "limitations", "tradeoffs")
            }
            | {
                "ethical_considerations": _objects(
                    {"name": _STRING, "mitigation_strategy": _STRING}
                )
            },
        },
        "governance": {"type": "object", "required": ["ref", "card_sha256"]},
    },
    "required": ["schema_version", "model_details"],
    "additionalProperties": False,
}


@pytest.fixture
def exports(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home")
    ctx = cat.ctx("carol")
    written = {}
    for fmt in ("md", "json"):
        out = tmp_path / f"card.{fmt}"
        reports.build_report(ctx, REF, format=fmt, output=out)
        written[fmt] = out.read_text(encoding="utf-8")
    yield written
    cat.close()


def test_markdown_front_matter_is_what_the_hugging_face_hub_reads(exports):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    card = ModelCard(exports["md"])  # raises on front matter the Hub would reject
    assert card.data.license == "apache-2.0" and card.data.model_name == "credit-risk"
    name, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert name == "credit-risk"
    doc = evaluation_document()
    by_type = {r.metric_type: r for r in results if r.metric_type != "min_impact_ratio"}
    assert set(by_type) == set(doc["performance"]["overall"])
    for metric, value in doc["performance"]["overall"].items():
        result = by_type[metric]
        assert result.metric_value == pytest.approx(value, abs=1e-6)
        assert result.task_type == "tabular-classification"
        assert result.dataset_name == doc["dataset"]["name"]
        assert result.dataset_revision == doc["dataset"]["sha256"]
    ratios = {r.metric_name: r.metric_value for r in results if r.metric_type == "min_impact_ratio"}
    for grouping in doc["fairness"]:
        assert ratios[f"minimum impact ratio ({grouping['name']})"] == pytest.approx(
            grouping["summary"]["min_impact_ratio"], abs=1e-6
        )


def test_markdown_body_renders_as_a_reader_expects(exports):
    body = exports["md"].split("---\n", 2)[2]
    html = MarkdownIt("commonmark").enable("table").render(body)
    assert "<h1>Model card: credit-risk 1.0.0</h1>" in html  # no stray backslash in 1.0.0
    for heading in (
        "Model details",
        "Intended use",
        "Factors",
        "Metrics",
        "Evaluation data",
        "Training data",
        "Quantitative analyses",
        "Ethical considerations",
        "Caveats and recommendations",
        "Lifecycle and decisions",
        "Policy results",
        "Drift",
        "Reproducibility",
    ):
        assert f"<h2>{heading}</h2>" in html, heading
    for heading in ("Explanations", "Waivers", "Fairness by age_group"):
        assert f"<h3>{heading}</h3>" in html, heading
    assert "Female ratio 0.79 within sampling error" in html  # the waiver's reason
    assert "<td>waived</td>" in html  # the waived rule, shown as waived
    assert "\\" not in html  # every backslash escape was consumed by the renderer
    assert f"by govern {__version__}." in html


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(MCT_V002, format_checker=jsonschema.FormatChecker())


def test_json_follows_model_card_toolkit_schema(exports):
    document = json.loads(exports["json"])
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(document)]
    assert errors == []
    slices = {m.get("slice") for m in document["quantitative_analysis"]["performance_metrics"]}
    assert "age_group=under_25" in slices


def test_json_of_a_bare_card_follows_the_schema_too(sqlite_url, tmp_path):
    """No evaluation, no dates, no mitigations: absent fields are left out, never null."""
    import yaml

    from govern.services import catalogue
    from tests.conftest import SAMPLE, make_catalogue

    card = yaml.safe_load((SAMPLE / "credit-risk-1.0.0.card.yaml").read_text())
    card["model_details"].pop("date", None)
    for item in card.get("ethical_considerations") or []:
        item.pop("mitigation", None)
    path = tmp_path / "bare.card.yaml"
    path.write_text(yaml.safe_dump(card), encoding="utf-8")
    cat = make_catalogue(sqlite_url)
    catalogue.register_version(cat.ctx("alice"), path)
    out = tmp_path / "bare.json"
    reports.build_report(cat.ctx("alice"), REF, format="json", output=out)
    document = json.loads(out.read_text(encoding="utf-8"))
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(document)]
    assert errors == []
    assert "date" not in document["model_details"]["version"]
    assert document["quantitative_analysis"]["performance_metrics"] == []
    cat.close()
