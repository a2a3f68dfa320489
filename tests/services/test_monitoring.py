"""``govern monitor run|show`` as a service, on both backends: incremental, idempotent,
audited, refused whole on a bad log, and only by those who may evaluate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from govern.errors import DataError, PermissionDenied
from govern.monitor.logs import LogColumns
from govern.services import audit, monitoring
from tests.builders import register
from tests.conftest import Catalogue
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
