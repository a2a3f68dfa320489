"""Checking many stored versions at once: the batch loader builds exactly the snapshots the
one-version path builds, and a batch check gives the same outcomes as checking each version."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from govern.errors import CatalogueError, InputError, NotFoundError, PolicyError
from govern.policy import digest
from govern.policy.engine import check
from govern.policy.loader import load_policies
from govern.policy.snapshot import StoredResults
from govern.services import checks, waivers
from govern.services.catalogue import resolve
from govern.storage.tables import Evaluation
from tests.conftest import Catalogue
from tests.policy.helpers import NOW, grouping, results_document
from tests.policy.stored import (
    add_decision,
    counts,
    register,
    set_state,
    store_drift,
    store_evaluation,
)

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
        one_by_one = [checks.snapshot_for(session, *resolve(session, r)) for r in (old, new)]
        every = checks.snapshots_for(session)
        chosen = checks.snapshots_for(session, [new, old])
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
    """``NaN`` is what Python's json writes for an undefined float; orjson refuses it."""
    ref = register(sqlite_cat, "1.0.0")
    document = results_document(FAIR, overall={"accuracy": math.nan, "roc_auc": 0.8})
    assert "NaN" in json.dumps(document)
    store_evaluation(sqlite_cat, ref, document)
    with sqlite_cat.ctx().db.read() as session:
        (snapshot,) = checks.snapshots_for(session)
    assert snapshot.evaluation is not None
    assert math.isnan(snapshot.evaluation.results["performance"]["overall"]["accuracy"])
    assert snapshot.evaluation.results["performance"]["overall"]["roc_auc"] == 0.8


def _decided_by_columns(cat: Catalogue) -> tuple[list[str], list[str]]:
    """(statuses with every figure from the column arrays, statuses decided one by one)."""
    packs = load_policies(PACKS)
    with cat.ctx().db.read() as session:
        subjects = checks.snapshots_for(session)
    columns = check(packs, subjects, now=NOW, batch_from=1)
    with cat.ctx().db.read() as session:
        subjects = checks.snapshots_for(session)
    singly = check(packs, subjects, now=NOW, batch_from=10**9)
    assert [o.to_json() for o in columns.outcomes] == [o.to_json() for o in singly.outcomes]
    return [o.status for o in columns.outcomes], [o.status for o in singly.outcomes]


def test_batch_check_reads_figures_from_the_digests(cat: Catalogue) -> None:
    _catalogue(cat)
    with cat.ctx().db.read() as session:
        every = checks.snapshots_for(session)
    for snapshot in every:
        assert snapshot.evaluation is not None and snapshot.evaluation.digest.regular
        assert isinstance(snapshot.evaluation.results, StoredResults)
    assert digest.columns_of(every) is not None
    statuses, _singly = _decided_by_columns(cat)
    assert "fail" in statuses and "pass" in statuses


def test_evaluations_stored_without_a_digest_are_read_from_their_documents(
    cat: Catalogue,
) -> None:
    ref = register(cat, "1.0.0")
    store_evaluation(cat, ref, results_document(UNFAIR), digest=False)
    with cat.ctx().db.read() as session:
        (snapshot,) = checks.snapshots_for(session)
    assert snapshot.evaluation is not None and snapshot.evaluation.digest is None
    assert type(snapshot.evaluation.results) is dict
    assert digest.columns_of([snapshot]) is None
    _decided_by_columns(cat)


def test_a_document_edited_after_its_digest_is_read_itself(cat: Catalogue) -> None:
    """A digest is derived data: once its document changes, the document decides."""
    ref = register(cat, "1.0.0")
    evaluation_id = store_evaluation(cat, ref, results_document(FAIR))
    fair, _singly = _decided_by_columns(cat)
    with cat.ctx().db.write() as session:
        session.connection().execute(
            update(Evaluation)
            .where(col(Evaluation.id) == evaluation_id)
            .values(results=results_document(UNFAIR))
        )
    with cat.ctx().db.read() as session:
        # The database cleared the digest in the statement that changed the results.
        stored = session.exec(select(Evaluation.digest).where(Evaluation.id == evaluation_id))
        assert stored.one() is None
        (snapshot,) = checks.snapshots_for(session)
    assert snapshot.evaluation is not None and snapshot.evaluation.digest is None
    unfair, _singly = _decided_by_columns(cat)
    assert fair != unfair and unfair.count("fail") > fair.count("fail")


def test_a_batch_check_reads_a_document_when_its_evidence_is_built(cat: Catalogue) -> None:
    """``check_versions`` loads digests, not documents: they are read from the catalogue
    when an outcome's evidence needs them, after the read that loaded the check."""
    old, new = _catalogue(cat)
    packs = load_policies(PACKS)
    db = cat.ctx().db
    with db.read() as session:
        eager = checks.snapshots_for(session)
        lazy = checks.snapshots_for(session, later=db)
    assert len(_results(lazy)) == 2
    assert all(repr(r) == "StoredResults(not decoded)" for r in _results(lazy))
    assert lazy == eager  # the same evidence, documents included, once they are read
    lazy = _reload(cat)
    report = check(packs, lazy, now=NOW)
    expected = check(packs, eager, now=NOW)
    assert [o.to_json() for o in report.outcomes] == [o.to_json() for o in expected.outcomes]
    assert len(_results(lazy)) == 2
    assert all(repr(r) == "StoredResults(decoded)" for r in _results(lazy))
    assert [s.subject for s in report.subjects] == [old, new]


def test_a_document_changed_during_a_batch_check_is_refused(cat: Catalogue) -> None:
    ref = register(cat, "1.0.0")
    evaluation_id = store_evaluation(cat, ref, results_document(FAIR))
    subjects = _reload(cat)
    report = check(load_policies(["eeoc-four-fifths"]), subjects, now=NOW, batch_from=1)
    assert report.subjects[0].statuses  # decided from the digest, no document read
    assert repr(_results(subjects)[0]) == "StoredResults(not decoded)"
    with cat.ctx().db.write() as session:
        session.connection().execute(
            update(Evaluation)
            .where(col(Evaluation.id) == evaluation_id)
            .values(results=results_document(UNFAIR))
        )
    with pytest.raises(CatalogueError, match=f"evaluation {evaluation_id} was changed"):
        report.outcomes  # noqa: B018 - building the evidence reads the document


def _reload(cat: Catalogue) -> list[Any]:
    db = cat.ctx().db
    with db.read() as session:
        return checks.snapshots_for(session, later=db)


def _results(snapshots: list[Any]) -> list[Any]:
    """The stored results of every snapshot's evaluation."""
    return [s.evaluation.results for s in snapshots if s.evaluation is not None]


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
    from govern.services.checks import _instant

    found = _instant(stored)
    assert found == expected and found.utcoffset() == dt.timedelta(0)
