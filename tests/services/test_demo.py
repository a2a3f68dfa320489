"""`make demo` (`govern demo`), built once as a real subprocess for this module.

What it narrates must be what the catalogue and its audit log then hold: a failing and a
passing policy rule, submit, a refused impersonation and a refused self-approval, two
approvals and deployment by distinct users each signing with their own demo key, a gate
refusal, a compliance waiver, a shadow challenger whose promotion is refused, a signed card
that verifies, and a signed checkpoint. A second run keeps the first one's files.
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

from govern.services import Context, audit, catalogue, waivers, workflow
from tests.conftest import run_cli

# Built once: every test here runs on the same worker and reads the same demo.
pytestmark = pytest.mark.xdist_group("demo")

CHAMPION = "credit-risk@1.0.0"
CHALLENGER = "credit-risk@1.1.0"
WAITING = "credit-risk@1.0.1"
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
        """victor's home: his config (the catalogue URL) and his demo key."""
        home = self.directory / "people" / "victor"
        return {"GOVERN_HOME": str(home), "GOVERN_KEY_DIR": str(home / "identity")}

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
    home = demo.directory / "people" / "victor"
    return Context.open(database_url=demo.url, user="victor", home=home, key_dir=home / "identity")


def test_demo_shows_a_failing_and_a_passing_rule_honestly(demo: Demo, tmp_path: Path) -> None:
    section = demo.section("== Policy checks", "== Approval workflow")
    assert re.search(
        rf"{re.escape(CHAMPION)} against .*: PASS \(exit 0\).*\n  PASS {RULE} ", section
    )
    assert re.search(
        rf"{re.escape(CHALLENGER)} against .*: FAIL \(exit 1\).*\n  FAIL {RULE} ", section
    )
    assert "never counted as passed: eeoc-four-fifths/job-relatedness" in section
    assert "all 7 shipped packs (--no-record)" in section

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
        f"bob tried to approve {CHAMPION} as carol (--user carol, with his own key): refused, "
        "as it should be: cannot act as carol: the key in",
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
        refusals = list(reversed(audit.audit_log(ctx, action="version.approve.refused")))
        assert [(r.actor, r.subject) for r in refusals] == [
            ("carol", CHAMPION),  # the name bob gave; the key he presented was his own
            ("alice", CHAMPION),
            ("carol", CHALLENGER),
        ]
        assert not refusals[0].signed and "enrolled to bob" in refusals[0].payload["reason"]
        verdict = audit.verify_audit(ctx)
        assert verdict.ok and verdict.signed_events == verdict.events - 4
        assert verdict.unsigned_refusals == 4
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
    # The bank's binding is a governance setting in the catalogue (org.yaml, revision 1),
    # not in anyone's config.toml.
    assert "scope:ecoa" in (demo.directory / "org.yaml").read_text()
    assert "policy_bindings" not in (demo.directory / "people/carol/config.toml").read_text()

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
        assert ctx.governance.policy_bindings["scope:ecoa"] == ["eeoc-four-fifths"]
    finally:
        ctx.close()


def test_demo_leaves_carol_a_version_to_approve(demo: Demo, tmp_path: Path) -> None:
    """`make demo` opens the app as carol: her queue holds a version someone else submitted,
    with its evaluation and a passing policy run, and her approval goes through."""
    assert (
        f"Waiting for carol: {WAITING}, awaiting approval (0 of 2 approvals); she may approve it."
    ) in demo.stdout
    assert "`govern queue`" in demo.section("== Waiting for carol", "== Signed model card")
    # Approve on a copy, so the other tests read the demo as it was built.
    copy = tmp_path / "govern.db"
    copy.write_bytes((demo.directory / "govern.db").read_bytes())
    home = demo.directory / "people" / "carol"
    carol = Context.open(
        database_url=f"sqlite:///{copy}", user="carol", home=home, key_dir=home / "identity"
    )
    try:
        [item] = workflow.queue(carol)
        assert (item.ref, item.state) == (WAITING, "submitted")
        shown = catalogue.show_version(carol, WAITING)
        assert [(d.action, d.actor) for d in shown.decisions] == [("submit", "alice")]
        assert shown.evaluations and shown.policy_runs
        step = workflow.approve(carol, WAITING, comment="revised card reviewed")
        assert (step.actor, step.to_state) == ("carol", "submitted")
        assert workflow.queue(carol) == []
    finally:
        carol.close()


def test_demo_signed_card_verifies(demo: Demo, tmp_path: Path) -> None:
    pdf = demo.directory / "reports" / "credit-risk-1.0.0.pdf"
    assert "victor verified it: intact and trusted" in demo.stdout
    result = run_cli("verify", str(pdf), user="victor", db=demo.url, env=demo.env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_demo_people_have_demo_keys_and_the_catalogue_their_enrolment(demo: Demo) -> None:
    people = demo.directory / "people"
    for name in ("admin", "alice", "bob", "carol", "dave", "erin", "victor"):
        key = people / name / "identity" / "identity-key.pem"
        assert key.is_file() and b"ENCRYPTED" not in key.read_bytes()
    listed = run_cli("keys", "list", "--json", db=demo.url, env=demo.env)
    enrolled = json.loads(listed.stdout)
    assert {k["user"] for k in enrolled} >= {"alice", "bob", "carol", "dave", "erin", "victor"}
    assert all("DEMO KEY" in k["label"] for k in enrolled if k["user"] != "admin")
    checkpoints = list((demo.directory / "checkpoints").glob("checkpoint-*.json"))
    assert len(checkpoints) == 1
    again = run_cli("audit", "verify", "--checkpoint", str(checkpoints[0]), db=demo.url,
                    env=demo.env)  # fmt: skip
    assert again.returncode == 0, again.stderr


def test_a_second_demo_keeps_the_first_ones_catalogue_keys_and_cards(
    demo: Demo, tmp_path: Path
) -> None:
    """`make demo` twice: the second never destroys what the first created; its card still
    verifies against its own catalogue. (Last in this module: it builds the demo again where
    the others read it.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERN_")}
    env["GOVERN_HOME"] = str(tmp_path / "no-home")
    where = demo.directory
    built = subprocess.run(
        [sys.executable, "-m", "govern", "demo", "--dir", str(where)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [earlier] = list((where / "earlier").iterdir())
    assert "previous demo's files were moved to earlier/" in built.stdout
    for kept in ("govern.db", "people/alice/identity/identity-key.pem", "org-key/signing-key.pem",
                 "reports/credit-risk-1.0.0.pdf"):  # fmt: skip
        assert (earlier / kept).is_file(), kept
    old_card = earlier / "reports" / "credit-risk-1.0.0.pdf"
    result = run_cli("verify", str(old_card), "--json", db=f"sqlite:///{earlier / 'govern.db'}",
                     env={"GOVERN_HOME": str(tmp_path / "auditor")})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # A directory the demo did not build is never touched.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "govern.db").write_bytes(b"my own catalogue")
    refused = run_cli("demo", "--dir", str(foreign), env=env)
    assert refused.returncode == 2 and "no demo built" in refused.stderr
    assert (foreign / "govern.db").read_bytes() == b"my own catalogue"


def test_demo_monitoring_finds_the_drift_and_the_shadow_regression(demo: Demo) -> None:
    text = demo.section("== Production monitoring", "== Waiting for carol")
    assert "90 days" in text and "12,000 outcomes that came later" in text
    assert f"monitor status: {CHALLENGER} live-impact-ratio: sex=female: impact ratio" in text
    assert f"monitor status: {CHAMPION} score-drift: score PSI outside <= 0.2" in text
    assert f"monitor status: {CHAMPION} feature-drift: credit_amount: PSI outside" in text
    assert f"monitor status: {CHALLENGER} shadow-fairness: sex=female: impact ratio minus" in text
    assert f"{CHAMPION} live-impact-ratio" not in text  # the champion treats women as before
    assert "govern monitor status --all exits 1" in text
    status = run_cli("monitor", "status", "--all", "--format", "json", env=demo.env)
    assert status.returncode == 1, status.stderr
    failed = {
        (s["subject"], o["rule"])
        for s in json.loads(status.stdout)["subjects"]
        for o in s["results"]
        if o["status"] == "fail"
    }
    assert {
        (CHAMPION, "score-drift"),
        (CHALLENGER, "live-impact-ratio"),
        (CHALLENGER, "shadow-fairness"),
    } <= failed
    assert (demo.directory / "logs" / "outcomes-late.csv").is_file()
