"""What the terminal app may ask of govern: a thin face over ``govern.services``.

Every call here is blocking (it opens a session, may render a PDF or run SHAP), so screens
call it only from thread workers. Roles, separation of duties and every other rule live in
the services; this class adds nothing but the acting user's context.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from govern.domain.lifecycle import Action

if TYPE_CHECKING:
    from govern.config import Settings
    from govern.domain.comparison import Comparison
    from govern.domain.governance import GovernanceSettings
    from govern.policy.outcomes import CheckReport
    from govern.report.view import LocalExplanation, MonitoringView, ReportView
    from govern.services import Context
    from govern.services.governance import SettingsRevisionPublic
    from govern.services.reports import PdfVerdict, ReportResult
    from govern.services.views import (
        AuditEventPublic,
        AuditVerdict,
        UserPublic,
        VersionDetail,
        VersionSummary,
    )
    from govern.services.waivers import WaiverPublic
    from govern.services.workflow import DueItem, History, QueueItem, TransitionResult


#: How many of a decision's feature contributions the console lists (the rest are summed).
EXPLAINED_FEATURES = 12


class Backend:
    """The acting user's doorway to the catalogue, built once by ``make_app``."""

    def __init__(self, settings: Settings) -> None:
        from govern.services import Context

        self.settings = settings
        self.ctx: Context = Context(settings)

    @property
    def actor(self) -> str:
        return self.ctx.actor

    @property
    def database(self) -> str:
        return self.ctx.db.display_url

    @property
    def governance(self) -> GovernanceSettings:
        """The catalogue's governance settings (as of the last read)."""
        return self.ctx.governance

    @property
    def key_locked(self) -> bool:
        """Whether acting needs the personal key's passphrase, not yet given this session."""
        return self.ctx.key_locked

    def unlock(self, passphrase: str) -> None:
        """Unlock the personal key for the rest of the session (SignatureError if wrong)."""
        self.ctx.unlock(passphrase)

    def key_fingerprint(self) -> str | None:
        """The personal key's fingerprint, read from its public half (no passphrase needed)."""
        from govern.errors import GovernError
        from govern.services import keys

        try:
            return keys.show_personal_key(self.settings).fingerprint
        except GovernError:
            return None

    def close(self) -> None:
        self.ctx.close()

    def check(self) -> None:
        """Refuse early (CatalogueError) when there is no usable catalogue to open."""
        self.ctx.require_catalogue()

    # --- catalogue ----------------------------------------------------------------------

    def whoami(self) -> UserPublic | None:
        from govern.services import users

        return users.whoami(self.ctx)

    def list_versions(self, *, model: str | None = None) -> list[VersionSummary]:
        from govern.services import catalogue

        return catalogue.list_versions(self.ctx, model=model)

    def show_version(self, ref: str) -> VersionDetail:
        from govern.services import catalogue

        return catalogue.show_version(self.ctx, ref)

    # --- governance settings ------------------------------------------------------------

    def governance_settings(self) -> tuple[SettingsRevisionPublic, list[SettingsRevisionPublic]]:
        """The revision in force and every revision, oldest first, each with what it changed."""
        from govern.services import governance

        return governance.show_settings(self.ctx), governance.settings_history(self.ctx)

    # --- workflow -----------------------------------------------------------------------

    def transition(self, ref: str, action: Action, comment: str) -> TransitionResult:
        from govern.services import workflow

        return workflow.transition(self.ctx, ref, action, comment=comment)

    def queue(self) -> list[QueueItem]:
        from govern.services import workflow

        return workflow.queue(self.ctx)

    def due(self) -> list[DueItem]:
        from govern.services import workflow

        return workflow.due(self.ctx)

    def history(self, name: str) -> History:
        from govern.services import workflow

        return workflow.history(self.ctx, name)

    def compare(self, champion: str, challenger: str) -> tuple[Comparison, list[str]]:
        """The comparison and the promotion gate's reasons to refuse (empty: it passes)."""
        from govern.services import workflow

        comparison = workflow.compare(self.ctx, champion, challenger)
        return comparison, workflow.promotion_verdict(self.ctx, comparison)

    # --- audit --------------------------------------------------------------------------

    def audit_page(
        self,
        *,
        actor: str | None,
        subject: str | None,
        action: str | None,
        before_seq: int | None,
        limit: int,
    ) -> list[AuditEventPublic]:
        from govern.services import audit

        return audit.audit_log(
            self.ctx,
            actor=actor,
            subject=subject,
            action=action,
            before_seq=before_seq,
            limit=limit,
        )

    def count_events(self) -> int:
        from govern.services import audit

        return audit.count_events(self.ctx)

    def verify_audit(self, checkpoint: Path | None = None) -> AuditVerdict:
        from govern.services import audit

        return audit.verify_audit(self.ctx, checkpoint=checkpoint)

    def default_champion(self, ref: str) -> str:
        """What to compare ``ref`` with: the model's deployed version, else its newest other."""
        from govern.domain.refs import ModelRef
        from govern.services import catalogue

        name = ModelRef.parse(ref).name
        others = [v for v in catalogue.list_versions(self.ctx, model=name) if v.ref != ref]
        deployed = [v for v in others if v.state == "deployed"]
        chosen = deployed[0] if deployed else (others[0] if others else None)
        if chosen is None:
            from govern.errors import NotFoundError

            raise NotFoundError(f"{ref} has no other version to compare it with")
        return chosen.ref

    # --- evidence and reports -----------------------------------------------------------

    def evidence(self, ref: str) -> tuple[ReportView | None, str | None]:
        """The report view of ``ref`` (card, evaluation, explanations, policies, waivers,
        decisions, drift): the one typed shape of a version's evidence, which the signed
        card is rendered from too; or why it cannot be built."""
        from govern.errors import GovernError
        from govern.services import reports

        try:
            return reports.report_view(self.ctx, ref), None
        except GovernError as error:
            return None, error.message

    def monitoring(self, ref: str, width: str) -> MonitoringView | None:
        """``ref``'s production monitoring in windows of ``width`` (``govern monitor show``),
        read into the report view's shape; None when no log was ever counted."""
        from govern.services.reports import monitoring_for

        return monitoring_for(self.ctx, ref, width)

    def build_report(
        self, ref: str, output: Path, progress: Callable[[str, int, int], None] | None = None
    ) -> ReportResult:
        from govern.services import reports

        return reports.build_report(self.ctx, ref, format="pdf", output=output, progress=progress)

    def verify_report(self, path: Path) -> PdfVerdict:
        from govern.services import reports

        return reports.verify_pdf(self.ctx, path)

    def explain(self, ref: str, row_id: str) -> LocalExplanation | None:
        """One decision's explanation, stored with the evaluation or else computed (SHAP),
        read into the report view's shape as stored ones are (None: no contributions)."""
        from govern.report.view import local_explanation
        from govern.services import evaluation

        record = evaluation.explain_row(self.ctx, ref, row_id)
        return local_explanation(row_id, record.explanation.to_json(), limit=EXPLAINED_FEATURES)

    def run_checks(self, ref: str) -> CheckReport:
        """Check ``ref`` against its bound policies now and record the run."""
        from govern.services import checks

        return checks.check_version(self.ctx, ref)

    def waive(self, ref: str, rule: str, reason: str, expires: dt.date) -> WaiverPublic:
        from govern.services import waivers

        return waivers.grant_waiver(self.ctx, ref, rule=rule, reason=reason, expires=expires)
