"""The batch check's status and column functions agree with the rule functions, on any document.

``check`` decides statuses with :mod:`govern.policy.columns` (from ``batch_from`` subjects)
and :mod:`govern.policy.statuses`, and builds messages and evidence with the rule functions
only when read; ``evaluate`` runs the rule functions. On
random and hostile documents (strings for numbers, missing keys, wrong containers, NaN,
unknown groups) and every rule kind and option, both give the same status for every rule,
and building the outcomes of a batch check never contradicts its statuses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.policy import digest
from govern.policy.columns import COLUMN_REGISTRY, Columns
from govern.policy.engine import check, evaluate
from govern.policy.loader import LoadedPolicy, parse_policy_text
from govern.policy.rules import REGISTRY
from govern.policy.snapshot import (
    ChampionEvidence,
    DecisionRecord,
    DriftEvidence,
    EvaluationEvidence,
    StoredResults,
    SubjectSnapshot,
    WaiverRecord,
)
from govern.policy.statuses import STATUS_REGISTRY

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
        decisions=tuple(draw(decisions)),
        waivers=tuple(draw(waivers)),
        champion=champion,
        stateless=draw(st.integers(0, 9)) == 9,
    )


def test_every_rule_kind_has_a_status_function() -> None:
    assert set(STATUS_REGISTRY) == set(REGISTRY)
    assert set(COLUMN_REGISTRY) == {"fairness", "disclosure", "performance", "champion"}
    assert {rule["kind"] for rule in RULES} == set(REGISTRY)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshots(), min_size=1, max_size=3))
def test_batch_statuses_equal_the_rule_functions(subjects: list[SubjectSnapshot]) -> None:
    _agrees(subjects, batch_from=10**9)  # every status decided per subject


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshots(), min_size=1, max_size=6))
def test_column_statuses_equal_the_rule_functions(subjects: list[SubjectSnapshot]) -> None:
    _agrees(subjects, batch_from=1)  # fairness, disclosure, performance column-wise


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshots(clean=True), min_size=1, max_size=6))
def test_column_statuses_on_clean_documents(subjects: list[SubjectSnapshot]) -> None:
    # Documents as govern evaluate writes them are all read into the arrays, so these
    # statuses really are the column functions' (not the per-subject fallback's).
    columns = Columns(subjects)
    evaluated = [s.evaluation is not None for s in subjects]
    assert columns.fair_ok.tolist() == evaluated
    assert columns.perf_ok.tolist() == evaluated
    _agrees(subjects, batch_from=1)


def test_hostile_documents_are_left_to_the_per_subject_path() -> None:
    good = {"name": "sex", "groups": [{"group": "a", "n": 40, "share": 0.5, "metrics": {}}]}
    broken: list[Any] = [
        [{**good, "groups": [{"group": "a", "n": "40"}]}],  # a string for a size
        [{**good, "groups": [{"group": "a", "n": 40, "share": float("nan")}]}],
        [{**good, "groups": [{"group": "a", "n": float("inf")}]}],  # int() of it overflows
        [{**good, "groups": [{"group": "a"}, {"group": "a"}]}],  # a label twice
        [{"groups": []}],  # no name
        {"name": "sex"},  # a mapping for the list
    ]
    subjects = [
        SubjectSnapshot(
            f"m@{i}",
            {},
            evaluation=EvaluationEvidence({"fairness": doc}, NOW, "d" * 64),
        )
        for i, doc in enumerate([[good], *broken])
    ]
    assert Columns(subjects).fair_ok.tolist() == [True] + [False] * len(broken)
    _agrees(subjects, batch_from=1)


def test_explanation_answers_are_kept_for_names_only_as_text() -> None:
    # 1, 1.0 and true are equal as keys but name different features ("1", "1.0", "True"):
    # an answer kept for one must not be given to another. Unhashable entries fall back.
    def subject(index: int, top: Any, sensitive: Any) -> SubjectSnapshot:
        results = {"explanations": {"top_features": top}, "sensitive_features": sensitive}
        return SubjectSnapshot(
            f"m@{index}", {}, evaluation=EvaluationEvidence(results, NOW, "d" * 64)
        )

    cases = [
        ([1], ["1"]),
        ([True], ["1"]),
        ([1.0], ["1"]),
        (["1"], ["True"]),
        ([True], ["True"]),
        (["age"], ["age"]),
        (["age"], ["sex"]),
        ([["age"]], ["age"]),
        ([{"f": 1}], ["sex"]),
    ]
    subjects = [subject(i, top, sensitive) for i, (top, sensitive) in enumerate(cases)]
    loaded = parse_policy_text(
        yaml.safe_dump(
            {
                "schema": 1,
                "id": "p",
                "title": "P",
                "version": "1",
                "rules": [
                    {"id": "top", "title": "t", "severity": "error", "source": "s"}
                    | {"kind": "explanation", "top_k": 3}
                ],
            }
        )
    )
    # Hashable names in one batch (so answers are kept across subjects), the rest apart.
    for batch in (subjects[:7], subjects[7:], list(reversed(subjects[:7]))):
        _agrees(batch, batch_from=1)
        _agrees(batch, batch_from=1, policy=loaded)
    statuses = [r.statuses[0] for r in check([loaded], subjects[:7], now=NOW).subjects]
    assert statuses == ["fail", "pass", "pass", "pass", "fail", "fail", "pass"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshots(), min_size=1, max_size=6))
def test_statuses_from_digests_equal_the_rule_functions(subjects: list[SubjectSnapshot]) -> None:
    # As a batch check of stored versions runs: documents decoded only when a rule falls
    # back to them or evidence is built, every figure the column functions compare read
    # from the digests written with the evaluations.
    stored = [as_stored(s) for s in subjects]
    assert digest.columns_of(stored) is not None
    _agrees(stored, batch_from=1)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshots(clean=True), min_size=1, max_size=6))
def test_digest_columns_equal_the_document_columns(subjects: list[SubjectSnapshot]) -> None:
    stored = [as_stored(s) for s in subjects]
    built = digest.columns_of(stored)
    walked = Columns(subjects, digest.EVERY_FIGURE)
    assert built is not None
    for name in (
        "evaluated", "fair_ok", "perf_ok", "floors", "signature_of", "perf_signature_of",
        "g_subject", "g_position", "g_reference", "r_grouping", "r_subject", "labels",
        "sizes", "shares", "p_has", "p_values", "q_subject", "q_position", "q_size",
        "q_has_size",
    ):  # fmt: skip
        assert getattr(built, name).tolist() == getattr(walked, name).tolist(), name
    assert built._signatures == walked._signatures
    assert built._perf_signatures == walked._perf_signatures
    rows = np.ones(len(walked.labels), bool)
    assert built.odd_reasons(rows).tolist() == walked.odd_reasons(rows).tolist()
    figures = [(built.metric, walked.metric, k) for k in digest.METRIC_KEYS]
    figures += [(built.stored, walked.stored, k) for k in digest.STORED_KEYS]
    figures += [(built.summary, walked.summary, k) for k in digest.SUMMARY_KEYS]
    figures += [(built.performance, walked.performance, k) for k in digest.PERF_KEYS]
    figures += [(built.overall, walked.overall, k) for k in digest.PERF_KEYS]
    for ours, theirs, key in figures:
        for mine, reference in zip(ours(key), theirs(key), strict=True):
            assert mine.tolist() == reference.tolist(), key


def test_a_digest_of_other_text_or_format_is_no_digest() -> None:
    document = {"fairness": [], "performance": {"overall": {"accuracy": 0.8}}}
    text = json.dumps(document)
    blob = digest.encode(document, text)
    found = digest.parse(blob, text)
    assert found is not None and found.regular
    # Text of another length is not the text the digest was made from. (An edit in place
    # of the same length is caught by the database, which clears the digest: test_batch.)
    assert digest.parse(blob, text.replace("0.8", "0.85")) is None
    assert digest.parse(blob[:-8], text) is None  # damaged
    assert digest.parse(blob + b"\x00" * 8, text) is None
    assert digest.parse(b"\xff\xff\xff\xff{}", text) is None
    assert digest.parse(b"", text) is None
    assert digest.parse(None, text) is None
    older = blob.replace(b'"v":2', b'"v":1', 1)
    assert digest.parse(older, text) is None
    # What `govern db upgrade` rewrites: no digest, an unreadable one, another version.
    assert digest.version_of(blob) == digest.VERSION and digest.version_of(older) == 1
    assert digest.version_of(None) is None and digest.version_of(b"") is None
    assert digest.version_of(b"\x02\x00\x00\x00[]") is None
    assert digest.version_of(b"\xff\xff\xff\xff{") is None
    irregular = digest.parse(digest.encode({"fairness": {"sex": 1}}, text), text)
    assert irregular is not None and not irregular.regular


def test_a_digest_that_does_not_hold_together_leaves_the_check_to_the_documents() -> None:
    """Hostile digests of the right length for their document (anyone who can write the
    catalogue can make one): the check reads the documents and gives the reference
    outcomes."""
    group = {"group": "a", "n": 40, "share": 0.5, "metrics": {"selection_rate": 0.5}}
    document = {"fairness": [{"name": "sex", "groups": [group]}], "performance": {}}
    text = json.dumps(document)
    blob = digest.encode(document, text)
    parts, at = [], 0
    for _part in ("shape", "entry"):
        size = int.from_bytes(blob[at : at + 4], "little")
        parts.append(json.loads(blob[at + 4 : at + 4 + size]))
        at += 4 + size
    (shape, entry), body = parts, blob[at:]

    def framed(part: dict[str, Any]) -> bytes:
        raw = json.dumps(part).encode()
        return len(raw).to_bytes(4, "little") + raw

    def forged(entries: dict[str, Any] | None = None, **changes: Any) -> bytes:
        return framed({**shape, **changes}) + framed({**entry, **(entries or {})}) + body

    broken = [
        forged(sig=[["sex", "single"]]),  # a grouping without features
        forged(sig={"sex": 1}),
        forged(sig=[["sex", "single", ["sex"]], ["age", "single", ["age"]]]),  # one too many
        forged(perf=[1]),
        forged(perf="sex"),
        forged(labels=[]),  # fewer labels than rows
        forged(floor="30"),
        forged(r=-1),
        forged({"refs": [1]}),
        forged({"refs": []}),  # fewer references than groupings
        forged({"preview": ["explanations"]}),
        forged({"chars": str(len(text))}),
        framed([]) + framed(entry) + body,
        # the row names the grouping after its subject's only one
        forged()[: -len(body)] + (1).to_bytes(8, "little", signed=True) + body[8:],
    ]
    for blob_ in broken:
        found = digest.parse(blob_, text)
        subject = SubjectSnapshot(
            "m@1", {}, evaluation=EvaluationEvidence(document, NOW, "d" * 64, digest=found)
        )
        assert found is None or digest.columns_of([subject]) is None
        _agrees([subject], batch_from=1)


def test_previewed_entries_are_read_without_decoding() -> None:
    document = {"explanations": {"top_features": ["age"]}, "fairness": []}
    text = json.dumps(document)
    decoded: list[Any] = []

    def decode(raw: str | bytes) -> Any:
        decoded.append(raw)
        return json.loads(raw)

    found = digest.parse(digest.encode(document, text), text)
    assert found is not None
    results = StoredResults(text, decode, *found.preview())
    assert results.get("explanations") == {"top_features": ["age"]}
    assert results.get("sensitive_features") is None
    assert "sensitive_features" not in results
    assert decoded == []
    assert results["fairness"] == []
    assert decoded == [text]
    assert results == document and len(results) == 2


def as_stored(snapshot: SubjectSnapshot) -> SubjectSnapshot:
    """``snapshot`` as ``snapshots_for`` loads it from a catalogue whose evaluations were
    written with their digests."""

    def stored(evaluation: EvaluationEvidence | None) -> EvaluationEvidence | None:
        if evaluation is None:
            return None
        text = json.dumps(evaluation.results)
        document = json.loads(text)
        found = digest.parse(digest.encode(document, text), text)
        assert found is not None
        results: Any = StoredResults(text, json.loads, *found.preview())
        return dataclasses.replace(
            evaluation, results=results if found.regular else document, digest=found, cache={}
        )

    champion = snapshot.champion
    if champion is not None:
        champion = dataclasses.replace(champion, evaluation=stored(champion.evaluation))
    return dataclasses.replace(
        snapshot, evaluation=stored(snapshot.evaluation), champion=champion, cache={}
    )


def _agrees(
    subjects: list[SubjectSnapshot], *, batch_from: int, policy: LoadedPolicy = POLICY
) -> None:
    report = check([policy], subjects, now=NOW, batch_from=batch_from)
    for snapshot, batch in zip(subjects, report.subjects, strict=True):
        for cached in (snapshot.cache, *(e.cache for e in _evaluations(snapshot))):
            cached.clear()  # the reference parses the documents afresh
        reference = evaluate([policy], snapshot, now=NOW)
        assert batch.statuses == tuple(o.status for o in reference.outcomes)
        assert batch.counts() == reference.counts()
        assert batch.outcome == reference.outcome
        # Building the batch's outcomes checks them against its statuses, and gives the
        # reference's messages and evidence.
        assert _json(batch.outcomes) == _json(reference.outcomes)
    assert report.exit_code == (1 if any(s.blocking for s in report.subjects) else 0)


def _json(outcomes: Any) -> list[str]:
    return [json.dumps(o.to_json(), sort_keys=True, default=str) for o in outcomes]


def _evaluations(snapshot: SubjectSnapshot) -> list[EvaluationEvidence]:
    found = [snapshot.evaluation] if snapshot.evaluation is not None else []
    if snapshot.champion is not None and snapshot.champion.evaluation is not None:
        found.append(snapshot.champion.evaluation)
    return found
