"""The ``monitoring`` rule kind on hand-built monitoring records: what persists fails, what
passed does not, and every breach is listed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
import yaml

from govern.errors import PolicyError
from govern.policy.engine import evaluate
from govern.policy.loader import parse_policy_text
from govern.policy.snapshot import MonitoringEvidence, SubjectSnapshot, WindowFigures

NOW = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
START = dt.date(2026, 3, 1)


def policy(**rule: object) -> object:
    document = {
        "schema": 1,
        "id": "watch",
        "title": "Watch",
        "version": "1.0.0",
        "rules": [
            {
                "id": "r",
                "title": "t",
                "severity": "error",
                "source": "s",
                "kind": "monitoring",
                **rule,
            }
        ],
    }
    return parse_policy_text(yaml.safe_dump(document), where="watch.yaml")


def window(day: int, female: float, psi: float | None = 0.01) -> WindowFigures:
    groups = {
        "sex": {
            "female": {
                "impact_ratio": female,
                "selection_rate": 0.5 * female,
                "tpr": 0.7,
                "fpr": 0.1,
            },
            "male": {"impact_ratio": 1.0, "selection_rate": 0.5, "tpr": 0.7, "fpr": 0.1},
        },
        "sex*age": {"female, young": {"impact_ratio": 0.5, "selection_rate": 0.2}},
    }
    start = START + dt.timedelta(days=day)
    return WindowFigures(
        start=start,
        end=start + dt.timedelta(days=1),
        rows=100,
        outcomes_known=100,
        score_psi=psi,
        groups=groups,
        features={"sex": ("sex",), "sex*age": ("sex", "age")},
    )


def subject(windows: Sequence[WindowFigures], last: dt.datetime | None = NOW) -> SubjectSnapshot:
    record = MonitoringEvidence(
        features=("sex", "age"), last_log_at=last, windows=lambda _w: windows
    )
    return SubjectSnapshot(subject="m@1.0", card={}, monitoring=record)


def outcome(rule: dict[str, object], snapshot: SubjectSnapshot) -> object:
    (found,) = evaluate([policy(**rule)], snapshot, now=NOW).outcomes
    return found


IMPACT = {"metric": "impact_ratio", "min": 0.8, "consecutive": 3}


def test_a_breach_fails_only_when_it_persists_through_the_latest_windows() -> None:
    dipped = [window(0, 0.9), window(1, 0.7), window(2, 0.7), window(3, 0.9)]
    passed = outcome(IMPACT, subject(dipped))
    assert passed.status == "pass"
    assert "2 earlier breaches" in passed.message
    assert [b["window"] for b in passed.evidence["breaches"]] == ["2026-03-02", "2026-03-03"]
    assert passed.evidence["broken"] == []  # two days in a row do not break a 3-day rule
    low = [window(0, 0.9), window(1, 0.75), window(2, 0.7), window(3, 0.65)]
    failed = outcome(IMPACT, subject(low))
    assert failed.status == "fail"
    assert [(b["window"], b["key"]) for b in failed.evidence["broken"]] == [
        ("2026-03-04", "sex=female")
    ]
    assert failed.message == (
        "sex=female: impact ratio outside >= 0.8 in the latest 3 windows of 1d "
        "(0.75, 0.7, 0.65; since 2026-03-02)"
    )
    # intersections are their own choice, as in the fairness rules
    assert outcome({**IMPACT, "groupings": "intersection"}, subject(dipped)).status == "fail"
    assert outcome({**IMPACT, "features": ["age"]}, subject(low)).status == "pass"


def test_score_drift_and_silent_logs() -> None:
    drifting = [window(0, 1.0, 0.0), window(1, 1.0, 0.3)]
    assert outcome({"metric": "score_psi", "max": 0.2}, subject(drifting)).status == "fail"
    calm = [window(0, 1.0, 0.0), window(1, 1.0, None)]
    assert outcome({"metric": "score_psi", "max": 0.2}, subject(calm)).status == "pass"
    stale = subject(calm, last=NOW - dt.timedelta(days=9))
    silent = outcome({"metric": "log_age_days", "max": 7}, stale)
    assert (silent.status, silent.message) == ("fail", "no prediction logs for 9 days (limit <= 7)")
    assert outcome({"metric": "log_age_days", "max": 7}, subject(calm)).status == "pass"


def test_no_record_is_what_if_missing_says() -> None:
    bare = SubjectSnapshot(subject="m@1.0", card={})
    missing = outcome(IMPACT, bare)
    assert (missing.status, missing.message) == (
        "fail",
        "m@1.0 has no prediction logs counted (govern monitor run)",
    )
    assert outcome({**IMPACT, "if_missing": "not-applicable"}, bare).status == "not-applicable"
    assert outcome(IMPACT, subject([])).status == "fail"
    stateless = SubjectSnapshot(subject="card", card={}, stateless=True)
    assert outcome(IMPACT, stateless).status == "not-applicable"


@pytest.mark.parametrize(
    "rule",
    [
        {"metric": "impact_ratio"},
        {"metric": "latency", "min": 1},
        {"metric": "impact_ratio", "min": 0.8, "window": "2d"},
        {"metric": "impact_ratio", "min": 0.8, "consecutive": 0},
    ],
)
def test_bad_monitoring_rules_are_refused_when_loaded(rule: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        policy(**rule)


def test_a_shadow_worse_than_its_champion_on_fairness() -> None:
    def paired(day: int, delta: float) -> WindowFigures:
        found = window(day, 1.0)
        found.shadow = {"sex": {"female": {"impact_ratio_delta": delta, "agreement": 0.9}}}
        return found

    rule = {"metric": "impact_ratio_delta", "min": -0.1, "window": "1w", "consecutive": 2}
    worse = outcome(rule, subject([paired(0, 0.0), paired(7, -0.2), paired(14, -0.3)]))
    assert worse.status == "fail"
    assert worse.message.startswith(
        "sex=female: impact ratio minus the champion's outside >= -0.1 in the latest 2 windows"
    )
    alike = outcome(rule, subject([paired(0, 0.0), paired(7, -0.05)]))
    assert alike.status == "pass"
    unpaired = outcome({**rule, "if_missing": "not-applicable"}, subject([window(0, 1.0)]))
    assert unpaired.status == "not-applicable"
    agreement = outcome({"metric": "agreement", "min": 0.95}, subject([paired(0, 0.0)]))
    assert agreement.status == "fail"


def test_drift_of_a_watched_input() -> None:
    def drifting(day: int, psi: float | None) -> WindowFigures:
        found = window(day, 1.0)
        found.feature_psi = {"amount": psi, "purpose": 0.01}
        return found

    rule = {"metric": "feature_psi", "max": 0.2, "window": "1w"}
    failed = outcome(rule, subject([drifting(0, 0.0), drifting(7, 0.4)]))
    assert (failed.status, failed.message) == (
        "fail",
        "amount: PSI outside <= 0.2 in the latest window of 1w (0.4; since 2026-03-08)",
    )
    assert outcome({**rule, "features": ["purpose"]}, subject([drifting(7, 0.4)])).status == "pass"
    assert outcome(rule, subject([drifting(0, None)])).status == "pass"
