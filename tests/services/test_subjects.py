"""Loading stored versions for the policy engine (govern.services.subjects), on SQLite and
PostgreSQL: one version's snapshot is the batch loader's, and both agree with the one
definition of "the latest" in govern.storage.queries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from govern.errors import NotFoundError
from govern.services import catalogue, subjects
from govern.services.catalogue import resolve
from govern.storage import queries
from govern.storage.tables import Decision, DriftRun, Waiver
from tests.builders import NOW, results_by_sex, store_evaluation
from tests.conftest import SAMPLE, Catalogue


def _register(cat: Catalogue, directory: Path, name: str, version: str) -> str:
    """The sample card, renamed to model ``name`` version ``version``, registered by alice."""
    text = (SAMPLE / "credit-risk-1.1.0.card.yaml").read_text()
    text = text.replace("name: credit-risk", f"name: {name}", 1)
    text = text.replace("version: 1.1.0", f"version: {version}", 1)
    card = directory / f"{name}-{version}.card.yaml"
    card.write_text(text)
    return catalogue.register_version(cat.ctx("alice"), card).ref


def _add(cat: Catalogue, ref: str, make: type[Decision | DriftRun | Waiver], **fields: Any) -> None:
    with cat.ctx().db.write() as session:
        _model, version = resolve(session, ref)
        assert version.id is not None
        session.add(make(version_id=version.id, **fields))


def _set_state(cat: Catalogue, ref: str, state: str) -> None:
    with cat.ctx().db.write() as session:
        _model, version = resolve(session, ref)
        version.state = state
        session.add(version)


def _drift(cat: Catalogue, ref: str, psi: float, at: dt.datetime) -> None:
    _add(
        cat,
        ref,
        DriftRun,
        reference_name="train.csv",
        reference_sha256="1" * 64,
        current_name="live.csv",
        current_sha256="2" * 64,
        results={"features": [{"feature": "age", "psi": psi, "p_value": 0.3}]},
        created_by="bob",
        created_at=at,
    )


def _catalogue(cat: Catalogue, directory: Path) -> dict[str, str]:
    """Versions with every kind of evidence, and versions with none of it."""
    refs = {
        "champion": _register(cat, directory, "credit-risk", "1.0.0"),
        "challenger": _register(cat, directory, "credit-risk", "1.1.0"),
        "bare": _register(cat, directory, "credit-risk", "1.2.0"),
        "alone": _register(cat, directory, "fraud", "2.0.0"),
        "empty": _register(cat, directory, "churn", "0.1.0"),
    }
    bob = cat.ctx("bob")
    day = dt.timedelta(days=1)
    # The champion: a later evaluation stored first, then one backdated (the latest is the
    # newest created_at, not the highest id), and a third at the same moment as the first
    # (ties go to the highest id).
    store_evaluation(
        bob, refs["champion"], results_by_sex(accuracy=0.70, female_rate=0.5), at=NOW - 2 * day
    )
    store_evaluation(
        bob, refs["champion"], results_by_sex(accuracy=0.60, female_rate=0.5), at=NOW - 9 * day
    )
    store_evaluation(
        bob, refs["champion"], results_by_sex(accuracy=0.75, female_rate=0.6), at=NOW - 2 * day
    )
    _set_state(cat, refs["champion"], "deployed")
    _drift(cat, refs["champion"], 0.4, NOW - 3 * day)
    _drift(cat, refs["champion"], 0.1, NOW - 8 * day)
    store_evaluation(
        bob, refs["challenger"], results_by_sex(accuracy=0.8, female_rate=0.7), at=NOW - day
    )
    for action, actor, role, hours in (
        ("submit", "alice", "developer", 5),
        ("request_changes", "carol", "approver", 4),
        ("submit", "dave", "developer", 3),
        ("approve", "carol", "approver", 2),
    ):
        _add(
            cat,
            refs["challenger"],
            Decision,
            action=action,
            from_state="",
            to_state="",
            actor=actor,
            role=role,
            created_at=NOW - dt.timedelta(hours=hours),
        )
    for rule, days in (
        ("eeoc-four-fifths/impact-ratio-practical", 5),
        ("baseline/accuracy-floor", 9),
    ):
        _add(
            cat,
            refs["challenger"],
            Waiver,
            rule_id=rule,
            reason="retraining",
            granted_by="dave",
            granted_role="approver",
            expires_on=NOW.date() + dt.timedelta(days=days),
        )
    store_evaluation(
        bob, refs["alone"], results_by_sex(accuracy=0.9, female_rate=0.8), at=NOW - day
    )
    return refs


def test_one_version_is_the_batch_of_one(cat: Catalogue, tmp_path: Path) -> None:
    refs = _catalogue(cat, tmp_path)
    with cat.ctx().db.read() as session:
        every = subjects.snapshots_for(session)
        for ref in refs.values():
            one = subjects.snapshot_for(session, *resolve(session, ref))
            assert one == subjects.snapshots_for(session, [ref])[0]
            assert one == next(s for s in every if s.subject == ref)
        chosen = subjects.snapshots_for(session, [refs["empty"], refs["champion"]])
    assert [s.subject for s in chosen] == [refs["empty"], refs["champion"]]
    assert [s.subject for s in every] == [
        refs["empty"],
        refs["champion"],
        refs["challenger"],
        refs["bare"],
        refs["alone"],
    ]  # by model name, then registration order


def test_snapshots_hold_the_latest_evidence_as_storage_defines_it(
    cat: Catalogue, tmp_path: Path
) -> None:
    refs = _catalogue(cat, tmp_path)
    with cat.ctx().db.read() as session:
        by_ref = {s.subject: s for s in subjects.snapshots_for(session)}
        for ref, snapshot in by_ref.items():
            _model, version = resolve(session, ref)
            latest = queries.latest_evaluation(session=session, version_id=version.id)
            assert (snapshot.evaluation and snapshot.evaluation.id) == (latest and latest.id)
            drift = queries.latest_drift_run(session=session, version_id=version.id)
            assert (snapshot.drift and snapshot.drift.id) == (drift and drift.id)
            decisions = queries.decisions_of(session=session, version_id=version.id)
            assert [(d.action, d.actor, d.created_at) for d in snapshot.decisions] == [
                (d.action, d.actor, d.created_at) for d in decisions
            ]
            waivers = queries.waivers_of(session=session, version_id=version.id)
            assert [w.id for w in snapshot.waivers] == [w.id for w in waivers]
    champion = by_ref[refs["champion"]]
    assert champion.evaluation is not None
    assert (
        champion.evaluation.results["performance"]["overall"]["accuracy"] == 0.75
    )  # tie: highest id
    assert champion.drift is not None and champion.drift.results["features"][0]["psi"] == 0.4
    assert champion.champion is None  # a deployed version is not its own champion
    challenger = by_ref[refs["challenger"]]
    assert challenger.submitter == "dave"  # the latest submission
    assert [d.action for d in challenger.decisions] == [
        "submit",
        "request_changes",
        "submit",
        "approve",
    ]
    assert [w.rule_id for w in challenger.waivers] == [
        "eeoc-four-fifths/impact-ratio-practical",
        "baseline/accuracy-floor",
    ]
    assert challenger.waivers[0].expires_on == NOW.date() + dt.timedelta(days=5)
    assert challenger.champion is not None and challenger.champion.ref == refs["champion"]
    # One champion object, shared by its challengers (its parsed views are built once).
    assert by_ref[refs["bare"]].champion is challenger.champion
    assert challenger.champion.evaluation == champion.evaluation
    for bare in (by_ref[refs["bare"]], by_ref[refs["empty"]]):
        assert (bare.evaluation, bare.drift, bare.decisions, bare.waivers) == (None, None, (), ())
    assert by_ref[refs["empty"]].champion is None and by_ref[refs["alone"]].champion is None
    assert by_ref[refs["alone"]].evaluation is not None
    assert all(s.created_at is not None and s.created_at.tzinfo is dt.UTC for s in by_ref.values())


def test_the_latest_evaluation_is_one_query_for_every_reader(
    cat: Catalogue, tmp_path: Path
) -> None:
    """The listing, the evidence lists and the snapshot agree on the champion's latest."""
    refs = _catalogue(cat, tmp_path)
    ctx = cat.ctx()
    with ctx.db.read() as session:
        _model, version = resolve(session, refs["champion"])
        ordered = queries.evaluations_of(session=session, version_id=version.id)
        latest = queries.latest_evaluation(session=session, version_id=version.id)
        assert latest is not None and ordered[0].id == latest.id
        assert [e.created_at for e in ordered] == sorted(
            (e.created_at for e in ordered), reverse=True
        )
        assert (ordered[0].id or 0) > (ordered[1].id or 0)  # equal times: highest id first
        latest_at = latest.created_at
    listed = {f"{s.name}@{s.version}": s for s in catalogue.list_versions(ctx)}
    assert listed[refs["champion"]].last_evaluated_at == latest_at
    assert listed[refs["empty"]].last_evaluated_at is None


def test_an_unknown_reference_is_not_found(cat: Catalogue, tmp_path: Path) -> None:
    refs = _catalogue(cat, tmp_path)
    with cat.ctx().db.read() as session, pytest.raises(NotFoundError, match=r"credit-risk@9\.9\.9"):
        subjects.snapshots_for(session, [refs["bare"], "credit-risk@9.9.9"])


def test_the_gate_sees_what_its_own_transaction_wrote(cat: Catalogue, tmp_path: Path) -> None:
    """The loader reads past the ORM: pending changes of the session are flushed first."""
    refs = _catalogue(cat, tmp_path)
    with cat.ctx().db.write() as session:
        model, version = resolve(session, refs["bare"])
        assert version.id is not None
        version.state = "submitted"
        session.add(version)
        session.add(
            Decision(
                version_id=version.id,
                action="submit",
                from_state="draft",
                to_state="submitted",
                actor="erin",
                role="developer",
            )
        )
        snapshot = subjects.snapshot_for(session, model, version)
        session.rollback()
    assert snapshot.state == "submitted" and snapshot.submitter == "erin"


def test_decisions_are_read_in_recorded_order_whatever_the_clock(
    cat: Catalogue, tmp_path: Path
) -> None:
    """A decision written by a machine whose clock is behind still comes after the ones
    recorded before it (ids follow the audit log), for the loader and for every other
    reader."""
    refs = _catalogue(cat, tmp_path)
    early = NOW - dt.timedelta(days=30)
    _add(cat, refs["challenger"], Decision, action="reject", from_state="", to_state="",
         actor="erin", role="approver", created_at=early)  # fmt: skip
    with cat.ctx().db.read() as session:
        (snapshot,) = subjects.snapshots_for(session, [refs["challenger"]])
        _model, version = resolve(session, refs["challenger"])
        stored = [d.action for d in queries.decisions_of(session=session, version_id=version.id)]
    assert [d.action for d in snapshot.decisions][-1] == "reject"
    assert stored == [d.action for d in snapshot.decisions]
    assert snapshot.decisions[-1].created_at == early
