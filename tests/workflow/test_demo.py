"""`make demo` (`govern demo`): the sample model goes through submit, two approvals and
deployment by distinct users, and one self-approval is refused, as the narration says and
as the catalogue and its audit log record."""

from __future__ import annotations

from pathlib import Path

from govern.services import Context, audit, catalogue
from tests.conftest import run_cli

CHAMPION = "credit-risk@1.0.0"


def test_demo_walks_the_workflow_with_distinct_users(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_cli("demo", "--dir", str(target), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in (
        f"alice submitted {CHAMPION} (draft -> submitted).",
        f"alice tried to approve her own {CHAMPION}: refused, as it should be: alice submitted "
        f"{CHAMPION} and cannot validate or approve it",
        f"carol approved {CHAMPION} (1 of 2 approvals; now submitted).",
        f"erin approved {CHAMPION} (2 of 2 approvals; now approved).",
        f"carol deployed {CHAMPION}: it is the champion",
    ):
        assert line in out, line

    viewer = Context.open(database_url=f"sqlite:///{target / 'govern.db'}", user="victor")
    try:
        shown = catalogue.show_version(viewer, CHAMPION)
        assert shown.state == "deployed"
        assert [(d.action, d.actor, d.role) for d in shown.decisions] == [
            ("submit", "alice", "developer"),
            ("approve", "carol", "approver"),
            ("approve", "erin", "approver"),
            ("deploy", "carol", "approver"),
        ]
        [refusal] = audit.audit_log(viewer, action="version.approve.refused")
        assert (refusal.actor, refusal.subject) == ("alice", CHAMPION)
        assert audit.verify_audit(viewer).ok
    finally:
        viewer.close()
