"""Model card reports: build (PDF, HTML, Markdown, JSON) and verify signed PDFs.

``build_report`` reads everything the catalogue holds about a version into a
:class:`~govern.report.view.ReportView`, renders it, writes the file atomically and records
a ``Report`` row with an audit event in one transaction: either the file exists *and* is
recorded, or neither. ``verify_pdf`` checks a signed card; it needs no catalogue (an
auditor may have only the PDF and the organisation's certificate) and re-checks every
decision the card lists against the signed event it carries; when a catalogue is available
it also says which organisation certificate signed the card and compares the embedded card
data with the catalogue's record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from govern import __version__, outputs
from govern.config import Settings
from govern.domain.card import Card
from govern.domain.governance import GovernanceSettings, bound_policy_names
from govern.errors import (
    CatalogueError,
    FindingError,
    InputError,
    NotFoundError,
    RefusedError,
    SignatureError,
)
from govern.formatting import moment, short_hash
from govern.report.decisions import BEFORE_SIGNING, VERIFIED, DecisionCheck, check_decision
from govern.report.render import FORMATS, Format, Paper, RenderedCard
from govern.report.view import (
    ArtifactView,
    DecisionView,
    DriftView,
    EvaluationView,
    LocalExplanation,
    ModelInfo,
    MonitoringView,
    PolicyPack,
    PolicyView,
    ReportView,
    RuleView,
    SignedDecision,
    WaiverView,
    drift_features,
    local_explanation,
    monitoring_view,
    read_results,
)
from govern.services import keys
from govern.services.audit import verify_version_records
from govern.services.catalogue import resolve
from govern.services.context import Context
from govern.signing import SigningIdentity, read_certificates
from govern.storage import crud, queries
from govern.storage.database import Session
from govern.storage.tables import (
    DriftRun,
    Evaluation,
    Model,
    ModelVersion,
    PolicyRun,
    Report,
    utcnow,
)

if TYPE_CHECKING:
    from cryptography import x509

#: Per-decision explanations shown in a card (charts for the first three).
MAX_LOCAL_EXPLANATIONS = 6
MAX_PDF_BYTES = 200_000_000
#: Policy runs read for a card, newest first (each pack shows its latest result among them).
MAX_POLICY_RUNS = 500
SUFFIXES: dict[str, str] = {"pdf": ".pdf", "html": ".html", "md": ".md", "json": ".json"}
#: The width of the card's monitoring windows (``govern monitor show --window``).
MONITORING_WINDOW = "1w"
#: Packages whose versions a card records as "this card" (the rendering stack).
RENDER_PACKAGES = ("jinja2", "matplotlib", "weasyprint", "pyhanko", "pydantic")


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ReportResult(_Result):
    """What ``govern report`` made."""

    ref: str
    format: str
    path: str
    sha256: str
    card_sha256: str
    bytes: int
    signed: bool
    signer: str | None = None
    signer_fingerprint: str | None = None
    pdf_variant: str | None = None
    report_id: int
    evaluation_id: int | None = None
    policy_run_id: int | None = None
    warnings: list[str] = []


CatalogueCheck = Literal["match", "mismatch", "not checked"]


class PdfVerdict(_Result):
    """What ``govern verify`` found; ``ok`` means intact, unmodified, trusted and consistent,
    and every decision the card lists re-checked against its signed event."""

    path: str
    sha256: str
    ok: bool
    signed: bool
    intact: bool
    trusted: bool
    modified_after_signing: bool
    signer: dict[str, str] = {}
    signed_at: dt.datetime | None = None
    #: The catalogue's record of the certificate that signed the card (active, retired by a
    #: rotation, or revoked); None without a catalogue or when it is not one of its own.
    org_certificate: keys.OrgCertificatePublic | None = None
    #: Which organisation certificate signed the card, in a line (or why none, or "not
    #: checked" without a catalogue).
    organisation: str = "not checked (no catalogue)"
    ref: str | None = None
    embedded_sha256: str | None = None
    catalogue: CatalogueCheck = "not checked"
    catalogue_detail: str = ""
    #: Every decision the card lists, re-checked offline against the signed event it carries.
    decisions: list[DecisionCheck] = []
    decisions_summary: str = ""
    problems: list[str] = []
    details: list[str] = []


# --- building the view ------------------------------------------------------------------


def build_view(
    session: Session,
    model: Model,
    version: ModelVersion,
    *,
    actor: str,
    governance: GovernanceSettings | None = None,
    record_problems: list[str] | None = None,
) -> ReportView:
    """Everything the catalogue holds about ``version``, as a :class:`ReportView`.

    ``governance``: the settings in force, whose ``policy_bindings`` say which policy packs
    are bound to the version (only those count towards the card's outcome); without them
    every pack counts.
    ``record_problems``: what ``verify_version_records`` found for the version, when the
    caller already checked (otherwise it is checked here, for the decisions' verification).
    The view's ``monitoring`` is left empty: the monitoring service reads it in its own
    session (:func:`with_monitoring`).
    """
    vid = version.id
    evaluation = queries.latest_evaluation(session=session, version_id=vid)
    evaluation_view, local_views, local_count = _evaluation_view(session, evaluation)
    runs = queries.policy_runs_of(session=session, version_id=vid, limit=MAX_POLICY_RUNS)
    policy_view = _policy_view(session, runs[0]) if runs else None
    earlier = _earlier_packs(session, runs) if runs else []
    if governance is not None and policy_view is not None:
        bound = _bound_names(governance, version)
        policy_view = policy_view.model_copy(
            update={"packs": [_mark_bound(p, bound) for p in policy_view.packs]}
        )
        earlier = [_mark_bound(p, bound) for p in earlier]
    today = crud.today()
    waivers = [
        WaiverView(
            rule_id=w.rule_id,
            reason=w.reason,
            granted_by=w.granted_by,
            granted_role=w.granted_role,
            expires_on=w.expires_on,
            created_at=w.created_at,
            active=w.expires_on >= today,
        )
        for w in queries.waivers_of(session=session, version_id=vid)
    ]
    catalogue_id = crud.get_meta(session=session, key="catalogue_id") or ""
    decisions = _decisions(
        session,
        f"{model.name}@{version.version}",
        version,
        catalogue_id=catalogue_id,
        record_problems=record_problems,
    )
    others = [v.version for v in crud.versions_of(session=session, model=model) if v.id != vid]
    card = Card.model_validate(version.card)
    return ReportView(
        catalogue_id=catalogue_id,
        generated_at=utcnow(),
        generated_by=actor,
        govern_version=__version__,
        model=_model_info(model, version, card),
        card=card,
        evaluation=evaluation_view,
        local_explanations=local_views,
        local_explanation_count=max(local_count, len(local_views)),
        policy=policy_view,
        waivers=waivers,
        decisions=decisions,
        drift=_drift_view(queries.latest_drift_run(session=session, version_id=vid)),
        packages=_package_versions(),
        other_versions=others,
        earlier_packs=earlier,
    )


def with_monitoring(ctx: Context, view: ReportView) -> ReportView:
    """``view`` with its version's production monitoring in weekly windows, as ``govern
    monitor show`` gives it (the monitoring service owns how windows and their figures are
    derived; it reads in its own session, after the view's has ended)."""
    return view.model_copy(update={"monitoring": monitoring_for(ctx, view.model.ref)})


def monitoring_for(ctx: Context, ref: str, width: str = MONITORING_WINDOW) -> MonitoringView | None:
    """``ref``'s production monitoring in windows of ``width``, with the windows in which a
    rule of the production-monitoring pack was broken, and those rules' lines (the card's
    and the TUI's one source)."""
    from govern.policy.kinds.monitoring import MonitoringRule
    from govern.policy.loader import load_policies
    from govern.services import monitoring

    shown = monitoring.show(ctx, ref, width=width)
    if not shown["windows"] and not shown["files"]:
        return None
    (pack,) = load_policies([monitoring.DEFAULT_PACK])
    rules = [r for r in pack.policy.rules if isinstance(r, MonitoringRule)]
    impact = next((r.min for r in rules if r.metric == "impact_ratio" and r.min is not None), None)
    psi = next((r.max for r in rules if r.metric == "score_psi" and r.max is not None), None)
    found: MonitoringView | None = monitoring_view(
        shown, monitoring.alerts(ctx, ref), impact_ratio_line=impact, score_psi_line=psi
    )
    return found


def _model_info(model: Model, version: ModelVersion, card: Card) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        version=version.version,
        state=version.state,
        risk_tier=version.risk_tier,
        # This version's card as registered, never a later registration's model row.
        owner=card.governance.owner,
        business_owner=card.governance.business_owner,
        business_unit=card.governance.business_unit,
        description=card.model_details.description,
        created_at=version.created_at,
        created_by=version.created_by,
        updated_at=version.updated_at,
        next_validation_due=version.next_validation_due,
        card_sha256=version.card_sha256,
        artifact=ArtifactView(
            # Only the file name: a card must not publish local directory layouts.
            file_name=Path(version.artifact_path).name if version.artifact_path else None,
            sha256=version.artifact_sha256,
            size=version.artifact_size,
            format=version.artifact_format,
        ),
    )


def _evaluation_view(
    session: Session, evaluation: Evaluation | None
) -> tuple[EvaluationView | None, list[LocalExplanation], int]:
    """The evaluation's view, its first readable per-decision explanations and how many it
    stored."""
    if evaluation is None:
        return None, [], 0
    results, problem = read_results(evaluation.results)
    view = EvaluationView(
        id=evaluation.id or 0,
        created_at=evaluation.created_at,
        created_by=evaluation.created_by,
        dataset_name=evaluation.dataset_name,
        dataset_sha256=evaluation.dataset_sha256,
        rows=evaluation.rows,
        columns=list(evaluation.columns),
        target=evaluation.target,
        positive_label=evaluation.positive_label,
        sensitive_features=list(evaluation.sensitive_features),
        prediction_source=evaluation.prediction_source,
        artifact_sha256=evaluation.artifact_sha256,
        packages={str(k): "" if v is None else str(v) for k, v in evaluation.packages.items()},
        seed=evaluation.seed,
        results=results,
        problem=problem,
    )
    local_views = []
    rows = queries.local_explanations(
        session=session, evaluation_id=evaluation.id, limit=MAX_LOCAL_EXPLANATIONS * 4
    )
    for row in rows:
        parsed = local_explanation(row.row_id or "", row.payload)
        if parsed is not None:
            local_views.append(parsed)
        if len(local_views) >= MAX_LOCAL_EXPLANATIONS:
            break
    count = queries.count_local_explanations(session=session, evaluation_id=evaluation.id)
    return view, local_views, count


def _drift_view(drift_run: DriftRun | None) -> DriftView | None:
    if drift_run is None:
        return None
    features, prediction = drift_features(drift_run.results)
    return DriftView(
        id=drift_run.id or 0,
        created_at=drift_run.created_at,
        created_by=drift_run.created_by,
        reference_name=drift_run.reference_name,
        reference_sha256=drift_run.reference_sha256,
        current_name=drift_run.current_name,
        current_sha256=drift_run.current_sha256,
        features=features,
        prediction=prediction,
    )


def _decisions(
    session: Session,
    ref: str,
    version: ModelVersion,
    *,
    catalogue_id: str,
    record_problems: list[str] | None = None,
) -> list[DecisionView]:
    """The version's decisions, each with its signed event, the signer's key and name.

    Decision rows and their events pair up in order (the n-th decision of a version is its
    n-th decision event): ``audit verify`` checks that they agree. Each decision is checked
    as ``govern verify`` will check it from the card alone (``report.decisions``), against
    the key enrolled to the person who took it; ``record_problems`` (what
    ``verify_version_records`` found, computed here when not given) makes every decision
    "not verified" when the version's records do not verify.
    """
    from govern.storage import audit

    rows = queries.decisions_of(session=session, version_id=version.id)
    if not rows:
        return []
    conn = session.connection()
    events = [
        e
        for e in audit.events_about(conn, [ref])
        if e.action.startswith("version.")
        and e.action != "version.register"
        and not e.action.endswith(".refused")
    ]
    if record_problems is None:
        record_problems = verify_version_records(session, ref)
    names = {u.name: u.display_name for u in crud.list_users(session=session)}
    enrolled = {k.fingerprint: k for k in crud.keys_of(session=session)}
    views = []
    for index, row in enumerate(rows):
        event = events[index] if index < len(events) else None
        key = enrolled.get(event.key or "") if event is not None and event.signed else None
        view = DecisionView(
            action=row.action,
            from_state=row.from_state,
            to_state=row.to_state,
            actor=row.actor,
            role=row.role,
            comment=row.comment,
            created_at=row.created_at,
            display_name=names.get(row.actor, ""),
            key=event.key if event is not None else None,
            settings_revision=row.settings_revision,
            signed_event=(
                SignedDecision(
                    seq=event.seq,
                    body=event.body(catalogue_id).decode("utf-8"),
                    signature=event.signature or "",
                    public_key=key.public_key,
                )
                if event is not None and key is not None
                else None
            ),
        )
        verification = _verification(
            view, event, key, ref=ref, catalogue_id=catalogue_id, card_sha256=version.card_sha256
        )
        if verification == VERIFIED and record_problems:
            verification = (
                f"not verified: the records of {ref} fail verification: " + (record_problems[0])
            )
        views.append(view.model_copy(update={"verification": verification}))
    return views


def _verification(
    view: DecisionView,
    event: Any,
    key: Any,
    *,
    ref: str,
    catalogue_id: str,
    card_sha256: str,
) -> str:
    """What a card says of one decision's signature, as ``govern verify`` will check it."""
    if event is None:
        return "not verified: no audit event records this decision"
    if not event.signed:
        return BEFORE_SIGNING
    if key is None:
        return "not verified: it was signed with a key that is not enrolled"
    problems = check_decision(
        view.model_dump(mode="json"), ref=ref, catalogue=catalogue_id, card_sha256=card_sha256
    )
    if key.user_name != view.actor:
        problems.insert(0, f"it was signed with {key.user_name}'s key, not {view.actor}'s")
    return f"not verified: {problems[0]}" if problems else VERIFIED


def _policy_packs(
    session: Session, run: PolicyRun, *, skip: set[str] | frozenset[str] = frozenset()
) -> list[PolicyPack]:
    """The packs of ``run`` (except those in ``skip``), each with its rules' results."""
    rules = queries.rule_results_of(session=session, run_id=run.id)
    by_pack: dict[str, list[RuleView]] = {}
    for rule in rules:
        if rule.policy_id in skip:
            continue
        by_pack.setdefault(rule.policy_id, []).append(
            RuleView(
                policy_id=rule.policy_id,
                rule_id=rule.rule_id,
                subject=rule.subject,
                status=rule.status,
                severity=rule.severity,
                title=rule.title,
                message=rule.message,
                source=rule.source,
                evidence=dict(rule.evidence or {}),
            )
        )
    origin = {
        "run_id": run.id,
        "checked_at": run.created_at,
        "checked_by": run.created_by,
        "stage": str((run.summary or {}).get("stage") or ""),
    }
    packs: list[PolicyPack] = []
    for entry in run.policies:
        pack_id = str(entry.get("id", ""))
        if pack_id in skip:
            continue
        packs.append(
            PolicyPack(
                id=pack_id,
                title=_text(entry, "title", "name"),
                version=_text(entry, "version"),
                source=_source_name(_text(entry, "source", "path", "file")),
                sha256=_text(entry, "sha256", "hash"),
                rules=by_pack.pop(pack_id, []),
                **origin,
            )
        )
    for pack_id, pack_rules in by_pack.items():  # results of packs the run did not list
        packs.append(PolicyPack(id=pack_id, rules=pack_rules, **origin))
    return packs


def _policy_view(session: Session, run: PolicyRun) -> PolicyView:
    return PolicyView(
        id=run.id or 0,
        created_at=run.created_at,
        created_by=run.created_by,
        outcome=run.outcome,
        summary=dict(run.summary or {}),
        packs=_policy_packs(session, run),
    )


def _earlier_packs(session: Session, runs: list[PolicyRun]) -> list[PolicyPack]:
    """Packs of earlier runs that the latest run (``runs[0]``) did not check, newest first.

    The gates of the workflow check the packs bound to a version while ``govern check`` may
    use others; a card shows the latest result of each, so an earlier failure of a pack
    that was not checked again is never hidden.
    """
    seen = {str(entry.get("id", "")) for entry in runs[0].policies}
    seen |= queries.policy_ids_of_run(session=session, run_id=runs[0].id)
    packs: list[PolicyPack] = []
    for run in runs[1:]:
        listed = {str(entry.get("id", "")) for entry in run.policies}
        if listed and listed <= seen:
            continue  # nothing new in this run: skip reading its rule results
        found = _policy_packs(session, run, skip=seen)
        packs.extend(found)
        seen |= {p.id for p in found} | listed
    return packs


def _bound_names(governance: GovernanceSettings, version: ModelVersion) -> set[str]:
    """The names the settings' ``policy_bindings`` attach to ``version`` (ids or paths)."""
    card_governance = (version.card or {}).get("governance") or {}
    return set(
        bound_policy_names(
            governance.policy_bindings,
            risk_tier=version.risk_tier,
            tags=list(card_governance.get("tags") or []),
            regulatory_scope=list(card_governance.get("regulatory_scope") or []),
        )
    )


def _mark_bound(pack: PolicyPack, bound: set[str]) -> PolicyPack:
    """``pack`` marked as bound or not: a binding names a shipped pack by its id, a pack
    file by its path (the card keeps only the file's name, so the names are compared)."""
    names = {pack.id, Path(pack.source).name, Path(pack.source).stem} - {""}
    bound_names = bound | {Path(b).name for b in bound} | {Path(b).stem for b in bound}
    return pack.model_copy(update={"bound": bool(names & bound_names)})


def _text(entry: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = entry.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def _source_name(source: str) -> str:
    """A policy file's name without the directories: a card must not publish local paths."""
    return Path(source).name if source.startswith(("/", "~")) or "\\" in source else source


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"govern": __version__}
    for name in RENDER_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def report_view(ctx: Context, ref: str) -> ReportView:
    """The view of ``ref`` (for the TUI and for tests): no file, no audit event."""
    with ctx.read() as session:
        ctx.require_role(session, "report", doing=f"read the card of {ref}")
        model, version = resolve(session, ref)
        view = build_view(session, model, version, actor=ctx.actor, governance=ctx.governance)
    return with_monitoring(ctx, view)


# --- building a report --------------------------------------------------------------------


def default_output(ref_name: str, version: str, fmt: Format) -> Path:
    return Path(f"{ref_name}-{version}{SUFFIXES[fmt]}")


def build_report(
    ctx: Context,
    ref: str,
    *,
    format: Format = "pdf",
    output: Path | None = None,
    sign: bool = True,
    paper: Paper = "A4",
    progress: Callable[[str, int, int], None] | None = None,
    force: bool = False,
) -> ReportResult:
    """Render the card of ``ref`` and record it.

    ``progress(step, done, total)`` is called as each step starts (the console's bar).

    A PDF is signed with the organisation's card-signing key (``govern keys org init``;
    the catalogue's active certificate) unless ``sign`` is false, and only when the
    version's records verify (``verify_version_records``).
    The output must be a new file, or with ``force`` a regular one (never a link, a device
    or a directory: ``govern.outputs.check_target``). It is written under a temporary name
    and moved into place inside the transaction that records it, through the journal of
    ``govern.outputs``: after a failure or a kill at any moment there is the new file and
    its row, or neither and any earlier file as it was.

    Raises:
        InputError: unknown format, a refused or unwritable output path, broken user
            template.
        NotFoundError: ``ref`` is not in the catalogue.
        FindingError: a signed PDF was asked for and the version's records fail
            verification (exit 1; nothing is written).
        SignatureError: no organisation key here, or not the catalogue's active one (the
            message names ``govern keys org init`` and GOVERN_ORG_KEY_DIR).
    """
    from govern.report.render import render_card

    step = _progress(progress, format=format, sign=sign)
    if format not in FORMATS:
        raise InputError(f"unknown report format {format!r}: use one of {', '.join(FORMATS)}")
    if paper not in ("A4", "Letter"):
        raise InputError(f"unknown paper size {paper!r}: use A4 or Letter")
    if output is not None:
        outputs.check_target(output, force=force)
    step("collecting the evidence")
    view, identity = _collect(ctx, ref, signing=format == "pdf" and sign)
    if output is None:
        output = default_output(view.model.name, view.model.version, format)
        outputs.check_target(output, force=force)
    rendered = render_card(
        view,
        format,
        identity=identity,
        template_dir=ctx.settings.template_dir,
        paper=paper,
        progress=step,
    )
    if view.evaluation is None:
        rendered.warnings.append(
            f"{view.model.ref} has no evaluation yet: the card says 'not evaluated' where "
            "figures would be (run `govern evaluate`)"
        )
    step("recording the report")
    target, report_id = _record(ctx, view, rendered, format, output, force=force)
    return ReportResult(
        ref=view.model.ref,
        format=format,
        path=str(target),
        sha256=rendered.sha256,
        card_sha256=rendered.card_sha256,
        bytes=len(rendered.data),
        signed=rendered.signer is not None,
        signer=rendered.signer,
        signer_fingerprint=rendered.signer_fingerprint,
        pdf_variant=rendered.pdf_variant,
        report_id=report_id,
        evaluation_id=view.evaluation.id if view.evaluation else None,
        policy_run_id=view.policy.id if view.policy else None,
        warnings=rendered.warnings,
    )


def _collect(ctx: Context, ref: str, *, signing: bool) -> tuple[ReportView, SigningIdentity | None]:
    """The report's view of ``ref`` and, for a signed PDF, the organisation's identity; a
    refusal to report is recorded, a version whose records do not verify refused."""
    with ctx.read() as session:
        try:
            ctx.require_role(session, "report", doing=f"generate a report for {ref}")
        except RefusedError as refusal:
            ctx.record_refusal("report.build", ref, refusal)
            raise
        model, version = resolve(session, ref)
        problems = (
            _refuse_unverified(session, f"{model.name}@{version.version}") if signing else None
        )
        view = build_view(
            session,
            model,
            version,
            actor=ctx.actor,
            governance=ctx.governance,
            record_problems=problems,
        )
        if signing:
            _refuse_unverified_decisions(view)
        # After the version is found (an unknown version is the first thing to hear about),
        # before any rendering work.
        identity = _org_identity(ctx, session) if signing else None
    return with_monitoring(ctx, view), identity


def _record(
    ctx: Context,
    view: ReportView,
    rendered: RenderedCard,
    format: Format,
    output: Path,
    *,
    force: bool,
) -> tuple[Path, int]:
    """Move the rendered file into place and record it (a Report row and its event) in one
    transaction, through the journal of ``govern.outputs``. Returns the path and row id."""
    outputs.crash_point("report.before-record")
    with outputs.RecordedOutput(
        output,
        rendered.data,
        journal=ctx.pending_dir,
        committed=ctx.output_committed,
        force=force,
        label="report",
    ) as placed:
        target = placed.path
        with ctx.write("report.build", view.model.ref) as tx:
            _, locked = resolve(tx.session, view.model.ref)
            row = Report(
                version_id=locked.id or 0,
                format=format,
                sha256=rendered.sha256,
                card_sha256=rendered.card_sha256,
                signer=rendered.signer,
                path=str(target),
                created_by=tx.actor,
            )
            tx.session.add(row)
            tx.session.flush()
            record = tx.audit(
                report_id=row.id,
                format=format,
                path=str(target),
                sha256=rendered.sha256,
                card_sha256=rendered.card_sha256,
                signed=rendered.signer is not None,
                signer=rendered.signer,
                signer_fingerprint=rendered.signer_fingerprint,
                evaluation_id=view.evaluation.id if view.evaluation else None,
                policy_run_id=view.policy.id if view.policy else None,
            )
            placed.place(tx.ctx.catalogue_id(tx.session), record.seq, record.hash)
            return target, row.id or 0


def _org_identity(ctx: Context, session: Session) -> SigningIdentity:
    """The organisation's card-signing key on this machine (``GOVERN_ORG_KEY_DIR``), if it is
    the catalogue's active certificate (``keys.load_org_identity``).

    What is missing is said in the organisation key's own terms (its commands, its
    directory and passphrase settings) before the key is loaded.

    Raises:
        SignatureError: the catalogue has no active organisation certificate; the key is not
            on this machine, is locked, or is not the catalogue's (a key made by `keys org
            init` elsewhere, a retired or revoked one, or files replaced by someone).
    """
    from govern import signing

    if not any(c.status == "active" for c in crud.org_certificates(session=session)):
        raise SignatureError(
            "this catalogue has no organisation key to sign cards with: an admin creates one "
            "with `govern keys org init` (or make an unsigned draft with --no-sign)"
        )
    key_dir = ctx.settings.resolved_org_key_dir
    key_path, cert_path, _ = signing.key_paths(key_dir)
    if not key_path.is_file() or not cert_path.is_file():
        raise SignatureError(
            f"no organisation card-signing key in {key_dir} (GOVERN_ORG_KEY_DIR): install the "
            "key an admin made with `govern keys org init` there, or make an unsigned draft "
            "with --no-sign"
        )
    try:
        encrypted = b"ENCRYPTED" in key_path.read_bytes()[:64]
    except OSError as exc:
        raise SignatureError(f"{key_path}: cannot read: {exc.strerror}") from None
    secret = ctx.settings.org_key_passphrase
    if encrypted and secret is None:
        raise SignatureError(
            f"the organisation key {key_path} is passphrase-protected: set "
            "GOVERN_ORG_KEY_PASSPHRASE"
        )
    if not encrypted and secret is not None:
        raise SignatureError(
            f"the organisation key {key_path} is not passphrase-protected: unset "
            "GOVERN_ORG_KEY_PASSPHRASE"
        )
    return keys.load_org_identity(ctx, session)


def _progress(
    progress: Callable[[str, int, int], None] | None, *, format: str, sign: bool
) -> Callable[[str], None]:
    """``step(name)``: tells ``progress`` which of the report's steps starts."""
    steps = ["collecting the evidence", "rendering the HTML and charts"]
    if format == "pdf":
        steps += ["laying out the PDF", *(["signing"] if sign else [])]
    steps.append("recording the report")

    def step(name: str) -> None:
        if progress is not None and name in steps:
            progress(name, steps.index(name), len(steps))

    return step


def _refuse_unverified(session: Session, subject: str) -> list[str]:
    """A signed card vouches for what it shows: never sign records that do not verify."""
    problems = verify_version_records(session, subject)
    if problems:
        raise FindingError(
            f"refusing to sign a card for {subject}: its records fail verification: "
            f"{problems[0]} (`govern audit verify` lists everything)"
        )
    return problems


def _refuse_unverified_decisions(view: ReportView) -> None:
    """Nor a card listing a decision that is not verified, which `govern verify` would fail."""
    for number, decision in enumerate(view.decisions, start=1):
        if decision.status == "not verified":
            raise FindingError(
                f"refusing to sign a card for {view.model.ref}: decision {number} "
                f"({decision.action.replace('_', ' ')} by {decision.actor}) is "
                f"{decision.verification} (`govern audit verify` lists everything)"
            )


# --- verifying ---------------------------------------------------------------------------


def _read_pdf(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a directory, expected a PDF file")
        with path.open("rb") as handle:
            data = handle.read(MAX_PDF_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not data:
        raise InputError(f"{path}: file is empty, expected a PDF")
    if len(data) > MAX_PDF_BYTES:
        raise InputError(f"{path}: too large for a model card ({MAX_PDF_BYTES} bytes at most)")
    if b"%PDF-" not in data[:1024]:
        raise InputError(f"{path}: not a PDF file")
    return data


def verify_pdf(
    target: Context | Settings, path: Path, *, trust: list[Path] | None = None
) -> PdfVerdict:
    """Check a signed model card.

    Checks the signature's integrity, that the signature covers the whole file (nothing
    appended after signing), the signer's certificate against the trust roots (the
    catalogue's organisation certificates except revoked ones, ``GOVERN_TRUSTED_CERTIFICATES``
    and every certificate in the ``trust`` files), and re-checks, offline, every decision
    the card lists against the signed event it carries (``report.decisions``). When
    ``target`` is a :class:`Context` with a reachable catalogue it also says which of the
    organisation's certificates signed the card (a revoked one fails it; any other signer
    is a problem) and compares the embedded card data with the catalogue's record of the
    report. With only :class:`Settings`, the catalogue comparison is "not checked".

    Raises:
        InputError: the file is missing, unreadable, empty or not a PDF (exit 2); every
            problem with a real PDF is a finding in the verdict instead.
    """
    from govern.report.signature import check_pdf, sha256

    settings = target.settings if isinstance(target, Context) else target
    data = _read_pdf(path)
    roots = keys.trusted_certificates(settings)
    for given in trust or []:
        roots += read_certificates(given)
    known = _organisation_certificates(target) if isinstance(target, Context) else None
    if known is not None:  # every one it ever signed cards with, except those revoked
        roots += [certificate for certificate, info in known.values() if info.status != "revoked"]
    check = check_pdf(data, roots)
    problems = list(check.problems)
    details = list(check.details)
    org, organisation = _signer(check, known, problems, details)
    if check.signed and not check.bottom_line and not problems:
        problems.append("pyHanko judged the signature invalid (see details)")
    embedded = _EmbeddedCard.read(check.embedded_json, problems)
    catalogue: CatalogueCheck = "not checked"
    detail = "no catalogue given"
    if isinstance(target, Context):
        catalogue, detail = _against_catalogue(target, embedded, sha256(data))
    if catalogue == "mismatch":
        problems.append(detail)
    return PdfVerdict(
        path=str(path),
        sha256=sha256(data),
        ok=check.ok and not problems,
        signed=check.signed,
        intact=check.intact,
        trusted=check.trusted,
        modified_after_signing=check.modified_after_signing,
        signer=check.signer,
        signed_at=check.signed_at,
        org_certificate=org,
        organisation=organisation,
        ref=embedded.ref,
        embedded_sha256=embedded.sha256,
        catalogue=catalogue,
        catalogue_detail=detail,
        decisions=embedded.decisions,
        decisions_summary=embedded.summary,
        problems=problems,
        details=details,
    )


def _organisation_certificates(
    ctx: Context,
) -> dict[str, tuple[x509.Certificate, keys.OrgCertificatePublic]] | None:
    """The catalogue's organisation certificates by fingerprint; None without a catalogue."""
    try:
        return {info.fingerprint: (c, info) for c, info in keys.catalogue_certificates(ctx)}
    except CatalogueError:
        return None


def _signer(
    check: Any,
    known: dict[str, tuple[x509.Certificate, keys.OrgCertificatePublic]] | None,
    problems: list[str],
    details: list[str],
) -> tuple[keys.OrgCertificatePublic | None, str]:
    """Which of the organisation's certificates signed the card, and what that means."""
    if known is None:
        return None, "not checked (no catalogue)"
    fingerprint = check.signer.get("fingerprint_sha256", "")
    org = known[fingerprint][1] if fingerprint in known else None
    if org is None:
        if not (check.signed and fingerprint):
            return None, "–"
        subject = check.signer.get("subject", "an unknown signer")
        problems.append(
            f"the signer ({subject}, certificate {short_hash(fingerprint, 16)}) is not one of this "
            "catalogue's organisation certificates: the organisation did not sign this card"
            if known
            else f"the signer ({subject}) cannot be one of the organisation's certificates: "
            "this catalogue has none (`govern keys org init`)"
        )
        return None, "NOT one of this catalogue's organisation certificates"
    organisation = (
        f"{'REVOKED' if org.status == 'revoked' else org.status} certificate "
        f"{short_hash(org.fingerprint, 16)} ({org.subject}"
        + (f"; {org.reason}" if org.reason else "")
        + ")"
    )
    details.append(f"signed by the organisation's {organisation}")
    if org.status == "revoked":
        problems.append(
            f"signed by the organisation certificate {short_hash(org.fingerprint, 16)}, which was "
            "revoked (" + (org.reason or "no reason given") + "); the card can no longer be "
            "trusted"
        )
    return org, organisation


@dataclass
class _EmbeddedCard:
    """What the card's embedded data say of themselves, and their decisions re-checked."""

    ref: str | None = None
    card_sha256: str | None = None
    sha256: str | None = None
    decisions: list[DecisionCheck] = field(default_factory=list)
    summary: str = "not re-checked: the PDF carries no card data"

    @classmethod
    def read(cls, raw: bytes | None, problems: list[str]) -> _EmbeddedCard:
        from govern.report.decisions import check_card_document, summary
        from govern.report.signature import sha256

        embedded = cls()
        if raw is None:
            return embedded
        embedded.sha256 = sha256(raw)
        embedded.ref, embedded.card_sha256, problem = _embedded_identity(raw)
        if problem:
            problems.append(problem)
            embedded.summary = "not re-checked: the card data cannot be read"
            return embedded
        embedded.decisions, problem = check_card_document(json.loads(raw))
        if problem:
            problems.append(problem)
            embedded.summary = f"not re-checked: {problem}"
            return embedded
        embedded.summary = summary(embedded.decisions)
        for decision in embedded.decisions:
            problems.extend(f"{decision.label}: {p}" for p in decision.problems)
        return embedded


def _against_catalogue(
    ctx: Context, embedded: _EmbeddedCard, file_sha: str
) -> tuple[CatalogueCheck, str]:
    if embedded.ref is None or embedded.sha256 is None:
        return "not checked", "the PDF names no model version to look up"
    try:
        return _compare_with_catalogue(
            ctx, embedded.ref, embedded.sha256, embedded.card_sha256, file_sha
        )
    except CatalogueError as exc:
        # An auditor with only the PDF has no catalogue: say so, without the advice to
        # create one that other commands give.
        reason = exc.message.split(";")[0]
        return "not checked", f"{reason}: only the PDF itself was checked"


def _embedded_identity(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """(ref, card SHA-256, problem) from the embedded card document."""
    try:
        document = json.loads(raw.decode("utf-8"))
        governance = document["governance"]
        return str(governance["ref"]), str(governance.get("card_sha256") or ""), None
    except (ValueError, KeyError, TypeError):  # UnicodeDecodeError, JSONDecodeError, huge ints
        return None, None, "the embedded govern-card.json is not a govern card document"


def _compare_with_catalogue(
    ctx: Context, ref: str, embedded_sha: str, card_sha: str | None, file_sha: str
) -> tuple[CatalogueCheck, str]:
    with ctx.read() as session:
        try:
            _, version = resolve(session, ref)
        except (NotFoundError, InputError) as exc:
            return "mismatch", f"{ref} is not in the catalogue {ctx.db.display_url}: {exc}"
        if card_sha and card_sha != version.card_sha256:
            return "mismatch", (
                f"the embedded card of {ref} differs from the card registered in the catalogue"
            )
        reports = [
            (r.id, r.sha256, r.created_at, r.created_by)
            for r in queries.reports_of(session=session, version_id=version.id)
            if r.card_sha256 == embedded_sha
        ]
    if not reports:
        return "mismatch", (
            f"the embedded card data (SHA-256 {short_hash(embedded_sha, 16)}) match no report "
            f"of {ref} recorded in the catalogue"
        )
    same_file = [r for r in reports if r[1] == file_sha]
    if not same_file:
        return "mismatch", (
            f"the embedded card data match report #{reports[0][0]} of {ref}, but the file is "
            "not the PDF recorded with it"
        )
    report_id, _, created_at, created_by = same_file[0]
    return "match", (
        f"identical to report #{report_id} of {ref}, generated {moment(created_at)} by {created_by}"
    )


__all__ = [
    "PdfVerdict",
    "ReportResult",
    "build_report",
    "build_view",
    "report_view",
    "verify_pdf",
]
