"""Every workflow command of the approval issue, run as its users run it: real `govern`
subprocesses, six people in five roles, on a SQLite file and on PostgreSQL.

On SQLite the first run of each command (submit, approve, waive...) is a real subprocess, and
its later runs (the refusals, the next user's approval) run in process (``invoke_cli``: the
same ``run`` that ``python -m govern`` exits with), as all ninety do on PostgreSQL: what they
add is the workflow's logic and its storage, and more interpreter start-ups would only repeat
what the first shows of the process.

Each refusal must exit 2 with one line on stderr and nothing on stdout, leave the version's
state and decisions as they were, and appear in the audit log as ``<action>.refused``.
Evaluation documents are stored directly (tests/builders.py) so the scenario runs in
seconds; the real assessment stack behind the gates is exercised in test_gates.py.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from govern.domain.lifecycle import add_months
from govern.services import audit, catalogue
from tests.builders import results_by_sex, store_evaluation
from tests.conftest import SAMPLE, Catalogue, invoke_cli, run_cli

OLD, NEW, BAD = "credit-risk@1.0.0", "credit-risk@1.1.0", "credit-risk@1.2.0"

POLICY = """\
schema: 1
id: bank
title: The bank's model policy
version: 1.0.0
rules:
  - id: four-fifths
    kind: fairness
    title: Impact ratio of every group is at least 0.8
    severity: error
    source: 29 CFR 1607.4(D)
    metric: impact_ratio
    features: all
    min: 0.8
  - id: validation-planned
    kind: validation_due
    title: A next validation date is set and has not passed
    severity: error
    source: SR 11-7 section V
    require_date: true
"""


class Scenario:
    def __init__(self, cat: Catalogue, tmp: Path) -> None:
        self.cat = cat
        self.tmp = tmp
        policy = tmp / "bank.yaml"
        policy.write_text(POLICY)
        # The bank's rules, applied by an admin: every version is bound to its policy.
        cat.configure(policy_bindings={"*": [str(policy)]})
        self.env: dict[str, str] = {}
        self.refusals = 0
        self.started: set[str] = set()  # the commands already run as a real process

    def run(self, user: str, *args: str) -> subprocess.CompletedProcess[str]:
        runner = invoke_cli
        if self.cat.url.startswith("sqlite") and args[0] not in self.started:
            self.started.add(args[0])
            runner = run_cli
        return runner(*args, user=user, db=self.cat.url, env=self.env, cwd=self.tmp)

    def ok(self, user: str, *args: str) -> str:
        result = self.run(user, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def refused(self, user: str, *args: str, reason: str, ref: str, audited: bool = True) -> None:
        """Exit 2, one line, nothing changed, and (for a refusal, not bad input) audited."""
        before = self.version(ref)
        events = audit.count_events(self.cat.ctx("victor"))
        result = self.run(user, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
        assert reason in result.stderr, result.stderr
        after = self.version(ref)
        assert (after["state"], after["decisions"]) == (before["state"], before["decisions"])
        assert after["next_validation_due"] == before["next_validation_due"]
        log = audit.audit_log(self.cat.ctx("victor"), limit=1)
        if audited:
            self.refusals += 1
            assert audit.count_events(self.cat.ctx("victor")) == events + 1
            assert log[0].action.endswith(".refused") and log[0].actor == user
            assert log[0].subject == ref
            assert f"error: {log[0].payload['reason']}\n" == result.stderr
        else:
            assert audit.count_events(self.cat.ctx("victor")) == events

    def version(self, ref: str) -> dict[str, Any]:
        # What `govern show REF --json` prints, read in-process to keep the scenario fast.
        return catalogue.show_version(self.cat.ctx("victor"), ref).to_json()

    def state(self, ref: str) -> str:
        return str(self.version(ref)["state"])

    def queue(self, user: str) -> list[tuple[str, str]]:
        return [(i["ref"], i["reason"]) for i in json.loads(self.ok(user, "queue", "--json"))]

    def evidence(self, ref: str, *, accuracy: float, female_rate: float) -> None:
        store_evaluation(
            self.cat.ctx("bob"),
            ref,
            results_by_sex(accuracy=accuracy, female_rate=female_rate),
        )


@pytest.fixture
def story(cat: Catalogue, tmp_path: Path) -> Scenario:
    scenario = Scenario(cat, tmp_path)
    for version in ("1.0.0", "1.1.0"):
        scenario.ok("alice", "register", str(SAMPLE / f"credit-risk-{version}.card.yaml"))
    bad = (
        (SAMPLE / "credit-risk-1.1.0.card.yaml")
        .read_text()
        .replace("version: 1.1.0", "version: 1.2.0")
    )
    (tmp_path / "bad.yaml").write_text(bad)
    scenario.ok("alice", "register", str(tmp_path / "bad.yaml"))
    return scenario


def test_the_whole_workflow_from_the_command_line(story: Scenario) -> None:
    s = story
    today = dt.datetime.now(dt.UTC).date()

    # --- the champion: submit, two approvals, deploy -------------------------------------
    s.evidence(OLD, accuracy=0.76, female_rate=0.72)
    s.ok("alice", "submit", OLD, "--comment", "first version")
    s.refused(
        "alice",
        "approve",
        OLD,
        reason=f"alice submitted {OLD} and cannot validate or approve it",
        ref=OLD,
    )
    s.ok("carol", "approve", OLD, "--comment", "fine")
    s.refused(
        "carol", "approve", OLD, reason=f"carol already approved {OLD} in this round", ref=OLD
    )
    s.refused("carol", "deploy", OLD, reason=f"cannot deploy {OLD}: it is submitted", ref=OLD)
    out = s.ok("erin", "approve", OLD, "--comment", "agreed")
    assert "submitted -> approved" in out
    # the earlier of the card's date (2027-09-01) and the high tier's 12 months
    assert f"Next validation due {min(dt.date(2027, 9, 1), add_months(today, 12))}." in out
    s.refused("alice", "deploy", OLD, reason="alice is a developer and cannot deploy", ref=OLD)
    s.ok("carol", "deploy", OLD, "--comment", "first champion")
    assert s.state(OLD) == "deployed"

    # --- the challenger: a review round, a policy gate, a waiver --------------------------
    s.evidence(NEW, accuracy=0.80, female_rate=0.55)  # more accurate, treats women worse
    assert s.queue("alice") == [
        (NEW, "draft: not yet submitted"),
        (BAD, "draft: not yet submitted"),
    ]
    s.ok("alice", "submit", NEW, "--comment", "retrained on Q3 data")
    assert s.queue("carol") == [(NEW, "awaiting approval (0 of 2 approvals)")]
    assert s.queue("bob") == [(NEW, "awaiting validation")]
    s.refused(
        "bob",
        "request-changes",
        NEW,
        reason=f"a comment is required to request changes to {NEW}",
        ref=NEW,
        audited=False,  # bad input: nothing is written
    )
    s.ok("bob", "request-changes", NEW, "--comment", "add age-group analysis")
    assert (NEW, "changes requested by bob: add age-group analysis") in s.queue("alice")
    s.ok("alice", "submit", NEW, "--comment", "added it")
    s.refused(
        "carol",
        "approve",
        NEW,
        reason=f"cannot approve {NEW}: blocking policy rules failed without a waiver: "
        "bank/four-fifths (sex=female",
        ref=NEW,
    )
    expires = (today + dt.timedelta(days=60)).isoformat()
    waive = ("--rule", "bank/four-fifths", "--reason", "manual review of declined women")
    s.refused(
        "alice",
        "waive",
        NEW,
        *waive,
        "--expires",
        expires,
        reason="alice is a developer and cannot waive",
        ref=NEW,
    )
    s.ok("dave", "waive", NEW, *waive, "--expires", expires)
    s.ok("carol", "approve", NEW, "--comment", "fairness within policy, waiver in place")
    s.ok("erin", "approve", NEW, "--comment", "agreed")

    # --- shadow, compare, the promotion gate, promotion ---------------------------------
    out = s.ok("carol", "deploy", NEW, "--shadow")
    assert "approved -> shadow" in out
    assert (s.state(OLD), s.state(NEW)) == ("deployed", "shadow")
    compared = s.ok("victor", "compare", OLD, NEW)
    for heading in ("Performance", "Fairness", "Per group", "REFUSED"):
        assert heading in compared
    verdict = json.loads(s.ok("victor", "compare", OLD, NEW, "--json"))
    female = {
        g["metric"]: g
        for g in verdict["groups"]
        if (g["grouping"], g["group"]) == ("sex", "female")
    }
    assert (female["selection_rate"]["champion"], female["selection_rate"]["challenger"]) == (
        0.72,
        0.55,
    )
    accuracy = next(m for m in verdict["overall"] if m["metric"] == "accuracy")
    assert accuracy["delta"] == pytest.approx(0.04)  # better...
    assert any(b.startswith("min_impact_ratio for sex") for b in verdict["promotion_blockers"])
    s.refused(
        "carol",
        "deploy",
        NEW,
        reason=f"cannot deploy {NEW}: worse than the champion {OLD} beyond the promotion gate",
        ref=NEW,
    )
    assert s.state(OLD) == "deployed"
    s.evidence(NEW, accuracy=0.80, female_rate=0.74)  # a fairer re-training, same data
    out = s.ok("carol", "deploy", NEW, "--comment", "promote")
    assert f"Previous champion {OLD} superseded." in out
    assert (s.state(OLD), s.state(NEW)) == ("retired", "deployed")

    # --- history, due ----------------------------------------------------------------------
    answer = s.ok("victor", "history", "credit-risk", "--at", today.isoformat())
    assert f"On {today} {NEW} was deployed" in answer
    assert f"approved by carol, erin.\nEarlier that day {OLD} was deployed (from " in answer
    assert answer.rstrip().endswith("UTC), approved by carol, erin.")
    assert "erin (approver)" in answer  # the table names each actor's role
    entries = json.loads(s.ok("victor", "history", "credit-risk", "--json"))["entries"]
    assert [(e["ref"], e["action"], e["actor"]) for e in entries if e["ref"] == NEW] == [
        (NEW, "register", "alice"),
        (NEW, "submit", "alice"),
        (NEW, "request_changes", "bob"),
        (NEW, "submit", "alice"),
        (NEW, "waive", "dave"),
        (NEW, "approve", "carol"),
        (NEW, "approve", "erin"),
        (NEW, "shadow", "carol"),
        (NEW, "deploy", "carol"),
    ]
    assert (OLD, "supersede", "carol") in [(e["ref"], e["action"], e["actor"]) for e in entries]
    due = json.loads(s.ok("victor", "due", "--within", "400", "--json"))
    assert [(d["ref"], d["status"]) for d in due] == [(NEW, "due")]

    # --- reject, retire: read-only for good ------------------------------------------------
    s.ok("alice", "submit", BAD)
    s.refused(
        "bob",
        "reject",
        BAD,
        reason=f"a comment is required to reject {BAD}",
        ref=BAD,
        audited=False,
    )
    s.ok("bob", "reject", BAD, "--comment", "uses a prohibited feature")
    s.refused("carol", "approve", BAD, reason=f"cannot approve {BAD}: it is read-only", ref=BAD)
    s.refused("alice", "submit", BAD, reason=f"cannot submit {BAD}: it is read-only", ref=BAD)
    s.refused(
        "dave",
        "waive",
        BAD,
        *waive,
        "--expires",
        expires,
        reason=f"{BAD} is rejected and read-only",
        ref=BAD,
    )
    s.refused("bob", "retire", NEW, reason="bob is a validator and cannot retire", ref=NEW)
    s.ok("carol", "retire", NEW, "--comment", "model withdrawn")
    for user, args, reason in [
        ("erin", ("approve", NEW), "it is read-only"),
        ("carol", ("deploy", NEW, "--shadow"), "it is read-only"),
        ("dave", ("waive", NEW, *waive, "--expires", expires), "retired and read-only"),
        (
            "bob",
            (
                "evaluate",
                NEW,
                "--data",
                str(SAMPLE / "credit_holdout_scored.csv"),
                "--target",
                "credit",
                "--positive",
                "1",
                "--sensitive",
                "sex",
                "--predictions",
                "pred",
            ),
            "retired and read-only; it cannot be evaluated",
        ),
    ]:
        s.refused(user, *args, reason=reason, ref=NEW)

    # --- the audit log holds every refusal, and its chain is intact ----------------------
    refused = [
        e for e in audit.audit_log(s.cat.ctx("victor"), limit=1000) if e.action.endswith(".refused")
    ]
    assert len(refused) == s.refusals
    assert s.ok("victor", "audit", "verify").strip()
