"""One implementation of every rule: a batch check is the same judgement as evaluating each
subject, and every outcome is worded from the findings its status came from.

On random and hostile documents (strings for numbers, missing keys, wrong containers, NaN,
unknown groups) and every rule kind and option: ``check`` over many subjects gives exactly
what ``evaluate`` gives for each, reading the outcomes never changes a status, and a results
document not in govern's shape is one clear ``error`` for each rule that reads it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.policy.engine import check, evaluate
from govern.policy.evidence import CHECKED, NotInShape, read_stored, results_view
from govern.policy.kinds import KINDS, NAMES
from govern.policy.loader import LoadedPolicy, parse_policy_text
from govern.policy.snapshot import (
    ChampionEvidence,
    DecisionRecord,
    DriftEvidence,
    EvaluationEvidence,
    MonitoringEvidence,
    SubjectSnapshot,
    WaiverRecord,
    WindowFigures,
)

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)

RULES: list[dict[str, Any]] = [
    {"kind": "card", "fields": ["model_details.description", "intended_use.primary_uses"]},
    {"kind": "card", "fields": ["ethical_considerations[].mitigation"], "min_chars": 5},
    {"kind": "card", "fields": ["factors.sensitive_features"], "min_items": 2},
    {"kind": "performance", "metric": "accuracy", "min": 0.7},
    {"kind": "performance", "metric": "accuracy", "scope": "groups", "min": 0.6},
    {"kind": "performance", "metric": "rmse", "scope": "both", "max": 0.3, "if_missing": "fail"},
    {
        "kind": "performance",
        "metric": "accuracy",
        "scope": "groups",
        "min": 0.6,
        "features": ["sex"],
        "groupings": "both",
        "min_group_size": 20,
        "if_missing": "not-applicable",
    },
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8},
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "significance": 0.05},
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "groupings": "intersection"},
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "min_share": 0.1},
    {
        "kind": "fairness",
        "metric": "impact_ratio",
        "min": 0.8,
        "exclude_unknown": True,
        "groupings": "both",
        "significance": 0.1,
    },
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "reference": {"sex": "a"}},
    {
        "kind": "fairness",
        "metric": "impact_ratio",
        "min": 0.8,
        "groupings": "both",
        "significance": 0.05,
        "min_share": 0.1,
        "reference": {"sex": "b", "age": "a"},
    },
    {"kind": "fairness", "metric": "scoring_impact_ratio", "min": 0.8, "min_share": 0.05},
    {"kind": "fairness", "metric": "scoring_impact_ratio", "min": 0.8},
    {"kind": "fairness", "metric": "selection_rate", "min": 0.3, "significance": 0.05},
    {"kind": "fairness", "metric": "tpr", "min": 0.5, "min_group_size": 20},
    {"kind": "fairness", "metric": "fpr", "max": 0.2, "features": ["age"], "if_missing": "fail"},
    {"kind": "fairness", "metric": "demographic_parity_difference", "max": 0.2},
    {"kind": "fairness", "metric": "equalized_odds_ratio", "min": 0.8, "groupings": "both"},
    {"kind": "explanation", "top_k": 3},
    {"kind": "explanation", "top_k": 2, "sensitive": ["income"], "use_flags": False},
    {"kind": "explanation", "require": False},
    {"kind": "drift", "max_psi": 0.25, "max_age_days": 90},
    {"kind": "monitoring", "metric": "impact_ratio", "min": 0.8, "consecutive": 2},
    {"kind": "monitoring", "metric": "tpr", "min": 0.5, "groupings": "both", "window": "1w"},
    {"kind": "monitoring", "metric": "score_psi", "max": 0.2, "if_missing": "not-applicable"},
    {"kind": "monitoring", "metric": "log_age_days", "max": 7},
    {"kind": "monitoring", "metric": "feature_psi", "max": 0.2, "features": ["amount"]},
    {"kind": "drift", "min_p_value": 0.01, "features": ["age"], "if_missing": "error"},
    {"kind": "freshness", "max_age_days": 365},
    {"kind": "freshness", "max_age_days": 30, "dataset_sha256": "d" * 64},
    {"kind": "freshness", "max_age_days": 365, "card_dataset": True, "same_artifact": False},
    {"kind": "approvals", "min_approvals": 2},
    {
        "kind": "approvals",
        "min_approvals_by_tier": {"high": 2, "low": 1},
        "required_roles": ["compliance"],
        "separation_of_duties": False,
    },
    {"kind": "validation_due"},
    {"kind": "validation_due", "require_date": False, "max_months_by_tier": {"high": 12}},
    {"kind": "artifact"},
    {"kind": "artifact", "require_artifact": True, "allowed_formats": ["onnx"]},
    {
        "kind": "champion",
        "metrics": [
            {"metric": "accuracy", "max_regression": 0.02},
            {"metric": "min_impact_ratio", "max_regression": 0.05},
        ],
    },
    {
        "kind": "champion",
        "metrics": [
            {"metric": "demographic_parity_difference", "grouping": "sex", "max_regression": 0}
        ],
        "require_same_data": True,
    },
    {"kind": "disclosure", "groupings": "both"},
    {"kind": "disclosure", "features": ["race"], "if_missing": "not-applicable"},
]


def _policy() -> LoadedPolicy:
    rules = [
        {"id": f"r{i:02d}", "title": f"rule {i}", "severity": "error", "source": "test", **rule}
        for i, rule in enumerate(RULES)
    ]
    document = {"schema": 1, "id": "statuses", "title": "All kinds", "version": "1"}
    return parse_policy_text(yaml.safe_dump({**document, "rules": rules}), where="p.yaml")


POLICY = _policy()

# Values that stored documents should hold, and (one in forty) ones they should not.
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.just({}),
    st.integers(-2, 5),
    st.floats(allow_nan=True, allow_infinity=True),
)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = hostile) -> Any:
    return st.integers(0, 39).flatmap(lambda i: bad if i == 39 else good)


def clean_or_mostly(clean: bool, good: st.SearchStrategy[Any], bad: Any = hostile) -> Any:
    """Always ``good`` for a clean document (as ``govern evaluate`` writes), else mostly."""
    return good if clean else mostly(good, bad)


rate = st.floats(0, 1)
clean_figure = st.one_of(
    rate, st.none(), st.fixed_dictionaries({"value": rate, "lower": rate, "upper": rate})
)
figure = mostly(clean_figure)
labels = st.sampled_from(["a", "b", "c", "(missing)", "a, (missing)"])
METRICS = ["selection_rate", "scoring_rate", "tpr", "fpr", "accuracy"]


@functools.cache
def _group_fields(clean: bool) -> dict[str, st.SearchStrategy[Any]]:
    """A group's fields, drawn in this order. Built once: building these strategies in every
    draw of a group took most of this module's run time."""
    figure_ = clean_figure if clean else figure
    return {
        "group": clean_or_mostly(clean, labels, st.integers(0, 3)),
        "n": clean_or_mostly(clean, st.integers(0, 200)),
        "share": clean_or_mostly(clean, st.floats(0, 1)),
        "metrics": clean_or_mostly(
            clean, st.fixed_dictionaries({}, optional=dict.fromkeys(METRICS, figure_))
        ),
        "impact_ratio": figure_,
        "scoring_impact_ratio": figure_,
        "p_value": clean_or_mostly(clean, st.one_of(rate, st.none())),
        "undefined": clean_or_mostly(
            clean, st.dictionaries(st.sampled_from(METRICS), st.text(max_size=3), max_size=2)
        ),
    }


@st.composite
def group(draw: st.DrawFn, clean: bool = False) -> Any:
    value: dict[str, Any] = {name: draw(field) for name, field in _group_fields(clean).items()}
    if clean:
        return value
    if draw(st.integers(0, 20)) == 20:
        del value["group"]
    return draw(mostly(st.just(value)))


SUMMARY = [
    "demographic_parity_difference",
    "equalized_odds_ratio",
    "min_impact_ratio",
]


@functools.cache
def _groups(clean: bool) -> st.SearchStrategy[list[Any]]:
    if clean:  # a clean document's groups have distinct labels
        return st.lists(group(clean), min_size=1, max_size=5, unique_by=lambda g: g["group"])
    return st.lists(group(clean), min_size=2, max_size=5)


@functools.cache
def _results_parts(clean: bool) -> dict[str, st.SearchStrategy[Any]]:
    """The strategies :func:`results` draws from, built once (as :func:`_group_fields`)."""
    figure_ = clean_figure if clean else figure
    names = st.lists(st.sampled_from(["sex", "age", "sex*age"]), unique=True, min_size=1)
    return {
        "names": clean_or_mostly(clean, names, st.just([])),
        "reference_group": clean_or_mostly(clean, st.one_of(labels, st.none())),
        "summary": clean_or_mostly(
            clean, st.fixed_dictionaries({}, optional=dict.fromkeys(SUMMARY, figure_))
        ),
        "by_group_names": st.lists(st.sampled_from(["sex", "age", "sex*age"]), unique=True),
        "by_group": st.dictionaries(
            labels,
            clean_or_mostly(clean, st.fixed_dictionaries({"accuracy": figure_}), st.none()),
        ),
        "min_group_size": clean_or_mostly(clean, st.integers(0, 30)),
        "sensitive_features": st.lists(st.sampled_from(["sex", "age", "income"])),
        "overall": st.dictionaries(st.sampled_from(["accuracy", "rmse"]), figure_),
        "explanations": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "method": st.just("tree"),
                    "top_features": st.lists(
                        st.sampled_from(["age", "sex_female", "cat__income", "x", "y"])
                    ),
                    "sensitive_flags": st.lists(
                        mostly(
                            st.fixed_dictionaries(
                                {"feature": st.sampled_from(["x", "y"]), "reason": st.just("proxy")}
                            ),
                            hostile,
                        ),
                        max_size=2,
                    ),
                }
            ),
        ),
    }


@st.composite
def results(draw: st.DrawFn, clean: bool = False) -> dict[str, Any]:
    parts = _results_parts(clean)
    fairness = [
        {
            "name": name,
            "features": name.split("*"),
            "reference_group": draw(parts["reference_group"]),
            "groups": draw(_groups(clean)),
            "summary": draw(parts["summary"]),
        }
        for name in draw(parts["names"])
    ]
    by_group = {name: draw(parts["by_group"]) for name in draw(parts["by_group_names"])}
    document: dict[str, Any] = {
        "min_group_size": draw(parts["min_group_size"]),
        "sensitive_features": draw(parts["sensitive_features"]),
        "performance": {"overall": draw(parts["overall"]), "by_group": by_group},
        "fairness": fairness,
        "explanations": draw(parts["explanations"]),
    }
    if clean:
        return document
    return document if draw(st.integers(0, 40)) < 40 else {"fairness": draw(hostile)}


days = st.integers(0, 500).map(lambda d: NOW - dt.timedelta(days=d))
decisions = st.lists(
    st.builds(
        DecisionRecord,
        st.sampled_from(["submit", "approve", "reject"]),
        st.sampled_from(["alice", "carol", "erin"]),
        st.sampled_from(["developer", "approver", "compliance"]),
        days,
    ),
    max_size=5,
)
waivers = st.lists(
    st.builds(
        WaiverRecord,
        st.sampled_from(["r07", "statuses/r08", "r11", "r33"]),
        st.just("accepted"),
        st.just("dave"),
        st.just("compliance"),
        st.dates(dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
    ),
    max_size=2,
)


def _evaluation(draw: st.DrawFn, clean: bool = False) -> EvaluationEvidence | None:
    if draw(st.integers(0, 8)) == 8:
        return None
    return EvaluationEvidence(
        results=draw(results(clean)),
        created_at=draw(days),
        dataset_sha256=draw(st.sampled_from(["d" * 64, "e" * 64])),
        artifact_sha256=draw(st.sampled_from(["a" * 64, "b" * 64, None])),
    )


@st.composite
def snapshots(draw: st.DrawFn, clean: bool = False) -> SubjectSnapshot:
    card = {
        "model_details": {"description": draw(st.sampled_from(["", "a model", None]))},
        "intended_use": {"primary_uses": draw(st.lists(st.sampled_from(["", "ranking"])))},
        "factors": {"sensitive_features": draw(st.lists(st.sampled_from(["sex", "age"])))},
        "ethical_considerations": draw(
            st.lists(st.fixed_dictionaries({"mitigation": st.sampled_from(["", "monitor", "ok"])}))
        ),
        # Declared evaluation data: none, the evaluated hash or another, and hostile shapes.
        "evaluation_data": draw(
            mostly(
                st.fixed_dictionaries(
                    {
                        "datasets": st.lists(
                            st.fixed_dictionaries(
                                {"sha256": st.sampled_from(["d" * 64, "f" * 64, None])}
                            ),
                            max_size=2,
                        )
                    }
                )
            )
        ),
    }
    champion = None
    if draw(st.booleans()):
        champion = ChampionEvidence(ref="m@0.9", evaluation=_evaluation(draw, clean))
    drift = None
    if draw(st.integers(0, 4)) < 4:
        drift = DriftEvidence(
            results={
                "features": draw(
                    st.one_of(
                        st.lists(
                            st.fixed_dictionaries(
                                {
                                    "feature": st.sampled_from(["age", "x"]),
                                    "psi": figure,
                                    "p_value": figure,
                                }
                            ),
                            max_size=3,
                        ),
                        st.dictionaries(
                            st.sampled_from(["age", "x"]),
                            st.fixed_dictionaries({"psi": figure}),
                        ),
                    )
                )
            },
            created_at=draw(days),
        )
    return SubjectSnapshot(
        subject="m@1.0",
        card=card,
        state=draw(st.sampled_from(["approved", "deployed", "validated"])),
        risk_tier=draw(st.sampled_from(["high", "low", None])),
        artifact_format=draw(st.sampled_from(["skops", "onnx", "pickle", None])),
        artifact_sha256=draw(st.sampled_from(["a" * 64, None])),
        next_validation_due=draw(
            st.one_of(st.none(), st.dates(dt.date(2026, 1, 1), dt.date(2028, 12, 31)))
        ),
        created_at=NOW - dt.timedelta(days=600),
        created_by="alice",
        submitter=draw(st.sampled_from(["alice", "carol", None])),
        evaluation=_evaluation(draw, clean),
        drift=drift,
        monitoring=_monitoring(draw),
        decisions=tuple(draw(decisions)),
        waivers=tuple(draw(waivers)),
        champion=champion,
        stateless=draw(st.integers(0, 9)) == 9,
    )


def _monitoring(draw: st.DrawFn) -> MonitoringEvidence | None:
    """A monitoring record: windows of random group figures, some undefined, or none."""
    if draw(st.integers(0, 3)) == 0:
        return None
    rate = st.one_of(st.none(), st.floats(0.0, 1.5))
    groups = st.fixed_dictionaries(
        {"impact_ratio": rate, "selection_rate": rate, "tpr": rate, "fpr": rate}
    )
    windows = [
        WindowFigures(
            start=dt.date(2026, 3, 1) + dt.timedelta(days=index),
            end=dt.date(2026, 3, 2) + dt.timedelta(days=index),
            rows=draw(st.integers(0, 500)),
            outcomes_known=0,
            score_psi=draw(rate),
            groups={
                "sex": draw(st.dictionaries(st.sampled_from(["f", "m"]), groups, max_size=2)),
                "sex*age": draw(st.dictionaries(st.sampled_from(["f, y"]), groups, max_size=1)),
            },
            features={"sex": ("sex",), "sex*age": ("sex", "age")},
            feature_psi=draw(st.dictionaries(st.sampled_from(["amount", "x"]), rate, max_size=2)),
        )
        for index in range(draw(st.integers(0, 5)))
    ]
    last = draw(st.one_of(st.none(), st.just(NOW - dt.timedelta(days=draw(st.integers(0, 20))))))
    return MonitoringEvidence(features=("sex", "age"), last_log_at=last, windows=lambda _w: windows)


def test_every_registered_kind_has_a_module_with_model_judge_and_describe() -> None:
    assert tuple(KINDS) == NAMES
    for name, module in KINDS.items():
        assert module.__name__ == f"govern.policy.kinds.{name}"  # type: ignore[attr-defined]
        assert callable(module.judge) and callable(module.describe)
        assert module.Rule.model_fields["kind"].annotation.__args__ == (name,)
    assert {rule["kind"] for rule in RULES} == set(KINDS)  # the properties cover every kind


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshots(), min_size=1, max_size=4))
def test_a_batch_check_is_evaluate_over_each_subject(subjects: list[SubjectSnapshot]) -> None:
    batch = check([POLICY], subjects, now=NOW)
    statuses = [s.statuses for s in batch.subjects]  # decided before any outcome is read
    for result, subject, decided in zip(batch.subjects, subjects, statuses, strict=True):
        alone = evaluate([POLICY], subject, now=NOW)
        assert result.statuses == decided == alone.statuses
        assert tuple(o.status for o in result.outcomes) == decided  # worded, not re-decided
        assert _json(result.outcomes) == _json(alone.outcomes)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_a_document_not_in_shape_is_one_error_per_rule_reading_it(
    subject: SubjectSnapshot,
) -> None:
    evaluation = subject.evaluation
    if evaluation is None:
        return
    try:
        results_view(evaluation.results)
    except NotInShape as problem:
        outcomes = evaluate([POLICY], subject, now=NOW).outcomes
        shaped = [o for o in outcomes if o.message.startswith("results not in govern's shape: ")]
        assert shaped, "a document not in shape must be reported as such"
        for outcome in shaped:
            assert outcome.status in {"error", "waived"}
            assert outcome.evidence == {"problem": str(problem)}
            assert outcome.kind in {
                "performance",
                "fairness",
                "explanation",
                "disclosure",
                "champion",
            }
        assert not any("not in the expected shape" in o.message for o in outcomes)


def test_a_results_document_of_another_shape_gives_one_clear_error() -> None:
    document = {"fairness": {"sex": "not a list"}, "performance": {"overall": {"accuracy": "hi"}}}
    subject = SubjectSnapshot(
        subject="m@1.0",
        card={},
        evaluation=EvaluationEvidence(results=document, created_at=NOW, dataset_sha256="d" * 64),
    )
    outcomes = {o.rule_id: o for o in evaluate([POLICY], subject, now=NOW).outcomes}
    fairness = outcomes["r07"]
    assert (fairness.status, fairness.message) == (
        "error",
        "results not in govern's shape: fairness is an object, not a list",
    )
    # checked once per evaluation: every rule reading it reports the same problem
    assert {o.message for o in outcomes.values() if o.kind in {"performance", "fairness"}} == {
        fairness.message
    }
    assert outcomes["r00"].message.startswith("model_details.description is missing")


def _json(outcomes: Any) -> list[str]:
    return [json.dumps(o.to_json(), sort_keys=True, default=str) for o in outcomes]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (
            {"performance": {"by_group": {"sex": {"female": {"accuracy": "hi"}}}}},
            "performance.by_group.sex.female.accuracy is text, not a number",
        ),
        (
            {"fairness": [{"name": "sex", "groups": [{"n": 3}]}]},
            "fairness[0].groups[0] has no group",
        ),
        (
            {"fairness": [{"name": "sex", "summary": {"x": True}}]},
            "fairness[0].summary.x is true/false, not a number",
        ),
        ([1, 2], "the document is a list, not an object"),
        ({"min_group_size": 2.5}, "min_group_size is a number, not an integer"),
    ],
)
def test_where_a_document_leaves_the_shape_is_named(document: Any, problem: str) -> None:
    with pytest.raises(NotInShape) as raised:
        results_view(document)
    assert str(raised.value) == problem


def test_a_stored_document_is_checked_as_it_is_decoded_and_keeps_what_rules_read() -> None:
    text = json.dumps(
        {"fairness": [{"name": "sex", "groups": [{"group": "f", "n": 2**70, "extra": [1]}]}]}
    )
    cache: dict[Any, Any] = {}
    document = read_stored(text, cache)
    assert cache == {CHECKED: True}
    assert document["fairness"][0]["groups"][0] == {"group": "f", "n": 2**70}
    assert results_view(document, cache).sizes == {("sex", "f"): 2**70}
    broken: dict[Any, Any] = {}
    assert read_stored('{"fairness": {}}', broken) == {"fairness": {}} and broken == {}
    with pytest.raises(NotInShape, match="fairness is an object, not a list"):
        results_view({"fairness": {}}, broken)
    assert read_stored("not json", {}) is None
