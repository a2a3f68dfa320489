"""Governance settings: held in the catalogue, changed only by an admin's signed
`govern settings apply`. Partial tables keep the other defaults; a typo or an impossible value
is reported with its file, line and column (exit 2) and nothing is written, never a silently
weaker gate; a person's own config naming a governance setting is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govern.domain.governance import GovernanceSettings
from tests.conftest import invoke_cli, run_cli
from tests.helpers import assert_clean_failure


def test_defaults_are_those_of_the_issue() -> None:
    settings = GovernanceSettings()
    assert settings.approvals_by_tier == {"low": 1, "medium": 1, "high": 2, "critical": 2}
    assert settings.compliance_approval_tiers == ["critical"]
    assert settings.revalidation_months_by_tier == {
        "low": 36,
        "medium": 24,
        "high": 12,
        "critical": 12,
    }
    assert settings.workflow_roles["waive"] == ["approver", "compliance", "admin"]
    assert settings.validation_due == "earliest" and settings.identity == "signature"


def test_a_partial_table_changes_only_what_it_names(sqlite_cat, tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(
        "schema: govern-settings/1\n"
        "approvals_by_tier: {high: 3}\n"
        "revalidation_months_by_tier: {critical: 6}\n"
        "workflow_roles:\n  deploy: [admin]\n"
    )
    applied = invoke_cli("settings", "apply", str(org), "--json", db=sqlite_cat.url)
    assert applied.returncode == 0, applied.stderr
    revision = json.loads(applied.stdout)
    assert revision["revision"] == 2
    assert revision["changed"] == [
        "approvals_by_tier",
        "revalidation_months_by_tier",
        "workflow_roles",
    ]
    settings = sqlite_cat.ctx("victor").governance
    assert settings.approvals_by_tier == {"low": 1, "medium": 1, "high": 3, "critical": 2}
    assert settings.revalidation_months_by_tier["critical"] == 6
    assert settings.revalidation_months_by_tier["low"] == 36
    assert settings.workflow_roles["deploy"] == ["admin"]
    assert settings.workflow_roles["approve"] == ["approver", "compliance"]
    history = json.loads(invoke_cli("settings", "history", "--json", db=sqlite_cat.url).stdout)
    assert [(r["revision"], r["created_by"]) for r in history] == [(1, "admin"), (2, "admin")]
    log = json.loads(invoke_cli("audit", "log", "--json", "--limit", "1", db=sqlite_cat.url).stdout)
    assert log[0]["action"] == "settings.apply" and log[0]["signed"] is True
    assert log[0]["payload"]["sha256"] == revision["sha256"]
    assert log[0]["payload"]["document"]["approvals_by_tier"]["high"] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "approvals_by_tier: {hihg: 2}",
            "org.yaml:2:20: approvals_by_tier: unknown risk tier 'hihg'",
        ),
        ("approvals_by_tier: {high: 0}", "every tier needs at least 1, not high=0"),
        ("revalidation_months_by_tier: {low: -1}", "not low=-1"),
        ("compliance_approval_tiers: [Critical]", "unknown risk tier 'Critical'"),
        ("workflow_roles: {aprove: [approver]}", "unknown action 'aprove'"),
        ("workflow_roles: {approve: [aprover]}", "unknown role for approve: 'aprover'"),
        ("workflow_roles: {deploy: []}", "deploy: name at least one role"),
        ("promotion_max_regression: {acuracy: 0.1}", "unknown metric 'acuracy'"),
        ("promotion_max_regression: {accuracy: -0.1}", "cannot be negative: accuracy=-0.1"),
        ("due_soon_days: -1", "greater than or equal to 0"),
        ("policy_bindings: {team:risk: [baseline]}", "unknown key 'team:risk'"),
        ("allowed_artifact_formats: [pickel]", "unknown artifact format 'pickel'"),
        ("aprovals_by_tier: {high: 3}", "aprovals_by_tier"),
        ("identity: database-login", "needs a PostgreSQL catalogue"),
    ],
)
def test_impossible_settings_are_refused_and_nothing_is_written(
    sqlite_cat, tmp_path: Path, text: str, message: str
) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(f"schema: govern-settings/1\n{text}\n")
    before = invoke_cli("settings", "history", "--json", db=sqlite_cat.url).stdout
    lines = assert_clean_failure(invoke_cli("settings", "apply", str(org), db=sqlite_cat.url))
    assert any(message in line for line in lines), lines
    assert invoke_cli("settings", "history", "--json", db=sqlite_cat.url).stdout == before


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is empty"), (b"- a\n- b\n", "expected a mapping"), (bytes(range(256)), "binary")],
    ids=["empty", "list", "binary"],
)
def test_bad_settings_files_are_refused(sqlite_cat, tmp_path: Path, content, fragment) -> None:
    org = tmp_path / "org.yaml"
    org.write_bytes(content)
    lines = assert_clean_failure(invoke_cli("settings", "apply", str(org), db=sqlite_cat.url))
    assert any(fragment in line for line in lines), lines


def test_only_an_admin_applies_settings(sqlite_cat, tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text("schema: govern-settings/1\napprovals_by_tier: {high: 1}\n")
    refused = invoke_cli("settings", "apply", str(org), user="carol", db=sqlite_cat.url)
    assert "cannot change the governance settings" in assert_clean_failure(refused)[0]
    assert sqlite_cat.ctx("carol").governance.approvals_by_tier["high"] == 2


def test_a_governance_setting_in_personal_config_stops_the_command(tmp_path: Path) -> None:
    result = run_cli(
        "compare",
        "credit-risk@1.0.0",
        "credit-risk@1.1.0",
        env={"GOVERN_PROMOTION_MAX_REGRESSION": '{"acuracy": 0.1}'},
        db=f"sqlite:///{tmp_path / 'govern.db'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: GOVERN_PROMOTION_MAX_REGRESSION: this is a governance")
    assert "`govern settings apply FILE`" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "govern.db").exists()
