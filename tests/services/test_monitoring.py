"""``govern monitor run|show`` as a service, on both backends: incremental, idempotent,
audited, refused whole on a bad log, and only by those who may evaluate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from govern.errors import DataError, InputError, PermissionDenied
from govern.monitor.logs import LogColumns
from govern.services import audit, monitoring
from tests.builders import register
from tests.conftest import REPO, Catalogue
from tests.helpers import snapshot
from tests.monitor.test_aggregate import COLUMNS, evaluated, rows, write


def _days(cat: Catalogue, ref: str) -> dict[str, int]:
    shown = monitoring.show(cat.ctx("victor"), ref)
    return {w["start"]: w["rows"] for w in shown["windows"]}


def test_a_run_counts_each_file_once_and_records_what_it_counted(
    cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(cat)
    frame = rows(1_200, days=6)
    write(frame.iloc[:600], tmp_path / "a.parquet")
    write(frame.iloc[600:], tmp_path / "b.csv")
    pattern = [str(tmp_path / "a.parquet"), str(tmp_path / "*.csv")]
    first = monitoring.run(cat.ctx("alice"), ref, logs=pattern, columns=COLUMNS)
    assert (len(first.counted), first.rows, len(first.days)) == (2, 1_200, 6)
    events = audit.audit_log(cat.ctx("admin"), action="monitor.run")
    assert len(events) == 1
    payload = events[0].payload
    assert {f["sha256"] for f in payload["files"]} == {f["sha256"] for f in first.counted}
    assert sorted(payload["days"]) == [d.isoformat() for d in first.days]

    again = monitoring.run(cat.ctx("alice"), ref, logs=pattern, columns=COLUMNS)
    assert (again.counted, len(again.skipped)) == ([], 2)
    assert len(audit.audit_log(cat.ctx("admin"), action="monitor.run")) == 1
    assert sum(_days(cat, ref).values()) == 1_200
    assert audit.verify_audit(cat.ctx("admin")).ok

    shown = monitoring.show(cat.ctx("victor"), ref, width="1mo")
    (window,) = shown["windows"]
    assert window["rows"] == window["outcomes_known"] == 1_200
    assert window["groupings"] == evaluated(frame)
    assert [f["counted_by"] for f in shown["files"]] == ["alice", "alice"]


def test_a_later_file_adds_to_the_days_it_covers_and_no_others(
    cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(cat)
    frame = rows(1_000, days=4)
    days = frame["timestamp"].dt.date
    first_days, last_day = frame[days < days.max()], frame[days == days.max()]
    write(first_days.iloc[::2], tmp_path / "one.parquet")
    monitoring.run(cat.ctx("alice"), ref, logs=[str(tmp_path / "one.parquet")], columns=COLUMNS)
    before = _days(cat, ref)
    write(pd.concat([first_days.iloc[1::2].iloc[:10], last_day]), tmp_path / "two.parquet")
    run = monitoring.run(cat.ctx("bob"), ref, logs=[str(tmp_path / "*.parquet")], columns=COLUMNS)
    after = _days(cat, ref)
    assert len(run.skipped) == 1 and len(run.counted) == 1
    changed = {d for d in after if after[d] != before.get(d)}
    assert changed == {d.isoformat() for d in run.days}
    assert sum(after.values()) == sum(before.values()) + run.rows


def test_a_file_changed_since_it_was_counted_is_refused_and_nothing_written(
    cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(cat)
    path = write(rows(300), tmp_path / "log.parquet")
    monitoring.run(cat.ctx("alice"), ref, logs=[str(path)], columns=COLUMNS)
    before = (snapshot(cat.url), _days(cat, ref))
    write(rows(301), path)
    with pytest.raises(DataError, match="changed since it was counted"):
        monitoring.run(cat.ctx("alice"), ref, logs=[str(path)], columns=COLUMNS)
    assert (snapshot(cat.url), _days(cat, ref)) == before


def test_bad_logs_and_other_features_change_nothing(cat: Catalogue, tmp_path: Path) -> None:
    ref = register(cat)
    monitoring.run(
        cat.ctx("alice"), ref, logs=[str(write(rows(200), tmp_path / "a.parquet"))], columns=COLUMNS
    )
    before = (snapshot(cat.url), _days(cat, ref))
    other = LogColumns(sensitive=("sex",), outcome="outcome")
    with pytest.raises(DataError, match="a record keeps one set"):
        monitoring.run(
            cat.ctx("alice"),
            ref,
            logs=[str(write(rows(50, seed=3), tmp_path / "b.parquet"))],
            columns=other,
        )
    duplicated = rows(50, seed=4)
    duplicated.loc[1, "request_id"] = duplicated.loc[0, "request_id"]
    with pytest.raises(DataError, match="appears 2 times"):
        monitoring.run(
            cat.ctx("alice"),
            ref,
            logs=[str(write(duplicated, tmp_path / "c.csv"))],
            columns=COLUMNS,
        )
    assert (snapshot(cat.url), _days(cat, ref)) == before


def test_only_those_who_may_evaluate_run_monitoring(cat: Catalogue, tmp_path: Path) -> None:
    ref = register(cat)
    path = write(rows(100), tmp_path / "a.parquet")
    with pytest.raises(PermissionDenied):
        monitoring.run(cat.ctx("victor"), ref, logs=[str(path)], columns=COLUMNS)
    assert _days(cat, ref) == {}


def test_late_outcomes_join_their_requests_once_and_complete_the_figures(
    cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(cat)
    frame = rows(800, days=5)
    blind = LogColumns(sensitive=COLUMNS.sensitive, score="score")  # no outcome column yet
    log = write(frame.drop(columns=["outcome"]), tmp_path / "log.parquet")
    monitoring.run(cat.ctx("alice"), ref, logs=[str(log)], columns=blind)
    (window,) = monitoring.show(cat.ctx("victor"), ref, width="1mo")["windows"]
    assert (window["rows"], window["outcomes_known"]) == (800, 0)

    answers = frame[["request_id", "outcome"]]
    first = write(answers.iloc[:500], tmp_path / "outcomes-1.csv")
    joined = monitoring.run(cat.ctx("bob"), ref, outcomes=[str(first)])
    assert (joined.matched, joined.known, joined.unmatched) == (500, 0, 0)
    (window,) = monitoring.show(cat.ctx("victor"), ref, width="1mo")["windows"]
    assert (window["rows"], window["outcomes_known"]) == (800, 500)

    # the rest, with 100 already joined and 7 requests no counted log has
    strangers = pd.DataFrame({"request_id": [f"x{i}" for i in range(7)], "outcome": 1})
    second = write(pd.concat([answers.iloc[400:], strangers]), tmp_path / "outcomes-2.parquet")
    joined = monitoring.run(cat.ctx("bob"), ref, outcomes=[str(tmp_path / "outcomes-*")])
    assert [f["path"] for f in joined.skipped] == [str(first.resolve())]
    assert (joined.matched, joined.known, joined.unmatched) == (400, 100, 7)
    assert str(second.resolve()) in {f["path"] for f in joined.outcomes}
    (window,) = monitoring.show(cat.ctx("victor"), ref, width="1mo")["windows"]
    assert (window["rows"], window["outcomes_known"]) == (800, 800)
    # every outcome known: exactly what govern evaluate gives on the same rows
    assert window["groupings"] == evaluated(frame)
    events = audit.audit_log(cat.ctx("admin"), action="monitor.run")
    assert events[0].payload["outcomes"] == {"matched": 400, "known": 100, "unmatched": 7}
    assert audit.verify_audit(cat.ctx("admin")).ok


def test_outcomes_need_their_counted_logs_unchanged_and_one_outcome_per_request(
    cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(cat)
    frame = rows(200)
    blind = LogColumns(sensitive=("sex",))
    log = write(frame.drop(columns=["outcome"]), tmp_path / "log.parquet")
    monitoring.run(cat.ctx("alice"), ref, logs=[str(log)], columns=blind)
    before = (snapshot(cat.url), _days(cat, ref))
    twice = frame[["request_id", "outcome"]].iloc[[0, 0, 1]]
    with pytest.raises(DataError, match="has 2 outcomes; give one"):
        monitoring.run(cat.ctx("alice"), ref, outcomes=[str(write(twice, tmp_path / "o1.csv"))])
    empty = frame[["request_id", "outcome"]].iloc[:3].astype({"outcome": "Int64"})
    empty.loc[empty.index[1], "outcome"] = pd.NA
    with pytest.raises(DataError, match="without a request id"):
        monitoring.run(cat.ctx("alice"), ref, outcomes=[str(write(empty, tmp_path / "o2.csv"))])
    log.unlink()
    fine = write(frame[["request_id", "outcome"]], tmp_path / "o3.csv")
    with pytest.raises(DataError, match=r"log\.parquet: missing; outcomes are joined"):
        monitoring.run(cat.ctx("alice"), ref, outcomes=[str(fine)])
    assert (snapshot(cat.url), _days(cat, ref)) == before


def regressed(count: int = 4_000, days: int = 10, from_day: int = 6) -> pd.DataFrame:
    """A log whose women are selected far less from ``from_day`` on (a subgroup regression)."""
    frame = rows(count, days=days)
    day = (frame["timestamp"] - frame["timestamp"].min().normalize()).dt.days
    late_women = (frame["sex"] == "female") & (day >= from_day)
    frame.loc[late_women & (frame.index % 4 != 0), "prediction"] = 0
    return frame


def unselected_pack(directory: Path) -> str:
    """The shipped production-monitoring pack for a version in any state (the pack itself
    applies to deployed and shadow versions)."""
    text = (REPO / "policies" / "production-monitoring.yaml").read_text(encoding="utf-8")
    text = text.replace("selector:\n  states: [deployed, shadow]", "")
    path = directory / "watch.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_status_fails_when_a_regression_persists_and_names_the_group(
    cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(cat)
    pack = [unselected_pack(tmp_path)]
    frame = regressed()
    early = frame["timestamp"] < frame["timestamp"].min().normalize() + pd.Timedelta(days=6)
    write(frame[early], tmp_path / "early.parquet")
    monitoring.run(cat.ctx("alice"), ref, logs=[str(tmp_path / "early.parquet")], columns=COLUMNS)
    last = frame["timestamp"].max().to_pydatetime()
    calm = monitoring.status(cat.ctx("victor"), [ref], policies=pack, now=last)
    assert calm.exit_code == 0, [o.message for o in calm.outcomes]
    write(frame[~early], tmp_path / "late.parquet")
    monitoring.run(cat.ctx("alice"), ref, logs=[str(tmp_path / "late.parquet")], columns=COLUMNS)
    report = monitoring.status(cat.ctx("victor"), [ref], policies=pack, now=last)
    assert report.exit_code == 1
    failed = {o.rule_id: o for o in report.outcomes if o.status == "fail"}
    assert set(failed) == {"live-impact-ratio", "live-intersections"}  # women of every age
    assert failed["live-impact-ratio"].message.startswith(
        "sex=female: impact ratio outside >= 0.8 in the latest 3 windows of 1d"
    )
    # days later, with no new logs, the silence fails too
    later = monitoring.status(
        cat.ctx("victor"), [ref], policies=pack, now=last + dt.timedelta(days=8)
    )
    assert {o.rule_id for o in later.outcomes if o.status == "fail"} == {
        *failed,
        "logs-arriving",
    }
    # the same rules run in a policy check of the version
    from govern.services import checks

    checked = checks.check_version(cat.ctx("victor"), ref, pack, now=last, record=False)
    assert checked.exit_code == 1
    # the shipped pack watches what serves predictions: a registered version is out of scope
    shipped = monitoring.status(cat.ctx("victor"), [ref], now=last)
    assert {o.status for o in shipped.outcomes} == {"not-applicable"}


def test_status_of_every_serving_version_and_policies_without_monitoring_rules(
    cat: Catalogue, tmp_path: Path
) -> None:
    register(cat)
    with pytest.raises(InputError, match="no monitoring rule in baseline"):
        monitoring.status(cat.ctx("victor"), None, policies=["baseline"])
    nothing = monitoring.status(cat.ctx("victor"), None)
    assert nothing.subjects == () and nothing.exit_code == 0  # nothing deployed yet


def test_a_shadow_needs_the_days_of_live_evidence_the_catalogue_asks_for(
    cat: Catalogue, tmp_path: Path
) -> None:
    from govern.errors import RefusedError
    from govern.services import catalogue, workflow

    def approved(version: str) -> str:
        ref = register(cat, version)
        workflow.submit(cat.ctx("alice"), ref, comment="ready")
        for approver in ("carol", "erin"):
            workflow.approve(cat.ctx(approver), ref, comment="ok")
        return ref

    cat.configure(policy_bindings={}, promotion_live_days=5)  # this test is about the days
    champion = approved("1.0.0")
    workflow.deploy(cat.ctx("carol"), champion)
    shadow = approved("1.1.0")
    workflow.deploy(cat.ctx("carol"), shadow, shadow=True)
    with pytest.raises(RefusedError, match="it has 0 days of live evidence beside the champion"):
        workflow.deploy(cat.ctx("carol"), shadow)
    frame = rows(2_000, days=6).assign(champion=lambda f: f["prediction"])
    paired = LogColumns(sensitive=("sex",), champion="champion")
    monitoring.run(
        cat.ctx("alice"), shadow, logs=[str(write(frame, tmp_path / "log.parquet"))], columns=paired
    )
    workflow.deploy(cat.ctx("carol"), shadow, comment="six days beside the champion")
    assert catalogue.show_version(cat.ctx("victor"), shadow).state == "deployed"


def test_drift_features_are_binned_once_and_judged_by_the_pack(
    cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(cat)
    frame = rows(3_000, days=14)
    late = frame["timestamp"] >= frame["timestamp"].min().normalize() + pd.Timedelta(days=7)
    frame["amount"] = np.where(late, 2.0, 1.0) * (1 + frame.index % 97)
    columns = LogColumns(sensitive=("sex",), outcome="outcome", features=("amount",))
    for name, part in (("one", frame[~late]), ("two", frame[late])):
        path = write(part, tmp_path / f"{name}.parquet")
        monitoring.run(cat.ctx("alice"), ref, logs=[str(path)], columns=columns)
    weeks = monitoring.show(cat.ctx("victor"), ref, width="1w")["windows"]
    assert weeks[0]["feature_psi"] == {"amount": 0.0}
    assert weeks[-1]["feature_psi"]["amount"] > 0.2
    last = frame["timestamp"].max().to_pydatetime()
    report = monitoring.status(
        cat.ctx("victor"), [ref], policies=[unselected_pack(tmp_path)], now=last
    )
    drifted = [o for o in report.outcomes if o.rule_id == "feature-drift"]
    assert [o.status for o in drifted] == ["fail"]
    assert drifted[0].message.startswith("amount: PSI outside <= 0.2 in the latest window of 1w")
