"""Output formats, read back by real consumers: junitparser for JUnit, the SARIF 2.1.0 schema."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from govern.policy.engine import check
from govern.policy.formats import FORMATS, render
from govern.policy.loader import load_policies, shipped_pack_names
from govern.policy.outcomes import CheckReport, summarise
from govern.policy.snapshot import WaiverRecord
from tests.builders import NOW, grouping, results_document
from tests.policy.helpers import evaluation, policy, snapshot

#: The official OASIS SARIF 2.1.0 schema (errata01), shipped with the tests: no download.
SARIF_SCHEMA = json.loads(
    (Path(__file__).resolve().parent / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
)

HOSTILE = 'quote " amp & lt < bell \x07 percent % comma , colon : newline\nend | pipe'


def _report() -> CheckReport:
    """Every status at once: fail, waived, error, pass, not-applicable, manual."""
    loaded = policy(
        {"id": "four-fifths", "kind": "fairness", "metric": "impact_ratio", "min": 0.8},
        {"id": "waived-one", "kind": "performance", "metric": "roc_auc", "min": 0.9},
        {
            "id": "race",
            "kind": "fairness",
            "metric": "impact_ratio",
            "min": 0.8,
            "features": ["race"],
        },
        {"id": "fresh", "kind": "freshness", "max_age_days": 365, "severity": "warning"},
        {"id": "drift", "kind": "drift", "max_psi": 0.2, "when": {"states": ["deployed"]}},
        {
            "id": "dp",
            "kind": "fairness",
            "metric": "demographic_parity_difference",
            "max": 0.1,
            "severity": "info",
            "title": HOSTILE,
        },
        manual=[{"id": "oversight", "title": "Human oversight", "source": "Art. 14"}],
    )
    waiver = WaiverRecord(
        rule_id="waived-one",
        reason=HOSTILE,
        granted_by="dave",
        granted_role="compliance",
        expires_on=NOW.date() + dt.timedelta(days=10),
    )
    return check([loaded], [snapshot(waivers=(waiver,))], now=NOW)


def test_junit_is_parsed_back_with_one_testcase_per_rule_and_subject(tmp_path: Path) -> None:
    report = _report()
    written = tmp_path / "govern-junit.xml"
    written.write_text(render(report, "junit"), encoding="utf-8")
    xml = JUnitXml.fromfile(str(written))
    suites = list(xml)
    assert [s.name for s in suites] == ["credit-risk@1.0.0 test-policy"]
    suite = suites[0]
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (7, 2, 1, 3)
    cases = {case.name: case for case in suite}
    assert set(cases) == {"four-fifths", "waived-one", "race", "fresh", "drift", "dp", "oversight"}
    failure = cases["four-fifths"].result[0]
    assert isinstance(failure, Failure)
    assert failure.type == "error"
    assert "sex=female: impact_ratio 0.667" in failure.message
    evidence = json.loads(failure.text)
    assert evidence["source"] == "test clause"
    assert evidence["evidence"]["violations"][0]["group"] == "female"
    assert isinstance(cases["race"].result[0], Error)
    assert isinstance(cases["waived-one"].result[0], Skipped)
    assert cases["waived-one"].result[0].message.startswith("waived: ")
    assert isinstance(cases["oversight"].result[0], Skipped)
    assert cases["fresh"].is_passed
    dp = cases["dp"].result[0]
    assert isinstance(dp, Failure) and dp.type == "info"
    assert "\x07" not in render(report, "junit")  # not allowed in XML 1.0


def test_sarif_validates_against_the_official_schema() -> None:
    report = _report()
    log = json.loads(render(report, "sarif"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules][-1] == "test-policy/oversight"
    four_fifths = next(r for r in rules if r["id"] == "test-policy/four-fifths")
    assert four_fifths["help"]["text"].endswith("Source: test clause")
    assert four_fifths["defaultConfiguration"]["level"] == "error"
    results = {r["ruleId"]: r for r in run["results"]}
    assert (
        results["test-policy/four-fifths"]["kind"],
        results["test-policy/four-fifths"]["level"],
    ) == (
        "fail",
        "error",
    )
    # Only findings are results: code scanning would open an alert for every other one.
    assert set(results) == {
        "test-policy/four-fifths",
        "test-policy/waived-one",
        "test-policy/race",
        "test-policy/dp",
    }
    assert results["test-policy/race"]["kind"] == "fail"
    assert results["test-policy/dp"]["level"] == "note"
    assert run["properties"]["counts"] == {
        "pass": 1,
        "fail": 2,
        "waived": 1,
        "not-applicable": 1,
        "error": 1,
        "manual": 1,
    }
    waived = results["test-policy/waived-one"]
    assert waived["suppressions"][0]["status"] == "accepted"
    assert waived["suppressions"][0]["justification"].startswith("waived by dave until")
    location = results["test-policy/four-fifths"]["locations"][0]
    assert location["physicalLocation"]["region"]["startLine"] > 1
    assert location["logicalLocations"][0]["name"] == "credit-risk@1.0.0"
    assert run["invocations"][0]["exitCode"] == 1


def test_sarif_of_every_shipped_pack_validates() -> None:
    report = check(load_policies(shipped_pack_names()), [snapshot()], now=NOW)
    log = json.loads(render(report, "sarif"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    findings = [o for o in report.outcomes if o.status in {"fail", "error", "waived"}]
    assert findings
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == [o.qualified_id for o in findings]
    rule_ids = [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) == len(report.outcomes)


def test_sarif_schema_catches_a_broken_log() -> None:
    log = json.loads(render(_report(), "sarif"))
    log["runs"][0]["results"][0]["kind"] = "failed"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)


def test_github_annotations_escape_workflow_command_characters() -> None:
    text = render(_report(), "github")
    lines = text.splitlines()
    assert lines[0].startswith("::error file=test-policy.yaml,line=")
    assert ",title=test-policy/four-fifths%3A rule 0::credit-risk@1.0.0: sex=female" in lines[0]
    dp = next(line for line in lines if "test-policy/dp" in line)
    assert dp.startswith("::notice ")
    assert "%0A" in dp and "%25" in dp and "%2C" in dp and "%3A" in dp
    assert "\n" not in dp
    assert any(
        line.startswith("::notice title=govern check::credit-risk@1.0.0: fail") for line in lines
    )
    assert not any("test-policy/fresh" in line for line in lines)  # passes are not annotated


def test_markdown_for_a_pull_request_comment() -> None:
    text = render(_report(), "markdown")
    assert text.startswith("## govern check: FAIL\n")
    assert "| **FAIL** | error | `test-policy/four-fifths` rule 0 |" in text
    assert "| **WAIVED** |" in text
    assert "\\| pipe" in text and "&lt; bell" in text
    assert "- `test-policy/oversight` Human oversight (Art. 14)" in text


def test_text_and_json() -> None:
    report = _report()
    text = render(report, "text")
    assert text.startswith("credit-risk@1.0.0: FAIL - ")
    assert "\033[" not in text
    assert "Outcome: fail (exit 1)" in text
    coloured = render(report, "text", color=True)
    assert "\033[31mFAIL" in coloured
    data = json.loads(render(report, "json"))
    assert data["exit_code"] == 1
    assert data["subjects"][0]["blocking"] == ["test-policy/four-fifths", "test-policy/race"]
    statuses = [r["status"] for r in data["subjects"][0]["results"]]
    assert statuses == ["fail", "waived", "error", "pass", "not-applicable", "fail", "manual"]


def test_every_format_renders_and_unknown_is_refused() -> None:
    report = _report()
    for fmt in FORMATS:
        assert render(report, fmt).endswith("\n")
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render(report, "xml")


def _hostile_labels() -> CheckReport:
    """Group labels come from the data: one tries to drive a terminal, one reads as italics."""
    evil = "fem\x1b[2J\x1b]0;owned\x07"
    document = results_document(
        [
            grouping("sex", {evil: (20, 100), "male": (60, 100)}, total=200),
            grouping(
                "sex*age_group",
                {f"{evil}, under_25": (5, 40), "male, 25_44": (30, 50)},
                total=200,
                min_group_size=1,
            ),
        ]
    )
    loaded = policy(
        {"id": "ratio", "kind": "fairness", "metric": "impact_ratio", "min": 0.8},
        {
            "id": "ratio-x",
            "kind": "fairness",
            "metric": "impact_ratio",
            "min": 0.8,
            "groupings": "intersection",
            "min_group_size": 1,
        },
    )
    return check([loaded], [snapshot(evaluation_=evaluation(document))], now=NOW)


@pytest.mark.parametrize("fmt", ["text", "github", "markdown"])
def test_control_characters_from_the_data_are_shown_escaped(fmt: str) -> None:
    rendered = render(_hostile_labels(), fmt, color=fmt == "text")
    assert "\x07" not in rendered and "\x1b]" not in rendered and "\x1b[2J" not in rendered
    assert "fem\\x1b[2J\\x1b]0;owned\\x07" in rendered.replace("\\[", "[").replace("\\]", "]")
    if fmt == "text":
        assert "\033[31mFAIL" in rendered  # our own colour codes survive


def test_markdown_escapes_what_would_read_as_formatting() -> None:
    text = render(_hostile_labels(), "markdown")
    row = next(line for line in text.splitlines() if "ratio-x" in line)
    # the intersection reads sex=... ∧ age_group=under_25, its underscores escaped
    assert " ∧ age\\_group=under\\_25" in row


def test_text_of_a_sweep_names_the_first_blocking_outcomes_and_counts_the_rest() -> None:
    loaded = policy({"id": "four-fifths", "kind": "fairness", "metric": "impact_ratio", "min": 0.8})
    subjects = [dataclasses.replace(snapshot(), subject=f"credit-risk@1.0.{i}") for i in range(30)]
    text = render(check([loaded], subjects, now=NOW), "text")
    blocking = text.splitlines()[-2]
    assert blocking.startswith("Blocking: credit-risk@1.0.0 test-policy/four-fifths, ")
    assert blocking.count("test-policy/four-fifths") == 20
    assert blocking.endswith(", and 10 more, in 30 subjects")
    few = render(check([loaded], subjects[:2], now=NOW), "text").splitlines()[-2]
    assert few == (
        "Blocking: credit-risk@1.0.0 test-policy/four-fifths, "
        "credit-risk@1.0.1 test-policy/four-fifths"
    )


def test_text_of_a_sweep_is_one_line_per_subject_and_builds_only_what_it_names() -> None:
    loaded = policy(
        {"id": "four-fifths", "kind": "fairness", "metric": "impact_ratio", "min": 0.8},
        {"id": "owner", "kind": "card", "fields": ["governance.owner"]},
    )
    subjects = [dataclasses.replace(snapshot(), subject=f"credit-risk@1.0.{i}") for i in range(25)]
    report = check([loaded], subjects, now=NOW)
    text = render(report, "text")
    lines = text.splitlines()
    # One line per subject, its counts as the outcomes give them, and no rule lines.
    assert lines[:25] == [
        f"credit-risk@1.0.{i}: FAIL - 1 failed (1 blocking), 1 passed" for i in range(25)
    ]
    assert not any(line.startswith("    ") for line in lines)
    assert "25 subjects, one line each" in text and "--format json, junit or sarif" in text
    # The 20 blocking outcomes named came from 20 subjects; the other 5 were never built.
    built = [s for s in report.subjects if s._outcomes is not None]
    assert len(built) == 20
    assert lines[-2].endswith(", and 5 more, in 25 subjects")
    # ... and what the line says agrees with the outcomes once every one is built.
    assert [s.summarise() for s in report.subjects] == [
        summarise(s.outcomes) for s in report.subjects
    ]
    assert len(report.blocking) == 25
