"""``govern demo``: build a sample catalogue from the bundled German credit data.

Walks govern's journeys (register, evaluate, check, approve with separation of duties, deploy,
sign a card) with a cast of users, one per role, and narrates each step through ``say``. It
ends with a version waiting in carol's review queue, so whoever opens the app as carol (what
``make demo`` does) has something to approve at once.

Everything lands in one directory (catalogue, the people's homes and demo keys, the
organisation's card key, artifacts, reports), so the demo never touches the user's own
catalogue or keys. A second run moves the first one's files to ``earlier/`` instead of
deleting them: the demo never destroys a catalogue or key it did not create in that run, and
cards signed by an earlier run still verify against that run's catalogue.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from govern import formatting
from govern.config import load_settings
from govern.domain.governance import DEFAULT_POLICY_BINDINGS, SETTINGS_SCHEMA
from govern.errors import GovernError, InputError
from govern.locations import sample_data_dir
from govern.services import (
    audit,
    catalogue,
    checks,
    demo_monitoring,
    evaluation,
    governance,
    keys,
    reports,
    users,
    waivers,
    workflow,
)
from govern.services.context import Context
from govern.storage import crud

CAST = (
    ("alice", "developer", "Alice Ng (model developer)"),
    ("bob", "validator", "Bob Osei (model validation)"),
    ("carol", "approver", "Carol Diaz (head of credit risk)"),
    ("erin", "approver", "Erin Walsh (chief risk officer)"),
    ("dave", "compliance", "Dave Kim (compliance)"),
    ("victor", "viewer", "Victor Hale (internal audit)"),
)
VERSIONS = ("1.0.0", "1.1.0")
#: The version left submitted for carol to approve: the champion's model with a revised card.
WAITING = "1.0.1"
#: The demo bank's governance settings (org.yaml, the catalogue's first revision): credit
#: models in ECOA scope are screened with the EEOC four-fifths pack at approval and
#: deployment, on top of govern's default bindings.
DEMO_BINDINGS = {"scope:ecoa": ["eeoc-four-fifths"]}
#: Marks a directory the demo built (and so may move aside on the next run).
MARKER = ".govern-demo"
DEMO_KEY_LABEL = "DEMO KEY: no passphrase, for the sample catalogue only"
#: The challenger's blocking failure, waived for its shadow run only.
WAIVED_RULE = "eeoc-four-fifths/impact-ratio-significant"
_OURS = (
    MARKER,
    "govern.db",
    "govern.db-wal",
    "govern.db-shm",
    "org.yaml",
    "people",
    "org-key",
    "artifacts",
    "reports",
    "checkpoints",
    "audit-log.jsonl",
)

Say = Callable[[str], None]


@dataclass
class DemoResult:
    directory: Path
    database_url: str
    home: Path
    refs: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _set_aside(directory: Path) -> Path | None:
    """Move what an earlier demo wrote there to ``earlier/<when>/``; delete nothing.

    Refuses a directory holding a catalogue the demo did not build (no marker).
    """
    present = [name for name in _OURS if (directory / name).exists()]
    if not present:
        return None
    if not (directory / MARKER).exists():
        raise InputError(
            f"{directory} holds {', '.join(present)} that no demo built; the demo never "
            "replaces a catalogue or key it did not create: give another --dir"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = directory / "earlier" / stamp
    target.mkdir(parents=True)
    for name in present:
        shutil.move(directory / name, target / name)
    return target


def train_sample_models(out: Path) -> None:
    """Run the bundled, deterministic training script (about two seconds)."""
    script = sample_data_dir() / "train_credit_model.py"
    completed = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"training the sample models failed: {tail}")


# Longer than 80 lines on purpose: a narrated script that reads top to bottom as the demo
# runs, each section a service call and what it says; the sections that branch are helpers.
def build_demo(directory: Path, say: Say) -> DemoResult:
    """Build the demo catalogue in ``directory`` and narrate it."""
    directory = directory.resolve()
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    earlier = _set_aside(directory)
    (directory / MARKER).write_text(
        json.dumps({"built": dt.datetime.now(dt.UTC).isoformat()}) + "\n", encoding="utf-8"
    )
    url = f"sqlite:///{directory / 'govern.db'}"
    people = directory / "people"
    org_keys = directory / "org-key"
    result = DemoResult(directory=directory, database_url=url, home=people / "carol")
    if earlier is not None:
        say(f"(The previous demo's files were moved to {earlier.relative_to(directory)}.)")

    def home(user: str) -> Path:
        return people / user

    def ctx(user: str, *, key_of: str | None = None) -> Context:
        """``user`` acting with ``key_of``'s key (their own, unless the demo shows a theft)."""
        return Context(
            load_settings(
                database_url=url,
                user=user,
                home=home(user),
                key_dir=home(key_of or user) / "identity",
                org_key_dir=org_keys,
            )
        )

    say(f"== Sample catalogue in {directory}")
    artifacts = directory / "artifacts"
    train_sample_models(artifacts)
    say(
        "Trained the sample credit-risk models on the German credit data "
        "(1.0.0 logistic regression, 1.1.0 gradient boosting)."
    )

    for name in ("admin", *(n for n, _, _ in CAST)):
        keys.init_personal_key(ctx(name).settings, passphrase=None)
        _write_config(home(name), url, org_keys)
    org_yaml = directory / "org.yaml"
    _write_org_settings(org_yaml)
    admin = ctx("admin")
    catalogue.init_catalogue(
        admin,
        settings=governance.read_settings_file(org_yaml),
        display_name="Ada Admin (govern administrator)",
    )
    for name, role, display in CAST:
        public = home(name) / "identity" / "identity.pub.pem"
        users.add_user(
            admin, name, role=role, display_name=display, key=public, key_label=DEMO_KEY_LABEL
        )
    say(
        "Created the catalogue under Example Bank's governance settings (org.yaml, revision "
        "1) and its users, each with a personal demo key (no passphrase) in "
        f"{people.relative_to(directory)}/NAME/identity: "
        + ", ".join(f"{n} ({r})" for n, r, _ in CAST)
        + "."
    )
    info = keys.org_init(admin, common_name="govern demo cards", organization="Example Bank")
    say(
        f"admin created the organisation's card-signing key ({info.algorithm}, "
        f"{info.fingerprint[:16]}…), recorded in the catalogue."
    )

    sample = sample_data_dir()
    for version in VERSIONS:
        detail = catalogue.register_version(
            ctx("alice"),
            sample / f"credit-risk-{version}.card.yaml",
            artifact=artifacts / f"credit-risk-{version}.skops",
        )
        result.refs.append(detail.ref)
        say(
            f"alice registered {detail.ref} ({detail.risk_tier} risk, artifact "
            f"{detail.artifact.format})."
        )

    say("")
    say("== Evidence")
    for version in VERSIONS:
        _evaluate(ctx("bob"), f"credit-risk@{version}", sample, artifacts, say)
    for version in VERSIONS:
        record = evaluation.drift(
            ctx("bob"),
            f"credit-risk@{version}",
            reference=sample / "credit_train.csv",
            current=sample / "credit_holdout.csv",
            model=artifacts / f"credit-risk-{version}.skops",
            exclude=["applicant_id", "credit"],
        )
        drifted = ", ".join(f.feature for f in record.results.drifted) or "none"
        scores = record.results.prediction
        shown = (
            f"; the model's scores: PSI {scores.psi:.3f} ({scores.band})"
            if scores is not None and scores.psi is not None
            else ""
        )
        say(
            f"bob checked drift of credit-risk@{version} (hold-out against training data): "
            f"features with PSI >= 0.1: {drifted}{shown}."
        )

    say("")
    say("== Policy checks (what CI runs: govern check)")
    for version in VERSIONS:
        _check(ctx("bob"), f"credit-risk@{version}", say)

    say("")
    say("== Approval workflow")
    _workflow(ctx, result, say)

    say("")
    say("== Production monitoring")
    demo_monitoring.monitor(ctx, directory, say)

    say("")
    say("== Waiting for carol")
    _leave_for_review(ctx, result, directory / "artifacts", say)

    say("")
    say("== Signed model card")
    reports_dir = directory / "reports"
    reports_dir.mkdir(exist_ok=True)
    pdf = reports_dir / "credit-risk-1.0.0.pdf"
    built = reports.build_report(ctx("carol"), "credit-risk@1.0.0", output=pdf)
    verdict = reports.verify_pdf(ctx("victor"), pdf)
    result.files.append(pdf)
    say(
        f"carol generated the signed card {pdf.relative_to(directory)} ({built.bytes // 1024} "
        f"KiB, {built.pdf_variant or 'PDF'}, signed by {built.signer})."
    )
    state = "intact and trusted" if verdict.ok else "; ".join(verdict.problems)
    say(f"victor verified it: {state}; embedded card matches the catalogue: {verdict.catalogue}.")

    say("")
    say("== Audit")
    _finish(admin, directory, result, say)
    return result


#: What the demo checks with, as a CI job would: ``govern check REF --policy ... --policy ...``.
_CI_PACKS = ("eeoc-four-fifths", "baseline")
#: The rule whose outcome differs between the two sample versions, shown either way.
_SHOWN_RULE = "eeoc-four-fifths/impact-ratio-significant"


def _check(ctx: Context, ref: str, say: Say) -> None:
    from govern.policy.loader import shipped_pack_names

    report = checks.check_version(ctx, ref, list(_CI_PACKS))
    for subject in report.subjects:
        say(
            f"{ctx.actor} checked {ref} against {' and '.join(_CI_PACKS)}: "
            f"{subject.outcome.upper()} (exit {report.exit_code}); {subject.summarise()}"
        )
        for outcome in subject.outcomes:
            if outcome.status in {"fail", "error"} or outcome.qualified_id == _SHOWN_RULE:
                say(
                    f"  {outcome.status.upper()} {outcome.qualified_id} [{outcome.severity}]: "
                    f"{outcome.message}"
                )
        manual = [o.qualified_id for o in subject.outcomes if o.status == "manual"]
        if manual:
            say(f"  for a person to review, never counted as passed: {', '.join(manual)}")
    # Every shipped pack, read-only (--no-record): what the sample evidence cannot show.
    packs = shipped_pack_names()
    every = checks.check_version(ctx, ref, packs, record=False)
    for subject in every.subjects:
        blocking = "; ".join(f"{o.qualified_id} ({o.message})" for o in subject.blocking)
        say(
            f"  all {len(packs)} shipped packs (--no-record): {subject.outcome.upper()} "
            f"(exit {every.exit_code}); {subject.summarise()}"
            + (f"; blocking: {blocking}" if blocking else "")
        )


def _workflow(ctx: Callable[..., Context], result: DemoResult, say: Say) -> None:
    champion, challenger = (f"credit-risk@{v}" for v in VERSIONS)
    step = workflow.submit(ctx("alice"), champion, comment="first version for review")
    say(f"alice submitted {champion} ({step.from_state} -> {step.to_state}).")
    _attempt(
        result,
        say,
        f"bob tried to approve {champion} as carol (--user carol, with his own key)",
        lambda: workflow.approve(ctx("carol", key_of="bob"), champion, comment="lgtm"),
    )
    _attempt(
        result,
        say,
        f"alice tried to approve her own {champion}",
        lambda: workflow.approve(ctx("alice"), champion),
    )
    for approver, comment in (("carol", "fairness within policy"), ("erin", "agreed")):
        step = workflow.approve(ctx(approver), champion, comment=comment)
        say(f"{approver} approved {champion} ({step.approvals}; now {step.to_state}).")
    workflow.deploy(ctx("carol"), champion, comment="go live")
    due = catalogue.show_version(ctx("victor"), champion).next_validation_due
    say(f"carol deployed {champion}: it is the champion; next validation due {due}.")

    workflow.submit(ctx("alice"), challenger, comment="gradient boosting challenger")
    say(f"alice submitted {challenger}.")
    _attempt(
        result,
        say,
        f"carol tried to approve {challenger}",
        lambda: workflow.approve(ctx("carol"), challenger, comment="looks fine"),
    )
    expires = crud.today() + dt.timedelta(days=90)
    waivers.grant_waiver(
        ctx("dave"),
        challenger,
        rule=WAIVED_RULE,
        reason="shadow run only: no applicant sees its decisions; remediate before promotion",
        expires=expires,
    )
    say(
        f"dave (compliance) waived {WAIVED_RULE} for {challenger} until {expires}: "
        "shadow run only, no applicant sees its decisions (govern check shows the rule as waived)."
    )
    for approver in ("carol", "erin"):
        workflow.approve(ctx(approver), challenger, comment="ok to run in shadow")
    workflow.deploy(ctx("carol"), challenger, shadow=True, comment="compare against 1.0.0")
    say(f"carol and erin approved {challenger}; carol deployed it in shadow beside the champion.")
    comparison = workflow.compare(ctx("victor"), champion, challenger)
    accuracy = next((m for m in comparison.overall if m.metric == "accuracy"), None)
    if accuracy is not None and accuracy.delta is not None:
        say(
            f"compare: accuracy {accuracy.champion:.3f} -> {accuracy.challenger:.3f} "
            f"({accuracy.delta:+.3f})."
        )
    _attempt(
        result,
        say,
        f"carol tried to promote {challenger} over the champion",
        lambda: workflow.deploy(ctx("carol"), challenger),
    )


def _leave_for_review(
    ctx: Callable[..., Context], result: DemoResult, artifacts: Path, say: Say
) -> None:
    """Put a version in carol's review queue with its evidence in place: alice registers the
    champion's model under a revised card, bob evaluates and checks it, alice submits it.
    carol did not submit it, so separation of duties lets her approve it (one of two)."""
    ref = f"credit-risk@{WAITING}"
    card = artifacts / f"credit-risk-{WAITING}.card.yaml"
    card.write_text(_revised_card(), encoding="utf-8")
    detail = catalogue.register_version(
        ctx("alice"), card, artifact=artifacts / f"credit-risk-{VERSIONS[0]}.skops"
    )
    result.refs.append(detail.ref)
    say(
        f"alice registered {ref}: the {VERSIONS[0]} model unchanged, its card revised after "
        "validation."
    )
    _evaluate(ctx("bob"), ref, sample_data_dir(), artifacts, say, model=VERSIONS[0])
    report = checks.check_version(ctx("bob"), ref)
    for subject in report.subjects:
        say(f"bob checked {ref} against its bound policies: {subject.outcome.upper()}.")
    workflow.submit(ctx("alice"), ref, comment="card revised after validation")
    say(
        f"alice submitted {ref}: it waits in carol's review queue (the app's Queue, key 2, or "
        "`govern queue`), and carol may approve it: she did not submit it."
    )


def _revised_card() -> str:
    """The sample 1.0.0 card as version 1.0.1, with the caveat validation asked for."""
    text = (sample_data_dir() / f"credit-risk-{VERSIONS[0]}.card.yaml").read_text("utf-8")
    text = text.replace(f"version {VERSIONS[0]}", f"version {WAITING}", 1)
    text = text.replace(f"version: {VERSIONS[0]}", f"version: {WAITING}", 1)
    caveat = "caveats_and_recommendations:\n"
    added = (
        f"  - Version {WAITING} carries the {VERSIONS[0]} model unchanged; validation asked "
        "for monthly monitoring of the under_25 group, which this card now records.\n"
    )
    return text.replace(caveat, caveat + added, 1)


def _write_config(home: Path, url: str, org_keys: Path) -> None:
    """A demo person's config.toml: only personal things (where the catalogue and the
    organisation's card key are); the rules are in the catalogue."""
    home.mkdir(parents=True, exist_ok=True)
    lines = [
        "# govern demo: this person's own settings (the rules live in the catalogue)",
        f"database_url = {json.dumps(url)}",
        f"org_key_dir = {json.dumps(str(org_keys))}",
    ]
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_org_settings(path: Path) -> None:
    """Example Bank's governance settings: govern's defaults plus its own policy binding."""
    import yaml

    document = {
        "schema": SETTINGS_SCHEMA,
        "policy_bindings": {**DEFAULT_POLICY_BINDINGS, **DEMO_BINDINGS},
        "validation_due": "earliest",
    }
    header = "# Example Bank's governance settings: `govern settings apply org.yaml` (admins)\n"
    path.write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _evaluate(
    ctx: Context, ref: str, sample: Path, artifacts: Path, say: Say, *, model: str | None = None
) -> None:
    """Evaluate ``ref`` with the artifact of version ``model`` (its own by default)."""
    version = model or ref.partition("@")[2]
    record = evaluation.evaluate_version(
        ctx,
        ref,
        data=sample / "credit_holdout.csv",
        target="credit",
        positive="1",
        sensitive=["sex", "age_group"],
        model=artifacts / f"credit-risk-{version}.skops",
        id_column="applicant_id",
        explain=5,
        seed=0,
    )
    results = record.results
    overall = results.performance.overall
    say(
        f"{ctx.actor} evaluated {ref} on the hold-out ({results.dataset.rows} applicants): "
        f"accuracy {overall.get('accuracy') or 0:.3f}, ROC AUC {overall.get('roc_auc') or 0:.3f}."
    )
    for grouping in results.fairness:
        flagged = [
            formatting.group(grouping.name, g.group)
            for g in grouping.groups
            if "adverse_impact" in g.flags
        ]
        ratio = grouping.summary.min_impact_ratio
        note = f"; below four-fifths: {'; '.join(flagged)}" if flagged else ""
        say(
            f"  {formatting.grouping(grouping.name)}: lowest impact ratio "
            f"{formatting.number(ratio, 2)}{note}"
        )
    if results.explanations is not None:
        top = ", ".join(results.explanations.top_features[:5])
        say(f"  SHAP top features: {top}")
        for flag in results.explanations.sensitive_flags:
            say(f"  flagged: {flag.feature}: {flag.reason}")


def _attempt(result: DemoResult, say: Say, what: str, call: Callable[[], object]) -> None:
    """Run a step that the rules should refuse, and show the refusal."""
    try:
        call()
    except GovernError as refusal:
        result.refusals.append(refusal.message)
        say(f"{what}: refused, as it should be: {refusal.message}")
    else:
        raise AssertionError(f"demo step was not refused: {what}")


def _finish(admin: Context, directory: Path, result: DemoResult, say: Say) -> None:
    checkpoints = directory / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    document = audit.write_checkpoint(admin, checkpoints)
    checkpoint = Path(document["path"])
    result.files.append(checkpoint)
    verdict = audit.verify_audit(admin, checkpoint=checkpoint)
    state = "everything verifies" if verdict.ok else "; ".join(verdict.problems[:3])
    say(
        f"audit verify: {verdict.events} events, {verdict.signed_events} signed by their "
        f"actors' enrolled keys; tables match the log: {state}. admin signed a checkpoint of "
        f"event {document['seq']} with their own key: {checkpoint.relative_to(directory)}."
    )
