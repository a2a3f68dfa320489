"""The approval workflow: lifecycle transitions with separation of duties, gates and history.

Every rule is enforced here, so the CLI, the TUI and Python callers obey the same ones, and
every rule comes from the catalogue's governance settings (``govern settings``), never from
the acting person's own configuration:

* roles per action come from ``workflow_roles``; a service account never judges;
* whoever registered or submitted a version cannot validate, reject or approve it, and one
  person cannot give two of the approvals a round needs;
* the number of approvals grows with the risk tier (``approvals_by_tier``) and some tiers
  need a compliance approver (``compliance_approval_tiers``);
* approval and deployment re-run the version's bound policies (``services.gate``) and
  refuse on a blocking failure without an unexpired waiver; deploying a challenger also
  passes the promotion gate against the champion;
* retired and rejected versions are read-only.

A refusal raises :class:`~govern.errors.WorkflowError` or
:class:`~govern.errors.PermissionDenied`; ``Context.write`` rolls the attempt back and records
it in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from govern import formatting
from govern.domain import lifecycle
from govern.domain.comparison import Comparison, compare_results, regressions
from govern.domain.lifecycle import Action, Approval, State, TransitionRefused
from govern.domain.refs import ModelRef, semver_key
from govern.domain.roles import Role
from govern.errors import InputError, NotFoundError, WorkflowError
from govern.services.catalogue import resolve
from govern.services.context import Context, Transaction
from govern.services.views import View
from govern.storage import audit, crud, monitoring, queries
from govern.storage.database import Session
from govern.storage.tables import Decision, Evaluation, Model, ModelVersion, User


class TransitionResult(View):
    """What a workflow command did."""

    ref: str
    action: str
    from_state: str
    to_state: str
    actor: str
    role: str
    comment: str
    approvals: str | None = None
    superseded: str | None = None
    next_validation_due: dt.date | None = None
    notes: list[str] = Field(default_factory=list)


class QueueItem(View):
    ref: str
    state: str
    risk_tier: str
    waiting_since: dt.datetime
    reason: str


class DueItem(View):
    ref: str
    state: str
    risk_tier: str
    owner: str
    next_validation_due: dt.date
    days_left: int
    status: str  # "overdue" or "due"


class HistoryEntry(View):
    seq: int
    ts: str
    actor: str
    action: str
    ref: str
    from_state: str | None
    to_state: str | None
    comment: str
    #: The role the actor held when acting (recorded with the event).
    role: str | None = None


class DeployedSpan(View):
    """A version that was champion during part of the day asked about."""

    ref: str
    deployed_since: str
    until: str
    approvers: list[str]


class DeployedAt(View):
    """The answer to "which version was deployed on date D, and who approved it".

    ``ref`` is the champion at the end of that day (UTC); ``earlier`` lists the versions
    that were champion during the day but were replaced or retired before it ended.
    """

    date: dt.date
    ref: str | None
    deployed_since: str | None
    approvers: list[str]
    earlier: list[DeployedSpan] = Field(default_factory=list)


class History(View):
    model: str
    entries: list[HistoryEntry]
    at: DeployedAt | None = None


# --- transitions -------------------------------------------------------------------------


#: Decisions are read in tables, cards and the audit log: a comment says why, briefly.
MAX_COMMENT_CHARS = 4_000


def _roles_key(action: Action) -> str:
    # A shadow deployment is a deployment: the same people may start one.
    return str(Action.DEPLOY if action == Action.SHADOW else action)


def _decisions(session: Session, version: ModelVersion) -> list[Decision]:
    return queries.decisions_of(session=session, version_id=version.id)


def _current_round(decisions: Sequence[Decision]) -> list[Decision]:
    """Decisions since the latest submission (a resubmission starts a fresh round)."""
    start = 0
    for index, decision in enumerate(decisions):
        if decision.action == Action.SUBMIT:
            start = index
    return list(decisions[start:])


def _authors(version: ModelVersion, decisions: Sequence[Decision]) -> dict[str, str]:
    """Who may not judge this version: its registrant and everyone who submitted it."""
    authors = {version.created_by: "registered"}
    for decision in decisions:
        if decision.action == Action.SUBMIT:
            authors[decision.actor] = "submitted"
    return authors


def _refuse(reason: str) -> WorkflowError:
    return WorkflowError(reason)


#: Actions that judge a version; its authors may take none of them.
_JUDGEMENTS = frozenset({Action.APPROVE, Action.REJECT, Action.REQUEST_CHANGES})


def _refuse_authors(
    actor: str, version: ModelVersion, decisions: Sequence[Decision], action: Action, subject: str
) -> None:
    authors = _authors(version, decisions)
    if actor in authors:
        doing = "validate or approve" if action == Action.APPROVE else lifecycle.verb(action)
        raise _refuse(f"{actor} {authors[actor]} {subject} and cannot {doing} it")


def transition(
    ctx: Context,
    ref: str,
    action: Action,
    *,
    comment: str = "",
    previous: str = "retire",
) -> TransitionResult:
    """Apply one lifecycle action to a version, with every check, in one transaction."""
    comment = comment.strip()
    parsed = ModelRef.parse(ref)
    if action in lifecycle.AUTOMATIC:
        raise InputError(
            f"nobody can {lifecycle.verb(action)} a version directly: deploying its successor "
            "does it"
        )
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(
            f"the comment is {len(comment):,} characters; keep it under {MAX_COMMENT_CHARS:,} "
            "and link to longer documents"
        )
    if any(not (ch.isprintable() or ch in "\n\t") for ch in comment):
        raise InputError("the comment contains control characters; use plain text")
    if action in lifecycle.COMMENT_REQUIRED and not comment:
        raise InputError(
            f"a comment is required to {lifecycle.verb(action)} {parsed}: say why with --comment"
        )
    if previous not in {"retire", "shadow"}:
        raise InputError(f"--previous must be retire or shadow, not {previous!r}")
    if action == Action.SHADOW and previous != "retire":
        raise InputError(
            "--previous applies when a version becomes champion; a shadow deployment leaves "
            "the champion in place"
        )
    with ctx.write(f"version.{action}", str(parsed)) as tx:
        model, version = resolve(tx.session, parsed, for_update=True)
        subject = f"{model.name}@{version.version}"
        tx.subject = subject
        decisions = _decisions(tx.session, version)
        if action in _JUDGEMENTS:
            # Identity before role: "alice submitted it" is the rule that matters here.
            _refuse_authors(tx.actor, version, decisions, action, subject)
        user = ctx.require_role(
            tx.session, _roles_key(action), doing=f"{lifecycle.verb(action)} {subject}"
        )
        state = State(version.state)
        try:
            lifecycle.next_state(state, action)
        except TransitionRefused as refused:
            raise _refuse(refused.reason(subject)) from None
        result, recorded = _apply(
            ctx, tx, model, version, user, action, state, decisions, comment, previous
        )
        tx.audit(
            from_state=result.from_state,
            to_state=result.to_state,
            comment=comment,
            role=user.role,
            approvals=result.approvals,
            superseded=result.superseded,
            **recorded,
        )
        return result


def _apply(
    ctx: Context,
    tx: Transaction,
    model: Model,
    version: ModelVersion,
    user: User,
    action: Action,
    state: State,
    decisions: list[Decision],
    comment: str,
    previous: str,
) -> tuple[TransitionResult, dict[str, Any]]:
    subject = f"{model.name}@{version.version}"
    rules = ctx.governance
    notes: list[str] = []
    quorum_text: str | None = None
    superseded: str | None = None
    gate_run: dict[str, Any] | None = None

    target = lifecycle.next_state(state, action)
    if action == Action.APPROVE:
        round_ = _current_round(decisions)
        approvals = [Approval(d.actor, d.role) for d in round_ if d.action == Action.APPROVE]
        if any(a.actor == user.name for a in approvals):
            raise _refuse(
                f"{user.name} already approved {subject} in this round; another approval must "
                "come from someone else"
            )
        gate_run = _policy_gate(ctx, tx, model, version, action, notes)
        count = lifecycle.quorum(
            version.risk_tier,
            [*approvals, Approval(user.name, user.role)],
            required_by_tier=rules.approvals_by_tier,
            compliance_tiers=rules.compliance_approval_tiers,
        )
        quorum_text = count.describe()
        target = lifecycle.next_state(state, action, quorum_reached=count.met)
        if not count.met:
            notes.append(f"{quorum_text}; the version stays submitted")
    elif action in {Action.DEPLOY, Action.SHADOW}:
        gate_run = _policy_gate(ctx, tx, model, version, action, notes)
        if action == Action.DEPLOY:
            superseded = _replace_champion(ctx, tx, model, version, user, previous, notes)

    changes: dict[str, Any] = {"state": str(target)}
    recorded: dict[str, Any] = {"evidence": _evidence(tx.session, version, gate_run)}
    next_due: dt.date | None = None
    if target == State.APPROVED and state != State.APPROVED:
        next_due = rules.next_validation_due(
            crud.today(), version.risk_tier, _card_due(version.card)
        )
        changes["next_validation_due"] = next_due
        recorded["next_validation_due"] = next_due.isoformat()
        recorded["due_rule"] = rules.validation_due
        if version.next_validation_due != next_due:
            before = version.next_validation_due
            recorded["previous_validation_due"] = before.isoformat() if before else None
            notes.append(
                f"next validation due {next_due} (was {before or 'not set'}): "
                f"{rules.describe_due_rule(version.risk_tier)} (setting validation_due)"
            )
    decision = _decision(tx, version, action, state, target, user, comment)
    crud.touch_version(session=tx.session, version=version, **changes)
    recorded["decision_id"] = decision.id
    result = TransitionResult(
        ref=subject,
        action=str(action),
        from_state=str(state),
        to_state=str(target),
        actor=user.name,
        role=user.role,
        comment=comment,
        approvals=quorum_text,
        superseded=superseded,
        next_validation_due=next_due,
        notes=notes,
    )
    return result, recorded


def _replace_champion(
    ctx: Context,
    tx: Transaction,
    model: Model,
    version: ModelVersion,
    user: User,
    previous: str,
    notes: list[str],
) -> str | None:
    """Deploying ``version`` moves the model's current champion, if any, out of production
    (once the promotion gate passes). Returns the champion's reference."""
    # One champion per model: a concurrent promotion waits here, then sees ours.
    crud.lock_model(session=tx.session, model=model)
    champion = _champion(tx.session, model, exclude=version)
    if champion is None:
        return None
    _promotion_gate(ctx, tx.session, model, champion, version, notes)
    return _supersede(
        tx,
        model,
        champion,
        user,
        by=f"{model.name}@{version.version}",
        action=Action.DEMOTE if previous == "shadow" else Action.SUPERSEDE,
    )


def _decision(
    tx: Transaction,
    version: ModelVersion,
    action: Action,
    from_state: State,
    to_state: State,
    user: User,
    comment: str,
) -> Decision:
    """A decision row, under the settings revision in force; its id is set at the next flush."""
    assert version.id is not None
    decision = Decision(
        version_id=version.id,
        action=str(action),
        from_state=str(from_state),
        to_state=str(to_state),
        actor=user.name,
        role=user.role,
        comment=comment,
        settings_revision=tx.settings_revision,
    )
    tx.session.add(decision)
    return decision


def _card_due(card: dict[str, Any]) -> dt.date | None:
    """The next validation date the version's card states, if any."""
    stated = (card.get("governance") or {}).get("next_validation_due")
    try:
        return dt.date.fromisoformat(str(stated)) if stated else None
    except ValueError:
        return None


def _evidence(
    session: Session, version: ModelVersion, gate_run: dict[str, Any] | None
) -> dict[str, Any]:
    """What the decision relied on, for its signed event: the card, the latest evaluation
    (the hash of its results as stored) and the policy run of the gate, if one ran."""
    evaluation = queries.latest_evaluation(session=session, version_id=version.id)
    evaluated = None
    if evaluation is not None and evaluation.id is not None:
        hashes = queries.results_sha256(session=session, table=Evaluation, ids=[evaluation.id])
        evaluated = {"id": evaluation.id, "results_sha256": hashes.get(evaluation.id)}
    return {"card_sha256": version.card_sha256, "evaluation": evaluated, "policy_run": gate_run}


def _champion(session: Session, model: Model, *, exclude: ModelVersion) -> ModelVersion | None:
    return queries.deployed_champion(session=session, model_id=model.id, exclude=exclude.id)


def _supersede(
    tx: Transaction, model: Model, champion: ModelVersion, user: User, *, by: str, action: Action
) -> str:
    """Move the old champion out of production (retired, or kept in shadow with ``demote``),
    through the state machine, as its own decision and audit event."""
    old = f"{model.name}@{champion.version}"
    from_state = State(champion.state)
    to = lifecycle.next_state(from_state, action)
    comment = f"superseded by {by}" + ("; kept running in shadow" if to == State.SHADOW else "")
    decision = _decision(tx, champion, action, from_state, to, user, comment)
    crud.touch_version(session=tx.session, version=champion, state=str(to))
    tx.audit(
        f"version.{action}",
        old,
        from_state=str(from_state),
        to_state=str(to),
        comment=comment,
        role=user.role,
        decision_id=decision.id,
    )
    return old


def _policy_gate(
    ctx: Context,
    tx: Transaction,
    model: Model,
    version: ModelVersion,
    action: Action,
    notes: list[str],
) -> dict[str, Any]:
    """Re-run the version's bound policies; refuse on a blocking failure without a waiver.

    Returns what the decision's event records of the run (its id and outcome).
    """
    from govern.services.gate import gate

    outcome = gate(
        tx,
        model,
        version,
        stage="approve" if action == Action.APPROVE else "deploy",
        record=True,
    )
    subject = f"{model.name}@{version.version}"
    if outcome.blocking:
        raise _refuse(
            f"cannot {lifecycle.verb(action)} {subject}: blocking policy rules failed without "
            f"a waiver: {outcome.describe()}"
        )
    notes.extend(outcome.notes)
    return {
        "id": outcome.policy_run_id,
        "policies": outcome.policies,
        "outcome": "pass" if outcome.passed else "fail",
    }


def _latest_evaluations(session: Session, version: ModelVersion) -> list[Evaluation]:
    return queries.evaluations_of(session=session, version_id=version.id)


def _paired_results(
    session: Session, champion: ModelVersion, challenger: ModelVersion
) -> tuple[Evaluation | None, Evaluation | None]:
    """The two evaluations to compare, on the same data set when one exists."""
    evals_a = _latest_evaluations(session, champion)
    evals_b = _latest_evaluations(session, challenger)
    if not evals_a or not evals_b:
        return (evals_a[0] if evals_a else None, evals_b[0] if evals_b else None)
    by_data = {e.dataset_sha256: e for e in reversed(evals_a)}
    for candidate in evals_b:
        if candidate.dataset_sha256 in by_data:
            return by_data[candidate.dataset_sha256], candidate
    return evals_a[0], evals_b[0]


def _promotion_gate(
    ctx: Context,
    session: Session,
    model: Model,
    champion: ModelVersion,
    challenger: ModelVersion,
    notes: list[str],
) -> None:
    old, new = f"{model.name}@{champion.version}", f"{model.name}@{challenger.version}"
    _live_evidence(ctx, session, challenger, old, new, notes)
    eval_a, eval_b = _paired_results(session, champion, challenger)
    if eval_a is None:
        notes.append(f"champion {old} has no evaluation; promotion gate not applied")
        return
    if eval_b is None:
        raise _refuse(
            f"cannot deploy {new}: it has no evaluation to compare with the champion {old}; "
            "run `govern evaluate` first"
        )
    comparison = compare_results(old, eval_a.results, new, eval_b.results)
    notes.extend(comparison.warnings)
    reasons = regressions(comparison, ctx.governance.promotion_max_regression)
    if reasons:
        shown = "; ".join(reasons[:3])
        more = f"; and {len(reasons) - 3} more (see `govern compare`)" if len(reasons) > 3 else ""
        raise _refuse(
            f"cannot deploy {new}: worse than the champion {old} beyond the promotion gate: "
            f"{shown}{more}"
        )


def _live_evidence(
    ctx: Context, session: Session, challenger: ModelVersion, old: str, new: str, notes: list[str]
) -> None:
    """Refuse a promotion with fewer days of live evidence than the catalogue asks for."""
    wanted = ctx.governance.promotion_live_days
    if wanted == 0:
        return
    assert challenger.id is not None
    found = monitoring.paired_days(session=session, version_id=challenger.id)
    if found < wanted:
        raise _refuse(
            f"cannot deploy {new}: it has {formatting.count(found, 'day')} of live evidence "
            f"beside the champion {old}; the promotion gate asks for {wanted} (setting "
            "promotion_live_days; govern monitor run --champion-prediction)"
        )
    notes.append(f"live evidence: {formatting.count(found, 'day')} beside {old}")


def submit(ctx: Context, ref: str, *, comment: str = "") -> TransitionResult:
    return transition(ctx, ref, Action.SUBMIT, comment=comment)


def approve(ctx: Context, ref: str, *, comment: str = "") -> TransitionResult:
    return transition(ctx, ref, Action.APPROVE, comment=comment)


def reject(ctx: Context, ref: str, *, comment: str) -> TransitionResult:
    return transition(ctx, ref, Action.REJECT, comment=comment)


def request_changes(ctx: Context, ref: str, *, comment: str) -> TransitionResult:
    return transition(ctx, ref, Action.REQUEST_CHANGES, comment=comment)


def deploy(
    ctx: Context, ref: str, *, comment: str = "", shadow: bool = False, previous: str = "retire"
) -> TransitionResult:
    """Deploy a version as champion, or with ``shadow=True`` behind the scenes.

    Deploying a challenger supersedes the champion, which is retired (or, with
    ``previous="shadow"``, kept running in shadow).
    """
    action = Action.SHADOW if shadow else Action.DEPLOY
    return transition(ctx, ref, action, comment=comment, previous=previous)


def retire(ctx: Context, ref: str, *, comment: str = "") -> TransitionResult:
    return transition(ctx, ref, Action.RETIRE, comment=comment)


# --- compare -----------------------------------------------------------------------------


def compare(ctx: Context, champion_ref: str, challenger_ref: str) -> Comparison:
    """Performance and fairness of two versions side by side, with the promotion verdict."""
    with ctx.read() as session:
        model_a, champion = resolve(session, champion_ref)
        model_b, challenger = resolve(session, challenger_ref)
        old = f"{model_a.name}@{champion.version}"
        new = f"{model_b.name}@{challenger.version}"
        eval_a, eval_b = _paired_results(session, champion, challenger)
        missing = [ref for ref, ev in ((old, eval_a), (new, eval_b)) if ev is None]
        if missing:
            raise NotFoundError(
                f"no evaluation of {' or '.join(missing)} to compare; run `govern evaluate` first"
            )
        assert eval_a is not None and eval_b is not None
        comparison = compare_results(old, eval_a.results, new, eval_b.results)
        # Read inside the session: rows are expired once it closes.
        same_model = model_a.name == model_b.name
    if not same_model:
        comparison.warnings.append("the two versions belong to different models")
    return comparison


def promotion_verdict(ctx: Context, comparison: Comparison) -> list[str]:
    return regressions(comparison, ctx.governance.promotion_max_regression)


# --- queue, due, history ------------------------------------------------------------------


def queue(ctx: Context) -> list[QueueItem]:
    """What awaits the acting user, oldest first, with the reason it waits for them."""
    with ctx.read() as session:
        user = crud.find_user(session=session, name=ctx.actor)
        if user is None:
            return []
        role = Role(user.role) if user.role in {r.value for r in Role} else Role.VIEWER
        states = [State.DRAFT, State.SUBMITTED, State.CHANGES_REQUESTED, State.APPROVED]
        pairs = crud.list_versions(session=session, states=states)
        # Every waiting version's decisions in one query, not one query per version.
        by_version: dict[int | None, list[Decision]] = {}
        waiting = queries.decisions_in_states(session=session, states=[str(s) for s in states])
        for decision in waiting:
            by_version.setdefault(decision.version_id, []).append(decision)
        items: list[QueueItem] = []
        for model, version in pairs:
            decisions = by_version.get(version.id, [])
            item = _queue_reason(ctx, user.name, role, model, version, decisions)
            if item is not None:
                items.append(item)
    return sorted(items, key=lambda i: i.waiting_since)


def _queue_reason(
    ctx: Context,
    actor: str,
    role: Role,
    model: Model,
    version: ModelVersion,
    decisions: list[Decision],
) -> QueueItem | None:
    ref = f"{model.name}@{version.version}"
    since = decisions[-1].created_at if decisions else version.created_at
    authors = _authors(version, decisions)
    state = State(version.state)
    rules = ctx.governance
    roles = rules.workflow_roles
    reason: str | None = None
    if state == State.SUBMITTED and actor not in authors:
        round_ = _current_round(decisions)
        approvals = [Approval(d.actor, d.role) for d in round_ if d.action == Action.APPROVE]
        count = lifecycle.quorum(
            version.risk_tier,
            approvals,
            required_by_tier=rules.approvals_by_tier,
            compliance_tiers=rules.compliance_approval_tiers,
        )
        already = any(a.actor == actor for a in approvals)
        only_compliance_missing = count.have >= count.need and not count.met
        if role.value in roles.get("approve", []) and not already:
            if count.needs_compliance and not count.has_compliance and role == Role.COMPLIANCE:
                reason = f"awaiting a compliance approval ({count.describe()})"
            elif not only_compliance_missing:
                # Once only the compliance approval is missing, another approver's would
                # not move the version on: it no longer waits for them.
                reason = f"awaiting approval ({count.describe()})"
        elif role.value in roles.get("request_changes", []) and not already:
            reason = "awaiting validation"
    elif state == State.CHANGES_REQUESTED and actor in authors:
        last = next((d for d in reversed(decisions) if d.action == Action.REQUEST_CHANGES), None)
        who = f" by {last.actor}: {last.comment}" if last else ""
        reason = f"changes requested{who}"
    elif state == State.DRAFT and actor in authors and role.value in roles.get("submit", []):
        reason = "draft: not yet submitted"
    elif state == State.APPROVED and role.value in roles.get("deploy", []):
        reason = "approved: awaiting deployment"
    if reason is None:
        return None
    return QueueItem(
        ref=ref, state=str(state), risk_tier=version.risk_tier, waiting_since=since, reason=reason
    )


def due(ctx: Context, *, within_days: int | None = None) -> list[DueItem]:
    """Approved, shadow and deployed versions whose validation is due soon or overdue."""
    window = ctx.governance.due_soon_days if within_days is None else within_days
    if window < 0:
        raise InputError(f"--within must be 0 or more days, not {window}")
    today = crud.today()
    items = []
    # Build the items inside the session: rows are expired once it closes.
    with ctx.read() as session:
        pairs = crud.list_versions(
            session=session, states=[State.APPROVED, State.SHADOW, State.DEPLOYED]
        )
        for model, version in pairs:
            if version.next_validation_due is None:
                continue
            days_left = (version.next_validation_due - today).days
            if days_left <= window:
                items.append(
                    DueItem(
                        ref=f"{model.name}@{version.version}",
                        state=version.state,
                        risk_tier=version.risk_tier,
                        owner=model.owner,
                        next_validation_due=version.next_validation_due,
                        days_left=days_left,
                        status="overdue" if days_left < 0 else "due",
                    )
                )
    return sorted(items, key=lambda i: i.days_left)


def history(ctx: Context, name: str, *, at: dt.date | None = None) -> History:
    """Every lifecycle event and waiver of a model, from the audit log; optionally which
    version was deployed on a date and who approved it.

    The answer comes from the hash-chained audit log, not from mutable tables. Refused
    attempts are left out (``govern audit log --action version`` shows them).
    """
    parsed = ModelRef.parse(name)
    with ctx.read() as session:
        if crud.get_model(session=session, name=parsed.name) is None:
            raise NotFoundError(f"no model named {parsed.name!r} in the catalogue")
        conn = session.connection()
        events = [
            e
            for e in audit.query_events(conn, subject=parsed.name, limit=1_000_000)
            if (e.action.startswith("version.") or e.action == "waiver.grant")
            and not e.action.endswith(".refused")
        ]
    events.reverse()
    entries = []
    for event in events:
        payload = event.data
        if event.action == "waiver.grant":
            action = "waive"
            comment = (
                f"{payload.get('rule')} until {payload.get('expires_on')}: "
                f"{payload.get('reason', '')}"
            )
        else:
            action = event.action.removeprefix("version.")
            comment = payload.get("comment", "") or ""
        to_state = payload.get("to_state") or ("draft" if action == "register" else None)
        entries.append(
            HistoryEntry(
                seq=event.seq,
                ts=event.ts,
                actor=event.actor,
                action=action,
                ref=event.subject,
                from_state=payload.get("from_state"),
                to_state=to_state,
                comment=comment,
                role=payload.get("role"),
            )
        )
    answer = _deployed_at(entries, at) if at is not None else None
    return History(model=parsed.name, entries=entries, at=answer)


def _deployed_at(entries: list[HistoryEntry], day: dt.date) -> DeployedAt:
    start, cutoff = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    state: dict[str, str] = {}
    since: dict[str, str] = {}
    approvers: dict[str, list[str]] = {}
    earlier: list[DeployedSpan] = []
    for entry in entries:
        if entry.ts >= cutoff:
            break
        if entry.action == "submit":
            approvers[entry.ref] = []  # a resubmission starts a fresh round
        elif entry.action == "approve":
            approvers.setdefault(entry.ref, []).append(entry.actor)
        if entry.to_state is None:
            continue
        was = state.get(entry.ref)
        state[entry.ref] = entry.to_state
        if entry.to_state == State.DEPLOYED and was != State.DEPLOYED:
            since[entry.ref] = entry.ts
        elif was == State.DEPLOYED and entry.to_state != State.DEPLOYED and entry.ts >= start:
            earlier.append(
                DeployedSpan(
                    ref=entry.ref,
                    deployed_since=since[entry.ref],
                    until=entry.ts,
                    approvers=list(approvers.get(entry.ref, [])),
                )
            )
    live = [ref for ref, s in state.items() if s == State.DEPLOYED]
    live.sort(key=lambda r: semver_key(r.partition("@")[2]))
    ref = live[-1] if live else None
    return DeployedAt(
        date=day,
        ref=ref,
        deployed_since=since.get(ref) if ref else None,
        approvers=approvers.get(ref, []) if ref else [],
        earlier=earlier,
    )
