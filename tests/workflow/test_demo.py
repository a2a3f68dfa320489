"""`make demo` (`govern demo`), built once as a real subprocess for this module.

What it narrates must be what the catalogue and its audit log then hold: a failing and a
passing policy rule, submit, a refused self-approval, two approvals and deployment by
distinct users, a gate refusal, a compliance waiver, a shadow challenger whose promotion is
refused, and a signed card that verifies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from govern.services import Context, audit, catalogue, waivers
from tests.conftest import run_cli

# Built once: every test here runs on the same worker and reads the same demo.
pytestmark = pytest.mark.xdist_group("demo")

CHAMPION = "credit-risk@1.0.0"
CHALLENGER = "credit-risk@1.1.0"
RULE = "eeoc-four-fifths/impact-ratio-significant"


@dataclass
class Demo:
    directory: Path
    stdout: str

    @property
    def url(self) -> str:
        return f"sqlite:///{self.directory / 'govern.db'}"

    @property
    def env(self) -> dict[str, str]:
        return {"GOVERN_HOME": str(self.directory / "home")}

    def section(self, start: str, end: str) -> str:
        return self.stdout[self.stdout.index(start) : self.stdout.index(end)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    where = tmp_path_factory.mktemp("demo")
    # The module fixture runs before the per-test environment isolation: clear GOVERN_*.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERN_")}
    env["GOVERN_HOME"] = str(where / "no-home")
    built = subprocess.run(
        [sys.executable, "-m", "govern", "demo", "--dir", str(where / "demo")],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return Demo(where / "demo", built.stdout)


def viewer(demo: Demo) -> Context:
    return Context.open(database_url=demo.url, user="victor", home=demo.directory / "home")


def test_demo_shows_a_failing_and_a_passing_rule_honestly(demo: Demo, tmp_path: Path) -> None:
    section = demo.section("== Policy checks", "== Approval workflow")
    assert re.search(
        rf"{re.escape(CHAMPION)} against .*: PASS \(exit 0\).*\n  PASS {RULE} ", section
    )
    assert re.search(
        rf"{re.escape(CHALLENGER)} against .*: FAIL \(exit 1\).*\n  FAIL {RULE} ", section
    )
    assert "never counted as passed: eeoc-four-fifths/job-relatedness" in section
    assert "all 6 shipped packs (--no-record)" in section

    for ref, status in ((CHAMPION, "pass"), (CHALLENGER, "fail")):
        again = run_cli(
            "check", ref, "--policy", "eeoc-four-fifths", "--policy", "baseline",
            "--format", "json", "--no-record",
            user="victor", db=demo.url, env=demo.env, cwd=tmp_path,
        )  # fmt: skip
        results = {r["id"]: r for r in json.loads(again.stdout)["subjects"][0]["results"]}
        shown = re.search(
            rf"{re.escape(ref)} against .*?\n  {status.upper()} {RULE} \[error\]: (.*)\n", section
        )
        # The same finding (the waived one carries "[waived by dave until ...]" after it).
        assert shown is not None and results[RULE]["message"].startswith(shown.group(1))
        # Since the demo checked it, compliance waived the challenger's failure.
        assert results[RULE]["status"] == ("pass" if ref == CHAMPION else "waived")
        assert again.returncode == 0, again.stderr


def test_demo_walks_the_workflow_with_distinct_users(demo: Demo) -> None:
    for line in (
        f"alice submitted {CHAMPION} (draft -> submitted).",
        f"alice tried to approve her own {CHAMPION}: refused, as it should be: alice submitted "
        f"{CHAMPION} and cannot validate or approve it",
        f"carol approved {CHAMPION} (1 of 2 approvals; now submitted).",
        f"erin approved {CHAMPION} (2 of 2 approvals; now approved).",
        f"carol deployed {CHAMPION}: it is the champion",
    ):
        assert line in demo.stdout, line

    ctx = viewer(demo)
    try:
        shown = catalogue.show_version(ctx, CHAMPION)
        assert shown.state == "deployed"
        assert [(d.action, d.actor, d.role) for d in shown.decisions] == [
            ("submit", "alice", "developer"),
            ("approve", "carol", "approver"),
            ("approve", "erin", "approver"),
            ("deploy", "carol", "approver"),
        ]
        refusals = audit.audit_log(ctx, action="version.approve.refused")
        assert [(r.actor, r.subject) for r in reversed(refusals)] == [
            ("alice", CHAMPION),
            ("carol", CHALLENGER),
        ]
        assert audit.verify_audit(ctx).ok
    finally:
        ctx.close()


def test_demo_gate_waiver_shadow_and_refused_promotion(demo: Demo) -> None:
    text = demo.section("== Approval workflow", "== Signed model card")
    assert (
        f"carol tried to approve {CHALLENGER}: refused, as it should be: cannot approve "
        f"{CHALLENGER}: blocking policy rules failed without a waiver: {RULE}"
    ) in text
    assert f"dave (compliance) waived {RULE} for {CHALLENGER}" in text
    assert f"carol tried to promote {CHALLENGER} over the champion: refused" in text
    # The bank's binding lives in the demo's config.toml, so the console sees it too.
    assert (
        '"scope:ecoa" = ["eeoc-four-fifths"]' in (demo.directory / "home/config.toml").read_text()
    )

    ctx = viewer(demo)
    try:
        challenger = catalogue.show_version(ctx, CHALLENGER)
        assert challenger.state == "shadow"
        assert [(d.action, d.actor) for d in challenger.decisions] == [
            ("submit", "alice"),
            ("approve", "carol"),
            ("approve", "erin"),
            ("shadow", "carol"),
        ]
        [waiver] = waivers.list_waivers(ctx, CHALLENGER)
        assert (waiver.rule, waiver.granted_by, waiver.granted_role) == (RULE, "dave", "compliance")
        [grant] = audit.audit_log(ctx, action="waiver.grant")
        assert (grant.actor, grant.subject) == ("dave", CHALLENGER)
        [promotion] = audit.audit_log(ctx, action="version.deploy.refused")
        assert (promotion.actor, promotion.subject) == ("carol", CHALLENGER)
    finally:
        ctx.close()


def test_demo_signed_card_verifies(demo: Demo, tmp_path: Path) -> None:
    pdf = demo.directory / "reports" / "credit-risk-1.0.0.pdf"
    assert "victor verified it: intact and trusted" in demo.stdout
    result = run_cli("verify", str(pdf), user="victor", db=demo.url, env=demo.env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
