"""Policy engine: 20 rules of every kind over 10,000 stored versions.

Each version's evidence is what the catalogue hands the engine: the card and the evaluation
results as decoded from stored JSON (two sensitive features and their intersection, overall
and per-group performance, explanations), a drift run, decisions and a waiver. Timings in
the same run (best of three; each run starts from fresh parsing caches, and the previous
run's report is freed before the clock starts):

* end to end, first, in a process that holds no decoded documents (as ``govern check
  --all`` runs): ``checks.check_versions`` on a real SQLite catalogue holding the versions
  (read the rows, decode the documents, build snapshots, decide every status, count and
  the exit code), its loading half alone, and the engine on what was loaded alone;
* the command itself, ``govern check --all --policy bench.yaml``, as a subprocess, against
  a bare interpreter start and ``govern --help``;
* the engine: ``check`` of the same policy over snapshots holding every decoded document
  (each results document's shape checked once, every rule judged by its kind's module);
  ``evaluate`` of each version on its own, as a check of one version runs; and with every
  outcome's message and waiver worded as well, as the JSON, JUnit and SARIF formats read
  them;
* a bare loop over the same snapshots that reads each figure the 20 rules compare and
  compares it with a constant: the floor any rule engine has to pay;
* decoding the stored results JSON with ``json`` and with the decoder the services use
  (msgspec), which a check reading the documents pays first; with the bare loop, what such
  a check pays before it decides anything; and decoding each document checked against the
  shape rules read (``evidence.read_stored``), as the catalogue's loader does, in place of
  the engine's own shape check.

Run with ``.venv/bin/python benchmarks/bench_policy.py [VERSIONS]`` (default 10,000).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from govern.policy.engine import check, collector_paused, evaluate
from govern.policy.evidence import CHECKED, read_stored
from govern.policy.loader import parse_policy_text
from govern.policy.snapshot import (
    ChampionEvidence,
    DecisionRecord,
    DriftEvidence,
    EvaluationEvidence,
    SubjectSnapshot,
    WaiverRecord,
)

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
SOURCE = "benchmark clause"

RULES: list[dict[str, Any]] = [
    {"kind": "card", "fields": ["model_details.description", "intended_use.primary_uses"]},
    {"kind": "card", "fields": ["ethical_considerations[].mitigation"], "min_chars": 10},
    {"kind": "card", "fields": ["governance.owner", "governance.business_owner"]},
    {"kind": "performance", "metric": "accuracy", "min": 0.7},
    {"kind": "performance", "metric": "accuracy", "scope": "groups", "min": 0.6},
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "significance": 0.05},
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "groupings": "intersection"},
    {"kind": "fairness", "metric": "demographic_parity_difference", "max": 0.2},
    {"kind": "fairness", "metric": "tpr", "min": 0.5, "min_group_size": 20},
    {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "min_share": 0.02},
    {"kind": "explanation", "top_k": 5},
    {"kind": "drift", "max_psi": 0.25, "max_age_days": 90},
    {"kind": "freshness", "max_age_days": 365},
    {"kind": "freshness", "max_age_days": 30, "severity": "warning"},
    {"kind": "approvals", "min_approvals": 2},
    {"kind": "validation_due"},
    {"kind": "validation_due", "max_months_by_tier": {"high": 12, "low": 36}},
    {"kind": "artifact"},
    {
        "kind": "champion",
        "metrics": [
            {"metric": "accuracy", "max_regression": 0.02},
            {"metric": "min_impact_ratio", "max_regression": 0.05},
        ],
    },
    {"kind": "disclosure", "groupings": "both"},
]


def policy_text() -> str:
    rules = [
        {"id": f"r{i:02d}", "title": f"rule {i}", "severity": "error", "source": SOURCE, **rule}
        for i, rule in enumerate(RULES)
    ]
    document = {"schema": 1, "id": "bench", "title": "Benchmark", "version": "1", "rules": rules}
    return yaml.safe_dump(document, sort_keys=False)


def estimate(k: int, n: int) -> dict[str, Any]:
    value = k / n if n else None
    return {"value": value, "lower": value, "upper": value, "successes": k, "trials": n}


def grouping(name: str, sizes: dict[str, int], rng: random.Random, total: int) -> dict[str, Any]:
    features = name.split("*")
    groups = []
    for label, n in sizes.items():
        selected = int(n * rng.uniform(0.35, 0.7))
        groups.append(
            {
                "group": label,
                "values": dict(zip(features, label.split(", "), strict=True)),
                "n": n,
                "share": n / total,
                "small": n < 30,
                "metrics": {
                    "selection_rate": estimate(selected, n),
                    "tpr": estimate(int(n * rng.uniform(0.4, 0.9) / 2), n // 2),
                    "fpr": estimate(int(n * 0.1), n),
                    "fnr": estimate(int(n * 0.1), n),
                    "precision": estimate(int(n * 0.3), max(selected, 1)),
                    "accuracy": estimate(int(n * 0.75), n),
                },
                "p_value": rng.uniform(0, 0.2),
                "test": "z-test",
                "undefined": {},
                "flags": [],
            }
        )
    top = max(g["metrics"]["selection_rate"]["value"] for g in groups)
    for g in groups:
        g["impact_ratio"] = g["metrics"]["selection_rate"]["value"] / top
    rates = [g["metrics"]["selection_rate"]["value"] for g in groups]
    return {
        "name": name,
        "features": features,
        "kind": "intersection" if len(features) > 1 else "single",
        "reference_group": max(groups, key=lambda g: g["impact_ratio"])["group"],
        "groups": groups,
        "summary": {
            "demographic_parity_difference": max(rates) - min(rates),
            "demographic_parity_ratio": min(rates) / max(rates),
            "min_impact_ratio": min(g["impact_ratio"] for g in groups),
        },
    }


def document(rng: random.Random) -> dict[str, Any]:
    sex = {"female": rng.randint(80, 150), "male": rng.randint(120, 200)}
    age = {"under_25": rng.randint(30, 60), "25_to_44": rng.randint(100, 150), "45_and_over": 80}
    crossed = {f"{s}, {a}": max(5, (sex[s] * age[a]) // 300) for s in sex for a in age}
    total = sum(sex.values())
    return {
        "schema": 1,
        "task": "binary_classification",
        "dataset": {"name": "holdout.csv", "sha256": "d" * 64, "rows": total, "columns": []},
        "target": "y",
        "positive_label": "1",
        "sensitive_features": ["sex", "age_group"],
        "prediction_source": "model",
        "min_group_size": 30,
        "seed": 0,
        "packages": {},
        "artifact_sha256": "a" * 64,
        "performance": {
            "overall": {"accuracy": rng.uniform(0.65, 0.85), "roc_auc": rng.uniform(0.7, 0.85)},
            "by_group": {
                "sex": {g: {"accuracy": rng.uniform(0.55, 0.85)} for g in sex},
                "age_group": {g: {"accuracy": rng.uniform(0.55, 0.85)} for g in age},
            },
        },
        "fairness": [
            grouping("sex", sex, rng, total),
            grouping("age_group", age, rng, total),
            grouping("sex*age_group", crossed, rng, total),
        ],
        "explanations": {
            "method": "tree",
            "top_features": ["status", "month", "credit_amount", "age", "purpose", "savings"],
            "sensitive_flags": [],
        },
        "warnings": [],
    }


CARD = {
    "model_details": {"name": "bench", "version": "1.0.0", "description": "A benchmark model"},
    "intended_use": {"primary_uses": ["ranking applications"]},
    "factors": {"sensitive_features": ["sex", "age_group"]},
    "ethical_considerations": [{"risk": "bias", "mitigation": "monitor impact ratios"}],
    "governance": {"owner": "alice", "business_owner": "bob", "risk_tier": "high"},
}


def stored_versions(count: int) -> list[tuple[str, str]]:
    """(card JSON, results JSON) per version, as the catalogue stores them."""
    rng = random.Random(0)
    card = json.dumps(CARD)
    return [(card, json.dumps(document(rng))) for _ in range(count)]


def _evaluation(results_json: str, created_at: dt.datetime) -> EvaluationEvidence:
    """An evaluation as the catalogue's loader gives it: its shape checked as decoded."""
    cache: dict[Any, Any] = {}
    return EvaluationEvidence(
        results=read_stored(results_json, cache),
        created_at=created_at,
        dataset_sha256="d" * 64,
        artifact_sha256="a" * 64,
        cache=cache,
    )


def snapshots(stored: list[tuple[str, str]]) -> list[SubjectSnapshot]:
    champion = ChampionEvidence(
        ref="bench@0.9.0",
        evaluation=_evaluation(stored[0][1], created_at=NOW),
    )
    decisions = (
        DecisionRecord("submit", "alice", "developer", NOW - dt.timedelta(days=2)),
        DecisionRecord("approve", "carol", "approver", NOW - dt.timedelta(days=1)),
        DecisionRecord("approve", "erin", "approver", NOW),
    )
    waiver = WaiverRecord("r05", "accepted", "dave", "compliance", NOW.date())
    out = []
    for index, (card_json, results_json) in enumerate(stored):
        out.append(
            SubjectSnapshot.from_card(
                f"bench@1.0.{index}",
                json.loads(card_json),
                state="approved",
                artifact_format="skops",
                artifact_sha256="a" * 64,
                next_validation_due=dt.date(2027, 6, 1),
                created_at=NOW - dt.timedelta(days=40),
                created_by="alice",
                submitter="alice",
                evaluation=_evaluation(
                    results_json, created_at=NOW - dt.timedelta(days=index % 400)
                ),
                drift=DriftEvidence(
                    results={"features": [{"feature": "age", "psi": (index % 7) / 20}]},
                    created_at=NOW - dt.timedelta(days=index % 120),
                ),
                decisions=decisions,
                waivers=(waiver,),
                champion=champion,
            )
        )
    return out


def bare_loop(subjects: list[SubjectSnapshot]) -> int:
    """Read every figure the 20 rules compare and compare it with a constant."""
    hits = 0
    for s in subjects:
        card = s.card
        hits += bool(card["model_details"]["description"]) + bool(card["governance"]["owner"])
        hits += all(c["mitigation"] for c in card["ethical_considerations"])
        evaluation = s.evaluation
        assert evaluation is not None
        results = evaluation.results
        hits += results["performance"]["overall"]["accuracy"] < 0.7
        for groups in results["performance"]["by_group"].values():
            hits += sum(m["accuracy"] < 0.6 for m in groups.values())
        for grouping_ in results["fairness"]:
            hits += grouping_["summary"]["demographic_parity_difference"] > 0.2
            for g in grouping_["groups"]:
                hits += g["impact_ratio"] < 0.8 and g["p_value"] < 0.05
                hits += g["metrics"]["tpr"]["value"] < 0.5
                hits += g["share"] < 0.02
        hits += "age" in results["explanations"]["top_features"][:5]
        assert s.drift is not None
        hits += s.drift.results["features"][0]["psi"] > 0.25
        hits += (NOW - evaluation.created_at).days > 365
        hits += sum(d.action == "approve" for d in s.decisions) < 2
        hits += s.next_validation_due is not None and s.next_validation_due < NOW.date()
        hits += s.artifact_format not in {"skops", "onnx"}
        hits += len(s.waivers)
    return hits


def clear_caches(subjects: list[SubjectSnapshot]) -> None:
    """Forget parsed views, so every timed run parses the documents as a new check would
    (what the loader knows as it decodes, that a document is in shape, is kept)."""
    for s in subjects:
        s.cache.clear()
        for evaluation in (s.evaluation, s.champion and s.champion.evaluation):
            if evaluation is not None:
                checked = evaluation.cache.get(CHECKED)
                evaluation.cache.clear()
                if checked:
                    evaluation.cache[CHECKED] = checked


def timed(function: Callable[[], Any], before: Callable[[], None] = lambda: None) -> float:
    """Best of three; the result of each run is freed before the next starts."""
    best = float("inf")
    for _ in range(3):
        before()
        gc.collect()
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
        del result
    return best


def catalogue(directory: Path, stored: list[tuple[str, str]]) -> str:
    """A real SQLite catalogue with the same versions, written in bulk (setup, not timed)."""
    from sqlalchemy import insert

    from govern.storage import migrate
    from govern.storage.database import Database
    from govern.storage.tables import Decision, DriftRun, Evaluation, Model, ModelVersion, Waiver

    url = f"sqlite:///{directory / 'bench.db'}"
    database = Database(url)
    migrate.upgrade(database)
    card = json.loads(stored[0][0])
    with database.write() as session:
        conn = session.connection()
        conn.execute(
            insert(Model),
            [{"name": "bench", "owner": "alice", "created_at": NOW, "created_by": "alice"}],
        )
        version_rows = [
            {
                "model_id": 1,
                "version": "0.9.0",
                "state": "deployed",
                "risk_tier": "high",
                "card": card,
                "card_sha256": "c" * 64,
                "created_at": NOW,
                "created_by": "alice",
                "updated_at": NOW,
                "artifact_format": "skops",
                "artifact_sha256": "a" * 64,
                # executemany takes its columns from the first row: every row has the same keys
                "next_validation_due": dt.date(2027, 6, 1),
            }
        ]
        evaluations = [evaluation_row(1, stored[0][1], NOW)]
        drifts, decisions, waivers = [], [], []
        for index, (_card, results_json) in enumerate(stored):
            vid = index + 2
            version_rows.append(
                {
                    "model_id": 1,
                    "version": f"1.0.{index}",
                    "state": "approved",
                    "risk_tier": "high",
                    "card": card,
                    "card_sha256": "c" * 64,
                    "artifact_format": "skops",
                    "artifact_sha256": "a" * 64,
                    "next_validation_due": dt.date(2027, 6, 1),
                    "created_at": NOW - dt.timedelta(days=40),
                    "created_by": "alice",
                    "updated_at": NOW,
                }
            )
            evaluations.append(
                evaluation_row(vid, results_json, NOW - dt.timedelta(days=index % 400))
            )
            drifts.append(
                {
                    "version_id": vid,
                    "reference_name": "ref.csv",
                    "reference_sha256": "",
                    "current_name": "cur.csv",
                    "current_sha256": "",
                    "results": {"features": [{"feature": "age", "psi": (index % 7) / 20}]},
                    "created_at": NOW - dt.timedelta(days=index % 120),
                    "created_by": "bob",
                }
            )
            for action, actor, role, days in HISTORY:
                decisions.append(
                    {
                        "version_id": vid,
                        "action": action,
                        "from_state": "",
                        "to_state": "",
                        "actor": actor,
                        "role": role,
                        "created_at": NOW - dt.timedelta(days=days),
                    }
                )
            waivers.append(
                {
                    "version_id": vid,
                    "rule_id": "r05",
                    "reason": "accepted",
                    "granted_by": "dave",
                    "granted_role": "compliance",
                    "expires_on": NOW.date(),
                    "created_at": NOW,
                }
            )
        for table, rows in (
            (ModelVersion, version_rows),
            (Evaluation, evaluations),
            (DriftRun, drifts),
            (Decision, decisions),
            (Waiver, waivers),
        ):
            conn.execute(insert(table), rows)
    return url


HISTORY = (
    ("submit", "alice", "developer", 2),
    ("approve", "carol", "approver", 1),
    ("approve", "erin", "approver", 0),
)


def evaluation_row(version_id: int, results_json: str, at: dt.datetime) -> dict[str, Any]:
    results = json.loads(results_json)
    return {
        "version_id": version_id,
        "dataset_name": "holdout.csv",
        "dataset_sha256": "d" * 64,
        "rows": 0,
        "columns": [],
        "target": "y",
        "positive_label": "1",
        "sensitive_features": ["sex", "age_group"],
        "prediction_source": "model",
        "artifact_sha256": "a" * 64,
        "packages": {},
        "params": {},
        "results": results,
        "created_at": at,
        "created_by": "bob",
    }


def cli_run(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and exit code of one subprocess run."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, check=False)
    return time.perf_counter() - started, done.returncode


def main() -> None:
    from govern.services import checks
    from govern.services import subjects as loading
    from govern.services.context import Context

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    text = policy_text()
    loaded = [parse_policy_text(text, where="bench.yaml")]
    assert len(loaded[0].policy.rules) == 20
    stored = stored_versions(count)
    # The catalogue first, in a process that holds no decoded documents, as govern check
    # --all runs: 10,000 decoded documents held alongside slow every later allocation.
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "bench.yaml").write_text(text, encoding="utf-8")
        url = catalogue(directory, stored)
        ctx = Context.open(database_url=url, user="bench")

        def load() -> list[SubjectSnapshot]:
            with collector_paused(), ctx.read() as session:
                return loading.snapshots_for(session)

        load_s = timed(load)
        fresh: list[list[SubjectSnapshot]] = []
        # Evaluating what was just loaded: no document decoded yet, every run afresh.
        evaluate_s = timed(
            lambda: check(loaded, fresh.pop(), now=NOW).exit_code, lambda: fresh.append(load())
        )
        policy = [str(directory / "bench.yaml")]
        batch_s = timed(lambda: checks.check_versions(ctx, policy, now=NOW).exit_code)
        batch = checks.check_versions(ctx, policy, now=NOW)
        batch_subjects, batch_statuses, batch_exit = (
            len(batch.subjects),
            batch.counts(),
            batch.exit_code,
        )
        del batch
        ctx.db.dispose()
        # The command a CI job runs, against a bare interpreter start (best of three each).
        env = {**os.environ, "GOVERN_DATABASE_URL": url, "GOVERN_USER": "bench"}
        govern = [sys.executable, "-m", "govern"]
        command = [*govern, "check", "--all", "--policy", policy[0], "--format", "text"]
        bare = min(cli_run([sys.executable, "-c", "pass"], env)[0] for _ in range(3))
        helped = min(cli_run([*govern, "--help"], env)[0] for _ in range(3))
        cli = [cli_run(command, env) for _ in range(3)]
        cli_s, cli_exit = min(t for t, _ in cli), {code for _, code in cli}
    decoder = loading.json_decoder()
    decode_s = timed(lambda: [json.loads(r) for _c, r in stored])
    fast_decode_s = timed(lambda: [decoder(r) for _c, r in stored])
    with collector_paused():
        paused_decode_s = timed(lambda: [decoder(r) for _c, r in stored])
        checked_decode_s = timed(lambda: [read_stored(r, {}) for _c, r in stored])
    subjects = snapshots(stored)
    floor_s = timed(lambda: bare_loop(subjects))
    engine_s = timed(
        lambda: check(loaded, subjects, now=NOW).exit_code, lambda: clear_caches(subjects)
    )
    per_subject_s = timed(
        lambda: [evaluate(loaded, s, now=NOW).blocks for s in subjects],
        lambda: clear_caches(subjects),
    )
    built_s = timed(
        lambda: check(loaded, subjects, now=NOW).outcomes, lambda: clear_caches(subjects)
    )
    report = check(loaded, subjects, now=NOW)
    outcomes, statuses = len(report.outcomes), report.counts()
    del report
    per_version = engine_s / count * 1e6
    print(f"{count:,} versions x {len(RULES)} rules = {outcomes:,} outcomes {statuses}")
    print(
        f"end to end on SQLite ({batch_subjects:,} versions incl. the champion, "
        f"exit {batch_exit}): {batch_statuses}"
    )
    print(
        f"  check_versions (load + evaluate): {batch_s:7.3f} s  end-to-end/floor    "
        f"{batch_s / floor_s:5.1f}x"
    )
    print(
        f"  of which loading (snapshots_for): {load_s:7.3f} s  loading/end-to-end  "
        f"{load_s / batch_s:5.1f}x"
    )
    print(
        f"  and evaluating what it loaded:    {evaluate_s:7.3f} s  evaluating/floor    "
        f"{evaluate_s / floor_s:5.1f}x"
    )
    least = checked_decode_s + floor_s  # what a check reading every results document pays
    print(
        f"  documents decoded + bare loop:    {least:7.3f} s  end-to-end/that     "
        f"{batch_s / least:5.1f}x"
    )
    print(
        f"govern check --all (a subprocess):  {cli_s:7.3f} s  exit {sorted(cli_exit)}; "
        f"minus a bare interpreter start ({bare:.3f} s): {cli_s - bare:.3f} s"
    )
    print(
        f"  govern --help:                    {helped:7.3f} s  help/bare start     "
        f"{helped / bare:5.1f}x"
    )
    print(f"engine on decoded documents:        {engine_s:7.3f} s  {per_version:6.1f} us/version")
    print(
        f"bare loop over the same figures:    {floor_s:7.3f} s  engine/floor        "
        f"{engine_s / floor_s:5.1f}x"
    )
    print(
        f"  documents decoded + bare loop:    {least:7.3f} s  engine/that         "
        f"{engine_s / least:5.1f}x  (budget 3x)"
    )
    print(
        f"  deciding each version on its own: {per_subject_s:7.3f} s  per-version/floor   "
        f"{per_subject_s / floor_s:5.1f}x"
    )
    print(
        f"  and every message and evidence:   {built_s:7.3f} s  built/floor         "
        f"{built_s / floor_s:5.1f}x"
    )
    print(
        f"decoding results JSON with json:    {decode_s:7.3f} s  engine/decoding     "
        f"{engine_s / decode_s:5.1f}x"
    )
    print(
        f"  with the services' decoder:       {fast_decode_s:7.3f} s  json/this decoder   "
        f"{decode_s / fast_decode_s:5.1f}x"
    )
    print(
        f"  and the collector paused:         {paused_decode_s:7.3f} s  json/this           "
        f"{decode_s / paused_decode_s:5.1f}x"
    )
    print(
        f"  and its shape checked as decoded: {checked_decode_s:7.3f} s  json/this           "
        f"{decode_s / checked_decode_s:5.1f}x"
    )


if __name__ == "__main__":
    main()
