"""Workflow settings: partial tables keep the other defaults; a typo or an impossible value
is a one-line configuration error (exit 2), never a silently weaker gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from govern.config import load_settings
from govern.errors import ConfigError
from tests.conftest import run_cli


def test_defaults_are_those_of_the_issue() -> None:
    settings = load_settings()
    assert settings.approvals_by_tier == {"low": 1, "medium": 1, "high": 2, "critical": 2}
    assert settings.compliance_approval_tiers == ["critical"]
    assert settings.revalidation_months_by_tier == {
        "low": 36,
        "medium": 24,
        "high": 12,
        "critical": 12,
    }
    assert settings.workflow_roles["waive"] == ["approver", "compliance", "admin"]


def test_a_partial_table_changes_only_what_it_names(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "approvals_by_tier = {high = 3}\n"
        "revalidation_months_by_tier = {critical = 6}\n"
        '[workflow_roles]\ndeploy = ["admin"]\n'
    )
    monkeypatch.setenv("GOVERN_CONFIG_FILE", str(config))
    settings = load_settings()
    assert settings.approvals_by_tier == {"low": 1, "medium": 1, "high": 3, "critical": 2}
    assert settings.revalidation_months_by_tier["critical"] == 6
    assert settings.revalidation_months_by_tier["low"] == 36
    assert settings.workflow_roles["deploy"] == ["admin"]
    assert settings.workflow_roles["approve"] == ["approver", "compliance"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"approvals_by_tier": {"hihg": 2}}, "unknown risk tier 'hihg'"),
        ({"approvals_by_tier": {"high": 0}}, "every tier needs at least 1, not high=0"),
        ({"revalidation_months_by_tier": {"low": -1}}, "not low=-1"),
        ({"compliance_approval_tiers": ["Critical"]}, "unknown risk tier 'Critical'"),
        ({"workflow_roles": {"aprove": ["approver"]}}, "unknown workflow action 'aprove'"),
        ({"workflow_roles": {"approve": ["aprover"]}}, "unknown role for approve: 'aprover'"),
        ({"workflow_roles": {"deploy": []}}, "deploy: name at least one role"),
        ({"promotion_max_regression": {"acuracy": 0.1}}, "unknown metric 'acuracy'"),
        ({"promotion_max_regression": {"accuracy": -0.1}}, "cannot be negative: accuracy=-0.1"),
        ({"due_soon_days": -1}, "must be 0 or more days"),
    ],
)
def test_impossible_workflow_settings_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(**overrides)
    assert message in raised.value.message
    assert "\n" not in raised.value.message


def test_a_misspelt_gate_metric_stops_the_command(tmp_path: Path) -> None:
    result = run_cli(
        "compare",
        "credit-risk@1.0.0",
        "credit-risk@1.1.0",
        env={"GOVERN_PROMOTION_MAX_REGRESSION": '{"acuracy": 0.1}'},
        db=f"sqlite:///{tmp_path / 'govern.db'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: setting promotion_max_regression: ")
    assert "unknown metric 'acuracy'; use accuracy, " in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "govern.db").exists()
