"""Checking many stored versions at once: the batch loader builds exactly the snapshots the
one-version path builds, and a batch check gives the same outcomes as checking each version."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from govern.errors import InputError, NotFoundError, PolicyError
from govern.policy.engine import check, evaluate
from govern.policy.loader import load_policies
from govern.services import checks, subjects, waivers
from govern.services.catalogue import resolve
from govern.storage.tables import Evaluation
from tests.builders import NOW, grouping, register, results_document
from tests.conftest import Catalogue
from tests.policy.stored import add_decision, counts, set_state, store_drift, store_evaluation

FAIR = [grouping("sex", {"female": (55, 100), "male": (60, 100)}, total=200)]
UNFAIR = [grouping("sex", {"female": (40, 100), "male": (60, 100)}, total=200)]
PACKS = ["model-risk", "eeoc-four-fifths", "baseline"]


def _catalogue(cat: Catalogue) -> tuple[str, str]:
    """A deployed champion with two evaluations and drift; a challenger with history."""
    old = register(cat, "1.0.0")
    new = register(cat, "1.1.0")
    early = results_document(UNFAIR, overall={"accuracy": 0.7, "roc_auc": 0.7})
    store_evaluation(cat, old, early, at=NOW - dt.timedelta(days=30))
    store_evaluation(cat, old, results_document(FAIR, overall={"accuracy": 0.8, "roc_auc": 0.8}))
    store_evaluation(
        cat, new, results_document(UNFAIR, overall={"accuracy": 0.82, "roc_auc": 0.81})
    )
    set_state(cat, old, "deployed")
    store_drift(cat, old, 0.1, at=NOW - dt.timedelta(days=9))
    store_drift(cat, old, 0.4, at=NOW - dt.timedelta(days=3))
    add_decision(cat, new, "submit", "alice", "developer", at=NOW - dt.timedelta(hours=3))
    add_decision(cat, new, "approve", "carol", "approver", at=NOW - dt.timedelta(hours=2))
    checks.check_version(cat.ctx("bob"), new, ["eeoc-four-fifths"], now=NOW)  # names the rule
    waivers.grant_waiver(
        cat.ctx("dave"),
        new,
        rule="eeoc-four-fifths/impact-ratio-practical",
        reason="retraining with reweighing; due in two weeks",
        expires=NOW.date() + dt.timedelta(days=5),
        today=NOW.date(),
    )
    return old, new


def test_batch_snapshots_equal_one_version_snapshots(cat: Catalogue) -> None:
    old, new = _catalogue(cat)
    with cat.ctx().db.read() as session:
        one_by_one = [subjects.snapshot_for(session, *resolve(session, r)) for r in (old, new)]
        every = subjects.snapshots_for(session)
        chosen = subjects.snapshots_for(session, [new, old])
    assert every == one_by_one
    assert chosen == one_by_one[::-1]
    challenger = every[1]
    assert challenger.champion is not None and challenger.champion.ref == old
    assert challenger.champion.evaluation is every[0].evaluation  # one object, parsed once
    assert challenger.waivers and challenger.waivers[0].rule_id.endswith("impact-ratio-practical")
    assert every[0].drift is not None and every[0].drift.results["features"]


def test_batch_check_gives_the_outcomes_of_checking_each_version(cat: Catalogue) -> None:
    old, new = _catalogue(cat)
    before = counts(cat)
    batch = checks.check_versions(cat.ctx("victor"), PACKS, now=NOW)
    singles = [
        checks.check_version(cat.ctx("victor"), ref, PACKS, now=NOW, record=False)
        for ref in (old, new)
    ]
    assert [s.subject for s in batch.subjects] == [old, new]
    assert [o.to_json() for o in batch.outcomes] == [
        o.to_json() for report in singles for o in report.outcomes
    ]
    statuses = {o.qualified_id: o.status for o in batch.subjects[1].outcomes}
    assert statuses["eeoc-four-fifths/impact-ratio-practical"] == "waived"
    assert statuses["model-risk/champion-challenger"] == "fail"
    assert counts(cat) == before  # a batch check is a read: nothing recorded


def test_batch_check_refuses_bad_input_before_reading(cat: Catalogue) -> None:
    register(cat, "1.0.0")
    with pytest.raises(InputError, match="needs --policy"):
        checks.check_versions(cat.ctx("victor"), [])
    with pytest.raises(PolicyError):
        checks.check_versions(cat.ctx("victor"), ["no-such-pack"])
    with pytest.raises(NotFoundError):
        checks.check_versions(cat.ctx("victor"), ["baseline"], ["credit-risk@9.9.9"])


def test_batch_check_of_an_empty_catalogue_has_no_subjects(cat: Catalogue) -> None:
    report = checks.check_versions(cat.ctx("victor"), ["baseline"], now=NOW)
    assert report.subjects == () and report.exit_code == 0


def test_undefined_figures_decode_as_python_json_decodes_them(sqlite_cat: Catalogue) -> None:
    """``NaN`` is what Python's json writes for an undefined float; msgspec refuses it."""
    ref = register(sqlite_cat, "1.0.0")
    document = results_document(FAIR, overall={"accuracy": math.nan, "roc_auc": 0.8})
    assert "NaN" in json.dumps(document)
    store_evaluation(sqlite_cat, ref, document)
    with sqlite_cat.ctx().db.read() as session:
        (snapshot,) = subjects.snapshots_for(session)
    assert snapshot.evaluation is not None
    assert math.isnan(snapshot.evaluation.results["performance"]["overall"]["accuracy"])
    assert snapshot.evaluation.results["performance"]["overall"]["roc_auc"] == 0.8


def _batch_equals_each(cat: Catalogue) -> list[str]:
    """The statuses of a batch check of every stored version, after checking that they and
    every outcome equal what evaluating each version on its own gives."""
    packs = load_policies(PACKS)
    with cat.ctx().db.read() as session:
        every = subjects.snapshots_for(session)
    batch = check(packs, every, now=NOW)
    statuses = [status for s in batch.subjects for status in s.statuses]
    each = [evaluate(packs, snapshot, now=NOW) for snapshot in every]
    assert [o.to_json() for o in batch.outcomes] == [o.to_json() for r in each for o in r.outcomes]
    assert [o.status for o in batch.outcomes] == statuses
    return statuses


def test_a_batch_check_of_stored_versions_is_evaluate_of_each(cat: Catalogue) -> None:
    _catalogue(cat)
    statuses = _batch_equals_each(cat)
    assert "fail" in statuses and "pass" in statuses and "waived" in statuses


def test_a_document_edited_in_place_is_checked_as_it_now_reads(cat: Catalogue) -> None:
    ref = register(cat, "1.0.0")
    evaluation_id = store_evaluation(cat, ref, results_document(FAIR))
    fair = _batch_equals_each(cat)
    with cat.ctx().db.write() as session:
        session.connection().execute(
            update(Evaluation)
            .where(col(Evaluation.id) == evaluation_id)
            .values(results=results_document(UNFAIR))
        )
    unfair = _batch_equals_each(cat)
    assert fair != unfair and unfair.count("fail") > fair.count("fail")


def test_a_stored_document_not_in_shape_is_one_error_per_rule_reading_it(
    cat: Catalogue,
) -> None:
    ref = register(cat, "1.0.0")
    document = results_document(FAIR)
    document["fairness"][0]["groups"][0]["n"] = "many"
    store_evaluation(cat, ref, document)
    report = checks.check_versions(cat.ctx(), ["eeoc-four-fifths"], now=NOW)
    fairness = [o for o in report.outcomes if o.kind == "fairness"]
    assert fairness and all(o.status == "error" for o in fairness)
    problem = "fairness[0].groups[0].n is text, not an integer"
    assert {o.message for o in fairness} == {f"results not in govern's shape: {problem}"}
    assert all(o.evidence == {"problem": problem} for o in fairness)
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-11-20 10:30:00.123456", dt.datetime(2026, 11, 20, 10, 30, 0, 123456, dt.UTC)),
        ("2026-11-20 10:30:00", dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)),
        ("2026-11-20", dt.datetime(2026, 11, 20, tzinfo=dt.UTC)),  # parses naive with +00:00
        ("2026-11-20 11:30:00+01:00", dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)),
        (
            dt.datetime(2026, 11, 20, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC),
        ),  # PostgreSQL hands back aware datetimes
        (dt.datetime(2026, 11, 20, 10, 30), dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)),
    ],
)
def test_stored_instants_read_as_utc(stored: Any, expected: dt.datetime) -> None:
    from govern.storage.subjects import instant as _instant

    found = _instant(stored)
    assert found == expected and found.utcoffset() == dt.timedelta(0)
