"""`govern audit verify` at scale: a signed, reconcilable catalogue of N events (default 100,000).

The catalogue is what a busy organisation's looks like after a few years: model versions
registered, evaluated (small results documents, each ``results_sha256`` recorded), checked
against policies, submitted, sent back for changes now and then, approved by one or two people
(the risk tier says how many; a compliance approver for critical models), waived, deployed
(superseding the champion), monitored for drift and reported on, with refused attempts
recorded unsigned; people join, keys are rotated, someone leaves, the settings change once.
Every event is signed by the enrolled key of its actor and every row the event implies is in
the tables, so ``verify_audit`` has the whole chain, every signature and every table to check.

The services run at a few hundred events a second, too slow for 100k, so the bulk is written
with ``govern.storage.audit.append_event`` and SQLAlchemy Core in big transactions, with the
payloads and rows the services write (``govern/services/workflow.py``, ``evaluation.py``,
``checks.py``, ``waivers.py``, ``reports.py``). What says who may sign what goes through the
real services: ``init``, ``users add``, ``keys enrol --replace``, ``users deactivate``,
``settings apply``, ``audit checkpoint``, and one real refused attempt on a fabricated version.
The build asserts that ``verify_audit`` says ok. Once per run (``--no-reference`` skips it) a
small reference catalogue is made with the real services only (``govern demo`` plus the
actions it lacks), verified, and every fabricated event's payload shape is checked against the
shapes of the reference's events of the same action.

Timed, best of ``--repeat`` (the machine is noisy; ratios are what to read):

* ``verify_audit`` in process (chain + signatures + table reconciliation) and a real
  ``govern audit verify`` process, against the 10 s budget (docs/architecture.md §11, issue #20),
  with their CPU seconds, which the load of other processes changes less than wall time (a
  pool's worker processes are not in them: the signatures' CPU cost is the one-process floor);
  the in-process figure runs in this big process, whose pool's forkserver imports this
  script: the command's figure is the one the budget is about;
* floors measured in the same run: a bare interpreter (``python -c pass``), reading the rows
  with sqlite3, hashlib over the very bodies that are hashed, cryptography's verify of the
  very signatures in one process, and split over the cores (``personal_keys.verify_many``);
* where the time goes: govern's own functions called phase by phase (read, hash, decode,
  replay, bodies, signatures, reconciliation), and a cProfile of ``verify_audit`` when it
  misses the budget;
* ``audit checkpoint`` near the end of the log, then ``audit verify --since-checkpoint`` with
  ``--after`` events after the checkpoint (default 1,000 and 10,000): time per event after
  it, which is what "in proportion to the events after it" means.

Run with ``.venv/bin/python benchmarks/bench_audit.py [EVENTS] [--after 1000,10000]
[--repeat 3] [--no-reference] [--keep DIR]`` (about ten minutes at 100,000 events on two
cores, three of them building the catalogue; ``--keep`` leaves the catalogue in a new DIR).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import pstats
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from govern import personal_keys
from govern.config import load_settings
from govern.domain import lifecycle
from govern.domain.governance import GovernanceSettings
from govern.errors import GovernError
from govern.policy.loader import LoadedPolicy, load_policies
from govern.services import Context, catalogue, governance, keys, users, workflow
from govern.services import audit as audit_service
from govern.storage import audit, crud, ledger
from govern.storage.audit import Signer
from govern.storage.tables import (
    Decision,
    DriftRun,
    Evaluation,
    MetricResult,
    Model,
    ModelVersion,
    OrgCertificate,
    PolicyRun,
    Report,
    RuleResult,
    Waiver,
    utcnow,
)

BUDGET_S = 10.0
BUDGET_EVENTS = 100_000
REPO = Path(__file__).resolve().parent.parent
SAMPLE_CARD = REPO / "sample_data" / "credit-risk-1.0.0.card.yaml"
#: Events appended per write transaction while building.
BATCH = 10_000
#: Version lifecycles in flight at once (their events interleave in the log).
STREAMS = 8
VERSIONS_PER_MODEL = 4
CAST = (
    ("alice", "developer", "Alice Ng"),
    ("bob", "validator", "Bob Osei"),
    ("carol", "approver", "Carol Diaz"),
    ("erin", "approver", "Erin Walsh"),
    ("dave", "compliance", "Dave Kim"),
    ("victor", "viewer", "Victor Hale"),
)
TIERS = ("high", "high", "high", "high", "medium", "medium", "medium", "low", "low", "critical")
T = dict[str, Any]


def table(model: Any) -> Any:
    return model.__table__


# --- people and their keys ----------------------------------------------------------------------


@dataclass
class Person:
    name: str
    role: str
    key_dir: Path
    signer: Signer

    @classmethod
    def load(cls, name: str, role: str, key_dir: Path) -> Person:
        key = personal_keys.load(key_dir, passphrase=None)
        return cls(name, role, key_dir, Signer(key.fingerprint, key.sign))


class People:
    """Everyone's home and personal key in ``root``; contexts that act as them."""

    def __init__(self, root: Path, url: str, algorithm: personal_keys.KeyAlgorithm) -> None:
        self.root = root
        self.url = url
        self.algorithm = algorithm
        self.org_keys = root / "org-key"
        self.by_name: dict[str, Person] = {}

    def key_dir(self, name: str, generation: int = 0) -> Path:
        return self.root / name / ("identity" if generation == 0 else f"identity-{generation}")

    def make_key(self, name: str, generation: int = 0) -> Path:
        directory = self.key_dir(name, generation)
        personal_keys.create(directory, algorithm=self.algorithm, passphrase=None)
        return directory

    def ctx(self, name: str, key_dir: Path | None = None) -> Context:
        person = self.by_name.get(name)
        return Context(
            load_settings(
                database_url=self.url,
                user=name,
                home=self.root / name,
                key_dir=key_dir or (person.key_dir if person else self.key_dir(name)),
                org_key_dir=self.org_keys,
            )
        )

    def enrolled(self, name: str, role: str, key_dir: Path) -> Person:
        self.by_name[name] = Person.load(name, role, key_dir)
        return self.by_name[name]


# --- documents the services would store -----------------------------------------------------------


def estimate(k: int, n: int) -> T:
    value = k / n if n else None
    return {"value": value, "lower": value, "upper": value, "successes": k, "trials": n}


def results_document(rng: random.Random, dataset_sha: str, artifact_sha: str | None) -> T:
    """A small evaluation results document (about 2 KB): two groups of one feature."""
    rates = {"female": rng.uniform(0.55, 0.8), "male": rng.uniform(0.6, 0.8)}
    top = max(rates.values())
    groups = [
        {
            "group": label,
            "values": {"sex": label},
            "n": 100,
            "share": 0.5,
            "small": False,
            "metrics": {
                "selection_rate": estimate(round(rate * 100), 100),
                "tpr": estimate(70, 80),
                "fpr": estimate(10, 20),
                "fnr": estimate(10, 80),
                "precision": estimate(70, 80),
                "accuracy": estimate(rng.randint(70, 85), 100),
            },
            "impact_ratio": rate / top,
            "flags": [],
        }
        for label, rate in rates.items()
    ]
    ratios = [g["impact_ratio"] for g in groups]
    accuracy = rng.uniform(0.7, 0.85)
    return {
        "schema": 1,
        "task": "binary_classification",
        "dataset": {
            "name": "holdout.csv",
            "sha256": dataset_sha,
            "rows": 200,
            "columns": ["sex", "y", "pred"],
        },
        "target": "y",
        "positive_label": "1",
        "sensitive_features": ["sex"],
        "prediction_source": "model" if artifact_sha else "predictions",
        "min_group_size": 30,
        "seed": 0,
        "packages": {"numpy": "2.4.6", "govern": "0.1.0"},
        "artifact_sha256": artifact_sha,
        "performance": {"overall": {"accuracy": accuracy, "roc_auc": accuracy + 0.03}},
        "fairness": [
            {
                "name": "sex",
                "features": ["sex"],
                "kind": "single",
                "reference_group": max(rates, key=lambda k: rates[k]),
                "groups": groups,
                "summary": {
                    "demographic_parity_difference": abs(rates["female"] - rates["male"]),
                    "demographic_parity_ratio": min(ratios),
                    "min_impact_ratio": min(ratios),
                },
            }
        ],
        "warnings": [],
    }


def drift_document(rng: random.Random, reference: str, current: str) -> T:
    psi = rng.uniform(0.0, 0.3)
    return {
        "schema": 1,
        "reference": {"name": "train.csv", "sha256": reference, "rows": 700},
        "current": {"name": "holdout.csv", "sha256": current, "rows": 300},
        "bins": 10,
        "features": [
            {"feature": name, "kind": "numeric", "psi": rng.uniform(0, 0.2), "band": "stable"}
            for name in ("age", "credit_amount", "month")
        ],
        "prediction": {"psi": psi, "band": "moderate" if psi >= 0.1 else "stable"},
        "warnings": [],
    }


def sha(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


# --- the catalogue, event by event ---------------------------------------------------------------


@dataclass
class Version:
    id: int
    model_id: int
    ref: str
    tier: str
    card_sha: str
    author: str
    card_due: dt.date
    artifact: T | None
    state: str = "draft"
    due: dt.date | None = None
    last_run: int | None = None
    evaluation: T | None = None
    round: list[lifecycle.Approval] = field(default_factory=list)
    submitters: set[str] = field(default_factory=set)


class Fabricator:
    """Appends signed events with ``append_event`` and writes the rows each one implies, as the
    services do, in the caller's transaction."""

    def __init__(self, people: People, db: Any, seed: int = 0) -> None:
        self.people = people
        self.db = db
        self.rng = random.Random(seed)
        self.policies: list[LoadedPolicy] = load_policies(["baseline"])
        base = catalogue.load_card(SAMPLE_CARD, max_bytes=1_000_000).to_json_dict()
        base["governance"]["regulatory_scope"] = []  # bound policies: the baseline only
        self.card = base
        self.champions: dict[int, Version] = {}
        self.model_ids: dict[str, int] = {}
        self.gone: set[str] = set()
        self.last: Version | None = None
        self.actions: set[str] = set()
        self.rows: dict[Any, list[T]] = {}
        self.version_updates: dict[int, Version] = {}
        self.ids: dict[str, int] = {}
        self.events = 0
        self.conn: Connection | None = None
        self.session: Any = None
        self.streams = [self.stream(s) for s in range(STREAMS)]
        self.turn = 0
        self.held: tuple[int, Callable[[], None]] | None = None
        self.org: T = {}
        self.sync()

    # state shared with the real services ----------------------------------------------------

    def sync(self) -> None:
        """Read what the real services may have changed: ids, head, settings, org key."""
        with self.db.read() as session:
            conn = session.connection()
            for model in (Model, ModelVersion, Evaluation, PolicyRun, RuleResult, Decision):
                self.ids[model.__tablename__] = self._max(conn, model)
            for model in (Waiver, Report, DriftRun, MetricResult):
                self.ids[model.__tablename__] = self._max(conn, model)
            self.events = audit.head(conn)[0]
            self.catalogue_id = crud.get_meta(session=session, key="catalogue_id") or ""
            self.revision = crud.latest_settings_revision(session=session)
            self.rules = crud.get_settings(session=session, revision=self.revision)
            org = conn.execute(
                select(
                    func.min(table(OrgCertificate).c.fingerprint),
                    func.min(table(OrgCertificate).c.subject),
                )
            ).first()
            self.org = {"fingerprint": org[0], "subject": org[1]} if org and org[0] else {}

    @staticmethod
    def _max(conn: Connection, model: Any) -> int:
        return int(conn.execute(select(func.max(table(model).c.id))).scalar() or 0)

    def next_id(self, model: Any) -> int:
        self.ids[model.__tablename__] += 1
        return self.ids[model.__tablename__]

    # one write transaction -------------------------------------------------------------------

    def run(self, until: int) -> None:
        """Append events until the log holds ``until``, in transactions of BATCH events."""
        while self.events < until:
            with self.db.write() as session:
                self.session, self.conn = session, session.connection()
                stop = min(until, self.events + BATCH)
                while self.events < stop:
                    size, unit = self.held or self.next_unit()
                    self.held = None
                    if size > stop - self.events:
                        self.held = (size, unit)  # runs first in the next transaction
                        self.filler()
                    else:
                        unit()
                self.flush()
            self.session = self.conn = None

    def next_unit(self) -> tuple[int, Callable[[], None]]:
        self.turn = (self.turn + 1) % len(self.streams)
        return next(self.streams[self.turn])

    def flush(self) -> None:
        assert self.conn is not None
        for model in (PolicyRun, RuleResult, Decision, Waiver, Report, DriftRun, MetricResult):
            rows = self.rows.pop(model, [])
            if rows:
                self.conn.execute(insert(table(model)), rows)
        if self.version_updates:
            versions = table(ModelVersion)
            now = utcnow()
            self.conn.execute(
                update(versions)
                .where(versions.c.id == bindparam("vid"))
                .values(state=bindparam("new_state"), next_validation_due=bindparam("new_due"))
                .values(updated_at=now),
                [
                    {"vid": v.id, "new_state": v.state, "new_due": v.due}
                    for v in self.version_updates.values()
                ],
            )
            self.version_updates.clear()

    def event(self, person: Person | None, action: str, subject: str, payload: T) -> None:
        """One event; ``person`` None is a refused attempt (unsigned, as ``record_refusal``)."""
        assert self.conn is not None
        self.actions.add(action)
        audit.append_event(
            self.conn,
            actor=person.name if person else payload.pop("_actor"),
            action=action,
            subject=subject,
            payload=payload,
            catalogue_id=self.catalogue_id,
            settings_revision=self.revision,
            signer=person.signer if person else None,
        )
        self.events += 1

    def refused(self, name: str, action: str, subject: str, reason: str) -> None:
        presented = self.people.by_name[name].signer.fingerprint
        self.event(
            None,
            f"{action}.refused",
            subject,
            {"_actor": name, "reason": reason, "presented_key": presented},
        )

    def filler(self) -> None:
        """A one-event unit for the end of a transaction: a viewer's refused attempt."""
        self.refused(
            "victor",
            "version.approve",
            "model-0000@1.0.0",
            "victor is a viewer and cannot approve model-0000@1.0.0; that needs the role "
            "approver or compliance",
        )

    def who(self, name: str) -> Person:
        return self.people.by_name[name]

    # the version lifecycle ---------------------------------------------------------------------

    def stream(self, index: int) -> Iterator[tuple[int, Callable[[], None]]]:
        """Version after version of the models this stream owns, unit by unit."""
        model_number = index
        while True:
            for minor in range(VERSIONS_PER_MODEL):
                yield from self.lifecycle(model_number, minor)
            model_number += STREAMS

    def lifecycle(self, model_number: int, minor: int) -> Iterator[tuple[int, Callable[[], None]]]:
        rng = self.rng
        holder: dict[str, Version] = {}
        developer = rng.choice(self.developers())
        yield 1, lambda: holder.setdefault("v", self.register(model_number, minor, developer))
        version = holder["v"]
        yield 1, lambda: self.evaluate(version, "bob")
        yield 1, lambda: self.check(version, "policy.check", "bob", stage="check")
        yield 1, lambda: self.transition(version, "submit", self.acting(version), comment="review")
        if rng.random() < 0.15:
            yield (
                1,
                lambda: self.transition(
                    version, "request_changes", "bob", comment="add the intersectional figures"
                ),
            )
            yield 1, lambda: self.evaluate(version, self.acting(version))
            yield (
                1,
                lambda: self.transition(version, "submit", self.acting(version), comment="redone"),
            )
        if rng.random() < 0.1:
            yield 1, lambda: self.own_approval(version)
        if rng.random() < 0.04:
            yield 1, lambda: self.transition(version, "reject", "carol", comment="not fit")
            return
        if rng.random() < 0.2:
            yield 1, lambda: self.waive(version)
        approvers = ["carol", "dave"] if version.tier == "critical" else ["carol", "erin"]
        rng.shuffle(approvers)
        need = int(self.rules.approvals_by_tier.get(version.tier, 1))
        for approver in approvers[: max(need, 1)]:
            yield 2, lambda who=approver: self.approve(version, who)
        yield 3 if version.model_id in self.champions else 2, lambda: self.deploy(version)
        yield 1, lambda: self.report(version, rng.choice(["carol", "victor", "bob"]))
        if rng.random() < 0.3:
            yield 1, lambda: self.drift(version)

    def developers(self) -> list[str]:
        people = self.people.by_name.values()
        return [p.name for p in people if p.role == "developer" and p.name not in self.gone]

    def acting(self, version: Version) -> str:
        """Who takes the author's steps: the registrant, or alice once they have left."""
        return "alice" if version.author in self.gone else version.author

    def own_approval(self, version: Version) -> None:
        """The author tries to approve their own version: refused, recorded unsigned."""
        author = self.acting(version)
        did = "registered" if author == version.author else "submitted"
        self.refused(
            author,
            "version.approve",
            version.ref,
            f"{author} {did} {version.ref} and cannot validate or approve it",
        )

    def register(self, model_number: int, minor: int, developer: str) -> Version:
        assert self.conn is not None
        name = f"model-{model_number:04d}"
        number = f"1.{minor}.0"
        ref = f"{name}@{number}"
        now = utcnow()
        tier = self.rng.choice(TIERS)
        card = json.loads(json.dumps(self.card))
        card["model_details"].update(name=name, version=number)
        card["governance"].update(risk_tier=tier, owner=developer)
        # Earlier than any tier's revalidation cadence: approval keeps the card's date.
        card_due = crud.today() + dt.timedelta(days=60 + model_number % 240)
        card["governance"]["next_validation_due"] = card_due.isoformat()
        digest = catalogue.card_sha256(card)
        if minor == 0:
            model_id = self.next_id(Model)
            self.conn.execute(
                insert(table(Model)),
                {
                    "id": model_id,
                    "name": name,
                    "owner": developer,
                    "business_owner": card["governance"].get("business_owner") or "",
                    "business_unit": card["governance"].get("business_unit") or "",
                    "description": card["model_details"]["description"],
                    "created_at": now,
                    "created_by": developer,
                },
            )
            self.model_ids[name] = model_id
        else:
            model_id = self.model_ids[name]
        artifact = (
            {"sha256": sha("artifact", ref), "size": 150_000 + minor, "format": "skops"}
            if self.rng.random() < 0.8
            else None
        )
        version = Version(
            self.next_id(ModelVersion), model_id, ref, tier, digest, developer, card_due, artifact
        )
        version.due = card_due
        self.last = version
        self.conn.execute(
            insert(table(ModelVersion)),
            {
                "id": version.id,
                "model_id": model_id,
                "version": number,
                "state": "draft",
                "risk_tier": tier,
                "card": card,
                "card_sha256": digest,
                "artifact_sha256": artifact["sha256"] if artifact else None,
                "artifact_size": artifact["size"] if artifact else None,
                "artifact_format": artifact["format"] if artifact else None,
                "artifact_path": f"/srv/models/{name}-{number}.skops" if artifact else None,
                "next_validation_due": card_due,
                "created_at": now,
                "created_by": developer,
                "updated_at": now,
            },
        )
        self.event(
            self.who(developer),
            "version.register",
            ref,
            {
                "card_sha256": digest,
                "card_file": f"cards/{name}-{number}.card.yaml",
                "risk_tier": tier,
                "next_validation_due": card_due.isoformat(),
                "artifact": artifact,
            },
        )
        return version

    def evaluate(self, version: Version, actor: str) -> None:
        assert self.conn is not None and self.session is not None
        dataset = sha("holdout", version.ref, self.events)
        artifact_sha = version.artifact["sha256"] if version.artifact else None
        document = results_document(self.rng, dataset, artifact_sha)
        evaluation_id = self.next_id(Evaluation)
        self.conn.execute(
            insert(table(Evaluation)),
            {
                "id": evaluation_id,
                "version_id": version.id,
                "dataset_name": "holdout.csv",
                "dataset_sha256": dataset,
                "rows": 200,
                "columns": ["sex", "y", "pred"],
                "target": "y",
                "positive_label": "1",
                "sensitive_features": ["sex"],
                "prediction_source": document["prediction_source"],
                "artifact_sha256": artifact_sha,
                "packages": document["packages"],
                "seed": 0,
                "params": {"data": "holdout.csv", "target": "y", "sensitive": ["sex"], "seed": 0},
                "results": document,
                "created_at": utcnow(),
                "created_by": actor,
            },
        )
        results_sha = crud.stored_sha256(
            connection=self.conn,
            column=table(Evaluation).c.results,
            key=table(Evaluation).c.id,
            ids=[evaluation_id],
        )[evaluation_id]
        for name, value in document["performance"]["overall"].items():
            self.rows.setdefault(MetricResult, []).append(
                {
                    "id": self.next_id(MetricResult),
                    "evaluation_id": evaluation_id,
                    "name": name,
                    "value": value,
                    "lower": None,
                    "upper": None,
                    "feature": None,
                    "group": None,
                }
            )
        version.evaluation = {"id": evaluation_id, "results_sha256": results_sha}
        self.event(
            self.who(actor),
            "evaluation.create",
            version.ref,
            {
                "evaluation_id": evaluation_id,
                "results_sha256": results_sha,
                "dataset": {"name": "holdout.csv", "sha256": dataset, "rows": 200},
                "target": "y",
                "positive_label": "1",
                "sensitive_features": ["sex"],
                "prediction_source": document["prediction_source"],
                "artifact": {
                    "sha256": artifact_sha,
                    "format": version.artifact["format"] if version.artifact else None,
                },
                "trust_pickle": False,
                "seed": 0,
                "min_impact_ratio": {"sex": document["fairness"][0]["summary"]["min_impact_ratio"]},
                "explanations": 0,
            },
        )

    def drift(self, version: Version) -> None:
        assert self.conn is not None
        reference, current = sha("train", version.ref), sha("live", version.ref, self.events)
        document = drift_document(self.rng, reference, current)
        run_id = self.next_id(DriftRun)
        self.conn.execute(
            insert(table(DriftRun)),
            {
                "id": run_id,
                "version_id": version.id,
                "reference_name": "train.csv",
                "reference_sha256": reference,
                "current_name": "holdout.csv",
                "current_sha256": current,
                "results": document,
                "created_at": utcnow(),
                "created_by": "bob",
            },
        )
        results_sha = crud.stored_sha256(
            connection=self.conn,
            column=table(DriftRun).c.results,
            key=table(DriftRun).c.id,
            ids=[run_id],
        )[run_id]
        self.event(
            self.who("bob"),
            "drift.run",
            version.ref,
            {
                "drift_run_id": run_id,
                "results_sha256": results_sha,
                "reference": {"name": "train.csv", "sha256": reference},
                "current": {"name": "holdout.csv", "sha256": current},
                "drifted": [],
                "prediction_psi": document["prediction"]["psi"],
                "trust_pickle": False,
                "unpickled": False,
            },
        )

    def check(self, version: Version, action: str, actor: str, *, stage: str) -> T:
        """A policy run of the baseline pack (``policy.check`` or, inside a decision,
        ``policy.gate``); returns what the decision's evidence records of it."""
        at = utcnow()
        run_id = self.next_id(PolicyRun)
        statuses = ["pass"] * 7
        if stage == "approve":
            statuses[5] = "not-applicable"  # validation_due is deferred at approval
        counts = {"pass": 0, "fail": 0, "waived": 0, "not-applicable": 0, "error": 0, "manual": 0}
        for status in statuses:
            counts[status] += 1
        policy = self.policies[0]
        summary = {
            "subject": version.ref,
            "outcome": "pass",
            "counts": counts,
            "blocking": [],
            "waived": [],
        }
        self.rows.setdefault(PolicyRun, []).append(
            {
                "id": run_id,
                "version_id": version.id,
                "policies": [policy.describe()],
                "outcome": "pass",
                "summary": {**summary, "checked_at": at.isoformat(), "stage": stage},
                "created_at": at,
                "created_by": actor,
            }
        )
        for rule, status in zip(policy.policy.rules, statuses, strict=False):
            self.rows.setdefault(RuleResult, []).append(
                {
                    "id": self.next_id(RuleResult),
                    "policy_run_id": run_id,
                    "policy_id": policy.id,
                    "rule_id": rule.id,
                    "subject": version.ref,
                    "status": status,
                    "severity": rule.severity,
                    "title": rule.title,
                    "message": "met" if status == "pass" else "deferred",
                    "source": rule.source,
                    "evidence": {
                        "kind": rule.kind,
                        "evidence": {},
                        "waiver": None,
                        "blocking": False,
                        "location": {"path": policy.path, "line": 1},
                    },
                }
            )
        payload = {
            "policy_run_id": run_id,
            "policies": [
                {"id": policy.id, "version": policy.policy.version, "sha256": policy.sha256}
            ],
            "outcome": "pass",
            "counts": counts,
            "blocking": [],
            "waived": [],
        }
        if action == "policy.gate":
            payload["stage"] = stage
        version.last_run = run_id
        self.event(self.who(actor), action, version.ref, payload)
        return {"id": run_id, "policies": [policy.id], "outcome": "pass"}

    def decision(
        self,
        version: Version,
        action: str,
        actor: str,
        from_state: str,
        to_state: str,
        comment: str,
    ) -> int:
        decision_id = self.next_id(Decision)
        self.rows.setdefault(Decision, []).append(
            {
                "id": decision_id,
                "version_id": version.id,
                "action": action,
                "from_state": from_state,
                "to_state": to_state,
                "actor": actor,
                "role": self.who(actor).role,
                "comment": comment,
                "created_at": utcnow(),
                "settings_revision": self.revision,
            }
        )
        version.state = to_state
        self.version_updates[version.id] = version
        return decision_id

    def transition(
        self,
        version: Version,
        action: str,
        actor: str,
        *,
        comment: str = "",
        gate: T | None = None,
        approvals: str | None = None,
        to_state: str | None = None,
        superseded: str | None = None,
    ) -> None:
        """A decision as ``workflow.transition`` records it (row, version, signed event)."""
        before = version.state
        target = to_state or str(lifecycle.next_state(lifecycle.State(before), action))
        if action == "submit":
            version.round = []
            version.submitters.add(actor)
        recorded: T = {
            "evidence": {
                "card_sha256": version.card_sha,
                "evaluation": version.evaluation,
                "policy_run": gate,
            }
        }
        if target == "approved" and before != "approved":
            due = self.rules.next_validation_due(crud.today(), version.tier, version.card_due)
            recorded["next_validation_due"] = due.isoformat()
            recorded["due_rule"] = self.rules.validation_due
            if version.due != due:
                recorded["previous_validation_due"] = (
                    version.due.isoformat() if version.due else None
                )
            version.due = due
        recorded["decision_id"] = self.decision(version, action, actor, before, target, comment)
        self.event(
            self.who(actor),
            f"version.{action}",
            version.ref,
            {
                "from_state": before,
                "to_state": target,
                "comment": comment,
                "role": self.who(actor).role,
                "approvals": approvals,
                "superseded": superseded,
                **recorded,
            },
        )

    def approve(self, version: Version, approver: str) -> None:
        gate = self.check(version, "policy.gate", approver, stage="approve")
        version.round.append(lifecycle.Approval(approver, self.who(approver).role))
        count = lifecycle.quorum(
            version.tier,
            version.round,
            required_by_tier=self.rules.approvals_by_tier,
            compliance_tiers=self.rules.compliance_approval_tiers,
        )
        self.transition(
            version,
            "approve",
            approver,
            comment="within policy",
            gate=gate,
            approvals=count.describe(),
            to_state="approved" if count.met else "submitted",
        )

    def deploy(self, version: Version) -> None:
        if version.state != "approved":  # a quorum the tier did not reach: nothing to deploy
            self.filler()
            self.filler()
            return
        gate = self.check(version, "policy.gate", "carol", stage="deploy")
        model = version.model_id
        champion = self.champions.get(model)
        superseded = None
        if champion is not None:
            comment = f"superseded by {version.ref}"
            decision_id = self.decision(
                champion, "supersede", "carol", "deployed", "retired", comment
            )
            self.event(
                self.who("carol"),
                "version.supersede",
                champion.ref,
                {
                    "from_state": "deployed",
                    "to_state": "retired",
                    "comment": comment,
                    "role": self.who("carol").role,
                    "decision_id": decision_id,
                },
            )
            superseded = champion.ref
        self.transition(
            version, "deploy", "carol", comment="go live", gate=gate, superseded=superseded
        )
        self.champions[model] = version

    def waive(self, version: Version) -> None:
        waiver_id = self.next_id(Waiver)
        expires = crud.today() + dt.timedelta(days=90)
        rule = f"{self.policies[0].id}/{self.policies[0].policy.rules[0].id}"
        reason = "accepted for the shadow period; remediation planned"
        self.rows.setdefault(Waiver, []).append(
            {
                "id": waiver_id,
                "version_id": version.id,
                "rule_id": rule,
                "reason": reason,
                "granted_by": "dave",
                "granted_role": "compliance",
                "expires_on": expires,
                "created_at": utcnow(),
            }
        )
        self.event(
            self.who("dave"),
            "waiver.grant",
            version.ref,
            {
                "waiver_id": waiver_id,
                "rule": rule,
                "reason": reason,
                "expires_on": expires.isoformat(),
                "role": "compliance",
            },
        )

    def report(self, version: Version, actor: str) -> None:
        report_id = self.next_id(Report)
        signed = bool(self.org) and self.rng.random() < 0.5
        form = "pdf" if signed else "html"
        digest, card_digest = sha("report", report_id), sha("card", version.ref, report_id)
        path = f"/srv/reports/{version.ref.replace('@', '-')}-{report_id}.{form}"
        self.rows.setdefault(Report, []).append(
            {
                "id": report_id,
                "version_id": version.id,
                "format": form,
                "sha256": digest,
                "card_sha256": card_digest,
                "signer": self.org["subject"] if signed else None,
                "path": path,
                "created_at": utcnow(),
                "created_by": actor,
            }
        )
        self.event(
            self.who(actor),
            "report.build",
            version.ref,
            {
                "report_id": report_id,
                "format": form,
                "path": path,
                "sha256": digest,
                "card_sha256": card_digest,
                "signed": signed,
                "signer": self.org["subject"] if signed else None,
                "signer_fingerprint": self.org["fingerprint"] if signed else None,
                "evaluation_id": version.evaluation["id"] if version.evaluation else None,
                "policy_run_id": version.last_run,
            },
        )


# --- building it: the real services for the registry, the fabricator for the bulk ----------------


def setup(people: People) -> Context:
    """The catalogue, its first admin, the cast with their keys, the organisation's key."""
    people.make_key("admin")
    admin = people.ctx("admin")
    catalogue.init_catalogue(admin, display_name="Ada Admin")
    people.enrolled("admin", "admin", people.key_dir("admin"))
    for name, role, display in CAST:
        directory = people.make_key(name)
        users.add_user(
            admin, name, role=role, display_name=display, key=directory / "identity.pub.pem"
        )
        people.enrolled(name, role, directory)
    keys.org_init(admin, common_name="govern cards", organization="Bench Bank")
    return admin


def interludes(fab: Fabricator, people: People, admin: Context) -> list[Callable[[], None]]:
    """What happens now and then, through the real services (each one signed event)."""

    def join(name: str) -> Callable[[], None]:
        def run() -> None:
            directory = people.make_key(name)
            users.add_user(admin, name, role="developer", key=directory / "identity.pub.pem")
            people.enrolled(name, "developer", directory)

        return run

    def rotate(name: str) -> Callable[[], None]:
        def run() -> None:
            person = people.by_name[name]
            directory = people.make_key(name, generation=1)
            keys.enrol_key(
                admin, name, directory / "identity.pub.pem", label="new laptop", replace=True
            )
            people.enrolled(name, person.role, directory)

        return run

    def settings() -> None:
        document = {**admin.governance.document(), "due_soon_days": 45}
        governance.apply(admin, GovernanceSettings.model_validate(document), source="org.yaml")

    def refusal() -> None:
        version = fab.last
        assert version is not None
        ctx = people.ctx(fab.acting(version))
        try:
            workflow.approve(ctx, version.ref, comment="looks right to me")
        except GovernError:
            return
        finally:
            ctx.close()
        raise AssertionError("an author's own approval was not refused")

    def leave() -> None:
        users.deactivate(admin, "dev-01", reason="left the company")
        fab.gone.add("dev-01")

    return [join("dev-01"), rotate("bob"), settings, join("dev-02"), refusal, leave]


def build(
    fab: Fabricator, people: People, admin: Context, target: int, afters: list[int], out: Path
) -> list[tuple[Path, int, float]]:
    """Fill the log to ``target`` events; checkpoints ``afters`` events before the end."""
    steps = interludes(fab, people, admin)
    before = target - max(afters)
    schedule: list[tuple[int, Callable[[], None] | None]] = [
        (before * (i + 1) // (len(steps) + 1), step) for i, step in enumerate(steps)
    ]
    schedule += [(target - after, None) for after in sorted(afters, reverse=True)]
    made: list[tuple[Path, int, float]] = []
    for point, step in schedule:
        fab.run(max(point, fab.events))
        if step is None:
            started = time.perf_counter()
            written = audit_service.write_checkpoint(admin, out)
            made.append((Path(written["path"]), written["seq"], time.perf_counter() - started))
        else:
            step()
        fab.sync()
    fab.run(target)
    return made


# --- is it what the services write? --------------------------------------------------------------


Shape = Any


#: Payload fields whose keys are data (grouping names), not structure.
MAPS = frozenset({"min_impact_ratio"})


def shape(value: Any) -> Shape:
    """The structure of a payload: keys and kinds (None matches any kind)."""
    if isinstance(value, dict):
        return tuple(sorted((k, "map" if k in MAPS else shape(v)) for k, v in value.items()))
    if isinstance(value, list):
        return "list"
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def compatible(a: Shape, b: Shape) -> bool:
    if a is None or b is None:
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return [k for k, _ in a] == [k for k, _ in b] and all(
            compatible(x, y) for (_, x), (_, y) in zip(a, b, strict=True)
        )
    return bool(a == b)


def event_shapes(url: str) -> dict[tuple[str, bool], set[Shape]]:
    """(action, signed) -> the payload shapes of the events in the catalogue at ``url``."""
    found: dict[tuple[str, bool], set[Shape]] = {}
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        for action, payload, key, signature, form, revision in conn.execute(
            "SELECT action, payload, key_fingerprint, signature, format, settings_revision "
            "FROM audit_event"
        ):
            assert form == audit.SIGNED_FORMAT and isinstance(revision, int)
            signed = key is not None and signature is not None
            found.setdefault((action, signed), set()).add(shape(json.loads(payload)))
    finally:
        conn.close()
    return found


def reference_catalogue(directory: Path) -> str:
    """``govern demo`` (real services only), plus the actions it does not take."""
    from govern.services import reports
    from govern.services.demo import build_demo

    result = build_demo(directory, lambda _line: None)
    root, org = directory / "people", directory / "org-key"

    opened: dict[str, Context] = {}

    def ctx(user: str) -> Context:
        if user not in opened:
            opened[user] = Context(
                load_settings(
                    database_url=result.database_url,
                    user=user,
                    home=root / user,
                    key_dir=root / user / "identity",
                    org_key_dir=org,
                )
            )
        return opened[user]

    admin = ctx("admin")
    relaxed = dict.fromkeys(admin.governance.promotion_max_regression, 1.0)
    document = {**admin.governance.document(), "promotion_max_regression": relaxed}
    governance.apply(admin, GovernanceSettings.model_validate(document), source="org.yaml")
    workflow.deploy(ctx("carol"), "credit-risk@1.1.0", comment="promote the challenger")
    card = directory / "credit-risk-1.2.0.card.yaml"
    card.write_text(SAMPLE_CARD.read_text().replace("version: 1.0.0", "version: 1.2.0"))
    catalogue.register_version(ctx("alice"), card)
    workflow.submit(ctx("alice"), "credit-risk@1.2.0", comment="third try")
    workflow.request_changes(ctx("bob"), "credit-risk@1.2.0", comment="evaluate it first")
    workflow.submit(ctx("alice"), "credit-risk@1.2.0", comment="again")
    workflow.reject(ctx("carol"), "credit-risk@1.2.0", comment="not fit for use")
    new_key = root / "erin" / "identity-1"
    personal_keys.create(new_key, passphrase=None)
    keys.enrol_key(admin, "erin", new_key / "identity.pub.pem", label="new laptop", replace=True)
    dev_key = root / "dev-01" / "identity"
    personal_keys.create(dev_key, passphrase=None)
    users.add_user(admin, "dev-01", role="developer", key=dev_key / "identity.pub.pem")
    users.deactivate(admin, "dev-01", reason="left the company")
    reports.build_report(
        ctx("victor"), "credit-risk@1.1.0", format="html", output=directory / "card.html"
    )
    verdict = audit_service.verify_audit(ctx("victor"))
    for opened_ctx in opened.values():
        opened_ctx.close()
    assert verdict.ok, verdict.problems[:5]
    return result.database_url


def check_shapes(fabricated: str, reference: str, actions: set[str]) -> str:
    """Every fabricated event's (action, signed, payload shape) occurs in the reference;
    ``actions`` are those the fabricator wrote (the rest came from the services)."""
    made, real = event_shapes(fabricated), event_shapes(reference)
    made = {kind: shapes for kind, shapes in made.items() if kind[0] in actions}
    problems = []
    for kind, shapes in made.items():
        for one in shapes:
            if not any(compatible(one, theirs) for theirs in real.get(kind, ())):
                problems.append(f"{kind[0]} ({'signed' if kind[1] else 'unsigned'}): {one}")
    assert not problems, "fabricated events unlike the services':\n" + "\n".join(problems[:5])
    count = sum(len(s) for s in made.values())
    return f"{count} payload shapes of {len(made)} kinds of event, all as the services write them"


# --- floors and phases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Best wall-clock seconds and best CPU seconds of some runs (CPU: this process, or for a
    subprocess the process itself: worker processes of a pool are not counted)."""

    wall: float
    cpu: float


def best(times: int, run: Callable[[], object]) -> Timing:
    walls, cpus = [], []
    for _ in range(times):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process(times: int, *argv: str, env: dict[str, str] | None = None) -> Timing:
    walls, cpus = [], []
    for _ in range(times):
        started, cpu = time.perf_counter(), children_cpu()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        walls.append(time.perf_counter() - started)
        cpus.append(children_cpu() - cpu)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    return Timing(min(walls), min(cpus))


@dataclass
class Floors:
    read: Timing
    hash: Timing
    verify: Timing
    pool: Timing
    bodies: int
    size: int


def floors(path: Path, catalogue_id: str, times: int) -> Floors:
    """What any verifier pays at least: reading the rows, hashing the very bodies that are
    hashed, checking the very signatures (cryptography alone; then over every core)."""
    columns = (
        "seq, ts, actor, action, subject, payload, prev_hash, hash, format, key_fingerprint, "
        "settings_revision, signature"
    )

    def read() -> list[Any]:
        conn = sqlite3.connect(path)
        try:
            return conn.execute(f"SELECT {columns} FROM audit_event ORDER BY seq").fetchall()
        finally:
            conn.close()

    read_t = best(times, read)
    records = [audit.AuditRecord(*row) for row in read()]
    bodies = [r.body(catalogue_id) for r in records]
    sha256 = hashlib.sha256

    def hashing() -> None:
        for body in bodies:
            sha256(body).hexdigest()

    hash_t = best(times, hashing)
    conn = sqlite3.connect(path)
    pems = dict(conn.execute("SELECT fingerprint, public_key FROM user_key").fetchall())
    conn.close()
    first = records[0].data.get("key") or {}
    pems[first.get("fingerprint")] = first.get("public_key")
    loaded = {fp: personal_keys.load_public_key(pem) for fp, pem in pems.items() if pem}
    signed = [(r, b) for r, b in zip(records, bodies, strict=True) if r.signature]
    items = [(loaded[r.key], b, base64.b64decode(r.signature or "")) for r, b in signed]
    ecdsa = ec.ECDSA(hashes.SHA256())

    def verify() -> None:
        for public, body, signature in items:
            if isinstance(public, ed25519.Ed25519PublicKey):
                public.verify(signature, body)
            else:
                public.verify(signature, body, ecdsa)  # type: ignore[call-arg, union-attr]

    verify_t = best(min(times, 2), verify)
    with_pems = [(pems[r.key], b, base64.b64decode(r.signature or "")) for r, b in signed]
    pool_t = best(min(times, 2), lambda: personal_keys.verify_many(with_pems))
    return Floors(read_t, hash_t, verify_t, pool_t, len(items), sum(map(len, bodies)))


def phases(ctx: Context) -> list[tuple[str, Timing]]:
    """govern's own functions, one phase at a time, as ``verify_audit`` chains them."""
    spent: list[tuple[str, Timing]] = []

    def timed(label: str, run: Callable[[], Any]) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        value = run()
        spent.append((label, Timing(time.perf_counter() - started, time.process_time() - cpu)))
        return value

    with ctx.read() as session:
        conn = session.connection()
        cid = crud.get_meta(session=session, key="catalogue_id") or ""
        rows = timed("read the rows (audit.iter_rows)", lambda: list(audit.iter_rows(conn)))
        records = timed(
            "check and wrap them (malformed, record_of)",
            lambda: [audit.record_of(r) for r in rows if audit.malformed(r) is None],
        )
        timed(
            "hash (expected_hash: body + SHA-256)", lambda: [r.expected_hash(cid) for r in records]
        )
        datas = timed("decode payloads (decode_payload)", lambda: [r.data for r in records])
        book = ledger.Ledger()

        def replay() -> list[tuple[str, audit.AuditRecord]]:
            pending = []
            for record, data in zip(records, datas, strict=True):
                pem = book.authorise(record, data)
                if pem is not None and record.signature is not None:
                    pending.append((pem, record))
                book.apply(record, data)
            return pending

        pending = timed("replay (Ledger.authorise + apply)", replay)
        items = timed(
            "signed bodies (the walk reuses the hash's)",
            lambda: [(p, r.body(cid), base64.b64decode(r.signature or "")) for p, r in pending],
        )
        failed = timed(
            "signatures (personal_keys.verify_many)", lambda: personal_keys.verify_many(items)
        )
        assert not failed
        findings = timed(
            "reconcile the tables (ledger.compare)", lambda: ledger.compare(conn, book)
        )
        assert not findings, findings[:3]
    return spent


def profile(ctx: Context, top: int = 18) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    audit_service.verify_audit(ctx)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --- the run --------------------------------------------------------------------------------------


def table_sizes(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        names = ("model_version", "evaluation", "policy_run", "decision", "waiver", "report")
        counts = {n: conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}
        counts["drift_run"] = conn.execute("SELECT count(*) FROM drift_run").fetchone()[0]
        counts["user_key"] = conn.execute("SELECT count(*) FROM user_key").fetchone()[0]
    finally:
        conn.close()
    return ", ".join(f"{n} {c:,}" for n, c in counts.items())


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=int, default=BUDGET_EVENTS)
    parser.add_argument("--after", default="1000,10000", help="events after each checkpoint")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--algorithm", default="ecdsa-p256", choices=personal_keys.ALGORITHMS)
    parser.add_argument("--no-reference", action="store_true", help="skip the services check")
    parser.add_argument("--profile", action="store_true", help="profile verify_audit anyway")
    parser.add_argument("--keep", type=Path, help="build in this new directory and keep it")
    args = parser.parse_args()
    afters = sorted({int(a) for a in args.after.split(",") if a.strip()})
    if not afters or max(afters) * 2 > args.events:
        parser.error(f"--after must be at most half the events ({args.events:,})")
    args.afters = afters
    return args


def main() -> None:
    args = parse()
    target, times = args.events, args.repeat
    for name in [n for n in os.environ if n.startswith("GOVERN_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.keep is not None:
            args.keep.mkdir(parents=True)  # a new directory: never someone's catalogue
            root = args.keep.resolve()
        os.environ["GOVERN_HOME"] = str(root / "home")
        path = root / "govern.db"
        url = f"sqlite:///{path}"
        people = People(root / "people", url, args.algorithm)
        started = time.perf_counter()
        admin = setup(people)
        fab = Fabricator(people, admin.db)
        (root / "checkpoints").mkdir()
        checkpoints = build(fab, people, admin, target, args.afters, root / "checkpoints")
        built_s = time.perf_counter() - started
        viewer = people.ctx("victor")
        verdict = audit_service.verify_audit(viewer)
        assert verdict.ok, verdict.problems[:5]
        assert verdict.events == target, (verdict.events, target)
        print(
            f"built: {target:,} events ({verdict.signed_events:,} signed with {args.algorithm}, "
            f"{verdict.unsigned_refusals:,} unsigned refusals) in {built_s:.1f} s; "
            f"`audit verify` says ok"
        )
        print(f"  rows: {table_sizes(path)}; database {path.stat().st_size / 1e6:.0f} MB")
        if not args.no_reference:
            reference = reference_catalogue(root / "reference")
            print(
                "  reference (real services only) verifies; "
                + check_shapes(url, reference, fab.actions)
            )

        env = {
            **os.environ,
            "GOVERN_DATABASE_URL": url,
            "GOVERN_USER": "victor",
            "GOVERN_KEY_DIR": str(people.by_name["victor"].key_dir),
        }
        govern = (sys.executable, "-m", "govern")

        def in_process() -> None:
            assert audit_service.verify_audit(viewer).ok

        full = best(times, in_process)
        cli = process(times, *govern, "audit", "verify", env=env)
        bare = process(times, sys.executable, "-c", "pass")
        imports = process(times, sys.executable, "-c", "import govern.services.audit")
        floor = floors(path, fab.catalogue_id, times)
        cores = os.cpu_count() or 1

        budget = BUDGET_S * target / BUDGET_EVENTS
        print(
            f"\nfull verification (chain + {floor.bodies:,} signatures + table reconciliation) "
            f"of {target:,} events, best of {times}; budget {BUDGET_S:.0f} s per "
            f"{BUDGET_EVENTS:,} events = {budget:.2f} s here; floor = hashing + the signatures "
            f"spread over {cores} cores"
        )
        floor_s = floor.hash.wall + floor.verify.wall / cores
        print(f"{'':<48} {'seconds':>9} {'x budget':>9} {'x floor':>8} {'CPU s':>8}")
        for label, spent in (
            ("bare interpreter (python -c pass)", bare),
            ("python -c 'import govern.services.audit'", imports),
            ("sqlite3: read every event row", floor.read),
            (f"hashlib: SHA-256 of the bodies ({floor.size / 1e6:.0f} MB)", floor.hash),
            ("cryptography: verify every signature, 1 process", floor.verify),
            ("personal_keys.verify_many (process pool)", floor.pool),
            ("floor: hashing + verify spread over the cores", Timing(floor_s, floor.verify.cpu)),
            ("verify_audit (in process)", full),
            ("`govern audit verify` (whole process)", cli),
        ):
            print(
                f"  {label:<46} {spent.wall:9.3f} {spent.wall / budget:8.2f}x "
                f"{spent.wall / floor_s:7.1f}x {spent.cpu:8.2f}"
            )
        print(
            "  (CPU s: the process's own; a pool's workers are not in it. For verify_audit and "
            "the CLI that leaves out the signatures, whose CPU cost is the 1-process line.)"
        )
        # The walk and the pool overlap: the CPU of both, shared by the cores, or the walk's
        # own if it is the longer.
        idle = max(cli.cpu, (cli.cpu + floor.verify.cpu) / cores)
        verdict_line = "MET" if cli.wall <= budget else "MISSED"
        print(
            f"budget `audit verify` {target:,} events: {cli.wall:.2f} s of {budget:.2f} s "
            f"({cli.wall / budget:.2f}x budget, {cli.wall / target * 1e6:.0f} µs per event): "
            f"{verdict_line}"
        )
        print(
            f"  on {cores} idle cores it would take about {idle:.2f} s ({idle / budget:.2f}x "
            f"budget): (the CLI's own CPU {cli.cpu:.2f} s + the signatures' CPU "
            f"{floor.verify.cpu:.2f} s) / {cores}, as the walk and the pool overlap"
        )

        print("\nwhere the time goes (govern's functions, phase by phase, one pass):")
        spent = phases(viewer)
        total = sum(s.wall for _, s in spent)
        print(f"{'':<48} {'seconds':>9} {'share':>9} {'CPU s':>8}")
        for label, phase in spent:
            print(f"  {label:<46} {phase.wall:9.3f} {phase.wall / total:8.0%} {phase.cpu:9.2f}")
        print(f"  {'sum':<46} {total:9.3f}   (verify_audit best: {full.wall:.3f})")
        if args.profile or full.wall > budget:
            print("\ncProfile of verify_audit (top by own time; pool workers not included):")
            print(profile(viewer))

        print(f"\nincremental: `audit verify --since-checkpoint`, best of {times}")
        for checkpoint, seq, write_s in checkpoints:
            after = target - seq
            print(
                f"  checkpoint at event {seq:,} written in {write_s:.2f} s "
                f"({write_s / full.wall:.1f}x the full verify: `audit checkpoint` verifies the "
                "whole log first)"
            )

            def since(file: Path = checkpoint, expected: int = after) -> None:
                verdict = audit_service.verify_audit(viewer, since_checkpoint=file)
                assert verdict.ok and verdict.events == expected, verdict.problems[:3]

            inc = best(times, since)
            inc_cli = process(
                times, *govern, "audit", "verify", "--since-checkpoint", str(checkpoint), env=env
            )
            share = after / target
            print(
                f"  {after:,} events after it: in process {inc.wall:.3f} s "
                f"({inc.wall / after * 1e6:.0f} µs per event, full verify "
                f"{full.wall / target * 1e6:.0f}; {inc.wall / full.wall:.3f}x the full verify for "
                f"{share:.3f} of the events: {inc.wall / full.wall / share:.1f}x proportional); "
                f"process {inc_cli.wall:.3f} s ({(inc_cli.wall - bare.wall) / after * 1e6:.0f} µs "
                f"per event beyond a bare interpreter; {inc_cli.wall / budget:.2f}x budget)"
            )
        for ctx in (viewer, admin):
            ctx.close()


if __name__ == "__main__":
    main()
