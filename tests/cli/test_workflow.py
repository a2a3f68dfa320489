"""The workflow commands as a user runs them: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from govern.services import audit, catalogue
from tests.builders import results_by_sex, store_evaluation
from tests.conftest import SAMPLE, Catalogue, run_cli

REF = "credit-risk@1.0.0"


def test_refused_self_approval_is_exit_2_with_one_line(
    sqlite_cat: Catalogue, tmp_path: Path
) -> None:
    url = sqlite_cat.url
    catalogue.register_version(sqlite_cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    submitted = run_cli("submit", REF, "--comment", "ready", user="alice", db=url, cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    assert "draft -> submitted" in submitted.stdout

    refused = run_cli("approve", REF, user="alice", db=url, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: alice submitted credit-risk@1.0.0 and cannot validate or approve it\n"
    )
    assert refused.stdout == ""
    events = audit.audit_log(sqlite_cat.ctx("victor"), action="version.approve.refused")
    assert [e.actor for e in events] == ["alice"]
    assert catalogue.show_version(sqlite_cat.ctx(), REF).state == "submitted"


def test_comment_is_required_to_reject(sqlite_cat: Catalogue, tmp_path: Path) -> None:
    catalogue.register_version(sqlite_cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    run_cli("submit", REF, user="alice", db=sqlite_cat.url, cwd=tmp_path)
    before = audit.count_events(sqlite_cat.ctx())
    result = run_cli("reject", REF, user="bob", db=sqlite_cat.url, cwd=tmp_path)
    assert result.returncode == 2
    assert "a comment is required to reject credit-risk@1.0.0" in result.stderr
    assert audit.count_events(sqlite_cat.ctx()) == before  # bad input writes nothing


def test_queue_and_history_json(sqlite_cat: Catalogue, tmp_path: Path) -> None:
    catalogue.register_version(sqlite_cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    run_cli("submit", REF, user="alice", db=sqlite_cat.url, cwd=tmp_path)
    queue = run_cli("queue", "--json", user="carol", db=sqlite_cat.url, cwd=tmp_path)
    assert queue.returncode == 0, queue.stderr
    items = json.loads(queue.stdout)
    assert [(i["ref"], i["reason"]) for i in items] == [
        (REF, "awaiting approval (0 of 2 approvals)")
    ]
    empty = run_cli("queue", user="victor", db=sqlite_cat.url, cwd=tmp_path)
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "Nothing awaits victor" in empty.stderr
    history = run_cli("history", "credit-risk", "--json", db=sqlite_cat.url, cwd=tmp_path)
    entries = json.loads(history.stdout)["entries"]
    assert [e["action"] for e in entries] == ["register", "submit"]
    unknown = run_cli("history", "no-such-model", db=sqlite_cat.url, cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr == "error: no model named 'no-such-model' in the catalogue\n"


def test_bad_dates_and_refs_are_usage_errors(sqlite_cat: Catalogue, tmp_path: Path) -> None:
    bad_date = run_cli(
        "history", "credit-risk", "--at", "yesterday", db=sqlite_cat.url, cwd=tmp_path
    )
    assert bad_date.returncode == 2
    bad_ref = run_cli("submit", "Credit Risk@1", user="alice", db=sqlite_cat.url, cwd=tmp_path)
    assert bad_ref.returncode == 2
    assert "is not a model reference" in bad_ref.stderr
    assert "Traceback" not in bad_ref.stderr + bad_date.stderr


def test_compare_pairs_evaluations_on_the_same_data_and_warns_when_it_cannot(
    sqlite_cat: Catalogue, tmp_path: Path
) -> None:
    old, new = "credit-risk@1.0.0", "credit-risk@1.1.0"
    for version in ("1.0.0", "1.1.0"):
        catalogue.register_version(
            sqlite_cat.ctx("alice"), SAMPLE / f"credit-risk-{version}.card.yaml"
        )
    holdout, other = "a" * 64, "b" * 64
    store_evaluation(
        sqlite_cat.ctx("bob"),
        old,
        results_by_sex(accuracy=0.76, female_rate=0.72, dataset=holdout),
    )
    store_evaluation(
        sqlite_cat.ctx("bob"),
        new,
        results_by_sex(accuracy=0.70, female_rate=0.72, dataset=other),
    )
    apart = run_cli("compare", old, new, "--json", user="victor", db=sqlite_cat.url, cwd=tmp_path)
    assert apart.returncode == 0, apart.stderr
    document = json.loads(apart.stdout)
    assert document["same_data"] is False
    assert "warning: the two evaluations used different data sets" in apart.stderr

    # an older evaluation of the challenger on the champion's data is preferred to a newer
    # one on other data: like is compared with like
    store_evaluation(
        sqlite_cat.ctx("bob"),
        new,
        results_by_sex(accuracy=0.80, female_rate=0.72, dataset=holdout),
    )
    store_evaluation(
        sqlite_cat.ctx("bob"),
        new,
        results_by_sex(accuracy=0.60, female_rate=0.72, dataset=other),
    )
    paired = run_cli("compare", old, new, user="victor", db=sqlite_cat.url, cwd=tmp_path)
    assert paired.returncode == 0, paired.stderr
    assert "different data sets" not in paired.stderr
    accuracy = next(line for line in paired.stdout.splitlines() if line.startswith("accuracy"))
    assert accuracy.split() == ["accuracy", "0.760", "0.800", "+0.040"]
    assert "Promotion gate: the challenger would pass." in paired.stdout
