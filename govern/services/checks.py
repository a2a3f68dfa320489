"""Policy checks: against one catalogued version, many, or a card and data file with no catalogue.

* :func:`check_version` evaluates policies against a stored version and records the run (a
  ``PolicyRun`` with one ``RuleResult`` per rule, and an audit event) in one transaction.
* :func:`check_versions` checks many stored versions (``govern check --all``); a read.
* :func:`check_stateless` evaluates a card plus a data file with a predictions column, with
  no catalogue at all (``govern check --card --data ...``).

Which policies apply is :mod:`govern.services.binding`; what a version offers the engine,
:mod:`govern.services.subjects`; recording a run, :mod:`govern.services.runs`; the
workflow's gate, :mod:`govern.services.gate`.

Policies are always loaded and validated before anything is evaluated or written; a bad
policy is a :class:`~govern.errors.PolicyError` (exit 2). Checking stored results never
imports the assessment stack (numpy, scikit-learn, shap).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from govern.config import Settings
from govern.domain.card import Card
from govern.domain.governance import GovernanceSettings, bound_policy_names
from govern.errors import InputError
from govern.policy.engine import check as run_check
from govern.policy.engine import collector_paused, evaluate, utcnow
from govern.policy.loader import LoadedPolicy, load_policies
from govern.policy.outcomes import CheckReport
from govern.policy.snapshot import EvaluationEvidence, SubjectSnapshot
from govern.services.binding import policies_for, version_categories, with_categories
from govern.services.catalogue import resolve
from govern.services.context import Context
from govern.services.runs import audit_payload, store_run
from govern.services.subjects import snapshot_for, snapshots_for


def check_version(
    ctx: Context,
    ref: str,
    policies: Sequence[str | Path] = (),
    *,
    now: dt.datetime | None = None,
    record: bool = True,
    categories: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check a catalogued version against policies and (by default) record the run.

    Args:
        ctx: The service context; with ``record`` the actor must be a catalogue user.
        ref: ``NAME@VERSION`` or ``NAME`` (latest version).
        policies: Policy files, directories or shipped pack names; empty means the policies
            bound to the version by ``Settings.policy_bindings``.
        now: Time of the check (tests pin it); default the current UTC time.
        record: Store a PolicyRun with its RuleResults and an audit event, in one
            transaction. Without it nothing is written and any reader may check.
        categories: The policies' category names mapped onto evaluated columns
            (``--category race_ethnicity=race``); bound policies also take the
            ``categories`` of their bindings.

    Returns:
        The report; ``report.exit_code`` is 1 when a blocking rule fails.

    Raises:
        PolicyError: a policy file is invalid (nothing evaluated, nothing written).
        NotFoundError: no such model or version.
    """
    at = now or utcnow()
    explicit = (
        with_categories(
            load_policies(policies, max_bytes=ctx.settings.max_policy_bytes), categories
        )
        if policies
        else None
    )
    if not record:
        with ctx.read() as session:
            model, version = resolve(session, ref)
            loaded = explicit or version_categories(
                ctx.governance, version, policies_for(ctx, version), categories
            )
            snapshot = snapshot_for(
                session, model, version, min_group_size=ctx.governance.min_group_size
            )
        return run_check(loaded, [snapshot], now=at)
    with ctx.write("policy.check", ref) as tx:
        model, version = resolve(tx.session, ref)
        tx.subject = f"{model.name}@{version.version}"
        loaded = explicit or version_categories(
            ctx.governance, version, policies_for(ctx, version), categories
        )
        ctx.require_role(tx.session, "check", doing=f"record a policy check of {tx.subject}")
        snapshot = snapshot_for(
            tx.session, model, version, min_group_size=ctx.governance.min_group_size
        )
        result = evaluate(loaded, snapshot, now=at)
        run = store_run(tx.session, version, loaded, result, actor=tx.actor, checked_at=at)
        tx.audit(**audit_payload(loaded, result, run.id))
        assert run.id is not None
        return CheckReport(
            policies=tuple(loaded),
            subjects=(result,),
            checked_at=at,
            run_ids={result.subject: run.id},
        )


def check_stateless(
    settings: Settings,
    *,
    rules: GovernanceSettings | None = None,
    card: Path,
    data: Path,
    target: str,
    sensitive: Sequence[str],
    predictions: str,
    policies: Sequence[str | Path] = (),
    score: str | None = None,
    positive: str | None = None,
    now: dt.datetime | None = None,
    categories: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check a card and a scored data file against policies, with no catalogue.

    The data are evaluated from the predictions column with the assessment engine (no model
    is loaded), then the policies run on a snapshot built from the card. Rules that need the
    catalogue (approvals, drift, champion) are ``not-applicable``.

    Raises:
        PolicyError / CardError / DataError / InputError: unusable inputs, found before any
            rule is evaluated.
    """
    from govern.assess.evaluation import EvaluationSpec, Limits, run_evaluation
    from govern.services.catalogue import load_card

    rules = rules or GovernanceSettings()
    at = now or utcnow()
    card_model = load_card(card, max_bytes=settings.max_card_bytes)
    card_json = card_model.to_json_dict()
    loaded = _card_policies(settings, rules, card_model, policies, categories)
    spec = EvaluationSpec(
        data=data,
        target=target,
        sensitive=tuple(sensitive),
        predictions=predictions,
        score=score,
        positive=positive,
        min_group_size=rules.min_group_size,
        explain_sample=0,
    )
    limits = Limits(
        max_data_bytes=settings.max_data_bytes,
        max_groups=rules.max_groups,
        skops_trusted_types=tuple(rules.skops_trusted_types),
        max_group_label_chars=rules.max_group_label_chars,
    )
    outcome = run_evaluation(spec, limits)
    results = outcome.results.to_json()
    snapshot = SubjectSnapshot.from_card(
        f"{card_model.name}@{card_model.version}",
        card_json,
        stateless=True,
        evaluation=EvaluationEvidence(
            results=results,
            created_at=at,
            dataset_sha256=outcome.results.dataset.sha256,
            dataset_name=outcome.results.dataset.name,
        ),
    )
    return run_check(loaded, [snapshot], now=at)


def _card_policies(
    settings: Settings,
    rules: GovernanceSettings,
    card: Card,
    policies: Sequence[str | Path],
    categories: Mapping[str, str] | None,
) -> list[LoadedPolicy]:
    """The explicit ``policies``, else those the bindings attach to the card's tier, tags and
    scope (with their categories); ``categories`` (``--category``) apply to either."""
    if policies:
        return with_categories(
            load_policies(policies, max_bytes=settings.max_policy_bytes), categories
        )
    governance = card.governance
    names = bound_policy_names(
        rules.policy_bindings,
        risk_tier=str(governance.risk_tier),
        tags=governance.tags,
        regulatory_scope=governance.regulatory_scope,
    )
    return with_categories(
        load_policies(names, max_bytes=settings.max_policy_bytes),
        categories,
        rules=rules,
        risk_tier=str(governance.risk_tier),
        tags=governance.tags,
        regulatory_scope=governance.regulatory_scope,
    )


def check_versions(
    ctx: Context,
    policies: Sequence[str | Path],
    refs: Sequence[str] | None = None,
    *,
    now: dt.datetime | None = None,
    categories: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check many catalogued versions (default: all of them) against the same policies.

    ``categories`` maps the policies' category names onto evaluated columns (``--category``).

    A read: nothing is recorded, so any reader may run it. The policies are loaded and
    validated before anything is read.

    Raises:
        InputError: no policy was given.
        PolicyError: a policy file is invalid.
        NotFoundError: a reference names no version.
    """
    if not policies:
        raise InputError("checking many versions needs --policy (their bindings may differ)")
    loaded = with_categories(
        load_policies(policies, max_bytes=ctx.settings.max_policy_bytes), categories
    )
    at = now or utcnow()
    with collector_paused():
        with ctx.read() as session:
            subjects = snapshots_for(session, refs, min_group_size=ctx.governance.min_group_size)
        return run_check(loaded, subjects, now=at)


__all__ = ["check_stateless", "check_version", "check_versions"]
