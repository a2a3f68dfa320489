"""Policy files: every failure mode has a fixture, every problem has file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from govern.errors import PolicyError
from govern.policy.loader import (
    check_policy_file,
    load_policies,
    load_policy_file,
    resolve_policy_args,
    shipped_pack_names,
)
from govern.policy.schema import PolicyFile

FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: fixture -> (line, column, the problem's text after "file:line:column: ")
CASES = {
    "unknown-key.yaml": (12, 5, "rules[0].thresold: unknown field"),
    "wrong-type.yaml": (12, 10, "rules[0].min: expected a number, got 'high'"),
    "unknown-metric.yaml": (11, 13, "rules[0].metric: unknown metric 'impact_rate'; expected"),
    "unknown-card-field.yaml": (
        11,
        13,
        "rules[0].fields: unknown card field 'intended_use.purpose'",
    ),
    "unknown-severity.yaml": (
        9,
        15,
        "rules[0].severity: unknown severity 'critical'; expected 'error', 'warning' or 'info'",
    ),
    "unknown-kind.yaml": (7, 11, "rules[0].kind: unknown rule kind 'fairnes'; known kinds: card,"),
    "missing-kind.yaml": (6, 5, "rules[0]: rule has no kind; give one of:"),
    "duplicate-rule-id.yaml": (
        13,
        9,
        "manual[0].id: duplicate rule id 'fresh' (first used on line 6)",
    ),
    "yaml-syntax.yaml": (9, 13, "YAML syntax error: expected ',' or ']', but got ':'"),
    "missing-source.yaml": (6, 5, "rules[0].source: required field is missing"),
    "no-threshold.yaml": (6, 5, "rules[0]: give a threshold: min, max or both"),
    "min-over-max.yaml": (6, 5, "rules[0]: min 0.9 is greater than max 0.8"),
    "bad-schema-version.yaml": (
        1,
        9,
        "schema: unsupported policy schema 2; this version of govern reads schema 1",
    ),
    "bad-id.yaml": (6, 9, "rules[0].id: 'Impact Ratio' is not a valid id"),
    "intersection-name.yaml": (12, 16, "rules[0].features[0]: 'sex*race' is not a feature name"),
    "no-rules.yaml": (1, 1, "a policy needs at least one rule or manual item"),
    "missing-field.yaml": (1, 1, "title: required field is missing"),
    "not-a-mapping.yaml": (1, 1, "expected a mapping at the top of the policy, got list"),
    "aliases.yaml": (8, 12, "YAML syntax error: anchors and aliases are not allowed"),
    "duplicate-key.yaml": (3, 1, "id: duplicate key 'id'"),
    "python-tag.yaml": (2, 5, "unsupported YAML tag !!python/object/apply:os.system"),
    "not-utf8.yaml": (2, 0, "not UTF-8 text (byte 0xe9 at offset 17)"),
    "binary.yaml": (0, 0, "is a binary file, not a policy in YAML"),
    "empty.yaml": (0, 0, "file is empty, expected a policy"),
    "comment-only.yaml": (0, 0, "file is empty, expected a YAML document"),
    "out-of-range.yaml": (13, 19, "rules[0].significance: must be less than 1, got 5"),
    "misspelt-key.yaml": (6, 3, "selector.risk_tier: unknown field; did you mean 'risk_tiers'?"),
    "significance-on-tpr.yaml": (
        6,
        5,
        "rules[0]: significance cannot apply to tpr: the stored test compares selection rates",
    ),
    "nan.yaml": (12, 10, "numbers must be finite"),
    "infinity-as-text.yaml": (12, 10, "rules[0].min: Input should be a finite number"),
    "huge-integer.yaml": (13, 21, "number is too large"),
    "share-on-summary.yaml": (
        6,
        5,
        "rules[0]: min_share cannot apply to demographic_parity_difference, one figure per",
    ),
}


def test_every_fixture_is_covered() -> None:
    names = {p.name for p in FIXTURES.iterdir()}
    assert names - {"valid.yaml", "many-problems.yaml"} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_failure_mode_is_reported_with_its_position(name: str) -> None:
    line, column, text = CASES[name]
    policy, problems = check_policy_file(FIXTURES / name)
    assert policy is None
    first = problems[0]
    assert (first.where, first.line, first.column) == (str(FIXTURES / name), line, column)
    assert f"{first.key}: {first.message}".lstrip(": ").startswith(text), str(first)
    place = f"{FIXTURES / name}" + (f":{line}" if line else "") + (f":{column}" if column else "")
    assert str(first).startswith(place + ":")


def test_all_problems_are_reported_at_once_in_file_order() -> None:
    _policy, problems = check_policy_file(FIXTURES / "many-problems.yaml")
    assert [(p.line, p.key) for p in problems] == [
        (5, "colour"),
        (10, "rules[0].severity"),
        (12, "rules[0].metric"),
        (14, "rules[1].id"),
        (19, "rules[1].fields"),
        (25, "rules[2].max_psi"),
    ]
    with pytest.raises(PolicyError) as raised:
        load_policy_file(FIXTURES / "many-problems.yaml")
    assert len(raised.value.problems) == 6
    assert raised.value.message.endswith("(and 5 more problems)")


def test_unknown_names_are_named_as_what_they_are() -> None:
    _policy, problems = check_policy_file(FIXTURES / "misspelt-key.yaml")
    assert [f"{p.line}:{p.column} {p.key}: {p.message}" for p in problems[1:]] == [
        "13:38 rules[0].min_approvals_by_tier.huge: unknown risk tier 'huge'; expected 'low', "
        "'medium', 'high' or 'critical'",
        "14:23 rules[0].roles[1]: unknown role 'boss'; expected 'viewer', 'developer', "
        "'validator', 'approver', 'compliance' or 'admin'",
    ]


def test_a_valid_file_loads_with_rule_lines_and_hash() -> None:
    loaded = load_policy_file(FIXTURES / "valid.yaml")
    assert loaded.id == "my-org"
    assert [r.id for r in loaded.policy.rules] == ["four-fifths", "fresh"]
    assert loaded.policy.rules[0].features is None  # type: ignore[union-attr]  # "all"
    lines = [loaded.line_of(rule) for rule in ("four-fifths", "fresh", "sign-off")]
    assert lines == [9, 18, 25]
    assert len(loaded.sha256) == 64
    assert loaded.describe()["rules"] == 2


def test_too_large_a_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("schema: 1\n" + "# padding\n" * 200)
    _policy, problems = check_policy_file(big, max_bytes=100)
    assert "over the 0.0001 MB limit for policy files" in problems[0].message


def test_a_100000_digit_number_is_a_problem_with_its_position(tmp_path: Path) -> None:
    # More digits than int() reads by default: it was an internal error before.
    path = tmp_path / "huge.yaml"
    text = (FIXTURES / "valid.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("max_age_days: 90", "max_age_days: " + "9" * 100_000))
    policy, problems = check_policy_file(path)
    assert policy is None
    assert [(p.line, p.column, p.message) for p in problems] == [
        (23, 19, "number is too large (at most 9,223,372,036,854,775,807 in magnitude)")
    ]


def test_missing_file_directory_and_pack_names(tmp_path: Path) -> None:
    files, problems = resolve_policy_args(["nyc-ll144", str(FIXTURES / "valid.yaml"), "no-such"])
    assert [p.name for p, _ in files] == ["nyc-ll144.yaml", "valid.yaml"]
    assert [shipped for _, shipped in files] == [True, False]
    assert problems[0].where == "no-such"
    assert "no such policy file, directory or shipped pack (packs: baseline," in problems[0].message
    (tmp_path / "notes.txt").write_text("not a policy")
    _files, problems = resolve_policy_args([str(tmp_path)])
    assert problems[0].message == "directory holds no policy files (*.yaml, *.yml)"


def test_load_policies_collects_problems_across_files(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    copy.write_text((FIXTURES / "valid.yaml").read_text())
    with pytest.raises(PolicyError) as raised:
        load_policies(
            [str(FIXTURES / "valid.yaml"), str(copy), str(FIXTURES / "unknown-key.yaml"), "nope"]
        )
    messages = [str(p) for p in raised.value.problems]
    assert any("policy id 'my-org' is also used by" in m for m in messages)
    assert any("thresold: unknown field" in m for m in messages)
    assert any(m.startswith("nope: no such policy") for m in messages)
    with pytest.raises(PolicyError, match="no policy given"):
        load_policies([])


def test_a_directory_loads_each_policy_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((FIXTURES / "valid.yaml").read_text())
    loaded = load_policies([str(tmp_path), str(tmp_path / "a.yaml")])
    assert [p.id for p in loaded] == ["my-org"]


def test_every_shipped_pack_is_valid_and_cites_its_sources() -> None:
    names = shipped_pack_names()
    assert names == [
        "baseline",
        "eeoc-four-fifths",
        "eu-ai-act-high-risk",
        "model-risk",
        "nist-ai-rmf",
        "nyc-ll144",
        "production-monitoring",
    ]
    for loaded in load_policies(names):
        assert loaded.shipped
        assert loaded.policy.rules, loaded.id
        for item in [*loaded.policy.rules, *loaded.policy.manual]:
            assert len(item.source) > 10, (loaded.id, item.id)
        assert loaded.id == Path(loaded.path).stem


def test_json_schema_of_the_policy_file_is_available() -> None:
    schema = PolicyFile.model_json_schema(by_alias=True)
    assert "schema" in schema["properties"]
    assert schema["additionalProperties"] is False
