"""``govern demo`` (what ``make demo`` runs): its policy checks show a failing and a passing
rule, and what it says is what ``govern check`` then finds in the catalogue it built."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import run_cli

RULE = "eeoc-four-fifths/impact-ratio-significant"


def test_demo_shows_a_failing_and_a_passing_rule_honestly(tmp_path: Path) -> None:
    built = run_cli("demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path, timeout=600)
    assert built.returncode == 0, built.stderr
    text = built.stdout
    section = text[text.index("== Policy checks") : text.index("== Approval workflow")]
    assert re.search(rf"credit-risk@1\.0\.0 against .*: PASS \(exit 0\).*\n  PASS {RULE} ", section)
    assert re.search(rf"credit-risk@1\.1\.0 against .*: FAIL \(exit 1\).*\n  FAIL {RULE} ", section)
    assert "never counted as passed: eeoc-four-fifths/job-relatedness" in section
    assert "all 6 shipped packs (--no-record)" in section

    db = f"sqlite:///{tmp_path / 'demo' / 'govern.db'}"
    env = {"GOVERN_HOME": str(tmp_path / "demo" / "home")}
    for version, code, status in (("1.0.0", 0, "pass"), ("1.1.0", 1, "fail")):
        again = run_cli(
            "check", f"credit-risk@{version}", "--policy", "eeoc-four-fifths",
            "--policy", "baseline", "--format", "json", "--no-record",
            user="victor", db=db, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert again.returncode == code, again.stderr
        results = {r["id"]: r for r in json.loads(again.stdout)["subjects"][0]["results"]}
        assert results[RULE]["status"] == status
        shown = re.search(
            rf"credit-risk@{re.escape(version)} against .*?\n  {status.upper()} {RULE} "
            rf"\[error\]: (.*)\n",
            section,
        )
        assert shown is not None and shown.group(1) == results[RULE]["message"]
