"""docs/adding-a-rule-kind.md is true: its example module, registered as a throwaway kind,
is all a policy needs to use the kind (schema, engine, batch check and outputs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from govern.policy import kinds
from tests.conftest import REPO

GUIDE = (REPO / "docs" / "adding-a-rule-kind.md").read_text(encoding="utf-8")

POLICY = """
schema: 1
id: review
title: Reviews
version: "1"
rules:
  - id: two-reviewers
    kind: reviewers
    title: Two reviewers
    severity: error
    source: internal
"""

# Run in a new interpreter: a kind joins the schema only when registered before it is built.
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from govern.policy import kinds
kinds.register("reviewers", "reviewers_kind")
from govern.policy.engine import check
from govern.policy.formats import render
from govern.policy.loader import parse_policy_text
from govern.policy.schema import RULE_KINDS
from govern.policy.snapshot import SubjectSnapshot

policy = parse_policy_text(sys.argv[2], where="review.yaml")
subjects = [
    SubjectSnapshot(subject=f"m@{n}", card={"governance": {"reviewers": ["ann", "bo"][:n]}})
    for n in (1, 2)
]
report = check([policy], subjects)
print(json.dumps({
    "kinds": list(RULE_KINDS),
    "statuses": [s.statuses for s in report.subjects],
    "messages": [o.message for o in report.outcomes],
    "exit": report.exit_code,
    "sarif": "two-reviewers" in render(report, "sarif"),
}))
"""


def _example() -> str:
    (block,) = re.findall(r"```python\n(.*?)```", GUIDE, re.S)
    return block


def test_the_guides_example_kind_works_once_registered(tmp_path: Path) -> None:
    (tmp_path / "reviewers_kind.py").write_text(_example(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), POLICY],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["kinds"][-1] == "reviewers" and "fairness" in found["kinds"]
    assert found["statuses"] == [["fail"], ["pass"]]
    assert found["messages"] == ["1 reviewer named, 2 needed", "2 reviewers named, 2 needed"]
    assert found["exit"] == 1 and found["sarif"]


def test_the_guides_steps_name_real_places() -> None:
    for place in (
        "govern/policy/kinds/__init__.py",
        "govern/policy/schema.py",
        "govern/formatting.py",
        "tests/policy/test_rules.py",
        "tests/policy/test_statuses.py",
    ):
        assert place in GUIDE and (REPO / place).exists(), place
    assert "NAMES" in GUIDE and tuple(kinds.KINDS) == kinds.NAMES


def test_a_module_without_judge_describe_or_its_own_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        kinds.register("card")
    with pytest.raises(TypeError, match="has kind"):
        kinds.register("cards", "govern.policy.kinds.card")
    assert "cards" not in kinds.KINDS
