"""Realistic catalogue rows for report tests, recorded as govern records them.

The evaluation document is computed here from ``sample_data/credit_holdout_scored.csv`` (the
hold-out scored by version 1.1.0) with the contract's definitions (docs/architecture.md §9 and
the contract notes): Wilson intervals, impact ratios against the most-selected
group, small-group flags. The assessment engine has its own tests; these rows only need to
have the stored shape and believable values, computed rather than typed in.

Each row is written in a transaction of the acting person's own (``Context.write``) with the
signed audit event the service that makes it records (the same payload fields, the same
actor and role), so the version's records verify and a signed card can be made of them. The
decisions are taken by people with display names (:data:`DECIDERS`), as a card shows them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlmodel import select

from govern.errors import ConflictError
from govern.services import Context, users
from govern.storage import crud
from govern.storage.tables import (
    Decision,
    DriftRun,
    Evaluation,
    Explanation,
    Model,
    ModelVersion,
    PolicyRun,
    RuleResult,
    Waiver,
)
from tests.conftest import SAMPLE, Catalogue, public_key

SCORED = SAMPLE / "credit_holdout_scored.csv"
MIN_GROUP_SIZE = 30
UTC = dt.UTC


def wilson(successes: int, trials: int, z: float = 1.959963984540054) -> dict[str, Any]:
    if trials == 0:
        return {"value": None, "lower": None, "upper": None, "successes": 0, "trials": 0}
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return {
        "value": p,
        "lower": max(0.0, centre - half),
        "upper": min(1.0, centre + half),
        "successes": successes,
        "trials": trials,
    }


def _rows() -> list[dict[str, str]]:
    with SCORED.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _group_stats(
    label: str, values: dict[str, str], rows: list[dict[str, str]], total: int
) -> dict[str, Any]:
    y = [r["credit"] == "1" for r in rows]
    yhat = [r["pred"] == "1" for r in rows]
    tp = sum(a and b for a, b in zip(y, yhat, strict=True))
    fp = sum((not a) and b for a, b in zip(y, yhat, strict=True))
    fn = sum(a and (not b) for a, b in zip(y, yhat, strict=True))
    tn = len(rows) - tp - fp - fn
    undefined = {}
    if tp + fn == 0:
        undefined["tpr"] = "no actual positives in group"
    if fp + tn == 0:
        undefined["fpr"] = "no actual negatives in group"
    n = len(rows)
    return {
        "group": label,
        "values": values,
        "n": n,
        "share": n / total,
        "small": n < MIN_GROUP_SIZE,
        "metrics": {
            "selection_rate": wilson(tp + fp, n),
            "tpr": wilson(tp, tp + fn),
            "fpr": wilson(fp, fp + tn),
            "fnr": wilson(fn, tp + fn),
            "precision": wilson(tp, tp + fp),
            "accuracy": wilson(tp + tn, n),
        },
        "undefined": undefined,
        "flags": ["small_group"] if n < MIN_GROUP_SIZE else [],
    }


def _grouping(features: list[str], rows: list[dict[str, str]]) -> dict[str, Any]:
    buckets: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for row in rows:
        buckets.setdefault(tuple(row[f] for f in features), []).append(row)
    groups = [
        _group_stats(", ".join(key), dict(zip(features, key, strict=True)), members, len(rows))
        for key, members in sorted(buckets.items())
    ]
    rates = {g["group"]: g["metrics"]["selection_rate"]["value"] for g in groups}
    reference = max(rates, key=lambda k: rates[k])
    for g in groups:
        g["impact_ratio"] = rates[g["group"]] / rates[reference]
        g["p_value"] = None if g["group"] == reference else 0.04 if g["impact_ratio"] < 0.8 else 0.4
        g["test"] = (
            None if g["group"] == reference else ("fisher-exact" if g["small"] else "z-test")
        )
        if g["impact_ratio"] < 0.8:
            g["flags"].append("adverse_impact")
        if g["group"] == reference:
            g["flags"].append("reference")
    sel = list(rates.values())
    tprs = [
        g["metrics"]["tpr"]["value"] for g in groups if g["metrics"]["tpr"]["value"] is not None
    ]
    fprs = [
        g["metrics"]["fpr"]["value"] for g in groups if g["metrics"]["fpr"]["value"] is not None
    ]
    return {
        "name": "*".join(features),
        "features": features,
        "kind": "single" if len(features) == 1 else "intersection",
        "reference_group": reference,
        "groups": groups,
        "summary": {
            "demographic_parity_difference": max(sel) - min(sel),
            "demographic_parity_ratio": min(sel) / max(sel),
            "equalized_odds_difference": max(max(tprs) - min(tprs), max(fprs) - min(fprs)),
            "equalized_odds_ratio": min(min(tprs) / max(tprs), min(fprs) / max(fprs)),
            "min_impact_ratio": min(g["impact_ratio"] for g in groups),
        },
    }


def evaluation_document() -> dict[str, Any]:
    """An evaluation results document (schema 1) computed from the scored hold-out."""
    rows = _rows()
    whole = _group_stats("all", {}, rows, len(rows))["metrics"]
    m = {k: v["value"] for k, v in whole.items()}
    tp = whole["tpr"]["successes"]
    fn = whole["tpr"]["trials"] - tp
    fp = whole["fpr"]["successes"]
    tn = whole["fpr"]["trials"] - fp
    importances = [
        ("status", 0.081),
        ("month", 0.046),
        ("credit_history", 0.039),
        ("credit_amount", 0.031),
        ("purpose", 0.027),
        ("savings", 0.021),
        ("age", 0.018),
        ("personal_status", 0.012),
        ("employment", 0.011),
        ("property", 0.008),
    ]
    return {
        "schema": 1,
        "task": "binary_classification",
        "dataset": {
            "name": SCORED.name,
            "sha256": hashlib.sha256(SCORED.read_bytes()).hexdigest(),
            "rows": len(rows),
            "columns": list(rows[0]),
        },
        "target": "credit",
        "positive_label": "1",
        "sensitive_features": ["sex", "age_group"],
        "prediction_source": "predictions",
        "score_column": "score",
        "min_group_size": MIN_GROUP_SIZE,
        "seed": 0,
        "packages": {
            "numpy": "2.4.6",
            "scikit-learn": "1.9.1",
            "fairlearn": "0.15.0",
            "shap": "0.51",
        },
        "artifact_sha256": None,
        "performance": {
            "overall": {
                "accuracy": m["accuracy"],
                "precision": m["precision"],
                "recall": m["tpr"],
                "f1": 2 * m["precision"] * m["tpr"] / (m["precision"] + m["tpr"]),
                "roc_auc": 0.781,
                "brier": 0.171,
            },
            "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
            "by_group": {
                "sex": {
                    g["group"]: {
                        "accuracy": g["metrics"]["accuracy"]["value"],
                        "precision": g["metrics"]["precision"]["value"],
                    }
                    for g in _grouping(["sex"], rows)["groups"]
                }
            },
        },
        "fairness": [
            _grouping(["sex"], rows),
            _grouping(["age_group"], rows),
            _grouping(["sex", "age_group"], rows),
        ],
        "explanations": {
            "method": "tree",
            "sample_size": 300,
            "seed": 0,
            "model_sha256": None,
            "base_value": 0.69,
            "global": [
                {
                    "feature": f,
                    "mean_abs_shap": v,
                    "lower": v * 0.85,
                    "upper": v * 1.15,
                    "rank": i + 1,
                }
                for i, (f, v) in enumerate(importances)
            ],
            "top_features": [f for f, _ in importances[:5]],
            "sensitive_flags": [{"feature": "age", "reason": "sensitive feature among the top 10"}],
        },
        "warnings": [],
    }


def local_payloads(count: int = 3) -> list[tuple[str, dict[str, Any]]]:
    rows = _rows()[:count]
    out = []
    for row in rows:
        score = float(row["score"])
        contributions = [
            {"feature": "status", "value": row["status"], "shap": round(score - 0.69, 4)},
            {"feature": "month", "value": row["month"], "shap": -0.052},
            {"feature": "credit_amount", "value": row["credit_amount"], "shap": 0.031},
            {"feature": "credit_history", "value": row["credit_history"], "shap": -0.024},
            {"feature": "age", "value": row["age"], "shap": 0.012},
        ]
        out.append(
            (
                row["applicant_id"],
                {
                    "row_id": row["applicant_id"],
                    "method": "tree",
                    "base_value": 0.69,
                    "prediction": score,
                    "predicted_label": row["pred"],
                    "contributions": contributions,
                },
            )
        )
    return out


def drift_document() -> dict[str, Any]:
    features = [
        ("status", "categorical", 0.04, "stable", "chi-square", 3.1, 0.37, 0.06),
        ("credit_amount", "numeric", 0.13, "moderate", "ks", 0.09, 0.03, 0.09),
        ("month", "numeric", 0.31, "significant", "ks", 0.17, 0.0004, 0.17),
        ("age", "numeric", 0.02, "stable", "ks", 0.04, 0.81, 0.04),
    ]
    return {
        "schema": 1,
        "reference": {"name": "credit_train.csv", "sha256": "a" * 64, "rows": 700},
        "current": {"name": "credit_holdout.csv", "sha256": "b" * 64, "rows": 300},
        "bins": 10,
        "features": [
            {
                "feature": f,
                "kind": k,
                "psi": p,
                "band": b,
                "test": t,
                "statistic": s,
                "p_value": pv,
                "effect_size": e,
                "n_reference": 700,
                "n_current": 300,
            }
            for f, k, p, b, t, s, pv, e in features
        ],
        "prediction": {
            "feature": "prediction",
            "kind": "numeric",
            "psi": 0.05,
            "band": "stable",
            "test": "ks",
            "statistic": 0.05,
            "p_value": 0.6,
            "n_reference": 700,
            "n_current": 300,
        },
    }


POLICIES = [
    {
        "id": "baseline",
        "title": "Baseline documentation",
        "version": "1",
        "source": "policies/baseline.yaml",
        "sha256": hashlib.sha256(b"baseline").hexdigest(),
    },
    {
        "id": "eeoc-four-fifths",
        "title": "EEOC four-fifths rule",
        "version": "1",
        "source": "policies/eeoc-four-fifths.yaml",
        "sha256": hashlib.sha256(b"eeoc").hexdigest(),
    },
]

RULES = [
    (
        "baseline",
        "card-complete",
        "",
        "pass",
        "error",
        "Model card complete",
        "all nine sections present",
        "Mitchell et al. (2019)",
    ),
    (
        "baseline",
        "no-pickle",
        "",
        "pass",
        "error",
        "Artifact is not a pickle",
        "artifact format skops",
        "docs/architecture.md §10",
    ),
    (
        "baseline",
        "evaluation-fresh",
        "",
        "pass",
        "warning",
        "Evaluation is fresh",
        "evaluated 0 days ago (limit 90)",
        "SR 26-2 ongoing monitoring",
    ),
    (
        "eeoc-four-fifths",
        "impact-ratio",
        "age_group",
        "fail",
        "error",
        "Impact ratio at least 0.8",
        "under_25 impact ratio 0.71 < 0.8 (n=52)",
        "29 CFR 1607.4(D)",
    ),
    (
        "eeoc-four-fifths",
        "impact-ratio",
        "sex",
        "waived",
        "error",
        "Impact ratio at least 0.8",
        "female impact ratio 0.79 < 0.8; waived until 2027-03-01",
        "29 CFR 1607.4(D)",
    ),
    (
        "eeoc-four-fifths",
        "impact-ratio",
        "sex*age_group",
        "not-applicable",
        "warning",
        "Impact ratio at least 0.8 (intersections)",
        "groups below minimum size",
        "29 CFR 1607.4(D)",
    ),
]

#: The people who take the sample decisions: user name -> (role, display name).
DECIDERS = {
    "priya": ("developer", "Priya Raman"),
    "tomas": ("validator", "Tomás Novák"),
    "grace": ("approver", "Grace Okafor"),
    "henrik": ("approver", "Henrik Larsen"),
}

DECISIONS = [
    ("submit", "draft", "submitted", "priya", "developer", "First version for review."),
    (
        "request_changes",
        "submitted",
        "changes_requested",
        "tomas",
        "validator",
        "Add the age-group analysis.",
    ),
    ("submit", "changes_requested", "submitted", "priya", "developer", "Age-group analysis added."),
    (
        "approve",
        "submitted",
        "submitted",
        "grace",
        "approver",
        "Fairness within policy after waiver.",
    ),
    ("approve", "submitted", "approved", "henrik", "approver", "Second approval."),
]


def add_deciders(cat: Catalogue) -> None:
    """Add the people of :data:`DECIDERS`, with their display names and enrolled keys."""
    for name, (role, display) in DECIDERS.items():
        try:
            users.add_user(
                cat.ctx("admin"), name, role=role, display_name=display, key=public_key(name)
            )
        except ConflictError:
            continue  # added before


@dataclass
class Evidence:
    evaluation: bool = True
    policy: bool = True
    decisions: bool = True
    drift: bool = True
    local: bool = True


def _version(session: Any, ref: str) -> tuple[Model, ModelVersion]:
    name, version = ref.split("@")
    model = crud.get_model(session=session, name=name)
    assert model is not None
    row = crud.get_version(session=session, model=model, version=version)
    assert row is not None
    return model, row


def _stored_sha256(session: Any, table: Any, row_id: int) -> str:
    """SHA-256 of a results document as stored, as the evaluation service records it."""
    return crud.stored_sha256(
        connection=session.connection(), column=table.results, key=table.id, ids=[row_id]
    )[row_id]


def insert_evidence(
    cat: Catalogue,
    ref: str,
    what: Evidence | None = None,
    *,
    text: str | None = None,
    results: dict[str, Any] | None = None,
) -> None:
    """Record evaluation, policy, waiver, decision and drift rows for ``ref``.

    Each in its own signed transaction of the person who would make it (bob evaluates,
    checks and analyses drift, dave grants the waiver, :data:`DECIDERS` decide). ``text``
    replaces every free-text field written here (comments, messages, reasons).
    """
    what = what or Evidence()
    now = dt.datetime.now(UTC)
    evaluated: dict[str, Any] | None = None
    if what.evaluation:
        doc = results if results is not None else evaluation_document()
        with cat.ctx("bob").write("evaluation.create", ref) as tx:
            _, version = _version(tx.session, ref)
            assert version.id is not None
            evaluation = Evaluation(
                version_id=version.id,
                dataset_name=str(doc.get("dataset", {}).get("name", "data.csv")),
                dataset_sha256=str(doc.get("dataset", {}).get("sha256", "0" * 64)),
                rows=int(doc.get("dataset", {}).get("rows", 0)),
                columns=list(doc.get("dataset", {}).get("columns", [])),
                target="credit",
                positive_label="1",
                sensitive_features=["sex", "age_group"],
                prediction_source="predictions",
                packages=dict(doc.get("packages", {})),
                seed=0,
                params={"min_group_size": MIN_GROUP_SIZE},
                results=doc,
                created_at=now,
                created_by=tx.actor,
            )
            tx.session.add(evaluation)
            tx.session.flush()
            assert evaluation.id is not None
            if what.local:
                for row_id, payload in local_payloads():
                    tx.session.add(
                        Explanation(
                            evaluation_id=evaluation.id,
                            kind="local",
                            row_id=row_id,
                            payload=payload,
                        )
                    )
            digest = _stored_sha256(tx.session, Evaluation, evaluation.id)
            evaluated = {"id": evaluation.id, "results_sha256": digest}
            tx.audit(evaluation_id=evaluation.id, results_sha256=digest)
    if what.policy:
        with cat.ctx("bob").write("policy.check", ref) as tx:
            _, version = _version(tx.session, ref)
            assert version.id is not None
            run = PolicyRun(
                version_id=version.id,
                policies=POLICIES,
                outcome="fail",
                summary={"pass": 3, "fail": 1, "waived": 1, "not-applicable": 1},
                created_by=tx.actor,
                created_at=now,
            )
            tx.session.add(run)
            tx.session.flush()
            for pack, rule, subject, status, severity, title, message, source in RULES:
                tx.session.add(
                    RuleResult(
                        policy_run_id=run.id,
                        policy_id=pack,
                        rule_id=rule,
                        subject=subject,
                        status=status,
                        severity=severity,
                        title=text or title,
                        message=text or message,
                        source=text or source,
                        evidence={"threshold": 0.8},
                    )
                )
            tx.audit(
                policy_run_id=run.id,
                policies=[
                    {"id": p["id"], "version": p["version"], "sha256": p["sha256"]}
                    for p in POLICIES
                ],
                outcome="fail",
            )
        with cat.ctx("dave").write("waiver.grant", ref) as tx:
            _, version = _version(tx.session, ref)
            assert version.id is not None
            reason = text or "Female ratio 0.79 within sampling error; remediation planned."
            waiver = Waiver(
                version_id=version.id,
                rule_id="impact-ratio",
                reason=reason,
                granted_by=tx.actor,
                granted_role="compliance",
                expires_on=dt.date(2027, 3, 1),
            )
            tx.session.add(waiver)
            tx.session.flush()
            tx.audit(
                waiver_id=waiver.id,
                rule=waiver.rule_id,
                reason=reason,
                expires_on=waiver.expires_on.isoformat(),
                role="compliance",
            )
    if what.decisions:
        add_deciders(cat)
        for index, (action, before, after, actor, role, comment) in enumerate(DECISIONS):
            with cat.ctx(actor).write(f"version.{action}", ref) as tx:
                _, version = _version(tx.session, ref)
                assert version.id is not None
                decision = Decision(
                    version_id=version.id,
                    action=action,
                    from_state=before,
                    to_state=after,
                    actor=tx.actor,
                    role=role,
                    comment=text or comment,
                    settings_revision=tx.settings_revision,
                    created_at=now + dt.timedelta(minutes=index),
                )
                tx.session.add(decision)
                version.state = after
                tx.session.add(version)
                tx.session.flush()
                tx.audit(
                    from_state=before,
                    to_state=after,
                    comment=text or comment,
                    role=role,
                    approvals=None,
                    superseded=None,
                    evidence={
                        "card_sha256": version.card_sha256,
                        "evaluation": evaluated,
                        "policy_run": None,
                    },
                    decision_id=decision.id,
                )
    if what.drift:
        with cat.ctx("bob").write("drift.run", ref) as tx:
            _, version = _version(tx.session, ref)
            assert version.id is not None
            drift = DriftRun(
                version_id=version.id,
                reference_name="credit_train.csv",
                reference_sha256="a" * 64,
                current_name="credit_holdout.csv",
                current_sha256="b" * 64,
                results=drift_document(),
                created_by=tx.actor,
            )
            tx.session.add(drift)
            tx.session.flush()
            assert drift.id is not None
            tx.audit(
                drift_run_id=drift.id,
                results_sha256=_stored_sha256(tx.session, DriftRun, drift.id),
                reference={"name": drift.reference_name, "sha256": drift.reference_sha256},
                current={"name": drift.current_name, "sha256": drift.current_sha256},
            )


def report_rows(ctx: Context) -> list[Any]:
    from govern.storage.tables import Report

    with ctx.db.read() as session:
        return [SimpleNamespace(**r.model_dump()) for r in session.exec(select(Report)).all()]


def events(ctx: Context, action: str) -> Iterable[Any]:
    from govern.services import audit

    return [e for e in audit.audit_log(ctx, limit=1000) if e.action == action]
